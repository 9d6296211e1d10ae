"""A Weaviate collection of embedded items: create it, find what is there, write objects.

``WeaviateStore`` wraps one collection of a connected ``weaviate.WeaviateClient`` (the caller
connects and closes the client). It knows the objects by their content-hash ``item_id``; the
uuid is derived from it (``objects.object_uuid``), so asking "which of these items are stored?"
is one fetch by uuid, and writing an item twice overwrites one object instead of adding a copy.
Writes go through the client's batch call (``collection.data.insert_many``); each object it
refuses comes back with Weaviate's message, item by item.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qwen3vl_integrations.errors import StoreError

from .config import DEFAULT_COLLECTION, DEFAULT_VECTOR, multimodal_collection, weaviate_module
from .objects import object_uuid

logger = logging.getLogger(__name__)

__all__ = ["WeaviateStore"]


class WeaviateStore:
    """One collection (created by ``create`` from ``config.multimodal_collection``)."""

    def __init__(self, client, collection: str = DEFAULT_COLLECTION, *, vector_name: str = DEFAULT_VECTOR,
                 batch_size: int = 100):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.client, self.name, self.vector_name, self.batch_size = client, collection, vector_name, batch_size

    @property
    def collection(self):
        return self.client.collections.use(self.name)

    def _call(self, what: str, fn, *args, **kwargs):
        exceptions = weaviate_module("weaviate.exceptions")
        try:
            return fn(*args, **kwargs)
        except exceptions.WeaviateBaseError as exc:
            raise StoreError(f"Weaviate {what} failed on collection {self.name!r}: {exc}") from exc

    def exists(self) -> bool:
        return self._call("schema lookup", self.client.collections.exists, self.name)

    def create(self, *, description: str | None = None, extra_vectors: Sequence[Any] = (),
               with_reranker: bool = False) -> None:
        """Create the collection unless it exists (an existing one is left as it is)."""
        if self.exists():
            return
        config = multimodal_collection(self.name, vector_name=self.vector_name, description=description,
                                       extra_vectors=extra_vectors, with_reranker=with_reranker)
        self._call("collection creation", self.client.collections.create, **config)
        logger.info("created Weaviate collection %s (vector %s)", self.name, self.vector_name)

    def existing(self, item_ids: Sequence[str]) -> set[str]:
        """The subset of ``item_ids`` already stored (looked up by their uuids, in one query)."""
        by_uuid = {str(object_uuid(i)): i for i in item_ids}
        if not by_uuid:
            return set()
        query = self.collection.query
        result = self._call("fetch by id", query.fetch_objects_by_ids, list(by_uuid), limit=len(by_uuid),
                            return_properties=["item_id"])
        return {by_uuid[str(obj.uuid)] for obj in result.objects if str(obj.uuid) in by_uuid}

    def write(self, objects: Sequence[Any]) -> list[tuple[Any, str]]:
        """Write ``DataObject``s (``objects.data_object``) in batches of ``batch_size``; return the
        objects Weaviate refused, each with its message (an empty list when all were stored)."""
        failed: list[tuple[Any, str]] = []
        data = self.collection.data
        all_failed = weaviate_module("weaviate.exceptions").WeaviateInsertManyAllFailedError
        for start in range(0, len(objects), self.batch_size):
            chunk = list(objects[start:start + self.batch_size])
            try:
                result = self._call("batch insert", data.insert_many, chunk)
            except StoreError as exc:
                if not isinstance(exc.__cause__, all_failed):
                    raise
                # the client raises when every object of a call fails; it is still a per-item outcome
                failed.extend((obj, str(exc.__cause__)) for obj in chunk)
                continue
            failed.extend((chunk[index], error.message) for index, error in sorted(result.errors.items()))
        if failed:
            logger.warning("Weaviate refused %d of %d objects; first: %s", len(failed), len(objects), failed[0][1])
        return failed
