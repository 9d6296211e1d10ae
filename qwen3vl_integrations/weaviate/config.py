"""Collection configurations, as weaviate-client's own ``Configure`` objects.

Two ways to give a Weaviate collection Qwen3-VL vectors:

- **self-provided** (``multimodal_collection``): this package embeds; Weaviate stores the named
  vector ``DEFAULT_VECTOR`` beside the properties of ``PROPERTIES``;
- **module-backed** (``clip_vector``, ``bind_vector``, ``transformers_vector``, ``voyage_vector``,
  ``reranker``): Weaviate's own inference modules call ``qwen3vl serve`` and vectorise objects and
  queries themselves. multi2vec-clip and text2vec-transformers take a per-collection URL
  (``inferenceUrl``); multi2vec-voyageai a ``baseURL``; multi2vec-bind and reranker-transformers
  only the Weaviate-wide ``BIND_INFERENCE_API`` / ``RERANKER_INFERENCE_API`` (docs/weaviate.md).

weaviate-client is imported when a helper is called, not when this module is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from qwen3vl_integrations import optional_import

__all__ = [
    "DEFAULT_COLLECTION", "DEFAULT_VECTOR", "PROPERTIES", "multimodal_properties", "self_provided_vector",
    "multimodal_collection", "clip_vector", "bind_vector", "transformers_vector", "voyage_vector", "reranker",
]

DEFAULT_COLLECTION = "Qwen3VL"
DEFAULT_VECTOR = "qwen3vl"
#: property name -> Weaviate data type (``weaviate.classes.config.DataType`` member name)
PROPERTIES: dict[str, str] = {
    "text": "TEXT",  # a text chunk, or the text layer of a PDF page; absent on images and videos
    "image": "BLOB",  # base64 (no ``data:`` prefix) of an image or a rendered PDF page (the ingest sink stores none)
    "source": "TEXT",  # the file path or URL the item came from
    "modality": "TEXT",  # "text" | "image" | "pdf_page" | "video"
    "page": "INT",  # 1-based PDF page, 0 otherwise
    "offset": "INT",  # character offset of a text chunk, 0 otherwise
    "item_id": "TEXT",  # the id the object uuid derives from (objects.object_uuid): the ingest row id
    "content_id": "TEXT",  # the ingest content id (same content, same value), to reuse a stored vector
    "metadata": "TEXT",  # JSON of the ingest row's metadata (file, bytes, sha256, pages...)
}
#: tokenised as whole values, so that ``Filter.by_property("modality").equal("image")`` matches exactly
WHOLE_VALUE_PROPERTIES = ("source", "modality", "item_id", "content_id")
#: stored, not indexed (a JSON text is no search text)
UNINDEXED_PROPERTIES = ("metadata",)


def _origin(url: str | None) -> str | None:
    """Weaviate appends ``/vectorize`` or ``/vectors`` to the URL as a string: no trailing slash."""
    return url.rstrip("/") if url else None


def weaviate_module(name: str = "weaviate.classes.config"):
    """A weaviate-client module; the ImportError names the extra when the client is missing."""
    optional_import("weaviate")
    return importlib.import_module(name)


def _config():
    return weaviate_module()


def multimodal_properties() -> list:
    """``Property`` objects for ``PROPERTIES`` (``WHOLE_VALUE_PROPERTIES`` with ``field``
    tokenization, ``UNINDEXED_PROPERTIES`` neither filterable nor searchable)."""
    wc = _config()
    props = []
    for name, kind in PROPERTIES.items():
        index = {"index_filterable": False, "index_searchable": False} if name in UNINDEXED_PROPERTIES else {}
        props.append(wc.Property(name=name, data_type=getattr(wc.DataType, kind), **index,
                                 tokenization=wc.Tokenization.FIELD if name in WHOLE_VALUE_PROPERTIES else None))
    return props


def self_provided_vector(name: str = DEFAULT_VECTOR, *, vector_index_config=None):
    """A named vector that this package fills (no Weaviate vectoriser), cosine HNSW by default
    (Qwen3-VL vectors are L2-normalised)."""
    wc = _config()
    if vector_index_config is None:
        vector_index_config = wc.Configure.VectorIndex.hnsw(distance_metric=wc.VectorDistances.COSINE)
    return wc.Configure.Vectors.self_provided(name=name, vector_index_config=vector_index_config)


def multimodal_collection(name: str = DEFAULT_COLLECTION, *, vector_name: str = DEFAULT_VECTOR,
                          description: str | None = None, extra_vectors: Sequence[Any] = (),
                          with_reranker: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``client.collections.create(**...)``: the properties, the self-provided
    vector ``vector_name``, any ``extra_vectors`` (module-backed ones from this module), and with
    ``with_reranker`` the reranker-transformers module."""
    kwargs: dict[str, Any] = {
        "name": name,
        "properties": multimodal_properties(),
        "vector_config": [self_provided_vector(vector_name), *extra_vectors],
    }
    if description is not None:
        kwargs["description"] = description
    if with_reranker:
        kwargs["reranker_config"] = reranker()
    return kwargs


