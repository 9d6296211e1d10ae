"""HTTP errors of the server: status codes from error codes, and the error body of each route family.

Every failure a route reports is an :class:`ApiError` (status, message, ``code``, ``param``). Its body
follows the family of the route (docs/server.md, "Errors"):

- ``"tei"`` (routes at the URL root): ``{"error": message, "error_type": code}``;
- ``"openai"`` (``/v1/*``, ``/v2/*``, ``/embeddings``; OpenAI and Cohere clients):
  ``{"error": {"message", "type", "param", "code"}}``;
- ``"weaviate"`` (Weaviate's inference-module routes): ``{"error": message}``;
- ``"voyage"`` (``/v1/multimodalembeddings``; Weaviate multi2vec-voyageai reads ``detail``):
  ``{"detail": message}``.

A family of routes that needs another body registers it in :data:`ERROR_STYLES` (one function).
Messages never carry a traceback, a server path or a key: model failures get a fixed message and are
logged server-side; input errors carry the library's message, which names the item (``input[3]``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InputError, MediaError, ModelError, ModelOverloadedError, Qwen3VLError

logger = logging.getLogger(__name__)

__all__ = ["ApiError", "ERROR_STYLES", "STATUS_BY_CODE", "from_library", "from_validation", "relabel", "render", "overloaded",
           "unauthorized", "validation_param"]

#: status of each library error code (docs/server.md and docs/robustness.md); unknown input/media codes -> 422,
#: unknown model codes -> 424
STATUS_BY_CODE = {
    "empty": 400, "media_policy": 400,
    "invalid_input": 422, "unsupported_input": 422, "too_long": 422, "dimension_mismatch": 422,
    "media_error": 422, "media_decode": 422, "media_too_large": 422, "media_fetch": 422, "media_timeout": 422,
    "unsupported_media": 422,
    "backend": 424, "non_finite_output": 424,
    "overloaded": 429,
    "model_load": 503,
    "timeout": 504,
}

_FIXED_MODEL_MESSAGES = {
    "backend": "the model failed on this input",
    "non_finite_output": "the model produced a non-finite output for this input",
    "model_load": "the model is not loaded",
    "timeout": "the request timed out before the model could run it",
}


class ApiError(Exception):
    """An HTTP error answer: ``status``, a message for the caller, a machine ``code`` and the ``param``
    (request field, e.g. ``input[3]``) it is about."""

    def __init__(self, status: int, message: str, *, code: str, param: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


def relabel(err: Qwen3VLError, param: str, index: int | None = None) -> Qwen3VLError:
    """A copy of ``err`` attributed to ``param`` (its old ``input[i]:`` prefix replaced)."""
    plain = copy.copy(err)
    if err.param and plain.message.startswith(f"{err.param}: "):
        plain.message = plain.message[len(err.param) + 2:]
    if index is None:
        index = err.index if err.index is not None else 0
    return plain.at(index, param)


def overloaded(exc: Qwen3VLError) -> ApiError:
    retry_after = float(getattr(exc, "retry_after", 1.0) or 1.0)
    return ApiError(429, str(exc), code="overloaded", headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


def unauthorized() -> ApiError:
    """401 for a missing or wrong bearer key (the key itself is never echoed)."""
    return ApiError(401, "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                    code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def from_library(exc: Qwen3VLError, param: str | None = None) -> ApiError:
    """The HTTP error of a library error (``param`` relabels the item, e.g. ``texts[2]``)."""
    if isinstance(exc, ModelOverloadedError):
        return overloaded(exc)
    if param is not None:
        exc = relabel(exc, param)
    status = STATUS_BY_CODE.get(exc.code)
    if status is None:
        status = 422 if isinstance(exc, (InputError, MediaError)) else 424 if isinstance(exc, ModelError) else 500
    message = str(exc)
    if status >= 424 and status != 429:
        logger.warning("model error answered %d (%s): %s", status, exc.code, message)
        fixed = _FIXED_MODEL_MESSAGES.get(exc.code, "the model failed")
        message = f"{exc.param}: {fixed}" if exc.param else fixed
    return ApiError(status, message, code=exc.code, param=exc.param)


_TAGS = ("text", "image_url", "video_url")


def validation_param(base: str, loc: tuple) -> str:
    """A request path from a pydantic error location: ``input[3]`` + ``(0, "image_url", "image_url",
    "MediaURL", "url")`` -> ``input[3][0].image_url.url`` (discriminator tags and union member types
    that pydantic inserts are left out)."""
    out, after_index = base, False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            after_index = True
            continue
        tag, after_index = after_index and part in _TAGS, False
        if tag or part[:1].isupper() or part in ("str", "int", "float", "bool", "list", "dict") or "[" in part:
            continue
        out += f".{part}" if out else part
    return out


def from_validation(errors: Sequence[Any], base: str = "") -> ApiError:
    """The error of a failed pydantic validation: 400 for a body that is not JSON or missing, else 422
    naming the first offending field (``input[3]``, ``inputs[0].content[1].type``)."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    loc = tuple(first.get("loc", ()))
    if loc[:1] == ("body",):
        loc = loc[1:]
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", code="invalid_json")
    if first.get("type") == "missing" and not loc:
        return ApiError(400, "the request needs a JSON body", code="empty")
    where = validation_param(base, loc) or "body"
    return ApiError(422, f"{where}: {first.get('msg', 'invalid value')}", code="invalid_input", param=where)


_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                 405: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error",
                 424: "server_error", 429: "rate_limit_error", 500: "server_error", 503: "service_unavailable",
                 504: "timeout_error"}


def _tei_body(err: ApiError) -> dict:
    return {"error": err.message, "error_type": err.code}


def _openai_body(err: ApiError) -> dict:
    kind = _OPENAI_TYPES.get(err.status, "invalid_request_error" if err.status < 500 else "server_error")
    return {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code}}


#: error body of each route family
ERROR_STYLES: dict[str, Callable[[ApiError], dict]] = {"tei": _tei_body, "openai": _openai_body}
ERROR_STYLES["weaviate"] = lambda e: {"error": e.message}
ERROR_STYLES["voyage"] = lambda e: {"detail": e.message}


def render(err: ApiError, style: str) -> tuple[int, bytes, dict[str, str]]:
    """Status, JSON body and headers of ``err`` in the body style of a family (unknown style: TEI's)."""
    body = ERROR_STYLES.get(style, _tei_body)(err)
    return err.status, json.dumps(body, ensure_ascii=False).encode("utf-8"), dict(err.headers)
