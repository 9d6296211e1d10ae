"""The wire contracts of Weaviate's inference modules, as test fixtures.

Each ``Struct`` mirrors a Go struct of a module client in weaviate/weaviate, read at commit
``WEAVIATE_COMMIT`` (2026-08-20); the file is named beside each. Each ``*Client`` class does what
that Go client does over HTTP: the same path, headers and body bytes (``weaviate_gojson.marshal``),
the same chunking and concurrency, the same decoding of the body *before* the status check, the
same status rule, and the same follow-up checks of its caller; it returns what the Go code would
hand to Weaviate or raises ``GoClientError`` with the Go error text. docs/weaviate.md describes
the same contracts in prose.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from .weaviate_gojson import (
    BOOL,
    FLOAT32,
    FLOAT64,
    INT,
    INT64,
    STRING,
    Field,
    GoJSONError,
    MapAny,
    Ptr,
    Slice,
    Struct,
    marshal,
    unmarshal,
)

WEAVIATE_COMMIT = "adcffc5432aa797c60e3c4e479514054254fae2a"
MODULES_CLIENT_TIMEOUT = 50.0  # seconds: usecases/config/environment.go, MODULES_CLIENT_TIMEOUT unset
READY_TIMEOUT = 0.5  # seconds per probe: every */clients/startup.go, context.WithTimeout(500ms)
READY_INTERVAL = 1.0  # seconds between probes; module init gives up after 120 s (adapters/handlers/rest/configure_api.go)
RERANK_CHUNK = 32  # modules/reranker-transformers/clients/ranker.go, maxDocuments
GO_HEADERS = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}  # what net/http adds itself

STRINGS, VECTORS = Slice(STRING), Slice(Slice(FLOAT32))

# -- structs -----------------------------------------------------------------------------------
# modules/multi2vec-clip/clients/vectorizer.go
CLIP_REQUEST = Struct("clients.vecRequest", "modules/multi2vec-clip/clients/vectorizer.go", (
    Field("texts", STRINGS, omitempty=True), Field("images", STRINGS, omitempty=True)))
CLIP_RESPONSE = Struct("clients.vecResponse", "modules/multi2vec-clip/clients/vectorizer.go", (
    Field("textVectors", VECTORS), Field("imageVectors", VECTORS), Field("error", STRING)))

# modules/multi2vec-bind/clients/vectorizer.go
BIND_MODALITIES = ("texts", "images", "audio", "video", "imu", "thermal", "depth")
BIND_VECTOR_KEYS = ("textVectors", "imageVectors", "audioVectors", "videoVectors", "imuVectors", "thermalVectors",
                    "depthVectors")
BIND_REQUEST = Struct("clients.vecRequest", "modules/multi2vec-bind/clients/vectorizer.go",
                      tuple(Field(name, STRINGS, omitempty=True) for name in BIND_MODALITIES))
BIND_RESPONSE = Struct("clients.vecResponse", "modules/multi2vec-bind/clients/vectorizer.go",
                       (*(Field(k, VECTORS, omitempty=True) for k in BIND_VECTOR_KEYS),
                        Field("error", STRING, omitempty=True)))

# usecases/modulecomponents/clients/transformers/transformers.go: one struct is both the request
# and the response, so a request carries "dims": 0, "vector": null and "error": "".
TRANSFORMERS_CONFIG = Struct("transformers.vecRequestConfig",
                             "usecases/modulecomponents/clients/transformers/transformers.go", (
                                 Field("pooling_strategy", STRING, omitempty=True),
                                 Field("task_type", STRING, omitempty=True),
                                 Field("dimensions", Ptr(INT64), omitempty=True)))
TRANSFORMERS_VEC = Struct("transformers.vecRequest", "usecases/modulecomponents/clients/transformers/transformers.go", (
    Field("text", STRING), Field("dims", INT), Field("vector", Slice(FLOAT32)), Field("error", STRING),
    Field("config", TRANSFORMERS_CONFIG)))

# modules/reranker-transformers/clients/ranker.go
RANK_INPUT = Struct("client.RankInput", "modules/reranker-transformers/clients/ranker.go", (
    Field("query", STRING), Field("documents", STRINGS), Field("property", STRING)))
DOCUMENT_SCORE = Struct("client.DocumentScore", "modules/reranker-transformers/clients/ranker.go", (
    Field("document", STRING), Field("score", FLOAT64)))
RANK_RESPONSE = Struct("client.RankResponse", "modules/reranker-transformers/clients/ranker.go", (
    Field("query", STRING), Field("scores", Slice(DOCUMENT_SCORE)), Field("property", STRING),
    Field("score", FLOAT64), Field("error", STRING)))

# usecases/modulecomponents/clients/voyageai/voyageai.go (called by modules/multi2vec-voyageai/clients/voyageai.go)
_VOYAGE = "usecases/modulecomponents/clients/voyageai/voyageai.go"
VOYAGE_CONTENT = Struct("voyageai.multimodalContent", _VOYAGE, (
    Field("type", STRING, omitempty=True), Field("text", STRING, omitempty=True),
    Field("image_base64", STRING, omitempty=True), Field("video_base64", STRING, omitempty=True)))
VOYAGE_INPUT = Struct("voyageai.multimodalInput", _VOYAGE, (Field("content", Slice(VOYAGE_CONTENT), omitempty=True),))
VOYAGE_REQUEST = Struct("voyageai.embeddingsRequest", _VOYAGE, (
    Field("input", STRINGS, omitempty=True), Field("inputs", Slice(VOYAGE_INPUT), omitempty=True),
    Field("model", STRING), Field("truncation", BOOL, omitempty=True), Field("input_type", STRING, omitempty=True),
    Field("output_dimension", Ptr(INT64), omitempty=True)))
USAGE = Struct("modulecomponents.Usage", "usecases/modulecomponents/client_results.go", (
    Field("completion_tokens", INT, omitempty=True), Field("prompt_tokens", INT, omitempty=True),
    Field("total_tokens", INT, omitempty=True)))
VOYAGE_DATA = Struct("voyageai.embeddingsDataResponse", _VOYAGE, (Field("embedding", Slice(FLOAT32)),))
VOYAGE_RESPONSE = Struct("voyageai.embeddingsResponse", _VOYAGE, (
    Field("data", Slice(VOYAGE_DATA), omitempty=True), Field("model", STRING, omitempty=True),
    Field("detail", STRING, omitempty=True), Field("usage", Ptr(USAGE), omitempty=True)))
VOYAGE_DEFAULT_MODEL = "voyage-multimodal-3"  # modules/multi2vec-voyageai/ent/class_settings.go


class GoClientError(Exception):
    """The error a Weaviate module client returns (its text mirrors the Go format strings)."""


@dataclass
class WireRequest:
    method: str
    path: str
    headers: dict
    body: bytes | None = None


def http_client(base_url: str, timeout: float = MODULES_CLIENT_TIMEOUT) -> httpx.Client:
    """An HTTP client that behaves like ``modulecomponents.NewBaseHttpClient``: no redirects followed
    (a 3xx answer is decoded like any other), one timeout for the whole call, Go's own headers."""
    client = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False, headers=GO_HEADERS)
    client.headers.pop("Accept", None)
    return client


