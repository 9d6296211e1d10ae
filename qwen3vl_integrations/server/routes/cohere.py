"""Cohere embed (``POST /v2/embed``, ``/v1/embed``) and the Cohere/Jina rerank body (``documents``).

``/v1/embed`` without ``embedding_types`` answers Cohere v1's ``embeddings_floats`` shape (a list of
float vectors); every other embed answer is ``embeddings_by_type``.

Embed takes exactly one of ``texts``, ``images`` (data URIs or https URLs) and ``inputs`` (content
lists); ``input_type`` picks the instruction (search_query: the query instruction; search_document and
image: the document side; classification and clustering: their own instructions below);
``embedding_types`` any of float, int8, uint8, binary, ubinary, base64 (int8 = round(127 * v); uint8 =
int8 + 128; binary/ubinary = sign bits packed 8 per byte, as ``core.outputs.quantize``);
``output_dimension`` is the Matryoshka size; ``truncate`` NONE refuses over-long inputs, END cuts their
end (START is refused: the engine keeps the beginning).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ...core.outputs import quantize
from ..content import check_source, item_input
from ..errors import ApiError
from ..family import (
    RouteFamily,
    check_dimensions,
    embed_instruction,
    get_state,
    json_response,
    parse_body,
    request_timeout,
    score_order,
    vector_base64,
)
from ..running import check_count, first_error, run_engine

__all__ = ["FAMILY", "EmbedRequest", "RerankRequest", "rerank_documents", "CLASSIFICATION_INSTRUCTION",
           "CLUSTERING_INSTRUCTION"]

router = APIRouter(tags=["Cohere"])

CLASSIFICATION_INSTRUCTION = "Classify the given input."
CLUSTERING_INSTRUCTION = "Identify the topic or theme of the given input."
EmbeddingType = Literal["float", "int8", "uint8", "binary", "ubinary", "base64"]


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    texts: list[str] | None = None
    images: list[str] | None = None
    inputs: list[dict[str, Any]] | None = None
    input_type: Literal["search_query", "search_document", "classification", "clustering", "image"] | None = None
    embedding_types: list[EmbeddingType] | None = None
    output_dimension: int | None = None
    truncate: Literal["NONE", "START", "END"] | None = None
    max_tokens: int | None = None
    priority: int | None = Field(default=None, description="accepted and ignored (requests are served in order)")


def _instruction(engine, input_type: str | None) -> str | None:
    if input_type == "classification":
        return CLASSIFICATION_INSTRUCTION
    if input_type == "clustering":
        return CLUSTERING_INSTRUCTION
    return embed_instruction(engine, None, "query" if input_type == "search_query" else "document")


def _truncate(value: str | None) -> bool | None:
    if value == "START":
        raise ApiError(422, "truncate=START is not supported: inputs are cut at the end (END) or refused (NONE)",
                       code="invalid_input", param="truncate")
    return None if value is None else value == "END"


def _embed_items(body: EmbedRequest, allow_local: bool) -> tuple[str, list]:
    given = [name for name in ("texts", "images", "inputs") if getattr(body, name) is not None]
    if len(given) != 1:
        raise ApiError(422, "give exactly one of texts, images and inputs", code="invalid_input",
                       param=given[1] if len(given) > 1 else "texts")
    field = given[0]
    if field == "texts":
        return field, list(body.texts or [])
    if field == "images":
        return field, [{"image": check_source(url, f"images[{k}]", allow_local)} for k, url in enumerate(body.images or [])]
    return field, [item_input(v, f"inputs[{k}]", allow_local) for k, v in enumerate(body.inputs or [])]


def _encoded(vectors: np.ndarray, kind: str) -> list:
    if kind == "float":
        return vectors.tolist()
    if kind == "base64":
        return [vector_base64(v) for v in vectors]
    if kind == "uint8":
        return (quantize(vectors, "int8").astype(np.int16) + 128).tolist()
    return quantize(vectors, kind).tolist()


@router.post("/v2/embed")
@router.post("/v1/embed")
async def embed(request: Request, body: EmbedRequest):
    state = get_state(request)
    engine = state.embedding_engine()
    if body.max_tokens is not None:
        raise ApiError(422, "max_tokens is not supported: inputs are cut at the model's max_input_length (see /info)",
                       code="invalid_input", param="max_tokens")
    field, items = _embed_items(body, bool(state.settings.allow_paths))
    check_count(len(items), state.settings.max_client_batch_size, field, "max_client_batch_size")
    dim = check_dimensions(body.output_dimension, engine, "output_dimension")
    instruction, truncate = _instruction(engine, body.input_type), _truncate(body.truncate)
    results = await run_engine(request, lambda: engine.submit_embed(
        items, instruction=instruction, dim=dim, truncate=truncate, timeout=request_timeout(request)))
    first_error(results, field)
    vectors = np.stack([r.vector for r in results])
    tokens = sum(r.tokens for r in results)
    answer: dict[str, Any] = {"id": uuid.uuid4().hex}
    if body.embedding_types is None and request.url.path == "/v1/embed":  # Cohere v1: a plain list of floats
        answer.update(response_type="embeddings_floats", embeddings=vectors.tolist())
    else:
        kinds = list(dict.fromkeys(body.embedding_types or ["float"]))
        answer.update(response_type="embeddings_by_type",
                      embeddings={kind: _encoded(vectors, kind) for kind in kinds})
    if field == "texts":
        answer["texts"] = body.texts
    answer["meta"] = {"api_version": {"version": "2"},
                      "billed_units": {"input_tokens": tokens, "images": len(body.images or [])}}
    return json_response(answer)


# -- rerank: the Cohere/Jina body (dispatched from routes/rerank.py) ------------------------------------
_ITEM_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                "description": "a text, an object {'text'?, 'image'?, 'video'?}, or a content-part list"}


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    query: Annotated[Any, WithJsonSchema(_ITEM_SCHEMA)]
    documents: Annotated[list[Any], WithJsonSchema({"type": "array", "items": _ITEM_SCHEMA})]
    top_n: int | None = Field(default=None, ge=1)
    return_documents: bool = False
    instruction: str | None = None
    max_tokens_per_doc: int | None = None
    truncate_prompt_tokens: int | None = Field(default=None, description="vLLM's; refused (not supported)")
    max_chunks_per_doc: int | None = Field(default=None, description="Cohere v1's; refused (not supported)")
    rank_fields: list[str] | None = Field(default=None, description="Cohere v1's; only ['text'] is accepted")
    priority: int | None = Field(default=None, description="accepted and ignored (requests are served in order)")


def _document(raw: Any) -> Any:
    return {"text": raw} if isinstance(raw, str) else raw


async def rerank_documents(request: Request, raw: dict):
    """``{"query", "documents", "top_n"?, "return_documents"?, "instruction"?}`` -> Cohere's rerank answer:
    ``results`` sorted by ``relevance_score`` (every document when there is no ``top_n``)."""
    body = parse_body(RerankRequest, raw)
    state = get_state(request)
    engine = state.reranking_engine()
    if body.rank_fields not in (None, ["text"]):
        raise ApiError(422, "rank_fields: documents are ranked on their whole content; only ['text'] is accepted",
                       code="invalid_input", param="rank_fields")
    for name in ("max_tokens_per_doc", "truncate_prompt_tokens", "max_chunks_per_doc"):
        if getattr(body, name) is not None:
            raise ApiError(422, f"{name} is not supported: pairs are cut at the model's max_input_length (see /info)",
                           code="invalid_input", param=name)
    allow_local = bool(state.settings.allow_paths)
    check_count(len(body.documents), state.settings.max_rerank_documents, "documents", "max_rerank_documents")
    query = item_input(body.query, "query", allow_local)
    docs = [item_input(d, f"documents[{k}]", allow_local) for k, d in enumerate(body.documents)]
    instruction = body.instruction
    results = await run_engine(request, lambda: engine.submit_score(
        query, docs, instruction=instruction, timeout=request_timeout(request)))
    first_error(results, "documents")
    order = score_order(results, body.top_n)
    ranked = []
    for i in order:
        entry: dict[str, Any] = {"index": i, "relevance_score": results[i].score}
        if body.return_documents:
            entry["document"] = _document(body.documents[i])
        ranked.append(entry)
    return json_response({"id": uuid.uuid4().hex, "model": state.rerank_model_name, "results": ranked,
                          "usage": {"total_tokens": sum(r.tokens for r in results)},
                          "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}})


FAMILY = RouteFamily("cohere", router, error_style="openai")
