"""``POST /rerank``, ``/v1/rerank``, ``/v2/rerank``: the one place that picks a rerank protocol by body shape.

:data:`SHAPES` is tried in order, the first match wins; each shape names its handler and the error-body
style of its answers. A body with ``documents`` and ``property`` is Weaviate reranker-transformers'
(``{"query", "scores": [{"document", "score"}]}`` in request order, routes/weaviate.py); a body with
``texts`` is TEI's (Milvus ``tei`` provider, pymilvus-model ``TEIRerankFunction``): ``[{"index", "score"}]``;
a body with ``documents`` is Cohere's / Jina's (Milvus Lite ``cohere`` provider, Milvus ``vllm``,
LangChain/LlamaIndex ``CohereRerank``): ``{"results": [...]}``.
Another shape is one more entry, placed before the shapes it would otherwise match. Only a ``keyless``
shape is answered to a request let through without the API key (``ServerSettings.weaviate_open_routes``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import ApiError, unauthorized
from ..family import RouteFamily, json_body_schema, read_json_object
from . import cohere, tei, weaviate

__all__ = ["FAMILY", "SHAPES", "RerankShape"]


@dataclass(frozen=True)
class RerankShape:
    name: str
    matches: Callable[[dict], bool]
    handle: Callable[[Request, dict], Awaitable[Response]]
    #: key of errors.ERROR_STYLES for this shape's answers
    error_style: str
    #: answered without the API key when weaviate_open_routes is on (the module sends no Authorization header)
    keyless: bool = False


SHAPES: tuple[RerankShape, ...] = (
    RerankShape("weaviate", lambda b: "documents" in b and "property" in b, weaviate.rerank, "weaviate", keyless=True),
    RerankShape("tei", lambda body: "texts" in body, tei.rerank_texts, "tei"),
    RerankShape("cohere", lambda body: "documents" in body, cohere.rerank_documents, "openai"),
)

router = APIRouter(tags=["Rerank"])

_BODY = json_body_schema((weaviate.RankRequest, "Weaviate reranker-transformers (documents and property)"),
                         (tei.RerankRequest, "TEI rerank (body with texts)"),
                         (cohere.RerankRequest, "Cohere/Jina rerank (body with documents)"))


@router.post("/rerank", openapi_extra=_BODY)
@router.post("/v1/rerank", openapi_extra=_BODY)
@router.post("/v2/rerank", openapi_extra=_BODY)
async def rerank(request: Request) -> Response:
    keyless = getattr(request.state, "keyless", False)
    try:
        body = await read_json_object(request)
    except ApiError:
        if keyless:
            raise unauthorized() from None
        raise
    for shape in SHAPES:
        if shape.matches(body):
            request.state.error_style = shape.error_style
            if keyless and not shape.keyless:
                raise unauthorized()
            return await shape.handle(request, body)
    if keyless:
        raise unauthorized()
    raise ApiError(422, "a rerank body needs 'query' and 'texts' (TEI) or 'documents' (Cohere/Jina)",
                   code="invalid_input", param="documents")


# errors before the shape is known: by path (TEI-style at the root, OpenAI-style under /v1 and /v2)
FAMILY = RouteFamily("rerank", router, error_style=None)
