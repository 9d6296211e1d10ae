"""Concurrency and overload against live ``qwen3vl serve`` processes (openai SDK clients in threads)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import cosine
from tests.integration.conftest import embedding_metric

pytestmark = pytest.mark.slow

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")


def _client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key, max_retries=0, timeout=120)


def _histogram(server, name: str) -> dict:
    """``{le: cumulative count}`` of a histogram on /metrics, read with prometheus-client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(server.url + "/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {s.labels["le"]: s.value for s in family.samples
                    if s.name.endswith("_bucket") and s.labels.get("model") == "embedding"}
    return {}


def test_32_concurrent_clients_get_sequential_vectors_and_share_forward_passes(live_server):
    texts = [f"client {i} asks about topic {i * 7 % 13} in a sentence of some length" for i in range(32)]
    client = _client(live_server)

    def embed(text):
        return np.asarray(client.embeddings.create(model="m", input=text, encoding_format="float").data[0].embedding)

    sequential = np.stack([embed(t) for t in texts])
    before = _histogram(live_server, "qwen3vl_batch_callers")
    barrier = threading.Barrier(32)

    def together(text):
        barrier.wait()
        return embed(text)

    with ThreadPoolExecutor(32) as pool:
        concurrent = np.stack(list(pool.map(together, texts)))
    after = _histogram(live_server, "qwen3vl_batch_callers")
    assert cosine(concurrent, sequential).min() >= 0.99999
    calls = after["+Inf"] - before.get("+Inf", 0)
    alone = after["1.0"] - before.get("1.0", 0)
    assert calls < 32, "every request ran in its own engine call"
    assert alone < calls, "no engine call held the items of two requests"


@pytest.fixture(scope="module")
def tiny_queue_server(server_factory):
    # at most 2 items queued or running: a flood of 2-item requests overflows at once
    return server_factory(env={"QWEN3VL_MAX_QUEUE_ITEMS": "2"}, reranker=False)


def test_overload_gives_fast_429_with_retry_after_and_no_5xx(tiny_queue_server):
    client = _client(tiny_queue_server)
    text = " ".join(["overload"] * 300)

    def embed(_):
        try:
            client.embeddings.create(model="m", input=[text, text + " again"])
            return 200, None
        except openai.APIStatusError as exc:
            return exc.status_code, exc.response.headers.get("retry-after")

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(embed, range(48)))
    statuses = [s for s, _ in outcomes]
    assert 429 in statuses and 200 in statuses
    assert set(statuses) <= {200, 429}
    assert all(int(retry) >= 1 for s, retry in outcomes if s == 429)
    assert client.embeddings.create(model="m", input="the next request").data  # and the server recovered


def test_metrics_show_the_multimodal_cache(live_server):
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (10, 200, 90)).save(buffer, format="PNG")
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()}}
    client = _client(live_server)
    hits, misses = embedding_metric(live_server, "qwen3vl_cache_hits_total"), embedding_metric(live_server, "qwen3vl_cache_misses_total")
    client.embeddings.create(model="m", input=[[part]])  # type: ignore[list-item]
    assert embedding_metric(live_server, "qwen3vl_cache_misses_total") > misses
    client.embeddings.create(model="m", input=[[part]])  # type: ignore[list-item]
    assert embedding_metric(live_server, "qwen3vl_cache_hits_total") > hits  # the same image: prepared media and features
    assert embedding_metric(live_server, "qwen3vl_cache_bytes") > 0