def send(http: httpx.Client, request: WireRequest) -> httpx.Response:
    return http.request(request.method, request.path, headers=request.headers, content=request.body)


def decode_or_fail(struct: Struct, response: httpx.Response, what: str) -> dict:
    try:
        return unmarshal(struct, response.content)
    except GoJSONError as exc:
        raise GoClientError(f"failed to parse {what} response (status {response.status_code}): {exc}") from exc


def check_ready(http: httpx.Client, path: str = "/.well-known/ready") -> None:
    """``checkReady`` of every startup.go: 500 ms per probe, ready iff the status is below 300."""
    try:
        response = http.get(path, timeout=READY_TIMEOUT)
    except httpx.HTTPError as exc:
        raise GoClientError(f"send check ready request: {exc}") from exc
    if response.status_code > 299:
        raise GoClientError(f"not ready: status {response.status_code}")


def meta(http: httpx.Client, *, require_2xx: bool = False) -> dict:
    """``MetaInfo``: clip, bind and the reranker decode ``GET /meta`` into ``map[string]interface{}``
    whatever the status; text2vec-transformers requires a 2xx first."""
    response = http.get("/meta")
    if require_2xx and not 200 <= response.status_code < 300:
        raise GoClientError(f"unexpected status code '{response.status_code}' of meta request")
    try:
        return unmarshal(MapAny(), response.content)
    except GoJSONError as exc:
        raise GoClientError(f"unmarshal meta response body: {exc}") from exc


# -- multi2vec-clip ----------------------------------------------------------------------------
def clip_request(texts: list[str], images: list[str]) -> WireRequest:
    body = marshal(CLIP_REQUEST, {"texts": texts, "images": images})
    return WireRequest("POST", "/vectorize", {"Content-Type": "application/json"}, body)


