"""Weaviate adapter (extra ``weaviate``, weaviate-client v4): Qwen3-VL vectors in Weaviate collections.

- ``config``: collection configurations as weaviate-client ``Configure`` objects: a multimodal
  collection of self-provided named vectors (``multimodal_collection``), and module-backed vectors
  whose inference modules call ``qwen3vl serve`` (``clip_vector``, ``bind_vector``,
  ``transformers_vector``, ``voyage_vector``, ``reranker``).
- ``objects``: deterministic object uuids from content-hash ids (``object_uuid``), properties and
  ``DataObject``s with named vectors (``data_object``).
- ``WeaviateStore``: one collection: create it, find stored items, batch-write objects with
  per-item failures.
- ``search``: embed a text / image / video query, ``near_vector``, rerank with ``Qwen3VLReranker``.

weaviate-client is imported when a helper runs, not when this package is imported. See
docs/weaviate.md for the module hook (Weaviate calling the server) and this client-side hook.
"""

from .config import *  # noqa: F403
from .config import __all__ as _config_all
from .objects import *  # noqa: F403
from .objects import __all__ as _objects_all
from .search import search
from .store import WeaviateStore

__all__ = [*_config_all, *_objects_all, "search", "WeaviateStore"]
