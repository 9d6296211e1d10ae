"""Open routes (no API key): ``GET /health`` (and ``GET /``, as TEI), ``GET /info``, ``GET /metrics``.

``/health`` answers from cached state, never by running the model: 200 once the warm-up forward passes
succeeded, 503 while warming up, after a failed warm-up, and while draining. ``/info`` shows the models,
their sizes and every limit (never the API key or a server path).
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request
from starlette.responses import Response

from ... import __version__
from ..errors import ApiError
from ..family import RouteFamily, get_state, json_response

__all__ = ["FAMILY"]

router = APIRouter(tags=["Health"])

_MEDIA_LIMITS = ("allowed_schemes", "allow_data_uris", "allow_base64", "allow_private_networks", "max_image_bytes",
                 "max_image_pixels", "max_video_bytes", "max_frame_pixels", "max_video_duration", "max_video_frames",
                 "max_sample_fps", "max_video_output_bytes", "connect_timeout", "read_timeout", "fetch_timeout",
                 "video_decode_timeout", "max_redirects")


@router.api_route("/health", methods=["GET", "HEAD"])
@router.api_route("/", methods=["GET", "HEAD"])
async def health(request: Request) -> Response:
    state = get_state(request)
    if not state.healthy:
        raise ApiError(503, f"unhealthy: {state.health_problem()}", code="unhealthy")
    return Response(status_code=200)


def _engine_info(engine) -> dict:
    config = {k: v for k, v in dataclasses.asdict(engine.config).items() if k != "extra"}
    return {"model_id": None, "model_dtype": str(engine.device_choice.dtype).replace("torch.", ""),
            "device": engine.device.type, "max_input_length": engine.max_length,
            "max_batch_tokens": engine.config.token_budget, "max_batch_requests": engine.config.max_batch_items,
            "auto_truncate": engine.config.truncate, "engine": config,
            "media": {k: getattr(engine.policy, k) for k in _MEDIA_LIMITS}}


@router.get("/info")
async def info(request: Request) -> Response:
    state = get_state(request)
    settings = state.settings
    out: dict = {"model_id": state.model_name, "version": __version__, "sha": None, "docker_label": None,
                 "status": "ok" if state.healthy else state.health_problem(), "auth": settings.api_key is not None,
                 "max_client_batch_size": settings.max_client_batch_size, "limits": settings.limits()}
    models = {}
    if state.embed_engine is not None:
        models["embedding"] = {**_engine_info(state.embed_engine), "model_id": state.model_name,
                               "dimension": state.embed_engine.dim, "hidden_size": state.embed_engine.hidden_size}
    if state.rerank_engine is not None:
        models["reranker"] = {**_engine_info(state.rerank_engine), "model_id": state.rerank_model_name}
    first = models.get("embedding") or models["reranker"]
    out.update({k: first[k] for k in ("model_dtype", "max_input_length", "max_batch_tokens", "max_batch_requests",
                                      "auto_truncate")})
    out["model_type"] = {role: {"pooling": "last_token"} if role == "embedding" else {"score": "sigmoid(yes - no)"}
                         for role in models}
    if "embedding" in models:
        out["dimension"] = models["embedding"]["dimension"]
    out["models"] = models
    return json_response(out)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    body, content_type = get_state(request).metrics.exposition()
    return Response(body, media_type=content_type)


FAMILY = RouteFamily("health", router, error_style="tei", public=("GET /health", "GET /", "GET /info", "GET /metrics"))
