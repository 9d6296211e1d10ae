"""Store-agnostic search pieces: the hit type, the query input, and reranking stored rows.

A sink's search returns ``SearchHit`` objects in vector order; ``rerank_hits`` rescores them with
a ``Qwen3VLReranker`` from what each row stands for: a text chunk by its stored text, an image or
video by its file, a PDF page re-rendered. A file that changed since it was indexed (its sha256
differs from the row's) or that cannot be read is not replaced by anything: the hit keeps
``rerank_score=None`` with the reason in ``rerank_error``, and sorts after the reranked hits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from qwen3vl_integrations.errors import EmptyInputError, InputError, MediaError, Qwen3VLError
from qwen3vl_integrations.media import DEFAULT_POLICY

from .pdf import render_pdf_page
from .sources import byte_cap, file_digest
from .walk import kind_of

__all__ = ["SearchHit", "query_input", "rerank_hits", "hit_document", "MAX_SEARCH_LIMIT"]

#: the most results one vector search returns (Milvus' topk ceiling)
MAX_SEARCH_LIMIT = 16384
_MODALITY_KIND = {"image": "image", "video": "video", "pdf_page": "pdf"}


@dataclass
class SearchHit:
    """One search result: the stored row, its vector score and (when reranked) its rerank score."""

    rank: int
    id: str
    source: str
    modality: str
    page: int
    offset: int
    snippet: str
    metadata: dict = field(default_factory=dict)
    score: float = 0.0  # cosine similarity of the query and item vectors
    rerank_score: float | None = None  # reranker relevance in [0, 1]; None when not reranked or failed
    vector_rank: int = 0  # rank before reranking
    rerank_error: str | None = None  # why a reranked search has no rerank_score for this hit

    def to_dict(self) -> dict:
        return asdict(self)


def query_input(query: str | None, image: Any = None, video: Any = None):
    """The model input of a search by text, image, video or a mix. EmptyInputError when there is
    nothing to search with or the text is blank."""
    if isinstance(query, str) and not query.strip():
        raise EmptyInputError("the query text is empty or blank")
    if query is None and image is None and video is None:
        raise EmptyInputError("give a text query, an image or a video to search with")
    if image is None and video is None:
        return query
    item = {"text": query, "image": image, "video": video}
    return {k: v for k, v in item.items() if v is not None}


def _check_unchanged(hit: SearchHit, policy) -> None:
    expected = hit.metadata.get("sha256")
    if not expected:
        return
    kind = _MODALITY_KIND.get(hit.modality) or kind_of(hit.source) or "image"
    try:
        actual = file_digest(hit.source, byte_cap(kind, policy))
    except (OSError, ValueError) as exc:
        raise MediaError(f"the file cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if actual != expected:
        raise MediaError("the file changed since it was indexed; run the index again")


def hit_document(hit: SearchHit, *, pdf_dpi: float, max_pixels: int, policy):
    """What the reranker reads for ``hit``: the chunk text, the page image, the image or video file.
    Raises a Qwen3VLError (never substitutes another document) when that cannot be had."""
    if hit.modality == "text":
        return hit.snippet
    _check_unchanged(hit, policy)
    if hit.modality == "pdf_page":
        image, _ = render_pdf_page(hit.source, hit.page, pdf_dpi, max_pixels)
        return {"image": image}
    if hit.modality in ("image", "video"):
        return {hit.modality: hit.source}
    raise InputError(f"unknown modality {hit.modality!r}")


def rerank_hits(reranker, query, hits: list[SearchHit], *, pdf_dpi: float, max_pixels: int, policy=None,
                instruction: str | None = None) -> list[SearchHit]:
    """``hits`` rescored by ``reranker`` and sorted by rerank score (hits without one last, in vector order)."""
    policy = policy if policy is not None else getattr(reranker, "policy", DEFAULT_POLICY)
    documents, scored = [], []
    for hit in hits:
        try:
            documents.append(hit_document(hit, pdf_dpi=pdf_dpi, max_pixels=max_pixels, policy=policy))
        except (Qwen3VLError, OSError) as exc:
            hit.rerank_score, hit.rerank_error = None, f"{getattr(exc, 'code', 'unreadable')}: {exc}"
            continue
        scored.append(hit)
    if documents:
        scores = reranker.score(query, documents, instruction=instruction, errors="return")
        for hit, score in zip(scored, scores):
            if isinstance(score, float):
                hit.rerank_score = score
            else:
                hit.rerank_score, hit.rerank_error = None, f"{score.code}: {score.message}"
    return sorted(hits, key=lambda h: (h.rerank_score is None, -(h.rerank_score or 0.0), h.vector_rank))
