"""End to end on Milvus Lite: langchain-milvus + Qwen3VLEmbeddings (texts, images and a video),
image and video queries, ContextualCompressionRetriever with Qwen3VLRerank, and the example script."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_milvus import Milvus

from qwen3vl_integrations import InputError
from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLMediaRetriever, Qwen3VLRerank
from qwen3vl_integrations.langchain.rerank import document_to_input
from tests.conftest import random_image, run_example
from tests.unit.conftest import write_video

pytestmark = pytest.mark.filterwarnings("ignore:.*ORM-style PyMilvus API")

TEXTS = [
    "A red square on a white background.",
    "A blue circle drawn with a thin pen.",
    "Quarterly revenue grew by four percent.",
    "The cat sleeps on the warm windowsill.",
]


def register_orm_alias(store: Milvus, uri: str) -> None:
    """langchain-milvus 0.3.3 opens ORM ``Collection(using=store.alias)`` objects, an alias that
    pymilvus >= 2.6.10 no longer registers (langchain-ai/langchain-milvus#130): register it."""
    from pymilvus import connections

    if not connections.has_connection(store.alias):
        connections.connect(alias=store.alias, uri=uri)


def documented_store(embeddings: Qwen3VLEmbeddings, uri: str, collection: str, **options) -> Milvus:
    """The store as docs/langchain.md builds it (``enable_dynamic_field=True``)."""
    options = {"enable_dynamic_field": True, **options}
    store = Milvus(embedding_function=embeddings, connection_args={"uri": uri}, collection_name=collection,
                   auto_id=True, index_params={"index_type": "FLAT", "metric_type": "COSINE"}, drop_old=True,
                   **options)
    register_orm_alias(store, uri)
    return store


@pytest.fixture(scope="module")
def lc_embeddings(embedder):
    return Qwen3VLEmbeddings(embedder=embedder)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, lc_embeddings):
    """One Milvus Lite database for the module: 4 texts, 4 images and 1 video (media added by their vectors)."""
    rng = np.random.default_rng(5)
    folder = tmp_path_factory.mktemp("lc_milvus")
    images = []
    for i, (h, w) in enumerate([(96, 96), (64, 128), (128, 64), (80, 80)]):
        path = folder / f"image{i}.png"
        random_image(rng, h, w).save(path)
        images.append(str(path))
    uri = str(folder / "lc.db")
    store = documented_store(lc_embeddings, uri, "lc_corpus")
    video = str(write_video(folder / "clip.mp4", frames=8, fps=4, width=64, height=64, codec="mpeg4"))
    # the documented flow: texts first, without media metadata; then media by their vectors, with the
    # path as page content and in metadata (the reranker then sees only the media)
    store.add_texts(TEXTS, metadatas=[{"kind": "text"} for _ in TEXTS])
    store.add_embeddings(images, lc_embeddings.embed_image(uris=images),
                         metadatas=[{"kind": "image", "image_path": p} for p in images])
    store.add_embeddings([video], lc_embeddings.embed_video([video]), metadatas=[{"kind": "video", "video": video}])
    (folder / "queries").mkdir()
    copies = [str(shutil.copyfile(p, folder / "queries" / Path(p).name)) for p in [*images, video]]
    # byte-identical copies under other names serve as queries
    return SimpleNamespace(store=store, images=images, video=video, image_queries=copies[:-1], video_query=copies[-1])


def test_text_search_returns_texts_and_images(corpus, lc_embeddings):
    store, media = corpus.store, [*corpus.images, corpus.video]
    everything = store.similarity_search("a red square", k=len(TEXTS) + len(media))
    assert sorted(d.page_content for d in everything) == sorted(TEXTS + media)
    assert {d.metadata["kind"] for d in everything} == {"text", "image", "video"}
    top3 = store.similarity_search("a red square", k=3)
    by_vector = store.similarity_search_by_vector(lc_embeddings.embed_query("a red square"), k=3)
    assert [d.page_content for d in top3] == [d.page_content for d in by_vector]


def test_image_query_ranks_its_exact_duplicate_first(corpus, lc_embeddings):
    store = corpus.store
    retriever = Qwen3VLMediaRetriever(vectorstore=store, k=3, as_query=False)
    assert retriever.embeddings is lc_embeddings  # found on the vector store
    for original, duplicate in zip(corpus.images, corpus.image_queries):
        found = retriever.invoke(duplicate)
        assert len(found) == 3 and found[0].metadata["image_path"] == original
        vector = lc_embeddings.embed_image(uris=[duplicate])[0]
        (best, score), = store.similarity_search_with_score_by_vector(vector, k=1)
        assert best.metadata["image_path"] == original and score == pytest.approx(1.0, abs=1e-4)


def test_video_query_ranks_its_exact_duplicate_first(corpus):
    retriever = Qwen3VLMediaRetriever(vectorstore=corpus.store, k=2, query_type="video", as_query=False)
    found = retriever.invoke(corpus.video_query)
    assert found[0].metadata["kind"] == "video" and found[0].metadata["video"] == corpus.video


