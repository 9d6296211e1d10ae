"""Qwen3VLEmbedding and Qwen3VLRerank (LlamaIndex): batching, image forms, query side, nodes, events."""

from __future__ import annotations

import base64
import copy
import importlib
import io
import logging
import pickle
import sys

import numpy as np
import pytest
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.schema import (
    Document,
    ImageDocument,
    ImageNode,
    MediaResource,
    MetadataMode,
    NodeWithScore,
    QueryBundle,
    TextNode,
)
from pydantic import ValidationError

from qwen3vl_integrations import InputError, MediaFetchError
from qwen3vl_integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank
from qwen3vl_integrations.llama_index.rerank import node_to_input, query_to_input
from tests.conftest import cosine, random_image


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    rng = np.random.default_rng(9)
    folder = tmp_path_factory.mktemp("li_images")
    paths = []
    for i, (h, w) in enumerate([(96, 96), (64, 128)]):
        path = folder / f"pic{i}.png"
        random_image(rng, h, w).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def embed_model(embedder):
    return Qwen3VLEmbedding(embedder=embedder)


def _spy(monkeypatch, obj, name):
    """Record the size of every call to obj.name and still call it."""
    calls, original = [], getattr(obj, name)

    def wrapper(inputs, *args, **kwargs):
        calls.append(len(inputs))
        return original(inputs, *args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


# -- embedding ------------------------------------------------------------------------------------------
def test_is_a_complete_multimodal_embedding(embed_model, embedder):
    assert isinstance(embed_model, MultiModalEmbedding) and embed_model.model_name == embedder.model_id
    assert embed_model.embedder is embedder and embed_model.class_name() == "Qwen3VLEmbedding"
    for name in ("_get_text_embeddings", "_aget_text_embeddings"):
        assert getattr(Qwen3VLEmbedding, name) is not getattr(BaseEmbedding, name)
    for name in ("_get_image_embeddings", "_aget_image_embeddings"):
        assert getattr(Qwen3VLEmbedding, name) is not getattr(MultiModalEmbedding, name)


def test_batches_reach_the_core_in_one_call_each(embedder, pictures, monkeypatch):
    embed_model = Qwen3VLEmbedding(embedder=embedder, embed_batch_size=2)
    calls = _spy(monkeypatch, embedder, "embed_documents")
    texts = [f"text number {i}" for i in range(5)]
    vectors = embed_model.get_text_embedding_batch(texts)
    assert calls == [2, 2, 1]
    np.testing.assert_allclose(vectors, embedder.embed_documents(texts), atol=1e-6)
    calls.clear()
    images = [str(p) for p in pictures]
    vectors = embed_model.get_image_embedding_batch(images)
    assert calls == [2]
    np.testing.assert_allclose(vectors, embedder.embed_documents([{"image": p} for p in images]), atol=1e-6)


def test_query_side_and_document_side(embed_model, embedder):
    query = embed_model.get_query_embedding("a red square")
    text = embed_model.get_text_embedding("a red square")
    assert all(type(x) is float for x in query)
    np.testing.assert_allclose(query, embedder.embed_queries(["a red square"])[0], atol=1e-6)
    np.testing.assert_allclose(text, embedder.embed_documents(["a red square"])[0], atol=1e-6)
    assert cosine(query, text) < 0.99999
    custom = Qwen3VLEmbedding(embedder=embedder, query_instruction="Find the chart", dim=32)
    vector = custom.get_query_embedding("sales")
    assert len(vector) == 32
    np.testing.assert_allclose(vector, embedder.embed(["sales"], instruction="Find the chart", dim=32)[0], atol=1e-6)


def test_images_as_path_url_data_uri_base64_and_bytesio(embed_model, pictures):
    raw = pictures[0].read_bytes()
    b64 = base64.b64encode(raw).decode()
    forms = [str(pictures[0]), pictures[0].as_uri(), f"data:image/png;base64,{b64}", b64, io.BytesIO(raw)]
    vectors = embed_model.get_image_embedding_batch(forms)
    for vector in vectors[1:]:
        assert cosine(vectors[0], vector) == pytest.approx(1.0, abs=1e-6)
    assert cosine(vectors[0], embed_model.get_image_embedding(str(pictures[1]))) < 0.9999


def test_video_and_mixed_items(embed_model, embedder, pictures):
    frames = [random_image(np.random.default_rng(2), 64, 64) for _ in range(4)]
    np.testing.assert_allclose(embed_model.get_video_embedding(frames),
                               embedder.embed_documents([{"video": frames}])[0], atol=1e-6)
    items = ["caption", {"text": "caption", "image": str(pictures[0])}]
    np.testing.assert_allclose(embed_model.get_multimodal_embeddings(items), embedder.embed_documents(items),
                               atol=1e-6)
    np.testing.assert_allclose(embed_model.get_multimodal_embeddings(items, is_query=True),
                               embedder.embed_queries(items), atol=1e-6)


@pytest.mark.asyncio
async def test_async_variants_match_sync(embed_model, pictures):
    texts, images = ["one", "two", "three"], [str(p) for p in pictures]
    frames = [random_image(np.random.default_rng(4), 64, 64)] * 2
    pairs = [
        (await embed_model.aget_query_embedding("q"), embed_model.get_query_embedding("q")),
        (await embed_model.aget_text_embedding("t"), embed_model.get_text_embedding("t")),
        (await embed_model.aget_text_embedding_batch(texts), embed_model.get_text_embedding_batch(texts)),
        (await embed_model.aget_image_embedding(images[0]), embed_model.get_image_embedding(images[0])),
        (await embed_model.aget_image_embedding_batch(images), embed_model.get_image_embedding_batch(images)),
        (await embed_model.aget_video_embedding(frames), embed_model.get_video_embedding(frames)),
        (await embed_model.aget_multimodal_embeddings(texts), embed_model.get_multimodal_embeddings(texts)),
    ]
    for got, expected in pairs:
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_embedding_construction(embedder, tiny_checkpoint):
    with pytest.raises(ValidationError):
        Qwen3VLEmbedding(embedder=embedder, batch_size=4)
    with pytest.raises(ValueError, match="model_name="):
        Qwen3VLEmbedding()
    with pytest.raises(ValueError, match="model_kwargs"):
        Qwen3VLEmbedding(embedder=embedder, model_kwargs={"device": "cpu"})
    loaded = Qwen3VLEmbedding(str(tiny_checkpoint), model_kwargs={"device": "cpu"})
    assert loaded.model_name == str(tiny_checkpoint)
    np.testing.assert_allclose(loaded.get_text_embedding("x"), embedder.embed_documents(["x"])[0], atol=1e-6)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    monkeypatch.delitem(sys.modules, "qwen3vl_integrations.llama_index")
    with pytest.raises(ImportError, match=r"qwen3vl-integrations\[llamaindex\]"):
        importlib.import_module("qwen3vl_integrations.llama_index")


# -- reranking ------------------------------------------------------------------------------------------
def _nodes(pictures) -> list[NodeWithScore]:
    b64 = base64.b64encode(pictures[1].read_bytes()).decode()
    frames = [random_image(np.random.default_rng(6), 64, 64) for _ in range(2)]
    nodes = [
        TextNode(text="A red square on a white background.", metadata={"source": "a.txt"}),
        ImageNode(image_path=str(pictures[0])),
        ImageNode(image=b64, text="a caption"),
        ImageNode(text="", metadata={"file_path": str(pictures[0])}),
        TextNode(text="a short clip", metadata={"video": frames}),
        TextNode(text="Quarterly revenue grew by four percent."),
    ]
    return [NodeWithScore(node=n, score=0.9 - 0.1 * i) for i, n in enumerate(nodes)]


def test_nodes_and_queries_map_to_core_inputs(pictures):
    nodes = [n.node for n in _nodes(pictures)]
    assert node_to_input(nodes[0]) == {"text": "source: a.txt\n\nA red square on a white background."}
    assert node_to_input(nodes[0], MetadataMode.NONE) == {"text": "A red square on a white background."}
    assert node_to_input(nodes[1]) == {"image": str(pictures[0])}
    assert node_to_input(nodes[2]) == {"image": nodes[2].image, "text": "a caption"}
    assert node_to_input(nodes[3]) == {"image": str(pictures[0])}
    assert node_to_input(nodes[4])["video"] is nodes[4].metadata["video"]
    assert node_to_input(ImageNode(image_url=pictures[1].as_uri())) == {"image": pictures[1].as_uri()}
    assert query_to_input(QueryBundle("cats")) == {"text": "cats"}
    assert query_to_input(QueryBundle("", image_path="q.png")) == {"image": "q.png"}
    assert query_to_input(QueryBundle("cats", image_path="q.png")) == {"text": "cats", "image": "q.png"}
    with pytest.raises(ValueError, match="neither"):
        query_to_input(QueryBundle(""))


def test_rerank_sorts_truncates_and_never_mutates(reranker, pictures):
    nodes = _nodes(pictures)
    before = [copy.deepcopy(n.model_dump()) for n in nodes]
    out = Qwen3VLRerank(reranker=reranker, top_n=4).postprocess_nodes(nodes, query_str="a red square")
    assert len(out) == 4
    scores = [n.score for n in out]
    assert scores == sorted(scores, reverse=True)
    expected = reranker.score("a red square", [node_to_input(n.node) for n in nodes])
    assert scores == pytest.approx(sorted(expected, reverse=True)[:4], abs=1e-6)
    assert [n.model_dump() for n in nodes] == before
    assert all(o is not n for o in out for n in nodes)
    assert len(Qwen3VLRerank(reranker=reranker).postprocess_nodes(nodes, query_str="q")) == 3  # default top_n
    assert Qwen3VLRerank(reranker=reranker).postprocess_nodes([], query_str="q") == []


def test_same_image_scores_the_same_whatever_the_carrier(reranker, pictures):
    raw = pictures[1].read_bytes()
    nodes = [NodeWithScore(node=n, score=None) for n in [
        ImageNode(image=base64.b64encode(raw).decode()),
        ImageNode(image_path=str(pictures[1])),
        ImageNode(image_url=pictures[1].as_uri()),
        ImageNode(metadata={"file_path": str(pictures[1])}),
    ]]
    out = Qwen3VLRerank(reranker=reranker, top_n=None).postprocess_nodes(nodes, query_str="a picture")
    assert len(out) == 4 and max(n.score for n in out) - min(n.score for n in out) < 1e-6


def test_keep_retrieval_score_copies_the_node(reranker, pictures):
    nodes = _nodes(pictures)
    out = Qwen3VLRerank(reranker=reranker, top_n=None, keep_retrieval_score=True).postprocess_nodes(
        nodes, query_str="a red square")
    by_id = {n.node.node_id: n for n in nodes}
    for result in out:
        original = by_id[result.node.node_id]
        assert result.node.metadata["retrieval_score"] == original.score
        assert "retrieval_score" not in original.node.metadata and result.node is not original.node


def test_image_query_bundle(reranker, pictures):
    nodes = _nodes(pictures)
    bundle = QueryBundle("", image_path=str(pictures[0]))
    out = Qwen3VLRerank(reranker=reranker, top_n=2).postprocess_nodes(nodes, query_bundle=bundle)
    expected = reranker.score({"image": str(pictures[0])}, [node_to_input(n.node) for n in nodes])
    assert [n.score for n in out] == pytest.approx(sorted(expected, reverse=True)[:2], abs=1e-6)


class _Collector(BaseEventHandler):
    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "Collector"

    def handle(self, event, **kwargs) -> None:
        self.events.append(event)


def test_rerank_events_are_emitted(reranker, pictures):
    nodes = _nodes(pictures)
    collector, debug = _Collector(events=[]), LlamaDebugHandler()
    root = get_dispatcher()
    root.add_event_handler(collector)
    try:
        postprocessor = Qwen3VLRerank(reranker=reranker, top_n=2, callback_manager=CallbackManager([debug]))
        out = postprocessor.postprocess_nodes(nodes, query_str="a red square")
    finally:
        root.event_handlers.remove(collector)
    starts = [e for e in collector.events if isinstance(e, ReRankStartEvent)]
    ends = [e for e in collector.events if isinstance(e, ReRankEndEvent)]
    assert len(starts) == 1 and len(ends) == 1
    assert starts[0].top_n == 2 and starts[0].model_name == reranker.model_id and len(starts[0].nodes) == len(nodes)
    assert [n.score for n in ends[0].nodes] == [n.score for n in out]
    assert len(debug.get_event_pairs(CBEventType.RERANKING)) == 1


@pytest.mark.asyncio
async def test_async_rerank_matches_sync(reranker, pictures):
    nodes = _nodes(pictures)
    postprocessor = Qwen3VLRerank(reranker=reranker, top_n=3)
    got = await postprocessor.apostprocess_nodes(nodes, query_str="a red square")
    expected = postprocessor.postprocess_nodes(nodes, query_str="a red square")
    assert [(n.node.node_id, n.score) for n in got] == [(n.node.node_id, n.score) for n in expected]


def test_rerank_construction(reranker):
    with pytest.raises(ValidationError):
        Qwen3VLRerank(reranker=reranker, top_k=2)
    with pytest.raises(ValueError, match="reranker="):
        Qwen3VLRerank()
    postprocessor = Qwen3VLRerank(reranker=reranker)
    assert postprocessor.model == reranker.model_id and postprocessor.reranker is reranker
    with pytest.raises(ValueError, match="query"):
        postprocessor.postprocess_nodes(_nodes_stub())


def _nodes_stub() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text="x"), score=1.0)]



