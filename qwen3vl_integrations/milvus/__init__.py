"""Milvus adapter (extra ``milvus``): pymilvus-model-shaped functions and a multimodal index.

- ``Qwen3VLEmbeddingFunction`` / ``Qwen3VLRerankFunction``: drop-in for ``pymilvus.model``
  embedding and rerank functions, accepting images, videos and mixed items as well as strings.
- ``MultimodalIndex``: index files and folders (images, videos, PDF pages, text chunks) into a
  Milvus Lite file or a Milvus server, resumably and idempotently; search by text or image,
  optionally reranked.

pymilvus and milvus-lite are imported when a store is opened, and pymilvus-model when one of the
functions is first used, not when this package is imported.
"""

from typing import Any

from .index import DEFAULT_COLLECTION, DEFAULT_URI, MultimodalIndex, SearchHit, collection_info
from .pipeline import Failure, IndexReport, ingest
from .settings import CollectionMismatchError, IndexSettings
from .sources import SourceItem, chunk_text, expand_file, iter_files
from .store import MilvusStore, StoreError

__all__ = [
    "Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult", "MultimodalIndex", "SearchHit",
    "collection_info",
    "IndexReport", "Failure", "ingest", "IndexSettings", "CollectionMismatchError", "MilvusStore", "StoreError",
    "SourceItem", "chunk_text", "expand_file", "iter_files", "DEFAULT_URI", "DEFAULT_COLLECTION",
]

_FUNCTIONS = ("Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult")


def __getattr__(name: str) -> Any:
    """The pymilvus-model functions (``functions.py``), imported on first use."""
    if name in _FUNCTIONS:
        from . import functions

        return getattr(functions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
