"""The pymilvus-model-shaped embedding and rerank functions (no Milvus needed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymilvus")

from qwen3vl_integrations.milvus import Qwen3VLEmbeddingFunction, Qwen3VLRerankFunction, RerankResult


@pytest.fixture(scope="module")
def embedding_fn(embedder):
    return Qwen3VLEmbeddingFunction(embedder=embedder)


@pytest.fixture(scope="module")
def rerank_fn(reranker):
    return Qwen3VLRerankFunction(reranker=reranker)


def _image(seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))


def test_encode_documents_returns_list_of_1d_float32_vectors(embedding_fn, embedder):
    docs = ["a cat on a sofa", {"image": _image(0)}, {"text": "a chart", "image": _image(1)}]
    vectors = embedding_fn.encode_documents(docs)
    assert isinstance(vectors, list) and len(vectors) == 3
    for v in vectors:
        assert isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (embedding_fn.dim,)
        assert np.isclose(np.linalg.norm(v), 1.0, atol=1e-4)
    assert embedding_fn.dim == embedder.dim
    # __call__ is encode_documents (pymilvus-model convention)
    again = embedding_fn(docs)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(vectors, again))


def test_encode_queries_use_the_query_instruction(embedding_fn):
    query = embedding_fn.encode_queries(["a cat on a sofa"])[0]
    document = embedding_fn.encode_documents(["a cat on a sofa"])[0]
    assert query.shape == document.shape
    assert not np.allclose(query, document)  # different instructions -> different vectors


def test_matryoshka_dim_and_single_item_refused(embedder):
    fn = Qwen3VLEmbeddingFunction(embedder=embedder, dim=32)
    assert fn.dim == 32
    assert [v.shape for v in fn.encode_queries(["x", "y"])] == [(32,), (32,)]
    with pytest.raises(TypeError):
        fn.encode_documents("not a list")


def test_rerank_results_are_sorted_with_text_score_index(rerank_fn):
    docs = ["cats purr", "rockets launch", {"image": _image(2)}, "coffee is brewed"]
    results = rerank_fn("a cat", docs, top_k=3)
    assert len(results) == 3
    assert all(isinstance(r, RerankResult) for r in results)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    for r in results:
        assert r.text is docs[r.index] or r.text == docs[r.index]
        assert set(r.to_dict()) == {"text", "score", "index"}
    # every document scored when top_k covers them, each index exactly once
    everything = rerank_fn("a cat", docs, top_k=10)
    assert sorted(r.index for r in everything) == [0, 1, 2, 3]
    assert rerank_fn("a cat", docs)[0].index == everything[0].index  # default top_k=5


# -- issue 16 item 5: pymilvus-model's own bases, result type, top_k and constructor arguments ----------
def test_functions_and_results_are_pymilvus_model_types(embedding_fn, rerank_fn):
    base = pytest.importorskip("pymilvus.model.base")
    from qwen3vl_integrations.core.outputs import RerankResult as CoreRerankResult

    assert isinstance(embedding_fn, base.BaseEmbeddingFunction)
    assert isinstance(rerank_fn, base.BaseRerankFunction)
    result = rerank_fn("a cat", ["a cat", "a dog"], top_k=1)[0]
    assert isinstance(result, base.RerankResult) and isinstance(result, CoreRerankResult)
    assert result.text == result.document and str(result).startswith("RerankResult(text=")


def test_top_k_zero_or_none_returns_everything(rerank_fn):
    docs = ["a cat", "a dog", {"image": _image(3)}]
    assert len(rerank_fn("a cat", docs, top_k=0)) == 3
    assert len(rerank_fn("a cat", docs, top_k=None)) == 3
    assert [r.index for r in rerank_fn("a cat", docs, top_k=2)] == [r.index for r in rerank_fn("a cat", docs, 0)][:2]


def test_common_constructor_arguments(tiny_checkpoint, embedder):
    fn = Qwen3VLEmbeddingFunction(str(tiny_checkpoint), batch_size=8, device="cpu", doc_instruction="Describe it.")
    assert fn.batch_size == 8 and fn.embedder.config.max_batch_items == 8 and fn.embedder.device.type == "cpu"
    np.testing.assert_allclose(fn.encode_documents(["a cat"])[0],
                               embedder.embed(["a cat"], instruction="Describe it.")[0], atol=1e-5)
    with pytest.raises(ValueError, match="normalize_embeddings"):
        Qwen3VLEmbeddingFunction(embedder=embedder, normalize_embeddings=False)
    with pytest.raises(ValueError, match="batch_size"):
        Qwen3VLEmbeddingFunction(embedder=embedder, batch_size=8)
    rf = Qwen3VLRerankFunction(str(tiny_checkpoint), batch_size=4, device="cpu", max_length=2048)
    assert rf.batch_size == 4 and rf.reranker.max_length == 2048
    with pytest.raises(ValueError, match="normalize"):
        Qwen3VLRerankFunction(str(tiny_checkpoint), normalize=False)
