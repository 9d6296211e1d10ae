"""The registry of optional dependencies: every lazy import names the extra that provides it."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["OPTIONAL_DEPENDENCIES", "require"]

#: import name -> (pip distribution, extra of qwen3vl-integrations that installs it)
OPTIONAL_DEPENDENCIES: dict[str, tuple[str, str]] = {
    "langchain_core": ("langchain-core", "langchain"),
    "langchain_classic": ("langchain-classic", "langchain"),
    "langchain_milvus": ("langchain-milvus", "langchain"),
    "llama_index.core": ("llama-index-core", "llamaindex"),
    "llama_index.vector_stores.milvus": ("llama-index-vector-stores-milvus", "llamaindex"),
    "pymilvus": ("pymilvus", "milvus"),
    "milvus_lite": ("milvus-lite", "milvus"),
    "pypdfium2": ("pypdfium2", "milvus"),
    "chromadb": ("chromadb", "chroma"),
    "lancedb": ("lancedb", "lancedb"),
    "haystack": ("haystack-ai", "haystack"),
    "weaviate": ("weaviate-client", "weaviate"),
    "fastapi": ("fastapi", "server"),
    "uvicorn": ("uvicorn", "server"),
    "prometheus_client": ("prometheus-client", "server"),
    "ray": ("ray[data]", "ray"),
    "pyarrow": ("pyarrow", "ray"),
    "pymilvus.bulk_writer": ("pymilvus[bulk_writer]", "ray-bulk"),
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if module not in OPTIONAL_DEPENDENCIES:
            raise
        dist, extra = OPTIONAL_DEPENDENCIES[module]
        raise ImportError(
            f"{dist} is not installed; pip install \"qwen3vl-integrations[{extra}]\""
        ) from exc
