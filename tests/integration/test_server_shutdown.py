"""SIGTERM drains a live ``qwen3vl serve``: new requests get 503, requests in flight complete, it exits 0.

One request is held in flight by its body: httpx streams it in two parts and the second part is let
through only after the test has seen a request refused with 503, so the drain cannot end before that
check however fast the machine runs the model. Six more requests carry model work across the signal.
"""

from __future__ import annotations

import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import wait_for
from tests.integration.conftest import embedding_metric

pytestmark = pytest.mark.slow

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

PASSES = "qwen3vl_batch_rows_count"  # forward passes of the embedding model


def test_sigterm_drains_requests_in_flight(server_factory):
    server = server_factory(env={"QWEN3VL_SHUTDOWN_GRACE": "120"}, reranker=False)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0, timeout=180)
    client.embeddings.create(model="m", input="warm the client")  # its first call's imports are paid here
    batch = [" ".join(f"word{(i * j) % 101}" for j in range(200)) for i in range(64)]
    first_part_sent, release = threading.Event(), threading.Event()

    def held_body():
        yield b'{"model": "m", "input": ["held across SIGTERM", '
        first_part_sent.set()  # the headers and the first part are on the wire
        release.wait(120)
        yield b'"its second item"]}'

    def held():
        headers = {**server.headers(), "Content-Type": "application/json"}
        return httpx.post(server.url + "/v1/embeddings", content=held_body(), headers=headers, timeout=180)

    def embed(k: int):
        return client.embeddings.create(model="m", input=[f"request {k}: {t}" for t in batch], encoding_format="float")

    passes_before = embedding_metric(server, PASSES)
    with ThreadPoolExecutor(7) as pool:
        holding = pool.submit(held)
        assert first_part_sent.wait(30)
        futures = [pool.submit(embed, k) for k in range(6)]
        wait_for(lambda: embedding_metric(server, PASSES) > passes_before, 60)  # the requests' first pass
        assert not all(f.done() for f in futures), "the requests finished before SIGTERM: make them bigger"
        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(server.url + "/health").status_code == 503, 60)  # draining began
        with pytest.raises(openai.APIStatusError) as refused:
            client.embeddings.create(model="m", input="arrived after SIGTERM")
        assert refused.value.status_code == 503
        assert server.process.poll() is None, "the server exited with a request in flight"
        release.set()
        answers = [f.result() for f in futures]
        held_answer = holding.result()
    assert [len(a.data) for a in answers] == [len(batch)] * 6
    assert held_answer.status_code == 200, held_answer.text
    assert [d["index"] for d in held_answer.json()["data"]] == [0, 1]
    assert server.process.wait(120) == 0
    assert "drained" in server.log_tail()
