"""What a route family is (one module under ``routes/``), and the helpers its handlers share.

A family is a FastAPI router, the error-body style of its routes (``errors.ERROR_STYLES``), the
routes it leaves open without the API key, and those the operator may open (``weaviate_open_routes``).
Adding a protocol = one module that defines ``FAMILY`` plus one line in ``routes/__init__.py``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from .errors import ApiError, from_validation
from .state import ServerState

__all__ = ["RouteFamily", "get_state", "json_response", "check_dimensions", "embed_instruction", "vector_base64",
           "request_timeout", "parse_body", "read_json_object", "json_body_schema", "score_order"]

Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True)
class RouteFamily:
    name: str
    router: APIRouter
    #: key of ``errors.ERROR_STYLES`` for the error bodies of this family's routes (None: by path)
    error_style: str | None
    #: "METHOD /path" routes answered without the API key (health, info)
    public: tuple[str, ...] = ()
    #: "METHOD /path" routes let through without the key when ``ServerSettings.weaviate_open_routes`` is on
    #: (the request's ``state.keyless`` is then True, for a route that is open for one body shape only)
    keyless: tuple[str, ...] = ()


def get_state(request: Request) -> ServerState:
    return request.app.state.qwen3vl


def json_response(content: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON answer serialized by orjson, not by FastAPI's encoder (vectors are plain lists already).

    orjson writes the same shortest round-trip numbers as ``json.dumps``, at about a twentieth of its
    CPU (0.02 ms against 0.40 ms for one 1024-float vector here), which the event loop spends on every
    answer. It would write NaN or an infinity as ``null``; the engines never return one (a non-finite
    vector or score is that item's error: ``core.outputs``, ``core.reranker``).
    """
    body = orjson.dumps(content)
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


async def read_json_object(request: Request) -> dict:
    """The body as a JSON object, whatever its Content-Type says (Weaviate's bind, transformers and reranker
    clients send none, and FastAPI then leaves a typed body unparsed); 400 when empty or not JSON."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "the request needs a JSON body", code="empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", code="invalid_input", param="body")
    return body


def json_body_schema(*models: tuple[type[BaseModel], str]) -> dict:
    """``openapi_extra`` for a route that reads its body by hand: the body models (one, or one of several)."""
    schemas = [{**model.model_json_schema(), "title": title} for model, title in models]
    schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def parse_body(model: type[Body], raw: dict) -> Body:
    """Validate a body read by hand (a route that dispatches on its shape); 422 naming the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc.errors()) from None


def score_order(results: list, top_n: int | None = None) -> list[int]:
    """Indices by descending score, ties in input order, at most ``top_n``."""
    return sorted(range(len(results)), key=lambda i: (-results[i].score, i))[:top_n]
