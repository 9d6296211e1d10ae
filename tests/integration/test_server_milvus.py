"""Milvus Lite server-side functions against a live ``qwen3vl serve``: a TEXTEMBEDDING function
(provider "openai", base_url) embeds raw text rows on insert and search, and a RERANK model function
(provider "cohere", base_url) reorders hits by the server's scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import cosine

pytestmark = pytest.mark.slow

DOCS = ["a cat sleeps on the sofa", "rockets launch at dawn", "coffee is brewed slowly", "the cat chases a mouse",
        "rain falls on the old city"]
QUERY = "a sleeping cat"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    pymilvus = pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    client = pymilvus.MilvusClient(str(tmp_path_factory.mktemp("milvus") / "server.db"))
    yield client
    client.close()


def _collection(client, live_server, dim: int) -> str:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=1000)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_function(Function(
        name="qwen3vl_embed", function_type=FunctionType.TEXTEMBEDDING, input_field_names=["text"],
        output_field_names=["vector"],
        params={"provider": "openai", "model_name": "qwen3vl", "base_url": live_server.url + "/v1",
                "api_key": live_server.api_key, "dimensions": dim}))
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection("server_docs", schema=schema, index_params=index)
    client.insert("server_docs", [{"id": i, "text": t} for i, t in enumerate(DOCS)])
    client.load_collection("server_docs")
    return "server_docs"


def test_text_embedding_function_stores_and_searches_raw_text(client, live_server, embedder):
    name = _collection(client, live_server, embedder.dim)
    rows = client.query(name, filter="id >= 0", output_fields=["id", "text", "vector"])
    assert len(rows) == len(DOCS)
    stored = np.asarray([r["vector"] for r in sorted(rows, key=lambda r: r["id"])])
    assert cosine(stored, embedder.embed(DOCS)).min() >= 0.9999  # the server's vectors, as Milvus stored them
    hits = client.search(name, data=[QUERY], anns_field="vector", limit=3, output_fields=["text"])[0]
    reference = cosine(embedder.embed([QUERY]), embedder.embed(DOCS))
    assert [h["id"] for h in hits] == list(np.argsort(-reference)[:3])


def test_rerank_function_reorders_hits_by_the_server_scores(client, live_server, reranker):
    from pymilvus import Function, FunctionType

    ranker = Function(name="qwen3vl_rerank", input_field_names=["text"], function_type=FunctionType.RERANK,
                      params={"reranker": "model", "provider": "cohere", "queries": [QUERY],
                              "base_url": live_server.url + "/v2", "api_key": live_server.api_key})
    hits = client.search("server_docs", data=[QUERY], anns_field="vector", limit=len(DOCS), output_fields=["text"],
                         ranker=ranker)[0]
    scores = reranker.score(QUERY, DOCS)
    assert [h["id"] for h in hits] == sorted(range(len(DOCS)), key=lambda i: -scores[i])
    for hit in hits:
        assert abs(hit["distance"] - scores[hit["id"]]) <= 1e-5
