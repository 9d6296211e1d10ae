"""Weaviate's inference-module routes on a live ``qwen3vl serve``, called by the emulated Go clients of
``weaviate_contract`` (weaviate adcffc5432aa): the request bytes are those the Go code builds, every answer is
decoded by Go's rules into the Go response struct before its status is looked at, and the status rule of each
client decides what is an error. Served vectors equal ``Qwen3VLEmbedder.embed`` (cosine >= 0.99999) and served
scores ``Qwen3VLReranker.score`` (|d| <= 1e-5).

One server for the module: API key on, ``--weaviate-open-routes`` (the modules send no Authorization header),
the /vectorize instruction from ``QWEN3VL_VECTORIZE_INSTRUCTION``, a 1 MiB body limit.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json

import numpy as np
import pytest

from tests.conftest import cosine
from tests.unit.conftest import write_video

from . import weaviate_contract as wc
from .weaviate_gojson import unmarshal

pytestmark = pytest.mark.slow

httpx = pytest.importorskip("httpx")

INSTRUCTION = "Represent this Weaviate object for retrieval."
BODY_LIMIT = 1024 * 1024
TEXTS = ["a cat sleeps on the sofa", "rockets launch at dawn", "<b>coffee</b> & tea \u2028 brewed slowly"]
QUERY = "where is the cat sleeping"


def _image(seed: int):
    from PIL import Image

    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8))


def _b64(image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def assert_same(served, reference) -> None:
    served, reference = np.asarray(served, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    assert served.shape == reference.shape
    assert cosine(served, reference).min() >= 0.99999


def assert_go_fields(struct, raw: bytes, extra: tuple = ()) -> dict:
    """The answer's keys are the Go struct's json names, exactly (no case folding needed), in the struct's
    order, plus ``extra``; it decodes by Go's rules."""
    keys = list(json.loads(raw))
    known = [k for k in keys if k in struct.names()]
    assert known == [n for n in struct.names() if n in known]
    assert set(keys) - set(struct.names()) <= set(extra)
    return unmarshal(struct, raw)


@pytest.fixture(scope="module")
def server(server_factory):
    return server_factory(args=("--weaviate-open-routes", "--max-body-bytes", str(BODY_LIMIT)),
                          env={"QWEN3VL_VECTORIZE_INSTRUCTION": INSTRUCTION})


@pytest.fixture(scope="module")
def http(server):
    with wc.http_client(server.url) as client:
        yield client


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=8, fps=4).read_bytes()


# -- readiness and meta --------------------------------------------------------------------------------------
def test_every_client_finds_it_ready_and_reads_meta(http, server, embedder, reranker):
    for client in (wc.ClipClient(http), wc.BindClient(http), wc.TransformersClient(http), wc.RerankerClient(http)):
        client.check_ready()  # 500 ms per probe, status < 300
        meta = client.meta()  # a JSON object (text2vec-transformers also wants a 2xx)
    live = http.get("/.well-known/live")
    ready = http.get("/.well-known/ready")
    assert live.status_code == ready.status_code == 204
    assert meta["model"]["dimension"] == embedder.dim and meta["ready"] is True
    routes = meta["routes"]
    assert routes["/vectorize"]["instruction"] == INSTRUCTION
    assert routes["/vectors"]["instruction"] == {"passage": embedder.default_instruction,
                                                 "query": embedder.query_instruction}
    assert routes["/v1/multimodalembeddings"]["instruction"]["query"] == embedder.query_instruction
    assert routes["/rerank"]["instruction"] == reranker.default_instruction
    assert server.url not in json.dumps(meta) and "/tmp" not in json.dumps(meta)


def test_ready_is_503_until_the_warm_up_forward_passes_succeeded(embedder):
    """In-process app (no lifespan, so no warm-up yet): not ready, then ready once warm_up() ran."""
    from qwen3vl_integrations.server import ServerSettings, create_app

    app = create_app(embedder, settings=ServerSettings(api_key="k"))

    async def probe():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get("/.well-known/ready"), await client.get("/.well-known/live")

    before, live = asyncio.run(probe())
    assert before.status_code == 503 and live.status_code == 204
    assert unmarshal(wc.CLIP_RESPONSE, before.content)["error"] == "not ready: warming up"
    app.state.qwen3vl.warm_up()
    after, _ = asyncio.run(probe())
    assert after.status_code == 204


