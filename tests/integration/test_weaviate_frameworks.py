"""The framework stores of docs/weaviate.md with Qwen3-VL embeddings, through the real weaviate-client
against the in-memory Weaviate of ``weaviate_fake``: langchain-weaviate ``WeaviateVectorStore`` with
``Qwen3VLEmbeddings`` and LlamaIndex's ``WeaviateVectorStore`` with ``Qwen3VLEmbedding``. The vectors
that reach Weaviate are the library's; the stand-in answers their hybrid searches with ``alpha=1``
(the vector part: it has no BM25), which is what an image or vector query is."""

from __future__ import annotations

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")
pytest.importorskip("langchain_weaviate")
pytest.importorskip("llama_index.vector_stores.weaviate")

from langchain_weaviate import WeaviateVectorStore  # noqa: E402
from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.indices import MultiModalVectorStoreIndex  # noqa: E402
from llama_index.core.schema import ImageDocument, ImageNode  # noqa: E402
from llama_index.vector_stores.weaviate import WeaviateVectorStore as LlamaWeaviateVectorStore  # noqa: E402

from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLMediaRetriever  # noqa: E402
from qwen3vl_integrations.llama_index import Qwen3VLEmbedding  # noqa: E402
from tests.conftest import random_image  # noqa: E402

from .weaviate_fake import DEFAULT, FakeWeaviate, connected_client  # noqa: E402

TEXTS = ["A red square on a white background.", "A blue circle drawn with a thin pen.",
         "Quarterly revenue grew by four percent."]


def assert_same(got, expected) -> None:
    got, expected = np.asarray(got, dtype=np.float32), np.asarray(expected, dtype=np.float32)
    assert got.shape == expected.shape
    assert float(got @ expected / np.linalg.norm(got) / np.linalg.norm(expected)) >= 0.99999
    assert float(np.max(np.abs(got - expected))) <= 1e-5


def sent_query(fake) -> np.ndarray:
    return np.frombuffer(fake.searches[-1].hybrid_search.vector_bytes, dtype="<f4")


def stored(fake, collection: str, key: str) -> dict:
    return {props[key]: vectors[DEFAULT] for props, vectors in fake.objects[collection].values()}


@pytest.fixture
def fake():
    return FakeWeaviate()


@pytest.fixture
def client(fake):
    with connected_client(fake) as client:
        yield client


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "square.png"
    random_image(np.random.default_rng(4), 64, 64).save(path)
    return str(path)


def test_langchain_weaviate_store_with_qwen3vl_embeddings(embedder, client, fake, image_file):
    embeddings = Qwen3VLEmbeddings(embedder=embedder)
    store = WeaviateVectorStore(client=client, index_name="LangChainDocs", text_key="text", embedding=embeddings)
    store.add_texts(TEXTS, metadatas=[{"source": f"note{i}.txt"} for i in range(len(TEXTS))])
    documents = dict(zip(TEXTS, embeddings.embed_documents(TEXTS)))
    vectors = stored(fake, "LangChainDocs", "text")
    assert set(vectors) == set(TEXTS)
    for text, vector in vectors.items():
        assert_same(vector, documents[text])
    docs = store.similarity_search("a red square", k=2, alpha=1)
    query = embeddings.embed_query("a red square")
    assert_same(sent_query(fake), query)
    by_cosine = sorted(TEXTS, key=lambda t: -float(np.dot(query, documents[t])))
    assert [d.page_content for d in docs] == by_cosine[:2]
    assert docs[0].metadata["source"] == f"note{TEXTS.index(docs[0].page_content)}.txt"
    [found] = Qwen3VLMediaRetriever(vectorstore=store, embeddings=embeddings, k=1).invoke(image_file)
    assert_same(sent_query(fake), embedder.embed_queries([{"image": image_file}])[0])
    assert found.page_content in TEXTS


def test_llama_index_weaviate_store_with_qwen3vl_embedding(embedder, client, fake, image_file):
    embed_model = Qwen3VLEmbedding(embedder=embedder)
    vector_store = LlamaWeaviateVectorStore(weaviate_client=client, index_name="LlamaDocs")
    index = VectorStoreIndex.from_documents([Document(text=t) for t in TEXTS], embed_model=embed_model,
                                            storage_context=StorageContext.from_defaults(vector_store=vector_store))
    vectors = stored(fake, "LlamaDocs", "text")
    for text, vector in vectors.items():
        assert_same(vector, embed_model.get_text_embedding(text))
    nodes = index.as_retriever(similarity_top_k=2).retrieve("a red square")
    assert_same(sent_query(fake), embed_model.get_query_embedding("a red square"))
    assert len(nodes) == 2 and {n.node.get_content() for n in nodes} <= set(TEXTS)
    assert nodes[0].score >= nodes[1].score
    images = LlamaWeaviateVectorStore(weaviate_client=client, index_name="LlamaImages")
    storage = StorageContext.from_defaults(vector_store=vector_store, image_store=images)
    mm_index = MultiModalVectorStoreIndex.from_documents(
        [ImageDocument(image_path=image_file, metadata={"file_path": image_file})], storage_context=storage, embed_model=embed_model,
        image_embed_model=embed_model)
    [image_vector] = fake.objects["LlamaImages"].values()
    assert_same(image_vector[1][DEFAULT], embed_model.get_image_embedding(image_file))
    [hit] = mm_index.as_retriever(image_similarity_top_k=1).image_to_image_retrieve(image_file)
    assert isinstance(hit.node, ImageNode) and hit.node.image_path == image_file
