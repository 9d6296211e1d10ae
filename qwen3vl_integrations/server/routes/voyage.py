"""Voyage AI's multimodal embeddings: ``POST /v1/multimodalembeddings`` and ``/multimodalembeddings``
(Weaviate multi2vec-voyageai with ``baseURL`` pointing here; docs/weaviate.md names the Go file).

``{"inputs": [{"content": [parts]}], "model", "input_type"?: "query"/"document", "truncation"?,
"output_dimension"?, "output_encoding"?: "base64"}`` -> ``{"object": "list", "data": [{"object": "embedding",
"embedding", "index"}], "model", "usage": {"total_tokens"}}``. A part is ``{"type": "text", "text"}``,
``{"type": "image_base64", "image_base64": "data:image/...;base64,..."}``, ``{"type": "image_url",
"image_url": "https://..."}``, ``video_base64`` or ``video_url`` alike; the parts of one input are one item.
``input_type`` query gets the query instruction, document (or none) the document side; ``model`` is
accepted and the served model answers. Errors are ``{"detail": message}``: the Go client reads ``detail``.
Unlike Weaviate's other modules this one sends ``Authorization: Bearer <VOYAGEAI_APIKEY>``, so the server's
API key applies as on every inference route.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from ..content import check_source
from ..errors import ApiError
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
    vector_base64,
)
from ..running import check_blank, check_count, first_error, run_engine

__all__ = ["FAMILY", "MultimodalRequest", "PART_TYPES"]

router = APIRouter(tags=["Voyage AI"])

PART_TYPES = ("text", "image_base64", "image_url", "video_base64", "video_url")


class MultimodalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[Any]
    model: str | None = None
    input_type: Literal["query", "document"] | None = None
    truncation: bool | None = None
    output_dimension: int | None = None
    output_encoding: Literal["base64"] | None = None


def _part(part: Any, param: str, out: dict[str, list], allow_local: bool) -> None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in PART_TYPES:
        raise ApiError(422, f"{param}.type: must be one of {', '.join(PART_TYPES)}", code="invalid_input",
                       param=f"{param}.type")
    unknown = sorted(set(part) - {"type", kind})
    if unknown:
        raise ApiError(422, f"{param}: unknown key(s) {unknown} for a {kind} part", code="invalid_input", param=param)
    value = part.get(kind, "")  # Go leaves out the "text" of an empty text (omitempty)
    if not isinstance(value, str):
        raise ApiError(422, f"{param}.{kind}: must be a string", code="invalid_input", param=f"{param}.{kind}")
    if kind == "text":
        check_blank([value], [f"{param}.text"])
        out["text"].append(value)
        return
    media, _, form = kind.partition("_")
    if form == "base64" and value[:5].lower() != "data:":
        raise ApiError(422, f"{param}.{kind}: must be a data URI (data:<mime>;base64,<payload>)",
                       code="invalid_input", param=f"{param}.{kind}")
    out[media].append(check_source(value, f"{param}.{kind}", allow_local))


def _item(raw: Any, param: str, allow_local: bool) -> dict:
    """``{"content": [parts]}`` -> one model input (texts, images and videos of the parts)."""
    if not isinstance(raw, dict) or set(raw) != {"content"}:
        raise ApiError(422, f"{param}: must be an object with only 'content' (a list of parts)", code="invalid_input",
                       param=param)
    content = raw["content"]
    if not isinstance(content, list) or not content:
        raise ApiError(400 if content == [] else 422, f"{param}.content: must be a non-empty list of parts",
                       code="empty" if content == [] else "invalid_input", param=f"{param}.content")
    out: dict[str, list] = {"text": [], "image": [], "video": []}
    for j, part in enumerate(content):
        _part(part, f"{param}.content[{j}]", out, allow_local)
    return {key: values for key, values in out.items() if values}


_BODY = json_body_schema((MultimodalRequest, "Voyage AI multimodal embeddings"))


@router.post("/v1/multimodalembeddings", openapi_extra=_BODY)
@router.post("/multimodalembeddings", openapi_extra=_BODY)
async def multimodal_embeddings(request: Request) -> Response:
    body = parse_body(MultimodalRequest, await read_json_object(request))
    state = get_state(request)
    engine = state.embedding_engine()
    check_count(len(body.inputs), state.settings.max_client_batch_size, "inputs", "max_client_batch_size")
    allow_local = bool(state.settings.allow_paths)
    items = [_item(raw, f"inputs[{k}]", allow_local) for k, raw in enumerate(body.inputs)]
    dim = check_dimensions(body.output_dimension, engine, "output_dimension")
    instruction = embed_instruction(engine, None, body.input_type)
    results = await run_engine(request, lambda: engine.submit_embed(
        items, instruction=instruction, dim=dim, truncate=body.truncation, timeout=request_timeout(request)))
    first_error(results, "inputs")
    encode = vector_base64 if body.output_encoding == "base64" else (lambda v: v.tolist())
    data = [{"object": "embedding", "embedding": encode(r.vector), "index": k} for k, r in enumerate(results)]
    return json_response({"object": "list", "data": data, "model": state.model_name,
                          "usage": {"total_tokens": sum(r.tokens for r in results)}})


FAMILY = RouteFamily("voyage", router, error_style="voyage")
