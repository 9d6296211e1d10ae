"""What a route family is (one module under ``routes/``), and the helpers its handlers share.

A family is a FastAPI router, the error-body style of its routes (``errors.ERROR_STYLES``) and the
routes it leaves open without the API key. Adding a protocol = one module that defines ``FAMILY`` plus
one line in ``routes/__init__.py``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from .errors import ApiError, from_validation
from .state import ServerState

__all__ = ["RouteFamily", "get_state", "json_response", "check_dimensions", "embed_instruction", "vector_base64",
           "request_timeout", "parse_body", "score_order"]

Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True)
class RouteFamily:
    name: str
    router: APIRouter
    #: key of ``errors.ERROR_STYLES`` for the error bodies of this family's routes (None: by path)
    error_style: str | None
    #: "METHOD /path" routes answered without the API key (health, info)
    public: tuple[str, ...] = ()


def get_state(request: Request) -> ServerState:
    return request.app.state.qwen3vl


def json_response(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer built without FastAPI's encoder (vectors are plain lists already)."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def vector_base64(vector: np.ndarray) -> str:
    """Little-endian float32 bytes in base64 (what the OpenAI and Cohere clients decode)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def check_dimensions(value: int | None, engine, param: str) -> int | None:
    """A Matryoshka size from a request: ``None`` (the engine's size) or 1..hidden size."""
    if value is None:
        return None
    hidden = int(engine.hidden_size)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hidden:
        raise ApiError(422, f"{param} must be an integer between 1 and {hidden}, got {value!r}", code="invalid_input",
                       param=param)
    return value


def embed_instruction(engine, instruction: str | None, side: str | None) -> str | None:
    """The instruction of an embedding request: the explicit one, else the query side's task instruction,
    else the document side's (``None``: the model's default instruction)."""
    if instruction is not None:
        if not instruction.strip():
            raise ApiError(422, "instruction must not be blank", code="invalid_input", param="instruction")
        return instruction
    if side == "query":
        return engine.query_instruction
    return engine.document_instruction


def request_timeout(request: Request) -> float:
    return get_state(request).settings.request_timeout


def parse_body(model: type[Body], raw: dict) -> Body:
    """Validate a body read by hand (a route that dispatches on its shape); 422 naming the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc.errors()) from None


def score_order(results: list, top_n: int | None = None) -> list[int]:
    """Indices by descending score, ties in input order, at most ``top_n``."""
    return sorted(range(len(results)), key=lambda i: (-results[i].score, i))[:top_n]
