"""Qwen3VLRerank (LangChain document compressor): media lookup, ordering, copies, options, async."""

from __future__ import annotations

import base64
import copy
import logging
import pickle

import numpy as np
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError

from qwen3vl_integrations import InputError, MediaFetchError
from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLRerank
from qwen3vl_integrations.langchain.rerank import document_to_input
from tests.conftest import random_image


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    rng = np.random.default_rng(21)
    folder = tmp_path_factory.mktemp("lc_rerank")
    paths = []
    for i, (h, w) in enumerate([(96, 96), (64, 128), (80, 80)]):
        path = folder / f"img{i}.png"
        random_image(rng, h, w).save(path)
        paths.append(path)
    frames = [random_image(rng, 64, 64) for _ in range(4)]
    return paths, frames


def _documents(media) -> list[Document]:
    paths, frames = media
    b64 = base64.b64encode(paths[1].read_bytes()).decode()
    return [
        Document(page_content="A red square on a white background.", metadata={"source": "a.txt"}),
        Document(page_content="photo", metadata={"image": str(paths[0])}),            # caption + image
        Document(page_content=b64, metadata={"source": "add_images"}),                # base64 page_content
        Document(page_content=str(paths[2]), metadata={"image_path": str(paths[2])}),  # path as text
        Document(page_content="", metadata={"video": frames}),                        # video (frame list)
        Document(page_content="Quarterly revenue grew by four percent.", id="doc-5"),
    ]


def test_documents_map_to_core_inputs(media):
    paths, frames = media
    docs = _documents(media)
    b64 = docs[2].page_content
    assert document_to_input(docs[0]) == {"text": "A red square on a white background."}
    assert document_to_input(docs[1]) == {"text": "photo", "image": str(paths[0])}
    assert document_to_input(docs[2]) == {"image": b64}
    assert document_to_input(docs[3]) == {"image": str(paths[2])}
    assert document_to_input(docs[4]) == {"video": frames}
    assert document_to_input(Document(page_content=f"data:image/png;base64,{b64}")) == {
        "image": f"data:image/png;base64,{b64}"}
    # base64 detection can be switched off; keys are configurable
    assert document_to_input(docs[2], base64_page_content=False) == {"text": b64}
    custom = Document(page_content="x", metadata={"picture": "p.png", "clip": "c.mp4"})
    assert document_to_input(custom, image_keys=("picture",), video_keys=("clip",)) == {
        "text": "x", "image": "p.png", "video": "c.mp4"}
    # text that is not a base64 image stays text, even without spaces
    for text in ["a" * 128, "Qk" + "a" * 126, "iVBORw0KGgo"]:
        assert document_to_input(Document(page_content=text)) == {"text": text}


def test_compressor_returns_scored_copies_best_first(reranker, media):
    docs = _documents(media)
    before = copy.deepcopy(docs)
    compressor = Qwen3VLRerank(reranker=reranker, top_n=4)
    out = compressor.compress_documents(docs, "a red square")
    assert len(out) == 4
    scores = [d.metadata["relevance_score"] for d in out]
    assert scores == sorted(scores, reverse=True)
    expected = reranker.score("a red square", [document_to_input(d) for d in docs])
    assert sorted(expected, reverse=True)[:4] == pytest.approx(scores, abs=1e-6)
    # returned documents are new objects; the inputs are unchanged
    assert docs == before
    assert all(all(o is not d for d in docs) for o in out)
    assert all("relevance_score" not in d.metadata for d in docs)
    for o in out:
        matches = [d for d in docs if d.page_content == o.page_content and d.id == o.id]
        assert matches and {**matches[0].metadata, "relevance_score": o.metadata["relevance_score"]} == o.metadata


