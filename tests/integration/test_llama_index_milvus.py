"""End to end on Milvus Lite: SimpleDirectoryReader -> MultiModalVectorStoreIndex (text store and
image store in llama-index-vector-stores-milvus) with Qwen3VLEmbedding, retrieval by text and by
image, Qwen3VLRerank on the results, and the LlamaIndex example script."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
from llama_index.core import SimpleDirectoryReader, StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import ImageDocument, ImageNode, QueryBundle
from llama_index.vector_stores.milvus import MilvusVectorStore

from qwen3vl_integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank
from qwen3vl_integrations.llama_index.rerank import node_to_input
from tests.conftest import random_image, run_example

pytestmark = pytest.mark.filterwarnings("ignore:.*ORM-style PyMilvus API")

TEXTS = {
    "square.txt": "A red square on a white background.",
    "circle.txt": "A blue circle drawn with a thin pen.",
    "revenue.txt": "Quarterly revenue grew by four percent.",
}


class ImagePathReader(BaseReader):
    """What llama-index-readers-file's ImageReader returns by default (an ImageDocument naming the
    file); the llamaindex extra installs llama-index-core alone, which would read a PNG as text."""

    def load_data(self, file, extra_info=None, fs=None):
        return [ImageDocument(image_path=str(file), metadata=extra_info or {})]


@pytest.fixture(scope="module")
def index_setup(tmp_path_factory, embedder):
    """One Milvus Lite database for the module, with a text collection and an image collection."""
    rng = np.random.default_rng(13)
    root = tmp_path_factory.mktemp("li_milvus")
    data = root / "data"
    data.mkdir()
    images = []
    for i, (h, w) in enumerate([(96, 96), (64, 128), (128, 64)]):
        path = data / f"image{i}.png"
        random_image(rng, h, w).save(path)
        images.append(str(path))
    for name, text in TEXTS.items():
        (data / name).write_text(text + "\n")
    embed_model = Qwen3VLEmbedding(embedder=embedder)
    documents = SimpleDirectoryReader(str(data), file_extractor={".png": ImagePathReader()}).load_data()
    uri = str(root / "li.db")
    storage = StorageContext.from_defaults(
        vector_store=MilvusVectorStore(uri=uri, dim=embedder.dim, collection_name="texts", overwrite=True,
                                       similarity_metric="COSINE"),
        image_store=MilvusVectorStore(uri=uri, dim=embedder.dim, collection_name="images", overwrite=True,
                                      similarity_metric="COSINE"))
    index = MultiModalVectorStoreIndex.from_documents(documents, storage_context=storage, embed_model=embed_model,
                                                      image_embed_model=embed_model)
    duplicates = []
    for path in images:
        dup = root / "queries" / Path(path).name
        dup.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, dup)
        duplicates.append(str(dup))
    return index, images, duplicates


def test_documents_are_read_as_texts_and_images(index_setup):
    index, images, _ = index_setup
    retriever = index.as_retriever(similarity_top_k=10, image_similarity_top_k=10)
    nodes = retriever.retrieve("a red square")
    image_nodes = [n for n in nodes if isinstance(n.node, ImageNode)]
    text_nodes = [n for n in nodes if not isinstance(n.node, ImageNode)]
    assert sorted(n.node.metadata["file_path"] for n in image_nodes) == sorted(images)
    assert sorted(n.node.text.strip() for n in text_nodes) == sorted(TEXTS.values())


def test_text_retrieval_uses_the_query_side(index_setup, embedder):
    index, _, _ = index_setup
    retriever = index.as_retriever(similarity_top_k=2, image_similarity_top_k=2)
    nodes = retriever.retrieve("a red square")
    assert len(nodes) == 4
    query = embedder.embed_queries(["a red square"])[0]
    for item in nodes:
        if isinstance(item.node, ImageNode):
            stored = embedder.embed_documents([{"image": item.node.image_path}])[0]
        else:
            stored = embedder.embed_documents([item.node.get_content(metadata_mode="embed")])[0]
        assert item.score == pytest.approx(float(query @ stored), abs=1e-4)  # COSINE of unit vectors


def test_image_query_ranks_its_exact_duplicate_first(index_setup):
    index, images, duplicates = index_setup
    retriever = index.as_retriever(image_similarity_top_k=3)
    for original, duplicate in zip(images, duplicates):
        found = retriever.image_to_image_retrieve(duplicate)
        assert len(found) == 3 and isinstance(found[0].node, ImageNode)
        assert found[0].node.metadata["file_path"] == original
        assert found[0].score == pytest.approx(1.0, abs=1e-4)
        assert found[0].score > found[1].score


def test_rerank_retrieved_nodes(index_setup, reranker):
    index, _, duplicates = index_setup
    nodes = index.as_retriever(similarity_top_k=3, image_similarity_top_k=3).retrieve("a red square")
    snapshot = copy.deepcopy([n.model_dump() for n in nodes])
    out = Qwen3VLRerank(reranker=reranker, top_n=3).postprocess_nodes(nodes, query_str="a red square")
    assert len(out) == 3
    scores = [n.score for n in out]
    assert scores == sorted(scores, reverse=True)
    items = [node_to_input(n.node) for n in nodes]
    assert sum("image" in item for item in items) == 3  # image nodes are scored as images
    expected = reranker.score("a red square", items)
    assert scores == pytest.approx(sorted(expected, reverse=True)[:3], abs=1e-6)
    assert [n.model_dump() for n in nodes] == snapshot

    image_nodes = index.as_retriever(image_similarity_top_k=3).image_to_image_retrieve(duplicates[0])
    by_image = Qwen3VLRerank(reranker=reranker, top_n=2).postprocess_nodes(
        image_nodes, query_bundle=QueryBundle("", image_path=duplicates[0]))
    expected = reranker.score({"image": duplicates[0]}, [node_to_input(n.node) for n in image_nodes])
    assert [n.score for n in by_image] == pytest.approx(sorted(expected, reverse=True)[:2], abs=1e-6)


@pytest.mark.asyncio
async def test_async_retrieval_and_rerank(index_setup, reranker):
    index, _, _ = index_setup
    retriever = index.as_retriever(similarity_top_k=2, image_similarity_top_k=2)
    nodes = await retriever.aretrieve("a red square")
    assert [n.node.node_id for n in nodes] == [n.node.node_id for n in retriever.retrieve("a red square")]
    out = await Qwen3VLRerank(reranker=reranker, top_n=2).apostprocess_nodes(nodes, query_str="a red square")
    assert len(out) == 2 and out[0].score >= out[1].score


def test_llama_index_example_runs(tiny_checkpoint, tmp_path):
    out = run_example("llama_index_multimodal_rag.py", tiny_checkpoint, tmp_path)
    assert "text query" in out and "image query" in out and "reranked" in out
    assert "exact duplicate ranked first: True" in out
