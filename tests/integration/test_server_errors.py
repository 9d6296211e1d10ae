"""Bad input, auth, body limit and SSRF against a live ``qwen3vl serve``, each through the real client
library of the protocol (httpx only where a route has no Python client: TEI's /embed and /rerank)."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import cosine

pytestmark = pytest.mark.slow

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

BROKEN_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"  # a PNG cut inside its header


def _client(server, key: str | None = "<key>"):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.api_key if key == "<key>" else key,
                         max_retries=0)


def test_one_bad_item_is_422_naming_it_while_concurrent_requests_succeed(live_server, embedder):
    good = [[f"request {r} text {k}" for k in range(4)] for r in range(6)]
    bad = ["fine", "also fine", "ok", "ok", "ok", [{"type": "image_url", "image_url": {"url": BROKEN_PNG}}], "ok"]
    client = _client(live_server)

    def embed(texts):
        return client.embeddings.create(model="m", input=texts, encoding_format="float")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(embed, texts) for texts in good[:3]]
        failing = pool.submit(embed, bad)
        futures += [pool.submit(embed, texts) for texts in good[3:]]
        with pytest.raises(openai.UnprocessableEntityError) as info:
            failing.result()
        answers = [f.result() for f in futures]
    error = info.value.body
    assert error["param"] == "input[5]" and error["code"] == "media_decode"
    assert error["message"].startswith("input[5]: ")
    for texts, answer in zip(good, answers):
        served = np.asarray([d.embedding for d in answer.data])
        assert cosine(served, embedder.embed(texts)).min() >= 0.99999


def test_empty_input_too_many_items_and_token_ids(live_server):
    client = _client(live_server)
    with pytest.raises(openai.BadRequestError) as empty:
        client.embeddings.create(model="m", input=[])
    assert empty.value.body["code"] == "empty"
    with pytest.raises(openai.BadRequestError) as blank:
        client.embeddings.create(model="m", input=["a", "   "])
    assert blank.value.body["param"] == "input[1]" and blank.value.body["code"] == "empty"
    with pytest.raises(openai.UnprocessableEntityError) as many:
        client.embeddings.create(model="m", input=["x"] * 257)
    assert "maximum allowed batch size 256" in many.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as ids:
        client.embeddings.create(model="m", input=[[1, 2, 3]])
    assert "check_embedding_ctx_length=False" in ids.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as dims:
        client.embeddings.create(model="m", input="x", dimensions=10_000)
    assert dims.value.body["param"] == "dimensions"


INFERENCE_ROUTES = [
    ("/v1/embeddings", {"input": "x"}, "openai"), ("/embeddings", {"input": "x"}, "openai"),
    ("/v2/embed", {"texts": ["x"], "input_type": "search_document"}, "openai"), ("/v1/embed", {"texts": ["x"]}, "openai"),
    ("/rerank", {"query": "q", "texts": ["x"]}, "tei"), ("/rerank", {"query": "q", "documents": ["x"]}, "tei"),
    ("/v1/rerank", {"query": "q", "documents": ["x"]}, "openai"), ("/v2/rerank", {"query": "q", "documents": ["x"]}, "openai"),
    ("/embed", {"inputs": "x"}, "tei"), ("/", {"inputs": "x"}, "tei"),
]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer TEST-KEY-9F2C", "Basic test-key-9f2c"])
def test_401_on_every_inference_route(live_server, header):
    for path, body, style in INFERENCE_ROUTES:
        answer = httpx.post(live_server.url + path, json=body, headers={"Authorization": header} if header else {})
        assert answer.status_code == 401, path
        assert answer.headers["www-authenticate"] == "Bearer"
        payload = answer.json()
        assert (payload["error"]["code"] if style == "openai" else payload["error_type"]) == "invalid_api_key", path
    assert httpx.get(live_server.url + "/health").status_code == 200  # open
    info = httpx.get(live_server.url + "/info")
    assert info.status_code == 200 and live_server.api_key not in info.text


def test_clients_see_401_as_their_auth_error(live_server):
    with pytest.raises(openai.AuthenticationError):
        _client(live_server, "wrong").embeddings.create(model="m", input="x")
    cohere = pytest.importorskip("cohere")
    co = cohere.ClientV2(api_key="wrong", base_url=live_server.url)
    with pytest.raises(cohere.core.api_error.ApiError) as info:
        co.rerank(model="m", query="q", documents=["x"])
    assert info.value.status_code == 401


def test_413_over_the_body_limit_declared_and_streamed(live_server):
    limit = 16 * 1024 * 1024
    with pytest.raises(openai.APIStatusError) as info:
        _client(live_server).embeddings.create(model="m", input="x" * (limit + 10))
    assert info.value.status_code == 413 and info.value.body["code"] == "payload_too_large"

    def chunks():  # no Content-Length: the server counts the bytes as they arrive
        yield b'{"inputs": "'
        for _ in range(17):
            yield b"y" * (1024 * 1024)
        yield b'"}'

    streamed = httpx.post(live_server.url + "/embed", content=chunks(), headers={**live_server.headers(),
                                                                                  "content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["error_type"] == "payload_too_large"
    assert _client(live_server).embeddings.create(model="m", input="still fine").data  # the next request succeeds


def test_private_image_urls_get_400_and_no_connection_is_made(live_server):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    urls = [f"https://127.0.0.1:{port}/cat.png", f"http://127.0.0.1:{port}/cat.png", f"https://localhost:{port}/a.png",
            f"https://0x7f000001:{port}/a.png", "https://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
            "/etc/passwd", "/etc/no-such-file"]
    messages = {}
    try:
        client = _client(live_server)
        for url in urls:
            with pytest.raises(openai.BadRequestError) as info:
                client.embeddings.create(model="m", input=[[{"type": "image_url", "image_url": {"url": url}}]])
            assert info.value.body["code"] == "media_policy", url
            messages[url] = info.value.body["message"]
    finally:
        stop.set()
        thread.join(2)
        listener.close()
    assert accepted == []
    assert messages["/etc/passwd"] == messages["/etc/no-such-file"]  # nothing tells whether a file exists


def test_local_paths_only_under_the_allowed_directory(live_server, embedder, tmp_path):
    from PIL import Image

    image = Image.fromarray(np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8))
    inside = live_server.allowed_dir / "cat.png"
    image.save(inside)
    outside = tmp_path / "secret.png"
    image.save(outside)
    (live_server.allowed_dir / "link.png").symlink_to(outside)
    client = _client(live_server)

    def embed(path):
        return client.embeddings.create(model="m", encoding_format="float",
                                        input=[[{"type": "image_url", "image_url": {"url": str(path)}}]])

    served = np.asarray([embed(inside).data[0].embedding])
    assert cosine(served, embedder.embed([{"image": image}])).min() >= 0.99999
    for path in (outside, live_server.allowed_dir / "link.png", live_server.allowed_dir / ".." / outside.name):
        with pytest.raises(openai.BadRequestError) as info:
            embed(path)
        assert info.value.body["code"] == "media_policy", path
        assert str(tmp_path) not in info.value.body["message"]  # no resolved server path in the answer