def test_same_image_scores_the_same_whatever_the_carrier(reranker, media):
    paths, _ = media
    b64 = base64.b64encode(paths[1].read_bytes()).decode()
    docs = [
        Document(page_content=b64),
        Document(page_content="", metadata={"image_path": str(paths[1])}),
        Document(page_content=paths[1].as_uri(), metadata={"image": paths[1].as_uri()}),
        Document(page_content=f"data:image/png;base64,{b64}"),
    ]
    out = Qwen3VLRerank(reranker=reranker, top_n=None).compress_documents(docs, "a picture")
    scores = [d.metadata["relevance_score"] for d in out]
    assert len(scores) == 4 and max(scores) - min(scores) < 1e-6
    assert scores[0] == pytest.approx(reranker.score("a picture", [{"image": str(paths[1])}])[0], abs=1e-6)


def test_top_n_threshold_and_image_query(reranker, media):
    paths, _ = media
    docs = _documents(media)
    everything = Qwen3VLRerank(reranker=reranker, top_n=None).compress_documents(docs, "a red square")
    assert len(everything) == len(docs)
    threshold = everything[2].metadata["relevance_score"]
    kept = Qwen3VLRerank(reranker=reranker, top_n=None, score_threshold=threshold).compress_documents(
        docs, "a red square")
    assert kept == [d for d in everything if d.metadata["relevance_score"] >= threshold]
    assert len(kept) >= 3
    assert Qwen3VLRerank(reranker=reranker, top_n=0).compress_documents(docs, "q") == []
    assert Qwen3VLRerank(reranker=reranker).compress_documents([], "q") == []
    assert len(Qwen3VLRerank(reranker=reranker).compress_documents(docs, "q")) == 3  # default top_n

    image_query = Qwen3VLRerank(reranker=reranker, top_n=2, query_type="image")
    out = image_query.compress_documents(docs, str(paths[0]))
    expected = reranker.score({"image": str(paths[0])}, [document_to_input(d) for d in docs])
    assert [d.metadata["relevance_score"] for d in out] == pytest.approx(sorted(expected, reverse=True)[:2], abs=1e-6)


def test_compressor_construction(reranker, tiny_checkpoint):
    compressor = reranker.as_langchain_compressor(top_n=2, instruction="Find the picture")
    assert isinstance(compressor, BaseDocumentCompressor) and isinstance(compressor, Qwen3VLRerank)
    assert compressor.reranker is reranker and compressor.top_n == 2
    with pytest.raises(ValidationError, match="Extra inputs"):
        Qwen3VLRerank(reranker=reranker, top_k=2)
    with pytest.raises(ValidationError, match="reranker="):
        Qwen3VLRerank()
    docs = [Document(page_content="a cat"), Document(page_content="a dog")]
    scored = compressor.compress_documents(docs, "cat")
    expected = reranker.score("cat", ["a cat", "a dog"], instruction="Find the picture")
    assert sorted(d.metadata["relevance_score"] for d in scored) == pytest.approx(sorted(expected), abs=1e-6)
    loaded = Qwen3VLRerank(model=str(tiny_checkpoint), model_kwargs={"device": "cpu"}, top_n=2)
    assert [d.metadata["relevance_score"] for d in loaded.compress_documents(docs, "cat")] == pytest.approx(
        sorted(reranker.score("cat", ["a cat", "a dog"]), reverse=True), abs=1e-6)


@pytest.mark.asyncio
async def test_async_compress_matches_sync(reranker, media):
    docs = _documents(media)
    compressor = Qwen3VLRerank(reranker=reranker, top_n=3)
    sync = compressor.compress_documents(docs, "a red square")
    async_out = await compressor.acompress_documents(docs, "a red square")
    assert async_out == sync


