"""The one ASGI middleware in front of every route: draining, request metrics, API key, body limit.

Repeated slashes in the path are collapsed first (``//vectorize`` -> ``/vectorize``: Weaviate's module
clients append the route to the configured URL as a string, so a URL ending in ``/`` yields them). Then, in
this order: while draining (SIGTERM) every request gets 503; the bearer key is checked (in constant
time) on every route but the public ones; the body is read with its size counted (``Content-Length``
first, then the bytes actually streamed) and 413 is answered as soon as it passes the limit; then the
route runs on the buffered body. Each request is counted by route and status with its latency.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time

from .errors import ApiError, render, unauthorized
from .state import ServerState

logger = logging.getLogger(__name__)

__all__ = ["ServerMiddleware", "collapse_slashes"]

_SLASHES, _RAW_SLASHES = re.compile(r"/{2,}"), re.compile(rb"/{2,}")


def collapse_slashes(scope: dict) -> dict:
    """``scope`` with runs of ``/`` in its path made single (the same scope when there are none)."""
    path = scope.get("path", "")
    if "//" not in path:
        return scope
    collapsed = {**scope, "path": _SLASHES.sub("/", path)}
    if isinstance(scope.get("raw_path"), bytes):
        collapsed["raw_path"] = _RAW_SLASHES.sub(b"/", scope["raw_path"])
    return collapsed


class ServerMiddleware:
    def __init__(self, app, state: ServerState):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = collapse_slashes(scope)
        state, start, status = self.state, time.perf_counter(), [500, False]  # status, answer begun

        async def counted_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0], status[1] = message["status"], True
            await send(message)

        if state.draining:
            await self.answer(scope, counted_send, ApiError(503, "the server is shutting down; retry on another "
                                                                 "instance", code="unhealthy",
                                                            headers={"Connection": "close"}))
            self._observe(scope, status[0], start)
            return
        state.inflight += 1
        try:
            self._check_key(scope)
            buffered = await self._read_body(scope, receive)
            if buffered is not None:
                await self.app(scope, buffered, counted_send)
        except ApiError as err:
            await self.answer(scope, counted_send, err)
        except Exception:
            if status[1]:
                raise  # the answer has begun: let the server close the connection
            logger.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            await self.answer(scope, counted_send, ApiError(500, "internal server error", code="internal"))
        finally:
            state.inflight -= 1
            self._observe(scope, status[0], start)

    async def answer(self, scope, send, err: ApiError) -> None:
        code, body, headers = render(err, self.state.error_style(scope))
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": code, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope, status: int, start: float) -> None:
        route = getattr(scope.get("route"), "path", None) or scope.get("path", "")
        label = route if route in self.state.route_paths else "unmatched"
        self.state.metrics.observe_request(label, status, time.perf_counter() - start)

    def _check_key(self, scope) -> None:
        key = self.state.settings.api_key
        if key is None:
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        route = f"{method} {scope['path']}"
        if route in self.state.public_routes:
            return
        header = _header(scope, b"authorization")
        scheme, _, token = header.partition(" ")
        given = hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).digest()
        wanted = hashlib.sha256(key.encode("utf-8")).digest()
        if not (hmac.compare_digest(given, wanted) and scheme.lower() == "bearer"):
            if self.state.settings.weaviate_open_routes and route in self.state.keyless_routes:
                scope.setdefault("state", {})["keyless"] = True  # the route decides (/rerank: by body shape)
                return
            raise unauthorized()

    async def _read_body(self, scope, receive):
        """Read the whole body within the limit; a receive callable that replays it (None: client gone)."""
        limit = self.state.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared:
            if not declared.isdigit():
                raise ApiError(400, "invalid Content-Length header", code="invalid_request")
            if int(declared) > limit:
                raise _too_large(limit)
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            body = message.get("body", b"")
            total += len(body)
            if total > limit:
                raise _too_large(limit)
            chunks.append(body)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return replay


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body exceeds the limit of {limit} bytes (max_body_bytes)",
                    code="payload_too_large", headers={"Connection": "close"})