class ClipClient:
    """modules/multi2vec-clip/clients/{vectorizer,meta,startup}.go and vectorizer/{vectorizer,texts}.go."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def vectorize(self, texts: list[str], images: list[str]) -> dict:
        response = send(self.http, clip_request(texts, images))
        body = decode_or_fail(CLIP_RESPONSE, response, "vectorization")
        if response.status_code > 399:  # 2xx and 3xx are both success here
            raise GoClientError(f"fail with status {response.status_code}: {body['error']}")
        return {"textVectors": body["textVectors"], "imageVectors": body["imageVectors"]}

    def vectorize_image(self, image: str) -> list[float]:
        """nearImage and the image half of an object: exactly one image vector expected."""
        vectors = self.vectorize([], [image])["imageVectors"] or []
        if len(vectors) != 1:
            raise GoClientError("empty vector")
        return vectors[0]

    def texts(self, inputs: list[str]) -> list[list[float]]:
        """nearText: one vector per input expected (Weaviate then averages them)."""
        vectors = self.vectorize(inputs, [])["textVectors"] or []
        if len(vectors) != len(inputs):
            raise GoClientError("inputs are not equal to vectors returned")
        return vectors

    def meta(self) -> dict:
        return meta(self.http)

    def check_ready(self) -> None:
        check_ready(self.http)


# -- multi2vec-bind ----------------------------------------------------------------------------
def bind_request(**inputs: list[str]) -> WireRequest:
    return WireRequest("POST", "/vectorize", {}, marshal(BIND_REQUEST, inputs))  # no Content-Type header


class BindClient:
    """modules/multi2vec-bind/clients/{vectorizer,meta,startup}.go; no per-collection URL."""

    def __init__(self, http: httpx.Client):
        self.http = http

    def vectorize(self, **inputs: list[str]) -> dict:
        response = send(self.http, bind_request(**inputs))
        body = decode_or_fail(BIND_RESPONSE, response, "vectorization")
        if response.status_code != 200:
            detail = f": {body['error']}" if body["error"] else ""
            raise GoClientError(f"fail with status {response.status_code}{detail}")
        return {k: body[k] for k in BIND_VECTOR_KEYS}

    def vectorize_one(self, modality: str, value: str) -> list[float]:
        """nearImage / nearVideo / ...: ``getVector`` wants exactly one vector of that modality."""
        key = BIND_VECTOR_KEYS[BIND_MODALITIES.index(modality)]
        vectors = self.vectorize(**{modality: [value]})[key] or []
        if len(vectors) != 1:
            raise GoClientError("empty vector")
        return vectors[0]

    def meta(self) -> dict:
        return meta(self.http)

    def check_ready(self) -> None:
        check_ready(self.http)


# -- text2vec-transformers ---------------------------------------------------------------------
def transformers_request(text: str, task_type: str, pooling_strategy: str = "masked_mean",
                         dimensions: int | None = None) -> WireRequest:
    config = {"pooling_strategy": pooling_strategy, "task_type": task_type, "dimensions": dimensions}
    return WireRequest("POST", "/vectors", {}, marshal(TRANSFORMERS_VEC, {"text": text, "config": config}))


class TransformersClient:
    """usecases/modulecomponents/clients/transformers/transformers.go (via modules/text2vec-transformers/
    clients/): objects are sent one by one as ``passage``, nearText inputs one by one as ``query``; a
    passage and a query origin may differ (TRANSFORMERS_PASSAGE/QUERY_INFERENCE_API)."""

    def __init__(self, passage: httpx.Client, query: httpx.Client | None = None):
        self.passage, self.query = passage, query or passage

    def _vectorize(self, http, text: str, task_type: str, **config) -> dict:
        response = send(http, transformers_request(text, task_type, **config))
        body = decode_or_fail(TRANSFORMERS_VEC, response, "vectorization")
        if response.status_code != 200:
            raise GoClientError(f"fail with status {response.status_code}: {body['error']}")
        return {"text": body["text"], "dims": body["dims"], "vector": body["vector"]}

    def vectorize_object(self, text: str, **config) -> dict:
        return self._vectorize(self.passage, text, "passage", **config)

    def vectorize_query(self, text: str, **config) -> dict:
        return self._vectorize(self.query, text, "query", **config)

    def meta(self) -> dict:
        if self.query is self.passage:
            return meta(self.passage, require_2xx=True)
        return {"passage": meta(self.passage, require_2xx=True), "query": meta(self.query, require_2xx=True)}

    def check_ready(self) -> None:
        for http in {id(h): h for h in (self.passage, self.query)}.values():
            check_ready(http)


# -- reranker-transformers ---------------------------------------------------------------------
def rerank_requests(query: str, documents: list[str]) -> list[WireRequest]:
    """One request per chunk of 32 documents; ``property`` is always sent, always empty."""
    chunks = [documents[i:i + RERANK_CHUNK] for i in range(0, len(documents), RERANK_CHUNK)]
    return [WireRequest("POST", "/rerank", {}, marshal(RANK_INPUT, {"query": query, "documents": chunk}))
            for chunk in chunks]


class RerankerClient:
    """modules/reranker-transformers/clients/ranker.go and its caller
    usecases/modulecomponents/additional/rank/rank_result.go, which reads the scores by position."""

    def __init__(self, http: httpx.Client, workers: int | None = None):
        self.http, self.workers = http, workers or os.cpu_count() or 1  # eg.SetLimit(runtime.NumCPU())

    def _perform(self, request: WireRequest) -> list[dict]:
        response = send(self.http, request)
        body = decode_or_fail(RANK_RESPONSE, response, "reranker")
        if response.status_code != 200:
            detail = f": {body['error']}" if body["error"] else ""
            raise GoClientError(f"fail with status {response.status_code}{detail}")
        return body["scores"] or []

    def rank(self, query: str, documents: list[str]) -> list[dict]:
        """The concatenated ``DocumentScores`` (chunks sent concurrently, joined in chunk order)."""
        with ThreadPoolExecutor(self.workers) as pool:
            chunks = list(pool.map(self._perform, rerank_requests(query, documents)))
        return [score for chunk in chunks for score in chunk]

    def scores(self, query: str, documents: list[str]) -> list[float]:
        """What Weaviate attaches to result i: ``DocumentScores[i].Score`` (Go panics when short)."""
        ranked = self.rank(query, documents)
        if len(ranked) < len(documents):
            raise GoClientError(f"runtime error: index out of range [{len(ranked)}] with length {len(ranked)}")
        return [ranked[i]["score"] for i in range(len(documents))]

    def meta(self) -> dict:
        return meta(self.http)

    def check_ready(self) -> None:
        check_ready(self.http)


# -- multi2vec-voyageai ------------------------------------------------------------------------
def _data_uri(value: str, default: str) -> str:
    return value if value.startswith("data:") else f"data:{default};base64,{value}"


def voyage_request(texts: list[str], images: list[str], videos: list[str], *, input_type: str, api_key: str,
                   model: str = VOYAGE_DEFAULT_MODEL, truncate: bool = True) -> WireRequest:
    """One input per item, one content part each: texts, then images, then videos. Raw base64 gets
    a ``data:image/png`` / ``data:video/mp4`` prefix whatever the real format is."""
    inputs = [{"content": [{"type": "text", "text": t}]} for t in texts]
    inputs += [{"content": [{"type": "image_base64", "image_base64": _data_uri(i, "image/png")}]} for i in images]
    inputs += [{"content": [{"type": "video_base64", "video_base64": _data_uri(v, "video/mp4")}]} for v in videos]
    body = marshal(VOYAGE_REQUEST, {"inputs": inputs, "model": model, "truncation": truncate,
                                    "input_type": input_type})
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    return WireRequest("POST", "/multimodalembeddings", headers, body)


class VoyageClient:
    """usecases/modulecomponents/clients/voyageai/voyageai.go ``VectorizeMultiModal``; the http
    client's base URL is the collection's ``baseURL`` (the path ``/multimodalembeddings`` is appended,
    so ``http://host:8000/v1`` reaches ``/v1/multimodalembeddings``). No readiness probe; /meta is static."""

    def __init__(self, http: httpx.Client, api_key: str = "any"):
        self.http, self.api_key = http, api_key

    def vectorize(self, texts=(), images=(), videos=(), *, input_type: str = "document", **settings) -> dict:
        texts, images, videos = list(texts), list(images), list(videos)
        response = send(self.http, voyage_request(texts, images, videos, input_type=input_type,
                                                  api_key=self.api_key, **settings))
        try:
            body = unmarshal(VOYAGE_RESPONSE, response.content)
        except GoJSONError as exc:
            raise GoClientError(f"unmarshal regular response body. got: {response.text}: {exc}") from exc
        if response.status_code != 200:
            detail = f" error: {body['detail']}" if body["detail"] else ""
            raise GoClientError(f"connection to VoyageAI failed with status: {response.status_code}{detail}")
        data = body["data"] or []
        if not data or not data[0]["embedding"]:
            raise GoClientError("empty embeddings response")
        ends = (len(texts), len(texts) + len(images))  # split by position, the "index" field is not read
        vectors = [d["embedding"] for d in data]
        return {"textVectors": vectors[:ends[0]], "imageVectors": vectors[ends[0]:ends[1]],
                "videoVectors": vectors[ends[1]:]}
