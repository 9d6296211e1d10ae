"""The Weaviate contract fixtures behave like the Go code they mirror (weaviate adcffc5432aa).

Request bytes are compared with what Go's ``json.Marshal`` writes for the module clients' structs;
the decoding and status rules are run against a local HTTP server answering canned bodies, so the
route tests of the server can rely on ``weaviate_contract`` telling a good answer from a bad one.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from . import weaviate_contract as wc
from .weaviate_gojson import GoJSONError, marshal, unmarshal


def test_request_bytes_are_gos():
    assert wc.clip_request(["hello"], ["aGk="]).body == b'{"texts":["hello"],"images":["aGk="]}'
    assert wc.clip_request([], ["aGk="]).body == b'{"images":["aGk="]}'  # nearImage: empty texts omitted
    assert wc.clip_request(["a"], []).headers == {"Content-Type": "application/json"}
    assert wc.bind_request(video=["AAAA"]).body == b'{"video":["AAAA"]}'
    assert wc.bind_request(texts=["x"]).headers == {}
    assert wc.transformers_request("hi", "query").body == (
        b'{"text":"hi","dims":0,"vector":null,"error":"","config":{"pooling_strategy":"masked_mean","task_type":"query"}}')
    assert json.loads(wc.transformers_request("hi", "passage", dimensions=64).body)["config"] == {
        "pooling_strategy": "masked_mean", "task_type": "passage", "dimensions": 64}
    assert marshal(wc.CLIP_REQUEST, {"texts": ["<a&b>\u2028é"]}) == b'{"texts":["\\u003ca\\u0026b\\u003e\\u2028\xc3\xa9"]}'


def test_rerank_requests_are_chunks_of_32_with_an_empty_property():
    requests = wc.rerank_requests("q", [f"d{i}" for i in range(70)])
    bodies = [json.loads(r.body) for r in requests]
    assert [len(b["documents"]) for b in bodies] == [32, 32, 6]
    assert all(list(b) == ["query", "documents", "property"] and b["property"] == "" for b in bodies)
    assert [d for b in bodies for d in b["documents"]] == [f"d{i}" for i in range(70)]
    assert wc.rerank_requests("q", []) == []


def test_voyage_request_prefixes_and_order():
    body = json.loads(wc.voyage_request(["t"], ["aW1n", "data:image/jpeg;base64,aW1n"], ["dmlk"],
                                        input_type="query", api_key="k").body)
    assert list(body) == ["inputs", "model", "truncation", "input_type"]
    assert body["inputs"] == [
        {"content": [{"type": "text", "text": "t"}]},
        {"content": [{"type": "image_base64", "image_base64": "data:image/png;base64,aW1n"}]},
        {"content": [{"type": "image_base64", "image_base64": "data:image/jpeg;base64,aW1n"}]},
        {"content": [{"type": "video_base64", "video_base64": "data:video/mp4;base64,dmlk"}]}]
    assert body["model"] == "voyage-multimodal-3" and body["truncation"] is True and body["input_type"] == "query"
    assert "truncation" not in json.loads(wc.voyage_request(["t"], [], [], input_type="document", api_key="k",
                                                            truncate=False).body)


@pytest.mark.parametrize("body, decoded", [
    (b'{"TEXTVECTORS": [[1, 2.5]], "extra": 1}', {"textVectors": [[1.0, 2.5]], "imageVectors": None, "error": ""}),
    (b'null', {"textVectors": None, "imageVectors": None, "error": ""}),
    (b'{"textVectors": null, "error": "boom"}', {"textVectors": None, "imageVectors": None, "error": "boom"}),
])
def test_decoding_follows_go(body, decoded):
    assert unmarshal(wc.CLIP_RESPONSE, body) == decoded


@pytest.mark.parametrize("struct, body", [
    (wc.CLIP_RESPONSE, b""),
    (wc.CLIP_RESPONSE, b"[]"),
    (wc.CLIP_RESPONSE, b'{"error": {"message": "x"}}'),  # an OpenAI-style error object
    (wc.CLIP_RESPONSE, b'{"textVectors": [[NaN]]}'),
    (wc.CLIP_RESPONSE, b'{"textVectors": [["0.1"]]}'),
    (wc.CLIP_RESPONSE, b'{"textVectors": [[1e39]]}'),  # beyond float32
    (wc.TRANSFORMERS_VEC, b'{"dims": 3.0}'),
    (wc.VOYAGE_RESPONSE, b'{"detail": [{"loc": ["body"], "msg": "field required"}]}'),  # FastAPI's 422 body
    (wc.RANK_RESPONSE, b'Internal Server Error'),
])
def test_go_refuses(struct, body):
    with pytest.raises(GoJSONError):
        unmarshal(struct, body)


# -- the clients' status and follow-up rules, against canned answers -------------------------------
CANNED: dict[str, tuple[int, bytes, float]] = {}


class Canned(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
        status, body, delay = CANNED[self.path]
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the client hanging up on a slow probe is expected


@pytest.fixture
def http():
    server = QuietServer(("127.0.0.1", 0), Canned)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = wc.http_client(f"http://127.0.0.1:{server.server_address[1]}")
    client.seen = server.seen
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def test_clip_rules(http):
    clip = wc.ClipClient(http)
    CANNED["/vectorize"] = (200, b'{"textVectors": [[1, 0]], "imageVectors": []}', 0)
    assert clip.texts(["a"]) == [[1.0, 0.0]]
    method, path, headers, body = http.seen[-1]
    assert (method, path, body) == ("POST", "/vectorize", b'{"texts":["a"]}')
    assert headers["Content-Type"] == "application/json" and headers["User-Agent"] == "Go-http-client/1.1"
    with pytest.raises(wc.GoClientError, match="inputs are not equal"):
        clip.texts(["a", "b"])
    with pytest.raises(wc.GoClientError, match="empty vector"):
        clip.vectorize_image("aGk=")
    CANNED["/vectorize"] = (302, b'{"textVectors": [[1]]}', 0)  # redirects are not followed; <400 is success
    assert clip.texts(["a"]) == [[1.0]]
    CANNED["/vectorize"] = (422, b'{"error": "input[0]: bad image"}', 0)
    with pytest.raises(wc.GoClientError, match=r"^fail with status 422: input\[0\]: bad image$"):
        clip.texts(["a"])
    CANNED["/vectorize"] = (500, b"Internal Server Error", 0)
    with pytest.raises(wc.GoClientError, match=r"^failed to parse vectorization response \(status 500\)"):
        clip.texts(["a"])


def test_bind_transformers_and_reranker_need_exactly_200(http):
    CANNED["/vectorize"] = (201, b'{"videoVectors": [[1]]}', 0)
    with pytest.raises(wc.GoClientError, match="^fail with status 201$"):
        wc.BindClient(http).vectorize_one("video", "AAAA")
    CANNED["/vectors"] = (200, b'{"text": "hi", "vector": [0.5], "dims": 1}', 0)
    assert wc.TransformersClient(http).vectorize_query("hi") == {"text": "hi", "dims": 1, "vector": [0.5]}
    assert http.seen[-1][1] == "/vectors" and "Content-Type" not in http.seen[-1][2]
    CANNED["/vectors"] = (503, b'{"error": "loading"}', 0)
    with pytest.raises(wc.GoClientError, match="^fail with status 503: loading$"):
        wc.TransformersClient(http).vectorize_object("hi")
    CANNED["/rerank"] = (200, b'{"scores": [{"document": "a", "score": 0.5}]}', 0)
    with pytest.raises(wc.GoClientError, match="index out of range"):
        wc.RerankerClient(http).scores("q", ["a", "b"])
    assert wc.RerankerClient(http).scores("q", ["a"]) == [0.5]


def test_voyage_rules(http):
    voyage = wc.VoyageClient(http, api_key="secret")
    CANNED["/multimodalembeddings"] = (200, b'{"data": [{"embedding": [1]}, {"embedding": [2]}], "model": "m"}', 0)
    assert voyage.vectorize(["t"], ["aW1n"]) == {"textVectors": [[1.0]], "imageVectors": [[2.0]], "videoVectors": []}
    assert http.seen[-1][2]["Authorization"] == "Bearer secret"
    CANNED["/multimodalembeddings"] = (200, b'{"data": []}', 0)
    with pytest.raises(wc.GoClientError, match="empty embeddings response"):
        voyage.vectorize(["t"])
    CANNED["/multimodalembeddings"] = (401, b'{"detail": "bad key"}', 0)
    with pytest.raises(wc.GoClientError, match="status: 401 error: bad key"):
        voyage.vectorize(["t"])


def test_meta_and_readiness_rules(http):
    CANNED["/meta"] = (500, b'{"model": "x"}', 0)
    assert wc.ClipClient(http).meta() == {"model": "x"}  # clip does not look at the status
    with pytest.raises(wc.GoClientError, match="unexpected status code '500'"):
        wc.TransformersClient(http).meta()
    CANNED["/meta"] = (200, b'[1]', 0)
    with pytest.raises(wc.GoClientError, match="unmarshal meta"):
        wc.RerankerClient(http).meta()
    CANNED["/.well-known/ready"] = (204, b"", 0)
    wc.ClipClient(http).check_ready()
    CANNED["/.well-known/ready"] = (503, b"", 0)
    with pytest.raises(wc.GoClientError, match="not ready: status 503"):
        wc.ClipClient(http).check_ready()
    CANNED["/.well-known/ready"] = (200, b"", wc.READY_TIMEOUT + 0.3)  # a probe that runs a forward pass inline
    with pytest.raises(wc.GoClientError, match="send check ready request"):
        wc.ClipClient(http).check_ready()
