"""Weaviate adapter (extra ``weaviate``, weaviate-client v4): Qwen3-VL vectors in Weaviate collections.

- ``config``: collection configurations as weaviate-client ``Configure`` objects: a multimodal
  collection of self-provided named vectors (``multimodal_collection``), and module-backed vectors
  whose inference modules call ``qwen3vl serve`` (``clip_vector``, ``bind_vector``,
  ``transformers_vector``, ``voyage_vector``, ``reranker``).
- ``objects``: deterministic object uuids (``object_uuid``), properties and ``DataObject``s with
  named vectors (``data_object``).
- ``WeaviateStore``: one collection, the Weaviate sink of ``qwen3vl_integrations.ingest`` (and a
  batch writer of your own ``DataObject``s, with per-object failures).
- ``Qwen3VLWeaviate``: a collection that mirrors indexed files and folders, searched by text,
  image or video and reranked: ``milvus.MultimodalIndex`` on Weaviate, returning the same
  ``SearchHit``s. ``collection_info``: its counts and recorded settings.
- ``connect`` / ``is_weaviate_uri``: ``weaviate://host:8080`` and ``weaviates://`` URIs.
- ``search``: embed a query, ``near_vector`` and rerank on a collection of your own objects,
  returning the client's objects.

weaviate-client is imported when a helper runs, not when this package is imported. See
docs/weaviate.md for the module hook (Weaviate calling the server) and this client-side hook.
"""

from .config import *  # noqa: F403
from .config import __all__ as _config_all
from .connect import connect, is_weaviate_uri
from .index import Qwen3VLWeaviate, collection_info
from .objects import *  # noqa: F403
from .objects import __all__ as _objects_all
from .search import search
from .store import WeaviateStore

__all__ = [*_config_all, *_objects_all, "search", "WeaviateStore", "Qwen3VLWeaviate", "collection_info", "connect",
           "is_weaviate_uri"]