# -- issue 16 ------------------------------------------------------------------------------------------
def _resource_nodes(pictures) -> list[NodeWithScore]:
    raw = pictures[1].read_bytes()
    nodes = [
        Document(text="a photo", image_resource=MediaResource(path=pictures[0])),
        ImageDocument(image_path=str(pictures[1])),
        Document(image_resource=MediaResource(data=raw, mimetype="image/png")),
        TextNode(text="Quarterly revenue grew by four percent."),
    ]
    return [NodeWithScore(node=n, score=None) for n in nodes]


def test_generic_nodes_with_image_resource_are_reranked_with_their_image(reranker, pictures):
    # issue 16 item 4: only ImageNode images were read; a Document / ImageDocument was scored as text
    nodes = _resource_nodes(pictures)
    assert node_to_input(nodes[0].node) == {"text": "a photo", "image": pictures[0]}
    assert node_to_input(nodes[1].node) == {"image": pictures[1]}
    assert node_to_input(nodes[2].node)["image"].startswith("data:image/png;base64,")
    out = Qwen3VLRerank(reranker=reranker, top_n=None, on_error="raise").postprocess_nodes(nodes, query_str="a cat")
    expected = reranker.score("a cat", [{"text": "a photo", "image": str(pictures[0])}, {"image": str(pictures[1])},
                                        {"image": str(pictures[1])}, "Quarterly revenue grew by four percent."])
    by_id = {n.node.node_id: n.score for n in out}
    assert [by_id[n.node.node_id] for n in nodes] == pytest.approx(expected, abs=1e-6)


