"""``POST /rerank``, ``/v1/rerank``, ``/v2/rerank``: the one place that picks a rerank protocol by body shape.

:data:`SHAPES` is tried in order, the first match wins; each shape names its handler and the error-body
style of its answers. A body with ``texts`` is TEI's (Milvus ``tei`` provider, pymilvus-model
``TEIRerankFunction``): ``[{"index", "score"}]``; a body with ``documents`` is Cohere's / Jina's (Milvus
Lite ``cohere`` provider, Milvus ``vllm``, LangChain/LlamaIndex ``CohereRerank``): ``{"results": [...]}``.
Another shape (e.g. Weaviate's ``{query, documents, property}``) is one more entry, placed before the
shapes it would otherwise match.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import ApiError
from ..family import RouteFamily
from . import cohere, tei

__all__ = ["FAMILY", "SHAPES", "RerankShape"]


@dataclass(frozen=True)
class RerankShape:
    name: str
    matches: Callable[[dict], bool]
    handle: Callable[[Request, dict], Awaitable[Response]]
    #: key of errors.ERROR_STYLES for this shape's answers
    error_style: str


SHAPES: tuple[RerankShape, ...] = (
    RerankShape("tei", lambda body: "texts" in body, tei.rerank_texts, "tei"),
    RerankShape("cohere", lambda body: "documents" in body, cohere.rerank_documents, "openai"),
)

router = APIRouter(tags=["Rerank"])

_BODY = {"required": True, "content": {"application/json": {"schema": {"oneOf": [
    {**tei.RerankRequest.model_json_schema(), "title": "TEI rerank (body with texts)"},
    {**cohere.RerankRequest.model_json_schema(), "title": "Cohere/Jina rerank (body with documents)"},
]}}}}


@router.post("/rerank", openapi_extra={"requestBody": _BODY})
@router.post("/v1/rerank", openapi_extra={"requestBody": _BODY})
@router.post("/v2/rerank", openapi_extra={"requestBody": _BODY})
async def rerank(request: Request) -> Response:
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "the request needs a JSON body", code="empty")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(422, "the body must be a JSON object", code="invalid_input", param="body")
    for shape in SHAPES:
        if shape.matches(body):
            request.state.error_style = shape.error_style
            return await shape.handle(request, body)
    raise ApiError(422, "a rerank body needs 'query' and 'texts' (TEI) or 'documents' (Cohere/Jina)",
                   code="invalid_input", param="documents")


# errors before the shape is known: by path (TEI-style at the root, OpenAI-style under /v1 and /v2)
FAMILY = RouteFamily("rerank", router, error_style=None)
