"""Weaviate's inference-module protocols, as its Go module clients send and read them (docs/weaviate.md names
the Go file each contract was read from).

- ``POST /vectorize``: multi2vec-clip ``{texts?, images?}`` -> ``{textVectors, imageVectors}``; multi2vec-bind
  adds ``video`` (-> ``videoVectors``) and ``audio``, ``imu``, ``thermal``, ``depth``, which are refused (422).
  Images and videos are standard base64 without a ``data:`` prefix (a ``data:`` URI is accepted too). These
  modules send no query/document flag: every item gets ``ServerSettings.vectorize_instruction``.
- ``POST /vectors`` and ``/vectors/``: text2vec-transformers ``{text, config: {task_type, pooling_strategy,
  dimensions}}`` -> ``{text, vector, dims, dim}``; ``task_type`` query / passage picks the instruction,
  ``dimensions`` the Matryoshka size. The batch form ``{texts, config}`` -> ``{vectors, dims, dim}``.
- The ``{query, documents, property}`` body of ``POST /rerank`` (reranker-transformers, dispatched from
  routes/rerank.py) -> ``{query, scores: [{document, score}]}`` in request order. A blank document (Weaviate
  sends ``""`` for an object without the property) scores 0.0 without a forward pass.
- ``GET /meta`` (models, sizes, the instruction of each route), ``GET /.well-known/live`` and
  ``GET /.well-known/ready`` (204 once the warm-up forward passes succeeded, answered from cached state).

Errors are ``{"error": message}`` with a status >= 400 (every module client fails on it). A blank text to
embed is refused (400, naming it); see docs/weaviate.md, "Empty texts".
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ... import __version__
from ...errors import ItemError, Qwen3VLError
from ...media.fetch import strict_b64decode
from ..content import check_source
from ..errors import ApiError, from_library
from ..family import (
    RouteFamily,
    check_dimensions,
    embed_instruction,
    get_state,
    json_body_schema,
    json_response,
    parse_body,
    read_json_object,
    request_timeout,
)
from ..running import check_blank, check_count, first_error, run_engine

__all__ = ["FAMILY", "VectorizeRequest", "VectorsRequest", "RankRequest", "rerank", "media_sources",
           "instruction_text", "UNSUPPORTED_MODALITIES"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["Weaviate"])

#: multi2vec-bind fields Qwen3-VL cannot embed
UNSUPPORTED_MODALITIES = ("audio", "imu", "thermal", "depth")
def _indexed(field: str, count: int) -> list[str]:
    return [f"{field}[{k}]" for k in range(count)]


def media_sources(values: list[str], field: str, kind: str, policy) -> list:
    """Weaviate's BLOB values (base64, no prefix) -> bytes, within the media policy's byte cap; a ``data:``
    URI is passed on as is (the engine decodes it). Runs off the event loop (large videos)."""
    cap = policy.max_bytes(kind)
    out: list = []
    for k, value in enumerate(values):
        param = f"{field}[{k}]"
        if value[:5].lower() == "data:":
            out.append(check_source(value, param, allow_local=False))
            continue
        try:
            out.append(strict_b64decode(value, cap, what=f"the {kind} (standard base64)"))
        except Qwen3VLError as exc:
            raise from_library(exc, param) from None
    return out


def instruction_text(engine, instruction: str | None) -> str:
    """The instruction a request actually gets (``None``: the model's default one), as /meta shows it."""
    return instruction if instruction is not None else engine.default_instruction


def _vectorize_instruction(state, engine) -> str | None:
    return embed_instruction(engine, state.settings.vectorize_instruction, "document")


def _side_instruction(engine, task_type: str | None) -> str | None:
    return embed_instruction(engine, None, "query" if task_type == "query" else "document")


# -- /vectorize: multi2vec-clip, multi2vec-bind ---------------------------------------------------------------
class VectorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] | None = None
    images: list[str] | None = None
    video: list[str] | None = None
    audio: list[Any] | None = None
    imu: list[Any] | None = None
    thermal: list[Any] | None = None
    depth: list[Any] | None = None


_SECTIONS = (("texts", "textVectors"), ("images", "imageVectors"), ("video", "videoVectors"))