# -- multi2vec-clip ------------------------------------------------------------------------------------------
def test_clip_vectorize_equals_the_library(http, embedder):
    images = [_image(1), _image(2)]
    raw = wc.send(http, wc.clip_request(TEXTS, [_b64(images[0]), _b64(images[1], "JPEG")]))
    assert raw.status_code == 200
    body = assert_go_fields(wc.CLIP_RESPONSE, raw.content, extra=("videoVectors",))
    from PIL import Image

    jpeg = Image.open(io.BytesIO(base64.b64decode(_b64(images[1], "JPEG"))))
    reference = embedder.embed([*TEXTS, {"image": images[0]}, {"image": jpeg}], instruction=INSTRUCTION)
    assert_same(body["textVectors"], reference[:3])
    assert_same(body["imageVectors"], reference[3:])
    clip = wc.ClipClient(http)
    assert_same([clip.vectorize_image(_b64(images[0]))], reference[3:4])  # nearImage: exactly one vector
    assert_same(clip.texts(TEXTS[:2]), reference[:2])  # nearText: one vector per input


def test_clip_url_with_a_trailing_slash(server, embedder):
    """CLIP_INFERENCE_API=http://host:port/ makes Weaviate call //vectorize (and voyage //multimodalembeddings)."""
    with httpx.Client(headers=wc.GO_HEADERS) as plain:
        request = wc.clip_request(TEXTS[:1], [])
        answer = plain.post(server.url + "//vectorize", content=request.body, headers=request.headers)
    assert answer.status_code == 200
    assert_same(unmarshal(wc.CLIP_RESPONSE, answer.content)["textVectors"],
                embedder.embed(TEXTS[:1], instruction=INSTRUCTION))


@pytest.mark.parametrize("texts, images, status, message", [
    (["fine", ""], [], 400, 'texts[1]: the text is empty; Weaviate sends ""'),
    (["   "], [], 400, "texts[0]: the text is empty"),
    ([], ["not base64!"], 422, "images[0]: the image (standard base64) is not valid base64"),
    ([], [base64.b64encode(b"definitely not an image" * 4).decode()], 422, "images[0]: "),
    ([], [], 400, "nothing to embed"),
    (["x"] * 257, [], 422, "batch size 257 > maximum allowed batch size 256"),
])
def test_clip_errors_fail_the_go_client(http, texts, images, status, message):
    with pytest.raises(wc.GoClientError) as info:
        wc.ClipClient(http).vectorize(texts, images)
    assert str(info.value).startswith(f"fail with status {status}: {message}")


def test_body_over_the_limit_is_413_in_weaviates_shape(http):
    big = base64.b64encode(bytes(BODY_LIMIT)).decode()
    with pytest.raises(wc.GoClientError, match=r"^fail with status 413: the request body exceeds"):
        wc.ClipClient(http).vectorize([], [big])


def test_validation_errors_are_never_fastapis_422_body(http):
    for request in (wc.WireRequest("POST", "/vectorize", {}, b'{"texts": [1]}'),
                    wc.WireRequest("POST", "/vectorize", {}, b'{"texts": "one"}'),
                    wc.WireRequest("POST", "/vectors", {}, b'{"text": "a", "config": {"task_type": "doc"}}'),
                    wc.WireRequest("POST", "/rerank", {}, b'{"query": "q", "documents": [1], "property": ""}'),
                    wc.WireRequest("POST", "/vectorize", {}, b"{not json")):
        answer = wc.send(http, request)
        assert answer.status_code in (400, 422)
        body = json.loads(answer.content)
        assert list(body) == ["error"] and isinstance(body["error"], str), body


# -- multi2vec-bind ------------------------------------------------------------------------------------------
def test_bind_embeds_texts_images_and_video_like_the_library(http, embedder, video):
    image = _image(3)
    bind = wc.BindClient(http)
    answer = bind.vectorize(texts=TEXTS[:1], images=[_b64(image)], video=[base64.b64encode(video).decode()])
    reference = embedder.embed([TEXTS[0], {"image": image}, {"video": video}], instruction=INSTRUCTION)
    assert_same(answer["textVectors"], reference[:1])
    assert_same(answer["imageVectors"], reference[1:2])
    assert_same(answer["videoVectors"], reference[2:])
    assert answer["audioVectors"] is None and answer["depthVectors"] is None
    assert_same([bind.vectorize_one("video", base64.b64encode(video).decode())], reference[2:])


@pytest.mark.parametrize("modality", ["audio", "imu", "thermal", "depth"])
def test_bind_refuses_modalities_qwen3vl_cannot_embed(http, modality):
    with pytest.raises(wc.GoClientError) as info:
        wc.BindClient(http).vectorize(**{modality: ["AAAA"]}, texts=["x"])
    assert str(info.value).startswith(f"fail with status 422: {modality}: Qwen3-VL embeds texts, images and video")


