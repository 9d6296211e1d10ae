"""TEI (text-embeddings-inference) routes at the URL root: ``POST /embed`` and ``POST /`` (Milvus' ``tei``
provider replaces the endpoint's path with ``/embed``; ``huggingface_hub.InferenceClient(base_url)``
posts to the root), and the TEI rerank body (``texts``, dispatched from routes/rerank.py).

``truncate`` false refuses over-long inputs (422), true cuts their end (``truncation_direction``
Right; Left is refused); ``prompt_name`` "query" takes the query instruction, "document"/"passage"
the document side; ``normalize`` false and ``raw_scores`` true are refused (vectors are always
L2-normalised, scores always sigmoid probabilities). ``options`` (Weaviate text2vec-huggingface) is
accepted and ignored. Milvus' only query/document signal is a prompt it prepends to every text
(``search_prompt`` / ``ingestion_prompt``): with ``query_prefix`` / ``document_prefix`` set to the same
strings, such inputs lose the prefix and get the query / document instruction instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, WithJsonSchema

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
)
from ..running import check_count, first_error, run_engine

__all__ = ["FAMILY", "EmbedRequest", "RerankRequest", "rerank_texts"]

router = APIRouter(tags=["TEI"])

_INPUTS_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
Direction = Literal["Left", "Right", "left", "right"]


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: Annotated[Any, WithJsonSchema(_INPUTS_SCHEMA)]
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    prompt_name: str | None = None
    normalize: bool = True
    dimensions: int | None = None
    encoding_format: Literal["float"] = "float"
    options: dict[str, Any] | None = None


def _truncate(truncate: bool | None, direction: str) -> bool | None:
    if truncate is not False and direction.lower() == "left":
        raise ApiError(422, "truncation_direction=Left is not supported: inputs are cut at the end (Right)",
                       code="validation", param="truncation_direction")
    return truncate


def _texts(value: Any, field: str) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list):
        raise ApiError(422, f"{field} must be a string or a list of strings", code="validation", param=field)
    for k, text in enumerate(texts):
        if not isinstance(text, str):
            what = "token ids are not supported; send text" if isinstance(text, (int, list)) else "must be a string"
            raise ApiError(422, f"{field}[{k}]: {what}", code="validation", param=f"{field}[{k}]")
    return texts


def _items(texts: list[str], settings, engine) -> list:
    """Texts that start with the configured query/document prefix lose it and get that side's instruction."""
    out: list = []
    for text in texts:
        if settings.query_prefix and text.startswith(settings.query_prefix):
            out.append({"text": text[len(settings.query_prefix):], "instruction": engine.query_instruction})
        elif settings.document_prefix and text.startswith(settings.document_prefix):
            rest = text[len(settings.document_prefix):]
            out.append({"text": rest, "instruction": engine.document_instruction} if engine.document_instruction
                       else rest)
        else:
            out.append(text)
    return out


def _side(prompt_name: str | None) -> str | None:
    if prompt_name in (None, "document", "passage"):
        return "document"
    if prompt_name == "query":
        return "query"
    raise ApiError(422, f"prompt_name must be 'query', 'document' or 'passage', got {prompt_name!r}",
                   code="validation", param="prompt_name")


@router.post("/embed")
@router.post("/")
async def embed(request: Request, body: EmbedRequest):
    state = get_state(request)
    engine = state.embedding_engine()
    if not body.normalize:
        raise ApiError(422, "normalize=false is not supported: vectors are always L2-normalised",
                       code="validation", param="normalize")
    texts = _texts(body.inputs, "inputs")
    check_count(len(texts), state.settings.max_client_batch_size, "inputs", "max_client_batch_size")
    dim = check_dimensions(body.dimensions, engine, "dimensions")
    instruction = embed_instruction(engine, None, _side(body.prompt_name))
    truncate = _truncate(body.truncate, body.truncation_direction)
    items = _items(texts, state.settings, engine)
    results = await run_engine(request, lambda: engine.submit_embed(
        items, instruction=instruction, dim=dim, truncate=truncate, timeout=request_timeout(request)))
    first_error(results, "inputs")
    return json_response([r.vector.tolist() for r in results])


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    texts: list[str]
    truncate: bool | None = None
    truncation_direction: Direction = "Right"
    raw_scores: bool = False
    return_text: bool = False


async def rerank_texts(request: Request, raw: dict):
    """``{"query", "texts", ...}`` -> ``[{"index", "score", "text"?}]`` sorted by score, every text present."""
    body = parse_body(RerankRequest, raw)
    state = get_state(request)
    engine = state.reranking_engine()
    if body.raw_scores:
        raise ApiError(422, "raw_scores=true is not supported: scores are sigmoid probabilities",
                       code="validation", param="raw_scores")
    check_count(len(body.texts), state.settings.max_rerank_documents, "texts", "max_rerank_documents")
    truncate = _truncate(body.truncate, body.truncation_direction)
    results = await run_engine(request, lambda: engine.submit_score(
        body.query, body.texts, truncate=truncate, timeout=request_timeout(request)))
    first_error(results, "texts")
    order = score_order(results)
    ranks = []
    for i in order:
        rank: dict[str, Any] = {"index": i, "score": results[i].score}
        if body.return_text:
            rank["text"] = body.texts[i]
        ranks.append(rank)
    return json_response(ranks)


FAMILY = RouteFamily("tei", router, error_style="tei")
