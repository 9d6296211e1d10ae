"""MultimodalIndex: a Milvus collection that mirrors indexed files and folders; search and rerank it.

>>> from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker           # doctest: +SKIP
>>> from qwen3vl_integrations.milvus import MultimodalIndex                       # doctest: +SKIP
>>> emb = Qwen3VLEmbedder.from_pretrained("Qwen/Qwen3-VL-Embedding-2B")          # doctest: +SKIP
>>> with MultimodalIndex(emb, "./qwen3vl.db") as index:                           # doctest: +SKIP
...     report = index.add(["photos/", "manual.pdf"])
...     hits = index.search("a cat on a sofa", top_k=5)
"""

from __future__ import annotations

import logging
from typing import Any

from qwen3vl_integrations.ingest import MODALITIES, SearchHit, SinkIndex

from .store import MilvusStore, is_lite_uri

logger = logging.getLogger(__name__)

__all__ = ["MultimodalIndex", "SearchHit", "collection_info", "DEFAULT_URI", "DEFAULT_COLLECTION"]

DEFAULT_URI = "./qwen3vl.db"
DEFAULT_COLLECTION = "qwen3vl"


class MultimodalIndex(SinkIndex):
    """A collection of text chunks, images, PDF pages and videos, embedded by one embedder
    (``add``, ``remove``, ``search``, ``check``: ``qwen3vl_integrations.ingest.SinkIndex``).

    ``uri``: a Milvus Lite file (``./qwen3vl.db``) or a Milvus server / Zilliz Cloud URI with
    ``token``. ``dim``: Matryoshka size (default the embedder's). ``model_name``: the model id
    recorded in the collection (default ``embedder.model_id``). The collection is created on
    the first write; writing into one made by another model, dim or preprocessing settings is
    refused before anything is written (``DimensionMismatchError``, ``CollectionMismatchError``).
    ``search(..., filter=)`` takes a Milvus filter expression on the stored fields
    (``modality == "image"``, ``metadata["pages"] > 2``...).
    """

    def __init__(self, embedder, uri: str = DEFAULT_URI, *, collection: str = DEFAULT_COLLECTION,
                 token: str | None = None, reranker=None, dim: int | None = None, model_name: str | None = None,
                 batch_size: int = 32, chunk_chars: int = 2000, chunk_overlap: int = 200, pdf_dpi: float = 150.0,
                 store: MilvusStore | None = None):
        super().__init__(embedder, store or (lambda: MilvusStore(uri, collection, token)), reranker=reranker, dim=dim,
                         model_name=model_name, batch_size=batch_size, chunk_chars=chunk_chars,
                         chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi)

    store: MilvusStore

    def _exclude(self) -> list[str]:
        return [self.store.uri] if is_lite_uri(self.store.uri) else []

    def _vector_hits(self, vector, limit: int, filter) -> list[SearchHit]:
        return [_hit(row, rank) for rank, row in enumerate(self.store.search(vector, limit, filter or ""), 1)]

    def info(self) -> dict:
        """Row counts (total and per modality) and the recorded settings of the collection."""
        return collection_info(self.store)


def collection_info(store: MilvusStore) -> dict:
    """Row counts (total and per modality) and the recorded settings of ``store``'s collection."""
    out: dict[str, Any] = {"collection": store.collection, "uri": store.uri, "exists": store.exists()}
    if not out["exists"]:
        return out
    dim, recorded = store.describe()
    store.ensure_index()
    out.update(rows=store.count(), dim=dim, recorded=recorded.__dict__ if recorded else None,
               modalities={m: store.count(f'modality == "{m}"') for m in MODALITIES})
    return out


def _hit(raw: dict, rank: int) -> SearchHit:
    entity = raw.get("entity", {})
    return SearchHit(rank=rank, id=str(raw["id"]), source=entity.get("source", ""), modality=entity.get("modality", ""),
                     page=int(entity.get("page", 0)), offset=int(entity.get("offset", 0)),
                     snippet=entity.get("snippet", ""), metadata=entity.get("metadata") or {},
                     score=float(raw.get("distance", 0.0)), vector_rank=rank)
