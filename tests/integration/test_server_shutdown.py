"""SIGTERM drains a live ``qwen3vl serve``: new requests get 503, requests in flight complete, it exits 0."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.slow

openai = pytest.importorskip("openai")


def test_sigterm_drains_requests_in_flight(server_factory):
    server = server_factory(env={"QWEN3VL_SHUTDOWN_GRACE": "120"}, reranker=False)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0, timeout=180)
    batch = [" ".join(f"word{(i * j) % 101}" for j in range(200)) for i in range(64)]

    def embed(k: int):
        return client.embeddings.create(model="m", input=[f"request {k}: {t}" for t in batch], encoding_format="float")

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(embed, k) for k in range(6)]
        time.sleep(0.5)
        assert not all(f.done() for f in futures), "the requests finished before SIGTERM: make them bigger"
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(openai.APIStatusError) as refused:
            client.embeddings.create(model="m", input="arrived after SIGTERM")
        assert refused.value.status_code == 503
        answers = [f.result() for f in futures]
    assert [len(a.data) for a in answers] == [len(batch)] * 6
    assert server.process.wait(120) == 0
    assert "drained" in server.log_tail()