# -- issue 16 ------------------------------------------------------------------------------------------
@pytest.fixture
def moved_image_corpus(embedder, media, tmp_path):
    """An in-memory store whose image document's file was moved after indexing."""
    paths, _ = media
    moved = tmp_path / "moved.png"
    moved.write_bytes(paths[0].read_bytes())
    store = InMemoryVectorStore(embedding=Qwen3VLEmbeddings(embedder=embedder))
    store.add_documents([Document(page_content="A red square.", id="text-1"),
                         Document(page_content="photo", metadata={"image": str(moved)}, id="image-1"),
                         Document(page_content="A blue circle.", id="text-2")])
    moved.unlink()
    return store, moved


def test_an_unreadable_document_is_dropped_with_a_warning_by_default(reranker, moved_image_corpus, caplog):
    store, moved = moved_image_corpus
    pipeline = ContextualCompressionRetriever(base_compressor=Qwen3VLRerank(reranker=reranker, top_n=None),
                                              base_retriever=store.as_retriever(search_kwargs={"k": 3}))
    with caplog.at_level(logging.WARNING, logger="qwen3vl_integrations"):
        out = pipeline.invoke("a red square")
    assert sorted(d.id for d in out) == ["text-1", "text-2"]
    assert "id='image-1'" in caplog.text and str(moved) in caplog.text and "dropped" in caplog.text


def test_on_error_rank_last_and_raise(reranker, moved_image_corpus):
    store, _ = moved_image_corpus
    docs = store.similarity_search("a red square", k=3)
    last = Qwen3VLRerank(reranker=reranker, top_n=None, on_error="rank_last").compress_documents(docs, "a red square")
    assert [d.id for d in last][-1] == "image-1" and len(last) == 3
    assert last[-1].metadata["relevance_score"] is None and last[-1].metadata["rerank_error"] == "media_fetch"
    assert all(isinstance(d.metadata["relevance_score"], float) for d in last[:-1])
    assert len(Qwen3VLRerank(reranker=reranker, top_n=2, on_error="rank_last").compress_documents(docs, "q")) == 2
    thresholded = Qwen3VLRerank(reranker=reranker, top_n=None, on_error="rank_last", score_threshold=0.0)
    assert [d.id for d in thresholded.compress_documents(docs, "q")] == [d.id for d in last[:-1]]
    with pytest.raises(MediaFetchError, match=r"input\[\d\]"):
        Qwen3VLRerank(reranker=reranker, on_error="raise").compress_documents(docs, "a red square")
    with pytest.raises(ValidationError):
        Qwen3VLRerank(reranker=reranker, on_error="ignore")


def test_a_text_file_named_by_an_image_key_stays_text(reranker):
    docs = [Document(page_content="Cats sleep a lot.", metadata={"source": "notes/cats.txt"}),
            Document(page_content="Dogs bark.", metadata={"source": "notes/dogs.md"})]
    out = Qwen3VLRerank(reranker=reranker, top_n=None, image_metadata_keys=("source",),
                        on_error="raise").compress_documents(docs, "cats")
    expected = reranker.score("cats", ["Cats sleep a lot.", "Dogs bark."])
    assert sorted(d.metadata["relevance_score"] for d in out) == pytest.approx(sorted(expected), abs=1e-6)


def test_an_image_document_without_its_media_reference_is_refused(reranker, media):
    paths, _ = media
    # what a store that dropped image_path returns: the path as page content, no media in metadata
    docs = [Document(page_content="A red square."), Document(page_content=str(paths[0]), metadata={"pk": 7})]
    with pytest.raises(InputError, match=r"documents\[1\].*no media reference"):
        Qwen3VLRerank(reranker=reranker).compress_documents(docs, "a red square")


def test_copies_share_the_reranker_and_pickles_carry_a_reference(reranker, tiny_checkpoint):
    compressor = Qwen3VLRerank(reranker=reranker, top_n=2)
    assert copy.deepcopy(compressor).reranker is reranker
    data = pickle.dumps(compressor)
    assert len(data) < 100_000  # the checkpoint's weights are about 40 MB
    restored = pickle.loads(data)
    assert restored.reranker is reranker and restored.top_n == 2  # same process: the loaded model itself