@router.post("/vectorize", openapi_extra=json_body_schema((VectorizeRequest, "multi2vec-clip / multi2vec-bind")))
async def vectorize(request: Request) -> Response:
    body = parse_body(VectorizeRequest, await read_json_object(request))
    state = get_state(request)
    engine = state.embedding_engine()
    for name in UNSUPPORTED_MODALITIES:
        if getattr(body, name):
            raise ApiError(422, f"{name}: Qwen3-VL embeds texts, images and video; {', '.join(UNSUPPORTED_MODALITIES)} "
                                "are not supported", code="unsupported_input", param=name)
    texts, images, video = body.texts or [], body.images or [], body.video or []
    total = len(texts) + len(images) + len(video)
    if total == 0:
        raise ApiError(400, "nothing to embed: send texts, images or video", code="empty", param="texts")
    check_count(total, state.settings.max_client_batch_size, "texts", "max_client_batch_size")
    check_blank(texts, _indexed("texts", len(texts)))
    policy = engine.policy
    sources = await run_in_threadpool(lambda: (media_sources(images, "images", "image", policy),
                                               media_sources(video, "video", "video", policy)))
    items = [*texts, *({"image": s} for s in sources[0]), *({"video": s} for s in sources[1])]
    instruction = _vectorize_instruction(state, engine)
    results = await run_engine(request, lambda: engine.submit_embed(
        items, instruction=instruction, timeout=request_timeout(request)))
    answer, start = {}, 0
    for (field, key), count in zip(_SECTIONS, (len(texts), len(images), len(video))):
        part = results[start:start + count]
        first_error(part, field)
        answer[key], start = [r.vector.tolist() for r in part], start + count
    return json_response(answer)


# -- /vectors: text2vec-transformers --------------------------------------------------------------------------
class TransformersConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Weaviate sends its class setting (default masked_mean); Qwen3-VL-Embedding always pools the last token
    pooling_strategy: str | None = None
    task_type: Literal["query", "passage"] | None = None
    dimensions: int | None = None