def test_bind_refuses_a_broken_video(http, video):
    broken = base64.b64encode(video[: len(video) // 3]).decode()
    with pytest.raises(wc.GoClientError, match=r"^fail with status 422: video\[0\]: "):
        wc.BindClient(http).vectorize(video=[broken])


# -- text2vec-transformers -----------------------------------------------------------------------------------
def test_transformers_task_type_and_dimensions_equal_the_library(http, embedder):
    raw = wc.send(http, wc.transformers_request(TEXTS[0], "query"))
    body = assert_go_fields(wc.TRANSFORMERS_VEC, raw.content, extra=("dim",))
    assert json.loads(raw.content)["dim"] == body["dims"] == embedder.dim and body["text"] == TEXTS[0]
    assert_same([body["vector"]], embedder.embed_queries(TEXTS[:1]))
    client = wc.TransformersClient(http, wc.http_client(str(http.base_url)))  # passage and query origins apart
    passage = client.vectorize_object(TEXTS[1])
    assert_same([passage["vector"]], embedder.embed_documents(TEXTS[1:2]))
    small = client.vectorize_query(TEXTS[2], dimensions=32)
    assert small["dims"] == 32
    assert_same([small["vector"]], embedder.embed_queries(TEXTS[2:], dim=32))


def test_transformers_batch_form_and_trailing_slash(http, embedder):
    answer = http.post("/vectors/", content=json.dumps({"texts": TEXTS, "config": {"task_type": "passage"}}))
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["vectors", "dims", "dim"] and body["dims"] == embedder.dim
    assert_same(body["vectors"], embedder.embed_documents(TEXTS))


@pytest.mark.parametrize("body, status, message", [
    (wc.transformers_request("", "query").body, 400, "text: the text is empty"),
    (wc.transformers_request("x", "passage", dimensions=100000).body, 422,
     "config.dimensions must be an integer between 1 and 64"),
    (b'{"text": "x", "config": {"task_type": "document"}}', 422, "config.task_type: "),
    (b'{"text": "x", "texts": ["y"]}', 422, "send exactly one of 'text'"),
    (b'{"text": "x", "dims": 16}', 422, "dims: a response field"),
    (b'{"texts": []}', 400, "texts is empty"),
])
def test_transformers_errors_fail_the_go_client(http, body, status, message):
    answer = wc.send(http, wc.WireRequest("POST", "/vectors", {}, body))
    decoded = unmarshal(wc.TRANSFORMERS_VEC, answer.content)
    assert answer.status_code == status and decoded["error"].startswith(message), decoded


# -- reranker-transformers -----------------------------------------------------------------------------------
def _reranker_callers(server) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        if family.name == "qwen3vl_batch_callers":
            return {s.labels["le"]: s.value for s in family.samples
                    if s.name.endswith("_bucket") and s.labels.get("model") == "reranker"}
    return {}


def test_reranker_concurrent_chunks_of_32_score_like_the_library_in_request_order(http, server, reranker):
    documents = [f"document {i}: {TEXTS[i % 3]}" for i in range(256)]
    documents[40], documents[200] = "", "  "  # objects without the text property
    before = _reranker_callers(server)
    ranked = wc.RerankerClient(http, workers=8).rank(QUERY, documents)  # 8 chunks of 32, all at once
    after = _reranker_callers(server)
    assert [r["document"] for r in ranked] == documents
    served = np.asarray([r["score"] for r in ranked])
    scored = [k for k, d in enumerate(documents) if d.strip()]
    reference = np.asarray(reranker.score(QUERY, [documents[k] for k in scored]))
    assert np.abs(served[scored] - reference).max() <= 1e-5
    assert served[40] == served[200] == 0.0
    calls = after["+Inf"] - before.get("+Inf", 0)
    alone = after["1.0"] - before.get("1.0", 0)
    assert alone < calls, "no reranker forward pass held the pairs of two concurrent chunks"


def test_reranker_answer_fields_and_blank_documents_header(http):
    request = wc.rerank_requests(QUERY, ["a cat", "", "a dog"])[0]
    answer = wc.send(http, request)
    body = assert_go_fields(wc.RANK_RESPONSE, answer.content)
    assert body["query"] == QUERY and [s["document"] for s in body["scores"]] == ["a cat", "", "a dog"]
    assert body["scores"][1]["score"] == 0.0 and answer.headers["X-Blank-Documents"] == "1"


@pytest.mark.parametrize("query, documents, status, message", [
    ("  ", ["a"], 400, "query: the query is empty"),
    ("q", ["x"] * 1001, 422, "batch size 1001 > maximum allowed batch size 1000"),
])
def test_reranker_errors_fail_the_go_client(http, query, documents, status, message):
    request = wc.WireRequest("POST", "/rerank", {}, wc.marshal(wc.RANK_INPUT, {"query": query, "documents": documents}))
    with pytest.raises(wc.GoClientError) as info:
        wc.RerankerClient(http)._perform(request)
    assert str(info.value).startswith(f"fail with status {status}: {message}")


# -- multi2vec-voyageai --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def voyage(server):
    with wc.http_client(server.url + "/v1") as client:
        yield wc.VoyageClient(client, api_key=server.api_key)


def test_voyage_texts_images_and_video_equal_the_library(voyage, embedder, video):
    png, jpeg = _image(4), _image(5)
    from PIL import Image

    jpeg_read = Image.open(io.BytesIO(base64.b64decode(_b64(jpeg, "JPEG"))))
    video_b64 = base64.b64encode(video).decode()
    queries = voyage.vectorize(TEXTS[:2], [_b64(png), _b64(jpeg, "JPEG")], [video_b64], input_type="query")
    reference = embedder.embed_queries([*TEXTS[:2], {"image": png}, {"image": jpeg_read}, {"video": video}])
    assert_same(queries["textVectors"], reference[:2])
    assert_same(queries["imageVectors"], reference[2:4])
    assert_same(queries["videoVectors"], reference[4:])
    documents = voyage.vectorize(TEXTS, input_type="document")
    assert_same(documents["textVectors"], embedder.embed_documents(TEXTS))


def test_voyage_answer_fields_and_trailing_slash(server):
    request = wc.voyage_request(TEXTS[:1], [], [], input_type="document", api_key=server.api_key)
    with httpx.Client(headers=wc.GO_HEADERS) as plain:
        answer = plain.post(server.url + "//multimodalembeddings", content=request.body, headers=request.headers)
    assert answer.status_code == 200
    body = assert_go_fields(wc.VOYAGE_RESPONSE, answer.content, extra=("object",))
    assert len(body["data"]) == 1 and body["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("api_key, body, status, message", [
    ("wrong", None, 401, "missing or wrong API key"),
    (None, {"inputs": [{"content": [{"type": "text"}]}], "model": "m"}, 400,
     "inputs[0].content[0].text: the text is empty"),
    (None, {"inputs": [{"content": [{"type": "image_base64", "image_base64": "aGk="}]}], "model": "m"}, 422,
     "inputs[0].content[0].image_base64: must be a data URI"),
    (None, {"inputs": [{"content": [{"type": "text", "text": "x"}]}], "input_type": "passage"}, 422,
     "input_type: "),
    (None, {"inputs": [{"content": [{"type": "audio", "audio": "x"}]}]}, 422, "inputs[0].content[0].type: "),
])
def test_voyage_errors_fail_the_go_client_with_detail(server, api_key, body, status, message):
    key = api_key or server.api_key
    request = wc.voyage_request(["x"], [], [], input_type="document", api_key=key)
    if body is not None:
        request.body = json.dumps(body).encode()
    with wc.http_client(server.url + "/v1") as client:
        answer = wc.send(client, request)
    decoded = unmarshal(wc.VOYAGE_RESPONSE, answer.content)  # "detail" must be a string
    assert answer.status_code == status and decoded["detail"].startswith(message), decoded


# -- the API key -----------------------------------------------------------------------------------------------
def test_open_weaviate_routes_leave_every_other_route_behind_the_key(http, server):
    """With --weaviate-open-routes the module routes answer without a key; /rerank only for Weaviate's body."""
    assert wc.RerankerClient(http).scores(QUERY, ["a"]) and wc.ClipClient(http).texts(["a"])
    for path, body in (("/rerank", {"query": "q", "texts": ["a"]}), ("/rerank", {"query": "q", "documents": ["a"]}),
                       ("/rerank", {"query": "q"}), ("/embed", {"inputs": "a"}),
                       ("/v1/embeddings", {"input": "a"})):
        assert http.post(path, json=body).status_code == 401, path
    keyed = http.post("/rerank", json={"query": "q", "texts": ["a"]}, headers=server.headers())
    assert keyed.status_code == 200


def test_without_the_setting_the_module_routes_want_the_key(embedder):
    """Default: a key set on the server covers the module routes too, answered in Weaviate's shape."""
    from qwen3vl_integrations.server import ServerSettings, create_app

    app = create_app(embedder, settings=ServerSettings(api_key="k"))

    async def call():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.post("/vectorize", content=wc.clip_request(["a"], []).body)

    answer = asyncio.run(call())
    assert answer.status_code == 401
    assert unmarshal(wc.CLIP_RESPONSE, answer.content)["error"].startswith("missing or wrong API key")
