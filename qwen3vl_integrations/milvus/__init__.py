"""Milvus adapter (extra ``milvus``): pymilvus-model-shaped functions and a multimodal index.

- ``Qwen3VLEmbeddingFunction`` / ``Qwen3VLRerankFunction``: drop-in for ``pymilvus.model``
  embedding and rerank functions, accepting images, videos and mixed items as well as strings.
- ``MilvusStore``: one collection, the Milvus sink of ``qwen3vl_integrations.ingest``.
- ``MultimodalIndex``: a collection that mirrors indexed files and folders (images, videos, PDF
  pages, text chunks), on a Milvus Lite file or a Milvus server, synced resumably; search by text
  or image, optionally reranked.

The store-agnostic pieces (walk, sources, pipeline, settings record, report, hits) live in
``qwen3vl_integrations.ingest``; their names are re-exported here for existing imports.
pymilvus and milvus-lite are imported when a store is opened, and pymilvus-model when one of the
functions is first used, not when this package is imported.
"""

from typing import Any

from qwen3vl_integrations.ingest import (
    CollectionMismatchError,
    Failure,
    FileItems,
    IndexReport,
    IndexSettings,
    SourceItem,
    SourceProblem,
    chunk_text,
    expand_file,
    ingest,
    iter_files,
    sync,
)

from .index import DEFAULT_COLLECTION, DEFAULT_URI, MultimodalIndex, SearchHit, collection_info
from .store import MilvusStore, StoreError

__all__ = [
    "Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult", "MultimodalIndex", "SearchHit",
    "collection_info", "MilvusStore", "StoreError", "DEFAULT_URI", "DEFAULT_COLLECTION",
    # re-exported from qwen3vl_integrations.ingest
    "IndexReport", "Failure", "ingest", "sync", "IndexSettings", "CollectionMismatchError", "SourceItem",
    "SourceProblem", "FileItems", "chunk_text", "expand_file", "iter_files",
]

_FUNCTIONS = ("Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult")


def __getattr__(name: str) -> Any:
    """The pymilvus-model functions (``functions.py``), imported on first use."""
    if name in _FUNCTIONS:
        from . import functions

        return getattr(functions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