def clip_vector(inference_url: str | None, *, name: str = "clip", text_fields: Sequence[str] = ("text",),
                image_fields: Sequence[str] = ("image",)):
    """multi2vec-clip: Weaviate POSTs ``{inference_url}/vectorize`` (``CLIP_INFERENCE_API`` when
    ``None``). An object with both fields gets the mean of its text and image vectors."""
    return _config().Configure.Vectors.multi2vec_clip(name=name, inference_url=_origin(inference_url),
                                                     text_fields=list(text_fields) or None,
                                                     image_fields=list(image_fields) or None)


def bind_vector(*, name: str = "bind", text_fields: Sequence[str] = ("text",), image_fields: Sequence[str] = ("image",),
                video_fields: Sequence[str] = ()):
    """multi2vec-bind: no per-collection URL; Weaviate calls ``BIND_INFERENCE_API``. Video fields
    must be BLOB properties holding a base64 video (``PROPERTIES`` has none)."""
    return _config().Configure.Vectors.multi2vec_bind(name=name, text_fields=list(text_fields) or None,
                                                     image_fields=list(image_fields) or None,
                                                     video_fields=list(video_fields) or None)


def transformers_vector(inference_url: str | None = None, *, name: str = "text",
                        passage_inference_url: str | None = None, query_inference_url: str | None = None,
                        source_properties: Sequence[str] = ("text",), dimensions: int | None = None,
                        vectorize_collection_name: bool = False):
    """text2vec-transformers: Weaviate POSTs ``/vectors`` with ``task_type`` ``passage`` (objects)
    or ``query`` (nearText). ``dimensions`` asks the server for a Matryoshka size. The collection
    name is not prepended to the text unless ``vectorize_collection_name``."""
    if inference_url and (passage_inference_url or query_inference_url):
        raise ValueError("give inference_url, or passage_inference_url and query_inference_url, not both")
    if bool(passage_inference_url) != bool(query_inference_url):
        raise ValueError("passage_inference_url and query_inference_url go together")
    return _config().Configure.Vectors.text2vec_transformers(
        name=name, inference_url=_origin(inference_url), passage_inference_url=_origin(passage_inference_url),
        query_inference_url=_origin(query_inference_url), source_properties=list(source_properties) or None,
        dimensions=dimensions, vectorize_collection_name=vectorize_collection_name)


def voyage_vector(base_url: str, *, name: str = "voyage", model: str = "qwen3-vl",
                  text_fields: Sequence[str] = ("text",), image_fields: Sequence[str] = ("image",),
                  video_fields: Sequence[str] = ()):
    """multi2vec-voyageai pointed at the server: Weaviate POSTs ``{base_url}/multimodalembeddings``
    with ``input_type`` ``document`` (objects) or ``query`` (near* searches) and a bearer key
    (``VOYAGEAI_APIKEY`` or the ``X-VoyageAI-Api-Key`` header; any value when the server has none).

    A bare ``http://host:8000`` becomes ``http://host:8000/v1``: weaviate-client would store it as
    ``http://host:8000/`` and Weaviate would then POST ``//multimodalembeddings``."""
    base_url = base_url.rstrip("/")
    if not urlsplit(base_url).path:
        base_url += "/v1"
    return _config().Configure.Vectors.multi2vec_voyageai(
        name=name, base_url=base_url, model=model, text_fields=list(text_fields) or None,
        image_fields=list(image_fields) or None, video_fields=list(video_fields) or None)


def reranker():
    """reranker-transformers: no per-collection URL exists in Weaviate; it calls
    ``RERANKER_INFERENCE_API`` (point it at the server)."""
    return _config().Configure.Reranker.transformers()
