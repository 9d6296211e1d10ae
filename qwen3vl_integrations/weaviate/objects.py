"""Weaviate objects of embedded items: deterministic uuids, properties, named vectors.

An item's uuid is ``uuid5(OBJECT_NAMESPACE, item_id)``. The ingest sink (``WeaviateStore.write``)
uses the ingest row id as ``item_id``: a hash of the content bytes, the place in the file, the
settings that change the vector and the path (``ingest.sources.row_id``). The same item therefore
always maps to the same object, and a re-run finds it instead of adding a copy. ``OBJECT_NAMESPACE`` is fixed: it is
``uuid5(NAMESPACE_URL, "https://pypi.org/project/qwen3vl-integrations/#weaviate-objects")``,
written out so that it can never change by accident.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from qwen3vl_integrations.errors import InputError, UnsupportedInputError
from qwen3vl_integrations.ingest import MODALITIES

from .config import DEFAULT_VECTOR, PROPERTIES, weaviate_module

__all__ = ["OBJECT_NAMESPACE", "object_uuid", "image_blob", "object_properties", "vector_list", "data_object"]

OBJECT_NAMESPACE = uuid.UUID("b28e6634-31eb-5c56-a6e9-07327879f037")


def object_uuid(item_id: str) -> uuid.UUID:
    """The Weaviate uuid of the item ``item_id`` (the ingest sink: the row id)."""
    if not isinstance(item_id, str) or not item_id:
        raise InputError(f"item_id must be a non-empty string, got {item_id!r}")
    return uuid.uuid5(OBJECT_NAMESPACE, item_id)


def image_blob(image: Any) -> str:
    """Base64 (standard alphabet, padded, no ``data:`` prefix: what a Weaviate BLOB holds and what
    multi2vec-clip then sends) of an image file's bytes, raw bytes, or a PIL image (as PNG)."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, Path):
        data = image.read_bytes()
    elif hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        raise UnsupportedInputError(f"an image blob is made from bytes, a pathlib.Path or a PIL image, "
                                    f"got {type(image).__name__}")
    if not data:
        raise InputError("an image blob cannot be empty (Weaviate refuses an empty BLOB)")
    return base64.b64encode(data).decode("ascii")


def object_properties(*, item_id: str, source: str, modality: str, text: str | None = None,
                      image: str | None = None, page: int = 0, offset: int = 0, content_id: str | None = None,
                      metadata: dict | None = None) -> dict[str, Any]:
    """The properties of one object (``config.PROPERTIES``). A missing or blank ``text`` and a
    missing ``image`` are left out rather than stored empty: a module vectoriser would otherwise
    embed an empty string. ``metadata`` is stored as JSON text."""
    if modality not in MODALITIES:
        raise InputError(f"modality must be one of {MODALITIES}, got {modality!r}")
    props: dict[str, Any] = {"item_id": item_id, "source": source, "modality": modality, "page": int(page),
                             "offset": int(offset)}
    if text is not None and text.strip():
        props["text"] = text
    if image is not None:
        props["image"] = image
    if content_id is not None:
        props["content_id"] = content_id
    if metadata is not None:
        try:
            props["metadata"] = json.dumps(metadata, sort_keys=True, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"metadata cannot be stored as JSON ({exc})") from None
    assert set(props) <= set(PROPERTIES), set(props) - set(PROPERTIES)
    return props


def vector_list(vector: Any) -> list[float]:
    """A float vector as the ``list[float]`` weaviate-client sends (numpy arrays converted)."""
    array = np.asarray(vector)
    if array.ndim != 1 or array.size == 0:
        raise InputError(f"a vector must be one-dimensional and non-empty, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"Weaviate stores float vectors; got dtype {array.dtype} (embed with precision='float32')")
    if not np.isfinite(array).all():
        raise InputError("the vector has non-finite components")
    return array.astype(np.float32).tolist()


def data_object(item_id: str, vector: Any, properties: dict[str, Any], *, vector_name: str = DEFAULT_VECTOR):
    """A ``weaviate.classes.data.DataObject`` with its deterministic uuid and the named vector."""
    data = weaviate_module("weaviate.classes.data")
    return data.DataObject(properties=properties, uuid=object_uuid(item_id),
                           vector={vector_name: vector_list(vector)})
