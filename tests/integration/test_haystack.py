"""Haystack components in real Pipelines with an InMemoryDocumentStore: text/image embedders and the ranker."""

from __future__ import annotations

import importlib
import logging
import sys

import numpy as np
import pytest

haystack = pytest.importorskip("haystack")

from haystack import Document, Pipeline  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryEmbeddingRetriever  # noqa: E402
from haystack.components.writers import DocumentWriter  # noqa: E402
from haystack.dataclasses import ByteStream  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402

from qwen3vl_integrations import InputError  # noqa: E402
from qwen3vl_integrations.haystack import Qwen3VLDocumentEmbedder, Qwen3VLRanker, Qwen3VLTextEmbedder  # noqa: E402
from tests.conftest import random_image, run_example  # noqa: E402


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    rng = np.random.default_rng(29)
    folder = tmp_path_factory.mktemp("haystack_images")
    for i in range(3):
        random_image(rng, 64, 64 + 16 * i).save(folder / f"pic{i}.png")
    return folder, [f"pic{i}.png" for i in range(3)]


def _documents(pictures) -> list[Document]:
    folder, names = pictures
    return [Document(content="A red square on a white background.", meta={"file_path": "notes/shapes.txt"}),
            Document(content="Quarterly revenue grew.", meta={"file_path": "README"}),
            *[Document(meta={"file_path": name}) for name in names]]


@pytest.fixture(scope="module")
def indexed(tiny_checkpoint, pictures):
    folder, _ = pictures
    store = InMemoryDocumentStore(embedding_similarity_function="cosine")
    indexing = Pipeline()
    indexing.add_component("embedder", Qwen3VLDocumentEmbedder(str(tiny_checkpoint), device="cpu",
                                                               root_path=str(folder)))
    indexing.add_component("writer", DocumentWriter(store))
    indexing.connect("embedder.documents", "writer.documents")
    documents = _documents(pictures)
    indexing.run({"embedder": {"documents": documents}})
    return store, documents


def _query_pipeline(tiny_checkpoint, store, pictures, top_k: int = 3) -> Pipeline:
    query = Pipeline()
    query.add_component("text_embedder", Qwen3VLTextEmbedder(str(tiny_checkpoint), device="cpu"))
    query.add_component("retriever", InMemoryEmbeddingRetriever(store, top_k=5))
    query.add_component("ranker", Qwen3VLRanker(str(tiny_checkpoint), device="cpu", top_k=top_k,
                                                root_path=str(pictures[0])))
    query.connect("text_embedder.embedding", "retriever.query_embedding")
    query.connect("retriever.documents", "ranker.documents")
    return query


def test_documents_are_embedded_as_texts_and_images(indexed, pictures, embedder):
    store, documents = indexed
    folder, names = pictures
    stored = {d.id: d for d in store.filter_documents()}
    assert len(stored) == 5 and all(d.embedding is None for d in documents)  # inputs not mutated
    expected = embedder.embed_documents(["A red square on a white background.", "Quarterly revenue grew.",
                                         *[{"image": str(folder / n)} for n in names]])
    np.testing.assert_allclose([stored[d.id].embedding for d in documents], expected, atol=1e-5)


def test_query_pipeline_retrieves_and_reranks(indexed, pictures, tiny_checkpoint, embedder, reranker):
    store, documents = indexed
    folder, names = pictures
    result = _query_pipeline(tiny_checkpoint, store, pictures).run(
        {"text_embedder": {"text": "a red square"}, "ranker": {"query": "a red square"}})
    ranked = result["ranker"]["documents"]
    assert len(ranked) == 3 and [d.score for d in ranked] == sorted((d.score for d in ranked), reverse=True)
    items = {d.id: (d.content if "notes" in d.meta["file_path"] or d.meta["file_path"] == "README"
                    else {"image": str(folder / d.meta["file_path"])}) for d in documents}
    expected = dict(zip(items, reranker.score("a red square", list(items.values()))))
    assert [d.score for d in ranked] == pytest.approx([expected[d.id] for d in ranked], abs=1e-6)
    np.testing.assert_allclose(Qwen3VLTextEmbedder(str(tiny_checkpoint), device="cpu").run("a red square")["embedding"],
                               embedder.embed_queries(["a red square"])[0], atol=1e-6)


def test_components_share_one_model_and_serialize(tiny_checkpoint, pictures):
    text, docs = Qwen3VLTextEmbedder(str(tiny_checkpoint), device="cpu"), Qwen3VLDocumentEmbedder(
        str(tiny_checkpoint), device="cpu")
    text.warm_up()
    docs.warm_up()
    assert text._engine is docs._engine
    pipeline = Pipeline()
    pipeline.add_component("ranker", Qwen3VLRanker(str(tiny_checkpoint), device="cpu", top_k=2, on_error="rank_last"))
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["qwen3vl_integrations.haystack"])
    ranker = loaded.get_component("ranker")
    assert isinstance(ranker, Qwen3VLRanker) and ranker.top_k == 2 and ranker.on_error == "rank_last"


def test_ranker_drops_an_unreadable_image_with_a_warning(tiny_checkpoint, tmp_path, pictures, caplog):
    ranker = Qwen3VLRanker(str(tiny_checkpoint), device="cpu", top_k=None, root_path=str(pictures[0]))
    docs = [Document(content="a cat", id="text"), Document(meta={"file_path": str(tmp_path / "gone.png")}, id="gone"),
            Document(meta={"file_path": pictures[1][0]}, id="image")]
    with caplog.at_level(logging.WARNING, logger="qwen3vl_integrations"):
        out = ranker.run(query="a cat", documents=docs)["documents"]
    assert sorted(d.id for d in out) == ["image", "text"] and "id='gone'" in caplog.text
    last = Qwen3VLRanker(str(tiny_checkpoint), device="cpu", top_k=None, on_error="rank_last",
                         root_path=str(pictures[0])).run(query="a cat", documents=docs)["documents"]
    assert last[-1].id == "gone" and last[-1].score is None
    threshold = ranker.run(query="a cat", documents=docs, score_threshold=1.0)["documents"]
    assert threshold == []
    with pytest.raises(InputError, match="no media reference"):
        ranker.run(query="a cat", documents=[Document(content="/photos/cat.png")])


def test_image_blob_documents(tiny_checkpoint, pictures, embedder):
    folder, names = pictures
    blob = ByteStream((folder / names[0]).read_bytes(), mime_type="image/png")
    out = Qwen3VLDocumentEmbedder(str(tiny_checkpoint), device="cpu").run([Document(blob=blob)])["documents"]
    np.testing.assert_allclose(out[0].embedding, embedder.embed_documents([{"image": str(folder / names[0])}])[0],
                               atol=1e-5)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "haystack", None)
    monkeypatch.delitem(sys.modules, "qwen3vl_integrations.haystack")
    with pytest.raises(ImportError, match=r"qwen3vl-integrations\[haystack\]"):
        importlib.import_module("qwen3vl_integrations.haystack")


def test_example_runs(tiny_checkpoint, tmp_path):
    out = run_example("haystack_multimodal_rag.py", tiny_checkpoint, tmp_path)
    assert "indexed 9 documents (6 photos, 3 notes)" in out and "reranked for" in out
    assert out.count("relevance=") == 3