def test_ingestion_pipeline_embeds_media_nodes_with_their_image(embedder, pictures):
    nodes = [n.node for n in _resource_nodes(pictures)] + [ImageNode(image_path=str(pictures[0]))]
    embedded = IngestionPipeline(transformations=[Qwen3VLEmbedding(embedder=embedder)]).run(nodes=nodes)
    expected = embedder.embed_documents([{"text": "a photo", "image": str(pictures[0])}, {"image": str(pictures[1])},
                                         {"image": str(pictures[1])}, "Quarterly revenue grew by four percent.",
                                         {"image": str(pictures[0])}])
    np.testing.assert_allclose([n.embedding for n in embedded], expected, atol=1e-5)


def test_an_unreadable_node_is_dropped_with_a_warning_by_default(reranker, pictures, tmp_path, caplog):
    # issue 16 item 3: one moved image file failed every query that retrieved it
    gone = str(tmp_path / "moved.png")
    nodes = [NodeWithScore(node=n, score=None) for n in [
        TextNode(text="A red square.", id_="text-1"), ImageNode(image_path=gone, id_="image-1"),
        TextNode(text="A blue circle.", id_="text-2")]]
    with caplog.at_level(logging.WARNING, logger="qwen3vl_integrations"):
        out = Qwen3VLRerank(reranker=reranker, top_n=None).postprocess_nodes(nodes, query_str="a red square")
    assert sorted(n.node.node_id for n in out) == ["text-1", "text-2"]
    assert "id='image-1'" in caplog.text and gone in caplog.text
    last = Qwen3VLRerank(reranker=reranker, top_n=None, on_error="rank_last").postprocess_nodes(nodes, query_str="q")
    assert last[-1].node.node_id == "image-1" and last[-1].score is None and len(last) == 3
    with pytest.raises(MediaFetchError):
        Qwen3VLRerank(reranker=reranker, on_error="raise").postprocess_nodes(nodes, query_str="q")
    with pytest.raises(InputError, match="declares an image"):
        Qwen3VLRerank(reranker=reranker).postprocess_nodes([NodeWithScore(node=ImageNode(text="x"))], query_str="q")


def test_copies_and_pickles_share_the_models(embedder, reranker):
    # issue 16 item 6
    embed_model, postprocessor = Qwen3VLEmbedding(embedder=embedder), Qwen3VLRerank(reranker=reranker)
    assert copy.deepcopy(embed_model).embedder is embedder and copy.deepcopy(postprocessor).reranker is reranker
    for obj in (embed_model, postprocessor):
        data = pickle.dumps(obj)
        assert len(data) < 100_000
        restored = pickle.loads(data)
        assert getattr(restored, "embedder", None) is embedder or getattr(restored, "reranker", None) is reranker
    restored = pickle.loads(pickle.dumps(embed_model))
    np.testing.assert_allclose(restored.get_text_embedding("x"), embed_model.get_text_embedding("x"), atol=1e-6)
