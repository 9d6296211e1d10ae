"""``create_app``: the FastAPI application of ``qwen3vl serve``, also for mounting in your own ASGI stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..core._optional import require

require("fastapi")  # an ImportError that names the extra, before the modules that import it
require("prometheus_client")

from .errors import ApiError, from_validation, render  # noqa: E402
from .middleware import ServerMiddleware  # noqa: E402
from .running import ClientDisconnected  # noqa: E402
from .settings import ServerSettings  # noqa: E402
from .state import ServerState  # noqa: E402

logger = logging.getLogger(__name__)

__all__ = ["create_app"]

_DOC_ROUTES = ("GET /openapi.json", "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}


def create_app(embedder=None, reranker=None, settings: ServerSettings | None = None):
    """The HTTP app serving ``embedder`` and/or ``reranker`` (a ``Qwen3VLEmbedder`` / ``Qwen3VLReranker``).

    Load the engines with ``policy=settings.media_policy()`` so that requests may only name https URLs,
    data URIs and files under ``settings.allow_paths`` (``qwen3vl serve`` does). ``/health`` turns 200
    after warm-up forward passes, which start when the app starts (ASGI lifespan).
    """
    import fastapi

    from .. import __version__
    from .routes import FAMILIES

    settings = settings or ServerSettings()
    state = ServerState(settings, embedder, reranker)
    _warn_policy(state)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        warm = asyncio.get_running_loop().run_in_executor(None, state.warm_up)
        try:
            yield
        finally:
            state.begin_drain()
            if not warm.done():
                warm.cancel()

    app = fastapi.FastAPI(title="qwen3vl-integrations server", version=__version__, lifespan=lifespan,
                          description="Qwen3-VL embeddings and reranking over the OpenAI, Cohere, TEI, Weaviate-module "
                                      "and Voyage protocols.")
    app.state.qwen3vl = state
    state.public_routes.update(_DOC_ROUTES)
    for family in FAMILIES:
        app.include_router(family.router)
        state.public_routes.update(family.public)
        state.keyless_routes.update(family.keyless)
        for route in family.router.routes:
            state.route_paths.add(route.path)  # type: ignore[attr-defined]
            if family.error_style is not None:
                state.error_styles[route.path] = family.error_style  # type: ignore[attr-defined]
    if settings.weaviate_open_routes and settings.api_key is not None:
        logger.warning("weaviate_open_routes: %s answer without the API key", ", ".join(sorted(state.keyless_routes)))
    _install_error_handlers(app, state)
    app.add_middleware(ServerMiddleware, state=state)
    return app


def _install_error_handlers(app, state: ServerState) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException
    from starlette.responses import Response

    def respond(request, err: ApiError) -> Response:
        status, body, headers = render(err, state.error_style(request.scope))
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def on_api_error(request, exc: ApiError):
        return respond(request, exc)

    async def on_validation(request, exc: RequestValidationError):
        return respond(request, from_validation(list(exc.errors())))

    async def on_http(request, exc: HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return respond(request, ApiError(exc.status_code, message, code=code, headers=dict(exc.headers or {})))

    async def on_disconnect(request, exc: ClientDisconnected):
        return Response(status_code=499)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(ClientDisconnected, on_disconnect)
    app.add_exception_handler(Exception, _internal_error(state))


def _internal_error(state: ServerState):
    from starlette.responses import Response

    async def handler(request, exc: Exception):
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        status, body, headers = render(ApiError(500, "internal server error", code="internal"),
                                       state.error_style(request.scope))
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    return handler


def _warn_policy(state: ServerState) -> None:
    wanted = state.settings.media_policy()
    for engine in (state.embed_engine, state.rerank_engine):
        if engine is not None and engine.policy != wanted:
            logger.warning("the %s's media policy is not ServerSettings.media_policy(): requests are screened "
                           "(https, data URIs, allowed paths) but fetched under the engine's own policy; load "
                           "engines with policy=settings.media_policy()", type(engine).__name__)

