"""The real client libraries against a live ``qwen3vl serve``: served vectors equal Qwen3VLEmbedder.embed
(cosine >= 0.99999) and served scores equal Qwen3VLReranker.score (|d| <= 1e-5), for texts and images
sent as data URIs."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from tests.conftest import cosine

pytestmark = pytest.mark.slow

TEXTS = ["a cat sleeps on the sofa", "rockets launch at dawn", "coffee is brewed slowly in the morning"]
QUERY = "where is the cat sleeping"


def _image(seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))


def data_uri(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def assert_same_vectors(served, reference) -> None:
    served, reference = np.asarray(served, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert served.shape == reference.shape
    assert cosine(served, reference).min() >= 0.99999


@pytest.fixture(scope="module")
def openai_client(live_server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=live_server.api_key, max_retries=0)


def test_openai_sdk_float_base64_and_usage(openai_client, embedder):
    reference = embedder.embed(TEXTS)
    floats = openai_client.embeddings.create(model="qwen3vl", input=TEXTS, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1, 2]
    assert_same_vectors([d.embedding for d in floats.data], reference)
    assert floats.usage.prompt_tokens == sum(len(embedder.prepare(t)) for t in TEXTS)
    assert floats.usage.total_tokens == floats.usage.prompt_tokens
    explicit = openai_client.embeddings.create(model="qwen3vl", input=TEXTS, encoding_format="base64")
    decoded = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in explicit.data]
    assert_same_vectors(decoded, reference)
    default = openai_client.embeddings.create(model="qwen3vl", input=TEXTS[0])  # the SDK asks base64 and decodes
    assert_same_vectors([default.data[0].embedding], reference[:1])


def test_openai_sdk_image_data_uri_query_side_and_dimensions(openai_client, embedder):
    image = _image(1)
    content = [[{"type": "image_url", "image_url": {"url": data_uri(image)}}],
               [{"type": "text", "text": "a chart"}, {"type": "image_url", "image_url": data_uri(image)}]]
    served = openai_client.embeddings.create(model="qwen3vl", input=content, encoding_format="float")
    assert_same_vectors([d.embedding for d in served.data], embedder.embed([{"image": image},
                                                                            {"text": "a chart", "image": image}]))
    queries = openai_client.embeddings.create(model="qwen3vl", input=TEXTS, encoding_format="float",
                                              extra_body={"input_type": "query"})
    assert_same_vectors([d.embedding for d in queries.data], embedder.embed_queries(TEXTS))
    small = openai_client.embeddings.create(model="qwen3vl", input=TEXTS, dimensions=32)
    assert_same_vectors([d.embedding for d in small.data], embedder.embed(TEXTS, dim=32))


def test_cohere_client_v2_embed_texts_images_and_types(live_server, embedder):
    cohere = pytest.importorskip("cohere")
    co = cohere.ClientV2(api_key=live_server.api_key, base_url=live_server.url)
    texts = co.embed(model="qwen3vl", input_type="search_document", texts=TEXTS, embedding_types=["float", "int8"])
    reference = embedder.embed(TEXTS)
    assert_same_vectors(texts.embeddings.float_, reference)
    assert np.abs(np.asarray(texts.embeddings.int8) - embedder.embed(TEXTS, precision="int8")).max() <= 1
    queries = co.embed(model="qwen3vl", input_type="search_query", texts=TEXTS, embedding_types=["float"])
    assert_same_vectors(queries.embeddings.float_, embedder.embed_queries(TEXTS))
    image = _image(2)
    images = co.embed(model="qwen3vl", input_type="image", images=[data_uri(image)], embedding_types=["float"])
    assert_same_vectors(images.embeddings.float_, embedder.embed([{"image": image}]))


def test_cohere_v1_client_embed_gets_the_v1_float_shape(live_server, embedder):
    cohere = pytest.importorskip("cohere")
    co = cohere.Client(api_key=live_server.api_key, base_url=live_server.url)
    answer = co.embed(model="qwen3vl", texts=TEXTS, input_type="search_document")
    assert answer.response_type == "embeddings_floats"
    assert_same_vectors(answer.embeddings, embedder.embed(TEXTS))


def test_cohere_client_v2_rerank_texts_and_image(live_server, reranker):
    cohere = pytest.importorskip("cohere")
    co = cohere.ClientV2(api_key=live_server.api_key, base_url=live_server.url)
    image = _image(3)
    documents = [*TEXTS, {"image": data_uri(image)}]
    served = co.rerank(model="qwen3vl", query=QUERY, documents=documents)
    reference = reranker.score(QUERY, [*TEXTS, {"image": image}])
    assert sorted(r.index for r in served.results) == [0, 1, 2, 3]  # every document without top_n
    scores = [r.relevance_score for r in served.results]
    assert scores == sorted(scores, reverse=True)
    for result in served.results:
        assert abs(result.relevance_score - reference[result.index]) <= 1e-5
    top = co.rerank(model="qwen3vl", query=QUERY, documents=TEXTS, top_n=2)
    assert [r.index for r in top.results] == [r.index for r in served.results if r.index < 3][:2]


def test_huggingface_inference_client_feature_extraction(live_server, embedder, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    # offline mode blocks every request of the client, even to this local server (it only talks to base_url)
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", False)
    client = hub.InferenceClient(base_url=live_server.url, api_key=live_server.api_key)
    served = client.feature_extraction(TEXTS)
    assert_same_vectors(served, embedder.embed(TEXTS))
    single = client.feature_extraction(TEXTS[0])
    assert_same_vectors(np.asarray(single).reshape(1, -1), embedder.embed(TEXTS[:1]))
    # the server runs with --query-prefix "query: ": Milvus' search_prompt becomes the query instruction
    queries = client.feature_extraction(["query: " + t for t in TEXTS])
    assert_same_vectors(queries, embedder.embed_queries(TEXTS))


def test_pymilvus_model_tei_rerank_function(live_server, reranker):
    tei = pytest.importorskip("pymilvus.model.reranker")
    fn = tei.TEIRerankFunction(live_server.url)
    fn._session.headers.update(live_server.headers())  # the function has no API-key option of its own
    results = fn(QUERY, TEXTS)
    reference = reranker.score(QUERY, TEXTS)
    assert sorted(r.index for r in results) == [0, 1, 2]
    assert [r.index for r in results] == sorted(range(3), key=lambda i: -reference[i])
    for r in results:
        assert r.text == TEXTS[r.index] and abs(r.score - reference[r.index]) <= 1e-5


def test_langchain_openai_embeddings(live_server, embedder):
    lc = pytest.importorskip("langchain_openai")
    embeddings = lc.OpenAIEmbeddings(model="qwen3vl", base_url=live_server.url + "/v1", api_key=live_server.api_key,
                                     check_embedding_ctx_length=False, max_retries=0)
    reference = embedder.embed(TEXTS)
    assert_same_vectors(embeddings.embed_documents(TEXTS), reference)
    assert_same_vectors([embeddings.embed_query(TEXTS[1])], reference[1:2])  # no query signal in this protocol


def test_llama_index_openai_like_embedding(live_server, embedder):
    oai_like = pytest.importorskip("llama_index.embeddings.openai_like")
    embedding = oai_like.OpenAILikeEmbedding(model_name="qwen3vl", api_base=live_server.url + "/v1",
                                             api_key=live_server.api_key, max_retries=0)
    reference = embedder.embed(TEXTS)
    assert_same_vectors(embedding.get_text_embedding_batch(TEXTS), reference)
    assert_same_vectors([embedding.get_query_embedding(TEXTS[2])], reference[2:3])