class VectorsRequest(BaseModel):
    """Go's request struct is also its response struct: every request carries ``dims: 0``, ``vector: null``
    and ``error: ""`` beside ``text`` and ``config``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    texts: list[str] | None = None
    config: TransformersConfig = TransformersConfig()
    dims: int = 0
    vector: list[float] | None = None
    error: str = ""


def _check_response_fields(body: VectorsRequest) -> None:
    if body.dims or body.vector or body.error:
        name = "dims" if body.dims else "vector" if body.vector else "error"
        raise ApiError(422, f"{name}: a response field (sent empty by Weaviate); set config.dimensions for a "
                            "Matryoshka size", code="invalid_input", param=name)
    if (body.text is None) == (body.texts is None):
        raise ApiError(422, "send exactly one of 'text' (one string) and 'texts' (a list of strings)",
                       code="invalid_input", param="text")


_VECTORS_BODY = json_body_schema((VectorsRequest, "text2vec-transformers"))


@router.post("/vectors", openapi_extra=_VECTORS_BODY)
@router.post("/vectors/", openapi_extra=_VECTORS_BODY)
async def vectors(request: Request) -> Response:
    body = parse_body(VectorsRequest, await read_json_object(request))
    state = get_state(request)
    engine = state.embedding_engine()
    _check_response_fields(body)
    single = body.texts is None
    texts = [body.text or ""] if single else list(body.texts or [])
    params = ["text"] if single else _indexed("texts", len(texts))
    check_count(len(texts), state.settings.max_client_batch_size, "text" if single else "texts",
                "max_client_batch_size")
    check_blank(texts, params)
    dim = check_dimensions(body.config.dimensions, engine, "config.dimensions")
    instruction = _side_instruction(engine, body.config.task_type)
    results = await run_engine(request, lambda: engine.submit_embed(
        texts, instruction=instruction, dim=dim, timeout=request_timeout(request)))
    first_error(results, "texts", params)
    served = [r.vector.tolist() for r in results]
    size = len(served[0])
    if single:
        return json_response({"text": body.text, "dims": size, "vector": served[0], "dim": size})
    return json_response({"vectors": served, "dims": size, "dim": size})


# -- /rerank with Weaviate's body: reranker-transformers --------------------------------------------------------
class RankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    documents: list[str]
    #: always "" from Weaviate: the documents are that property's values already
    property: str = ""


async def rerank(request: Request, raw: dict) -> Response:
    """``{"query", "documents", "property"}`` -> ``{"query", "scores": [{"document", "score"}]}``, one score
    per document in request order (Weaviate reads them by position)."""
    body = parse_body(RankRequest, raw)
    state = get_state(request)
    engine = state.reranking_engine()
    if not body.query.strip():
        raise ApiError(400, "query: the query is empty", code="empty", param="query")
    docs = body.documents
    check_count(len(docs), state.settings.max_rerank_documents, "documents", "max_rerank_documents")
    scored = [k for k, doc in enumerate(docs) if doc.strip()]
    scores = [0.0] * len(docs)
    if scored:
        results = await run_engine(request, lambda: engine.submit_score(
            body.query, [docs[k] for k in scored], timeout=request_timeout(request)))
        for k, result in zip(scored, results):
            if isinstance(result, ItemError):
                raise from_library(result.error, f"documents[{k}]")
            scores[k] = result.score
    headers = None
    if len(scored) < len(docs):
        blank = len(docs) - len(scored)
        logger.info("rerank: %d blank document(s) of %d scored 0.0 without the model (an object without the "
                    "property)", blank, len(docs))
        headers = {"X-Blank-Documents": str(blank)}
    return json_response({"query": body.query, "scores": [{"document": d, "score": s} for d, s in zip(docs, scores)]},
                         headers=headers)


# -- meta and readiness --------------------------------------------------------------------------------------
@router.get("/.well-known/live")
@router.head("/.well-known/live", include_in_schema=False)
async def live() -> Response:
    return Response(status_code=204)


@router.get("/.well-known/ready")
@router.head("/.well-known/ready", include_in_schema=False)
async def ready(request: Request) -> Response:
    state = get_state(request)
    if not state.healthy:
        raise ApiError(503, f"not ready: {state.health_problem()}", code="unhealthy")
    return Response(status_code=204)


def _embedding_meta(state, engine) -> dict:
    def side(name: str) -> str:
        return instruction_text(engine, _side_instruction(engine, name))

    return {"model": {"name": state.model_name, "dimension": engine.dim, "hidden_size": engine.hidden_size,
                      "max_input_length": engine.max_length, "pooling": "last_token", "normalized": True},
            "routes": {
                "/vectorize": {"modules": ["multi2vec-clip", "multi2vec-bind"], "inputs": ["texts", "images", "video"],
                               "instruction": instruction_text(engine, _vectorize_instruction(state, engine))},
                "/vectors": {"modules": ["text2vec-transformers"],
                             "instruction": {"passage": side("passage"), "query": side("query")}},
                "/v1/multimodalembeddings": {"modules": ["multi2vec-voyageai"],
                                             "instruction": {"document": side("document"), "query": side("query")}}}}


@router.get("/meta")
async def meta(request: Request) -> Response:
    state = get_state(request)
    out: dict[str, Any] = {"name": "qwen3vl-integrations", "version": __version__, "ready": state.healthy}
    routes: dict[str, Any] = {}
    if state.embed_engine is not None:
        embedding = _embedding_meta(state, state.embed_engine)
        out["model"], routes = embedding["model"], embedding["routes"]
    if state.rerank_engine is not None:
        out["reranker"] = {"name": state.rerank_model_name, "max_input_length": state.rerank_engine.max_length,
                           "score": "sigmoid(yes - no)"}
        routes["/rerank"] = {"modules": ["reranker-transformers"], "blank_document_score": 0.0,
                             "instruction": state.rerank_engine.default_instruction}
    out["routes"] = routes
    return json_response(out)


FAMILY = RouteFamily("weaviate", router, error_style="weaviate",
                     public=("GET /.well-known/live", "GET /.well-known/ready", "GET /meta"),
                     keyless=("POST /vectorize", "POST /vectors", "POST /vectors/", "POST /rerank"))
