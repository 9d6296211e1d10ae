"""Qwen3VLMediaRetriever: LangChain's standard retriever suite, and LangChain's k / search_kwargs conventions."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import RetrieversIntegrationTests

from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLMediaRetriever
from tests.conftest import random_image


class ImageFileEmbeddings(Embeddings):
    """Indexes each page content (an image path) as that image, as a store's ``add_images`` would."""

    def __init__(self, embeddings: Qwen3VLEmbeddings):
        self.embeddings = embeddings

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_image(uris=texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embeddings.embed_query(text)


@pytest.fixture(scope="module")
def image_store(embedder, tmp_path_factory):
    """An in-memory LangChain store of 6 images (page content: the path; metadata: image_path, shape)."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("lc_retriever")
    paths = []
    for i in range(6):
        path = folder / f"picture{i}.png"
        random_image(rng, 64, 64 + 16 * i).save(path)
        paths.append(str(path))
    embeddings = Qwen3VLEmbeddings(embedder=embedder)
    store = InMemoryVectorStore(embedding=ImageFileEmbeddings(embeddings))
    store.add_texts(paths, metadatas=[{"image_path": p, "wide": i >= 3} for i, p in enumerate(paths)])
    return store, embeddings, paths


class TestQwen3VLMediaRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard suite, subclassed and run as is (no test overridden)."""

    _store = None
    _embeddings = None
    _query = ""

    @pytest.fixture(autouse=True)
    def _share_store(self, image_store):
        type(self)._store, type(self)._embeddings, paths = image_store
        type(self)._query = paths[0]

    @property
    def retriever_constructor(self) -> type[Qwen3VLMediaRetriever]:
        return Qwen3VLMediaRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"vectorstore": self._store, "embeddings": self._embeddings, "as_query": False}

    @property
    def retriever_query_example(self) -> str:
        return self._query

    pytestmark = [pytest.mark.asyncio,
                  pytest.mark.filterwarnings("ignore:The test <Function .* is marked with '@pytest.mark.asyncio'")]


def test_search_kwargs_k_and_invoke_k_follow_langchain(image_store):
    # issue 16 item 2: search_kwargs={"k": 2} raised TypeError (k twice); invoke(query, k=1) ignored k
    store, embeddings, paths = image_store
    retriever = Qwen3VLMediaRetriever(vectorstore=store, embeddings=embeddings, k=4, as_query=False,
                                      search_kwargs={"k": 2})
    found = retriever.invoke(paths[1])
    assert len(found) == 2 and found[0].metadata["image_path"] == paths[1]
    assert len(retriever.invoke(paths[1], k=1)) == 1
    assert len(Qwen3VLMediaRetriever(vectorstore=store, embeddings=embeddings, k=3).invoke(paths[1])) == 3


def test_search_kwargs_filters_reach_the_store(image_store):
    store, embeddings, paths = image_store
    wide_only = Qwen3VLMediaRetriever(vectorstore=store, embeddings=embeddings, k=6,
                                      search_kwargs={"filter": lambda d: d.metadata["wide"]})
    found = wide_only.invoke(paths[0])
    assert sorted(d.page_content for d in found) == paths[3:]
    assert all(isinstance(d, Document) for d in found)


@pytest.mark.asyncio
async def test_async_invoke_with_k(image_store):
    store, embeddings, paths = image_store
    retriever = Qwen3VLMediaRetriever(vectorstore=store, embeddings=embeddings, k=4, as_query=False)
    found = await retriever.ainvoke(paths[2], k=2)
    assert [d.id for d in found] == [d.id for d in retriever.invoke(paths[2], k=2)] and len(found) == 2
    assert found[0].metadata["image_path"] == paths[2]
