"""Qwen3VLWeaviate: a Weaviate collection that mirrors indexed files and folders; search and rerank it.

The Weaviate counterpart of ``milvus.MultimodalIndex``: the same ``SinkIndex`` (the ingestion
pipeline, the settings record, the reranking of stored rows), over a ``WeaviateStore``, and
``search`` returns the same ``ingest.SearchHit``s.

>>> import weaviate                                                              # doctest: +SKIP
>>> from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker           # doctest: +SKIP
>>> from qwen3vl_integrations.weaviate import Qwen3VLWeaviate                    # doctest: +SKIP
>>> from weaviate.classes.query import Filter                                    # doctest: +SKIP
>>> with Qwen3VLWeaviate(emb, uri="weaviate://localhost:8080", reranker=rr) as index:  # doctest: +SKIP
...     report = index.add(["photos/", "manual.pdf"])
...     hits = index.search("a cat on a sofa", top_k=5, filter=Filter.by_property("modality").equal("image"))
"""

from __future__ import annotations

import logging
from typing import Any

from qwen3vl_integrations.ingest import MODALITIES, SearchHit, SinkIndex

from .config import DEFAULT_COLLECTION, weaviate_module
from .store import MAX_RESULTS, WeaviateStore, row_fields

logger = logging.getLogger(__name__)

__all__ = ["Qwen3VLWeaviate", "collection_info"]


class Qwen3VLWeaviate(SinkIndex):
    """A collection of text chunks, images, PDF pages and videos, embedded by one embedder
    (``add``, ``remove``, ``search``, ``check``: ``qwen3vl_integrations.ingest.SinkIndex``).

    Give a connected ``client`` (``weaviate.connect_to_local()``...; you close it), or a ``uri``
    (``weaviate://host:8080``, ``weaviates://...``, see ``connect``) and ``api_key``: the index
    then connects and ``close`` disconnects. ``store``: a ``WeaviateStore`` you made. ``filter``
    in ``search`` is a ``weaviate.classes.query.Filter`` on the stored properties
    (``Filter.by_property("modality").equal("image")``); ``top_k`` and ``candidates`` are at most
    Weaviate's ``QUERY_MAXIMUM_RESULTS`` (10000 by default)."""

    max_results = MAX_RESULTS

    def __init__(self, embedder, client=None, *, uri: str | None = None, collection: str = DEFAULT_COLLECTION,
                 api_key: str | None = None, reranker=None, dim: int | None = None, model_name: str | None = None,
                 batch_size: int = 32, chunk_chars: int = 2000, chunk_overlap: int = 200, pdf_dpi: float = 150.0,
                 store: WeaviateStore | None = None):
        if store is None and (client is None) == (uri is None):
            raise ValueError("give a connected weaviate client or a weaviate:// uri (or a WeaviateStore)")

        def open_store() -> WeaviateStore:
            if client is not None:
                return WeaviateStore(client, collection)
            assert uri is not None
            return WeaviateStore.open(uri, collection, api_key=api_key)

        super().__init__(embedder, store or open_store, reranker=reranker, dim=dim, model_name=model_name,
                         batch_size=batch_size, chunk_chars=chunk_chars, chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi)

    store: WeaviateStore

    def _vector_hits(self, vector, limit: int, filter) -> list[SearchHit]:
        return [_hit(obj, rank) for rank, obj in enumerate(self.store.near(vector, limit, filter or None), 1)]

    def info(self) -> dict:
        """Row counts (total and per modality) and the recorded settings of the collection."""
        return collection_info(self.store)


def collection_info(store: WeaviateStore) -> dict:
    """Row counts (total and per modality) and the recorded settings of ``store``'s collection
    (the dict ``milvus.collection_info`` returns)."""
    out: dict[str, Any] = {"collection": store.name, "uri": store.uri, "exists": store.exists()}
    if not out["exists"]:
        return out
    dim, recorded = store.describe()
    modality = weaviate_module("weaviate.classes.query").Filter.by_property("modality")
    out.update(rows=store.count(), dim=dim, recorded=recorded.__dict__ if recorded else None,
               modalities={m: store.count(modality.equal(m)) for m in MODALITIES})
    return out


def _hit(obj, rank: int) -> SearchHit:
    return SearchHit(rank=rank, **row_fields(obj.properties), score=1.0 - float(obj.metadata.distance), vector_rank=rank)
