"""A Weaviate collection of embedded items, the Weaviate sink of ``qwen3vl_integrations.ingest``.

``WeaviateStore`` wraps one collection of a ``weaviate.WeaviateClient``: yours (you close it), or
one it connects from a ``weaviate://`` URI (``WeaviateStore.open``; ``close`` closes it).

- **Objects.** One object per ingest row, uuid ``objects.object_uuid(row.id)``, the row's fields
  as the properties of ``config.PROPERTIES`` (the snippet in ``text``, the metadata as JSON text)
  and its vector as the self-provided named vector ``vector_name``. A re-run computes the same
  uuids: it finds the objects (``existing_ids``) and adds nothing; writing a stored uuid replaces
  the object (Weaviate's batch import is an upsert).
- **Settings record.** The collection's description holds ``IndexSettings.to_json()`` (set by
  ``create(settings)``, read by ``describe``): it travels with the schema (``GET /v1/schema``),
  needs no extra object that a search could return, and a collection without it is not ours.
  Self-provided vectors have no declared size, so ``describe`` reports the size of a stored vector
  (else the recorded one).
- **Writes** go through the client's batching (``collection.batch.fixed_size``); every object it
  reports in ``failed_objects`` comes back with Weaviate's message, and ``write`` then reads the
  ids back, so that no refused or lost object passes for written. Only an unusable Weaviate
  (unreachable, the collection gone) raises ``StoreError``.
- **Reads** are one query per ``QUERY_PAGE`` ids. ``rows_under`` asks for the sources under the
  roots with a filter, and when more rows match than one query may return (``max_results``,
  Weaviate's ``QUERY_MAXIMUM_RESULTS``) it walks the whole collection with the cursor instead
  (a cursor cannot be filtered).

HNSW (the vector index) is approximate: a search may miss a few of the nearest objects, as
Weaviate's own searches do (``SinkIndex.search`` logs a warning when fewer rows come back than
match).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from qwen3vl_integrations.errors import CollectionMismatchError, InputError, StoreError
from qwen3vl_integrations.ingest import IndexSettings, Row, StoredVector

from .config import DEFAULT_COLLECTION, DEFAULT_VECTOR, PROPERTIES, multimodal_collection, weaviate_module
from .connect import connect
from .objects import data_object, object_properties, object_uuid, vector_list

logger = logging.getLogger(__name__)

__all__ = ["WeaviateStore", "ROW_PROPERTIES", "QUERY_PAGE", "MAX_RESULTS", "row_fields"]

#: the properties an ingest row is stored in (every one of them must exist in the collection)
ROW_PROPERTIES = [name for name in PROPERTIES if name != "image"]
QUERY_PAGE = 1000
#: Weaviate's default QUERY_MAXIMUM_RESULTS: the most objects one query may return
MAX_RESULTS = 10000


def _chunks(items: Sequence, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class WeaviateStore:
    """One collection (a ``Sink``). ``collection``: its name (Weaviate capitalises the first
    letter, as weaviate-client does). ``batch_size``: objects per batch request. ``uri``: shown in
    ``label`` and reports. ``max_results``: the server's ``QUERY_MAXIMUM_RESULTS`` (no query or
    delete call asks for more)."""

    def __init__(self, client, collection: str = DEFAULT_COLLECTION, *, vector_name: str = DEFAULT_VECTOR,
                 batch_size: int = 100, uri: str | None = None, owns_client: bool = False,
                 max_results: int = MAX_RESULTS):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not collection:
            raise ValueError("the collection name is empty")
        self.client, self.vector_name, self.batch_size = client, vector_name, batch_size
        self.name = collection[0].upper() + collection[1:]
        self.uri = uri or "weaviate"
        self.label = f"collection {self.name!r} at {uri}" if uri else f"Weaviate collection {self.name!r}"
        self.max_results = max_results
        self._page = min(QUERY_PAGE, max_results)  # ids per fetch or delete call
        self._owns_client = owns_client
        self._collection = None

    @classmethod
    def open(cls, uri: str, collection: str = DEFAULT_COLLECTION, *, api_key: str | None = None,
             **kwargs) -> WeaviateStore:
        """A store on a client connected to ``uri`` (``connect``); ``close`` closes the client."""
        return cls(connect(uri, api_key=api_key), collection, uri=uri, owns_client=True, **kwargs)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> WeaviateStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def collection(self):
        """The client's collection object (kept: its batch wrapper caches the schema lookup)."""
        if self._collection is None:
            self._collection = self.client.collections.use(self.name)
        return self._collection

    def _call(self, what: str, fn, *args, **kwargs):
        exceptions = weaviate_module("weaviate.exceptions")
        try:
            return fn(*args, **kwargs)
        except exceptions.WeaviateBaseError as exc:
            raise StoreError(f"Weaviate {what} failed on {self.label}: {exc}") from exc

    # -- schema, settings ---------------------------------------------------------------------
    def exists(self) -> bool:
        return self._call("schema lookup", self.client.collections.exists, self.name)

    def create(self, settings: IndexSettings | None = None, *, extra_vectors: Sequence[Any] = (),
               with_reranker: bool = False) -> None:
        """Create the collection unless it exists (an existing one is left as it is), recording
        ``settings`` in its description (without: a collection for your own objects, which the
        ingest pipeline refuses to write into)."""
        if self.exists():
            return
        config = multimodal_collection(self.name, vector_name=self.vector_name,
                                       description=settings.to_json() if settings is not None else None,
                                       extra_vectors=extra_vectors, with_reranker=with_reranker)
        self._call("collection creation", self.client.collections.create, **config)
        logger.info("created %s (vector %s%s)", self.label, self.vector_name,
                    f", {settings.dim}-d, model {settings.model}" if settings is not None else "")

    def describe(self) -> tuple[int, IndexSettings | None]:
        """(vector dim, recorded settings or None) of the existing collection (see the module docstring)."""
        config = self._call("schema lookup", self.collection.config.get, simple=True)
        try:
            recorded = IndexSettings.from_json(config.description or "")
        except CollectionMismatchError as exc:
            raise CollectionMismatchError(f"{self.label}: {exc}") from None
        ours = (set(ROW_PROPERTIES) <= {p.name for p in config.properties}
                and self.vector_name in (config.vector_config or {}))
        dim = self._stored_dim() if self.vector_name in (config.vector_config or {}) else 0
        return dim or (recorded.dim if recorded is not None and ours else 0), recorded if ours else None

    def _stored_dim(self) -> int:
        result = self._call("query", self.collection.query.fetch_objects, limit=1, include_vector=[self.vector_name],
                            return_properties=[])
        vectors = [obj.vector.get(self.vector_name) for obj in result.objects]
        return len(vectors[0]) if vectors and vectors[0] is not None else 0

    def ensure_index(self) -> bool:
        """Nothing to repair: Weaviate builds a named vector's index with the collection."""
        return False

    # -- reads ---------------------------------------------------------------------------------
    def count(self, filters=None) -> int:
        """Objects in the collection (that ``filters``, a ``weaviate.classes.query.Filter``, admits)."""
        result = self._call("count", self.collection.aggregate.over_all, filters=filters, total_count=True)
        return int(result.total_count or 0)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` (ingest row ids, or your objects' ``item_id``s) that is stored."""
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids)), self._page):
            by_uuid = {str(object_uuid(i)): i for i in chunk}
            result = self._call("fetch by id", self.collection.query.fetch_objects_by_ids, list(by_uuid),
                                limit=len(by_uuid), return_properties=["item_id"])
            found.update(by_uuid[str(obj.uuid)] for obj in result.objects if str(obj.uuid) in by_uuid)
        return found

    def vectors_for(self, content_ids: Sequence[str]) -> dict[str, StoredVector]:
        wq = weaviate_module("weaviate.classes.query")
        found: dict[str, StoredVector] = {}
        for chunk in _chunks(list(dict.fromkeys(content_ids)), min(100, self._page)):
            full = self._collect_vectors(wq.Filter.by_property("content_id").contains_any(chunk),
                                         min(4 * len(chunk), self.max_results), found)
            if full:  # copies of some contents may have filled the page: ask for each missing one
                for content in [c for c in chunk if c not in found]:
                    self._collect_vectors(wq.Filter.by_property("content_id").equal(content), 1, found)
        return found

    def _collect_vectors(self, filters, limit: int, found: dict[str, StoredVector]) -> bool:
        """Add the vectors of the objects ``filters`` admits to ``found``; True when ``limit`` came back."""
        result = self._call("query", self.collection.query.fetch_objects, filters=filters, limit=limit,
                            include_vector=[self.vector_name], return_properties=["content_id", "text"])
        for obj in result.objects:
            content, vector = obj.properties.get("content_id"), obj.vector.get(self.vector_name)
            if content and vector is not None and content not in found:
                found[content] = StoredVector(np.asarray(vector, dtype=np.float32), obj.properties.get("text") or "")
        return len(result.objects) == limit

    def rows_under(self, roots: Sequence[str]) -> Iterator[tuple[str, str]]:
        if not roots:
            return
        wq = weaviate_module("weaviate.classes.query")
        source = wq.Filter.by_property("source")
        filters = wq.Filter.any_of([f for root in roots for f in
                                    (source.equal(root), source.like((root if root.endswith("/") else root + "/") + "*"))])
        result = self._call("query", self.collection.query.fetch_objects, filters=filters, limit=self.max_results,
                            return_properties=["item_id", "source"])
        if len(result.objects) < self.max_results:
            objects: Any = result.objects
        else:
            logger.info("%s: more than %d rows under the paths; reading every row's source", self.label,
                        self.max_results)
            objects = self._iterate(["item_id", "source"])
        for obj in objects:
            if obj.properties.get("item_id"):
                yield obj.properties["item_id"], obj.properties.get("source", "")

    def _iterate(self, properties: list[str]) -> Iterator[Any]:
        """Every object, in uuid order, by the cursor."""
        iterator = iter(self.collection.iterator(return_properties=properties, cache_size=self._page))
        while True:
            try:
                obj = self._call("cursor read", next, iterator)
            except StopIteration:
                return
            yield obj

    def near(self, vector, limit: int, filters=None) -> list:
        """The ``limit`` objects nearest to ``vector`` (cosine distance), as the client's objects
        with the ingest row's properties and ``metadata.distance``."""
        wq = weaviate_module("weaviate.classes.query")
        result = self._call("near_vector search", self.collection.query.near_vector,
                            near_vector=vector_list(vector),
                            target_vector=self.vector_name, limit=limit, filters=filters,
                            return_metadata=wq.MetadataQuery(distance=True), return_properties=ROW_PROPERTIES)
        return list(result.objects)

    # -- writes --------------------------------------------------------------------------------
    def _row_object(self, row: Row):
        properties = object_properties(item_id=row.id, source=row.source, modality=row.modality, text=row.snippet,
                                       page=row.page, offset=row.offset, content_id=row.content_id,
                                       metadata=row.metadata)
        for name, value in properties.items():
            if isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputError(f"{name} is not valid UTF-8 text; Weaviate stores UTF-8 only") from None
        return data_object(row.id, row.vector, properties, vector_name=self.vector_name)

    def write(self, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        """Upsert ``rows`` (duplicate ids: last wins), then read the ids back. Returns ``(row,
        reason)`` for every row not stored: refused here (not UTF-8, a bad vector), by Weaviate
        (its message), or missing when read back."""
        failed: list[tuple[Row, str]] = []
        objects, by_uuid = [], {}
        for row in {row.id: row for row in rows}.values():
            try:
                obj = self._row_object(row)
            except InputError as exc:
                failed.append((row, str(exc)))
                continue
            objects.append(obj)
            by_uuid[str(obj.uuid)] = row
        failed += [(by_uuid[str(obj.uuid)], f"Weaviate refused the object: {message}")
                   for obj, message in self.write_objects(objects)]
        refused = {row.id for row, _ in failed}
        attempted = [row for row in by_uuid.values() if row.id not in refused]
        present = self.existing_ids([row.id for row in attempted])
        failed += [(row, "not found when read back after the write") for row in attempted if row.id not in present]
        return failed

    def write_objects(self, objects: Sequence[Any]) -> list[tuple[Any, str]]:
        """Write ``DataObject``s (``objects.data_object``) with the client's batching,
        ``batch_size`` per request; return the objects refused (the client's ``failed_objects``,
        and any it refused to queue), each with its message: an empty list when all were stored."""
        failed: list[tuple[Any, str]] = []
        for chunk in _chunks(list(objects), self.batch_size):
            failed += self._batch(chunk)
        if failed:
            logger.warning("Weaviate refused %d of %d objects; first: %s", len(failed), len(objects), failed[0][1])
        return failed

    def _batch(self, objects: list) -> list[tuple[Any, str]]:
        """One batch request. Its size is the number of objects: the client's batcher waits a
        second for more before it sends a smaller batch."""
        exceptions = weaviate_module("weaviate.exceptions")
        failed: list[tuple[Any, str]] = []
        collection = self.collection
        try:
            with collection.batch.fixed_size(batch_size=len(objects), concurrent_requests=1) as batch:
                for obj in objects:
                    try:
                        batch.add_object(properties=obj.properties, references=obj.references, uuid=obj.uuid,
                                         vector=obj.vector)
                    except exceptions.WeaviateBatchValidationError as exc:
                        failed.append((obj, f"the client refused the object: {exc.message}"))
        except exceptions.WeaviateBaseError as exc:
            raise StoreError(f"Weaviate batch import failed on {self.label}: {exc}") from exc
        by_uuid = {str(obj.uuid): obj for obj in objects}
        return failed + [(by_uuid[str(error.object_.uuid)], error.message) for error in collection.batch.failed_objects]

    def delete(self, ids: Sequence[str]) -> int:
        """Delete the objects of ``ids`` (unknown ids are ignored); returns how many were asked for."""
        wq = weaviate_module("weaviate.classes.query")
        for chunk in _chunks(list(ids), self._page):
            result = self._call("delete", self.collection.data.delete_many,
                                where=wq.Filter.by_id().contains_any([object_uuid(i) for i in chunk]))
            if result.failed:
                raise StoreError(f"Weaviate failed to delete {result.failed} of {result.matches} objects on "
                                 f"{self.label}")
        return len(ids)


def row_fields(properties: dict) -> dict[str, Any]:
    """The ingest row fields of a stored object's properties (what ``write`` stored)."""
    return {"id": properties.get("item_id", ""), "source": properties.get("source", ""), "modality": properties.get("modality", ""),
            "page": int(properties.get("page") or 0), "offset": int(properties.get("offset") or 0),
            "snippet": properties.get("text") or "", "metadata": json.loads(properties.get("metadata") or "{}")}