def test_image_query_side_uses_the_query_instruction(corpus, lc_embeddings):
    query = corpus.image_queries[1]
    retriever = Qwen3VLMediaRetriever(vectorstore=corpus.store, embeddings=lc_embeddings, k=4)
    found = retriever.invoke(query)
    vector = lc_embeddings.embed_multimodal([{"image": query}], is_query=True)[0]
    expected = corpus.store.similarity_search_by_vector(vector, k=4)
    assert [d.metadata["pk"] for d in found] == [d.metadata["pk"] for d in expected]


def test_contextual_compression_reranks_text_and_image_documents(corpus, reranker):
    base = corpus.store.as_retriever(search_kwargs={"k": 9})  # everything
    pipeline = ContextualCompressionRetriever(base_compressor=Qwen3VLRerank(reranker=reranker, top_n=3),
                                              base_retriever=base)
    candidates = base.invoke("a red square")
    snapshot = copy.deepcopy(candidates)
    reranked = pipeline.invoke("a red square")
    assert len(reranked) == 3
    scores = [d.metadata["relevance_score"] for d in reranked]
    assert scores == sorted(scores, reverse=True)
    expected = reranker.score("a red square", [document_to_input(d) for d in candidates])
    assert scores == pytest.approx(sorted(expected, reverse=True)[:3], abs=1e-6)
    # media documents were scored as media (page content = path, so the item is the image / video alone)
    items = [document_to_input(d) for d in candidates]
    assert {"image": corpus.images[0]} in items and {"video": corpus.video} in items
    assert candidates == snapshot and all("relevance_score" not in d.metadata for d in candidates)


def test_image_query_pipeline(corpus, reranker):
    store, query = corpus.store, corpus.image_queries[2]
    pipeline = ContextualCompressionRetriever(
        base_compressor=Qwen3VLRerank(reranker=reranker, top_n=2, query_type="image"),
        base_retriever=Qwen3VLMediaRetriever(vectorstore=store, k=5, as_query=False))
    reranked = pipeline.invoke(query)
    assert len(reranked) == 2
    candidates = store.similarity_search_by_vector(store.embeddings.embed_image(uris=[query])[0], k=5)
    assert candidates[0].metadata["image_path"] == corpus.images[2]
    expected = reranker.score({"image": query}, [document_to_input(d) for d in candidates])
    assert [d.metadata["relevance_score"] for d in reranked] == pytest.approx(sorted(expected, reverse=True)[:2],
                                                                             abs=1e-6)


@pytest.mark.asyncio
async def test_async_retrieval_and_compression(corpus, reranker):
    query = corpus.image_queries[0]
    retriever = Qwen3VLMediaRetriever(vectorstore=corpus.store, k=3, as_query=False)
    found = await retriever.ainvoke(query)
    assert [d.metadata["pk"] for d in found] == [d.metadata["pk"] for d in retriever.invoke(query)]
    assert found[0].metadata["image_path"] == corpus.images[0]
    compressed = await Qwen3VLRerank(reranker=reranker, top_n=2).acompress_documents(found, "a picture")
    assert compressed == Qwen3VLRerank(reranker=reranker, top_n=2).compress_documents(found, "a picture")


def test_documented_flow_keeps_the_media_reference(corpus, reranker):
    # issue 16 item 1: with langchain-milvus' schema fixed by the first insert, the images' metadata
    # was dropped; the documented store (enable_dynamic_field=True) keeps it
    found = corpus.store.similarity_search("a picture", k=9)
    by_path = {d.page_content: d.metadata for d in found}
    assert all(by_path[p]["image_path"] == p for p in corpus.images) and by_path[corpus.video]["video"] == corpus.video
    items = [document_to_input(d) for d in found]
    assert sum("image" in item for item in items) == len(corpus.images)
    assert len(Qwen3VLRerank(reranker=reranker, top_n=None, on_error="raise").compress_documents(found, "x")) == 9


def test_a_store_that_dropped_the_media_reference_is_refused_loudly(lc_embeddings, reranker, corpus, tmp_path):
    # the flow without enable_dynamic_field: the image's image_path is silently dropped by langchain-milvus,
    # so the reranker must refuse instead of scoring the path string as text
    uri = str(tmp_path / "fixed.db")
    store = documented_store(lc_embeddings, uri, "fixed_schema", enable_dynamic_field=False)
    store.add_texts(TEXTS[:2])
    store.add_embeddings(corpus.images[:1], lc_embeddings.embed_image(uris=corpus.images[:1]),
                         metadatas=[{"image_path": corpus.images[0]}])
    found = store.similarity_search("a red square", k=3)
    assert "image_path" not in next(d for d in found if d.page_content == corpus.images[0]).metadata
    with pytest.raises(InputError, match="no media reference"):
        Qwen3VLRerank(reranker=reranker).compress_documents(found, "a red square")


def test_langchain_example_runs_with_tiny_random(tiny_checkpoint, tmp_path, monkeypatch):
    # issue 16 item 7: the examples' --model tiny-random tried the hub (and took the hub reranker)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny-random").symlink_to(tiny_checkpoint, target_is_directory=True)
    monkeypatch.setenv("QWEN3VL_CACHE_DIR", str(cache))
    out = run_example("langchain_multimodal_rag.py", "tiny-random", tmp_path)
    assert "text query" in out and "image query" in out and "reranked" in out
    assert "exact duplicate ranked first: True" in out
