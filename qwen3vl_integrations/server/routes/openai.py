"""OpenAI embeddings: ``POST /v1/embeddings`` and ``POST /embeddings`` (Milvus Lite, Weaviate text2vec-openai,
LangChain/LlamaIndex OpenAI classes, the openai SDK), and ``GET /v1/models``.

Extension: an ``input`` item may be a content-part list (text, ``image_url``, ``video_url``);
``input_type`` ("query"/"document") or ``instruction`` choose the instruction. Token-id arrays are
refused with 422 (LangChain sends them unless ``check_embedding_ctx_length=False``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, WithJsonSchema

from ..content import item_input
from ..errors import ApiError
from ..family import (
    RouteFamily,
    check_dimensions,
    embed_instruction,
    get_state,
    json_response,
    request_timeout,
    vector_base64,
)
from ..running import check_count, first_error, run_engine

__all__ = ["FAMILY", "EmbeddingsRequest"]

router = APIRouter(tags=["OpenAI"])

_INPUT_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "object", "description": "content part: {'type': 'text', 'text'}, "
                                                               "{'type': 'image_url', 'image_url': {'url'}} or "
                                                               "{'type': 'video_url', 'video_url': {'url'}}"}},
        ]}},
    ],
    "description": "a text, a list of texts, or a list whose items are texts or content-part lists",
}

_TOKEN_IDS = ("input holds token ids; this server takes text (and content-part lists). With LangChain's "
              "OpenAIEmbeddings pass check_embedding_ctx_length=False; with other clients send strings")


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Annotated[Any, WithJsonSchema(_INPUT_SCHEMA)]
    model: str | None = None
    dimensions: int | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    input_type: Literal["query", "document"] | None = None
    instruction: str | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and (all(_is_int(v) for v in value) or any(
        isinstance(v, list) and bool(v) and all(_is_int(t) for t in v) for v in value))


def openai_items(value: Any, allow_local: bool) -> list:
    """``input`` -> model inputs, one per item."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise ApiError(422, "input must be a string or a list", code="invalid_input", param="input")
    if _is_token_ids(value):
        raise ApiError(422, _TOKEN_IDS, code="token_ids", param="input")
    return [item_input(v, f"input[{k}]", allow_local) for k, v in enumerate(value)]


@router.post("/v1/embeddings")
@router.post("/embeddings")
async def create_embeddings(request: Request, body: EmbeddingsRequest):
    state = get_state(request)
    engine = state.embedding_engine()
    items = openai_items(body.input, bool(state.settings.allow_paths))
    check_count(len(items), state.settings.max_client_batch_size, "input", "max_client_batch_size")
    dim = check_dimensions(body.dimensions, engine, "dimensions")
    instruction = embed_instruction(engine, body.instruction, body.input_type)
    results = await run_engine(request, lambda: engine.submit_embed(
        items, instruction=instruction, dim=dim, timeout=request_timeout(request)))
    first_error(results, "input")
    encode = vector_base64 if body.encoding_format == "base64" else (lambda v: v.tolist())
    data = [{"object": "embedding", "index": k, "embedding": encode(r.vector)} for k, r in enumerate(results)]
    tokens = sum(r.tokens for r in results)
    return json_response({"object": "list", "data": data, "model": state.model_name,
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


@router.get("/v1/models")
async def list_models(request: Request):
    state = get_state(request)
    roles = [role for role, engine in (("embedding", state.embed_engine), ("reranker", state.rerank_engine)) if engine]
    return json_response({"object": "list", "data": [
        {"id": state.model_name, "object": "model", "created": 0, "owned_by": "qwen3vl-integrations", "roles": roles}]})


FAMILY = RouteFamily("openai", router, error_style="openai")
