"""A Milvus collection of multimodal items, the Milvus sink of ``qwen3vl_integrations.ingest``.

Milvus Lite (a local ``*.db`` path, the default ``./qwen3vl.db``) and Milvus servers or Zilliz
Cloud (``http(s)://`` URI plus token) go through the same ``MilvusClient`` calls. Milvus Lite
allows one process per database: a database locked by another process raises
``StoreLockedError`` (retryable) before anything is touched.

Vector index: ``FLAT`` (exact) on Milvus Lite, ``AUTOINDEX`` on servers. Measured on Milvus Lite
3.2 with ``benchmarks/bench_search_completeness.py`` (300 rows, reopened): its HNSW (what
AUTOINDEX becomes there) returned 290-293 of top-300 and 3-5 of the 5 rows a filter matches;
``ef = limit`` made the filtered search worse (1-2 of 5), and only ``ef`` >= the row count (a full
scan by another name) was complete. ``FLAT`` returned every row asked for, in exact order. A
search that returns fewer rows than match is logged as a warning (``MultimodalIndex.search``).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.errors import CollectionMismatchError, StoreError, StoreLockedError
from qwen3vl_integrations.ingest import ROW_FIELDS, SETTINGS_KEY, IndexSettings, Row, StoredVector

logger = logging.getLogger(__name__)

__all__ = ["MilvusStore", "StoreError", "is_lite_uri", "OUTPUT_FIELDS", "string_literal"]

ID_MAX, SOURCE_MAX, MODALITY_MAX, SNIPPET_MAX = 64, 4096, 16, 16384
OUTPUT_FIELDS = list(ROW_FIELDS)
_LITE_REFS: dict[str, int] = {}  # Milvus Lite databases opened by stores of this process -> open stores
_LITE_LOCK = threading.Lock()  # guards _LITE_REFS and the start/release of Lite servers
_TRANSIENT_MARKERS = ("unavailable", "connection refused", "deadline exceeded", "connection reset", "fail connecting",
                      "temporarily", "timed out", "too many requests", "rate limit")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_lite_uri(uri: str) -> bool:
    return "://" not in uri and uri.endswith(".db")


def string_literal(text: str) -> str:
    """``text`` as a string literal of a Milvus filter expression."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


def _under_filter(root: str) -> str:
    """Rows whose source is ``root`` or starts with ``root/`` (a string range: no LIKE wildcards)."""
    prefix = root if root.endswith("/") else root + "/"
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (f"(source == {string_literal(root)} or (source >= {string_literal(prefix)} "
            f"and source < {string_literal(upper)}))")


def _in_filter(field: str, values: Iterable[str]) -> str:
    return f"{field} in [" + ", ".join(string_literal(v) for v in values) + "]"


class MilvusStore:
    """One collection (a ``Sink``); every read that decides what to write uses Strong consistency.

    ``create=False``: a Milvus Lite database that does not exist raises StoreError instead of
    being created (for commands that only read)."""

    def __init__(self, uri: str = "./qwen3vl.db", collection: str = "qwen3vl", token: str | None = None, *,
                 retries: int = 5, backoff: float = 0.5, timeout: float | None = None, create: bool = True):
        self.uri, self.collection, self.retries, self.backoff = uri, collection, retries, backoff
        self.label = f"collection {collection!r} in {uri}"
        self._release_lite: str | None = None
        if not create and is_lite_uri(uri) and not os.path.exists(uri):
            raise StoreError(f"there is no Milvus Lite database at {uri}; run `qwen3vl index PATH --db {uri}` first")
        self.client = self._connect(uri, token, timeout)

    # -- connection -------------------------------------------------------------------------
    def _connect(self, uri: str, token: str | None, timeout: float | None):
        pymilvus = optional_import("pymilvus")
        if not is_lite_uri(uri):
            try:
                return pymilvus.MilvusClient(uri=uri, token=token or "", timeout=timeout)
            except pymilvus.exceptions.MilvusException as exc:
                raise StoreError(f"cannot connect to Milvus at {uri}: {exc.message}") from None
        optional_import("milvus_lite")
        path = os.path.abspath(uri)
        with _LITE_LOCK:
            started_here = not _lite_server_running(path)
            if started_here:
                _check_lite_lock(path)
            try:
                client = pymilvus.MilvusClient(uri=uri)
            except pymilvus.exceptions.MilvusException as exc:
                _check_lite_lock(path)  # another process won a race for a new database
                raise StoreError(f"cannot open the Milvus Lite database {uri}: {exc.message}") from None
            if started_here or path in _LITE_REFS:
                _LITE_REFS[path] = _LITE_REFS.get(path, 0) + 1
                self._release_lite = path
        return client

    def close(self) -> None:
        """Close the client. The last store of this process on a Milvus Lite database that a store
        opened releases it (unlocks it for other processes)."""
        self.client.close()
        with _LITE_LOCK:
            path, self._release_lite = self._release_lite, None
            if path is None:
                return
            _LITE_REFS[path] -= 1
            if _LITE_REFS[path] > 0:
                return
            del _LITE_REFS[path]
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema, settings, index ---------------------------------------------------------------
    def exists(self) -> bool:
        return self._call(lambda: self.client.has_collection(self.collection))

    def ensure_loaded(self) -> None:
        """Load the collection for search when the server has it released (no-op when loaded)."""
        state = self._call(lambda: self.client.get_load_state(self.collection))
        if str(state.get("state", "")) != "Loaded":
            self._call(lambda: self.client.load_collection(self.collection))

    def describe(self) -> tuple[int, IndexSettings | None]:
        """(vector dim, recorded settings or None) of the existing collection."""
        info = self._call(lambda: self.client.describe_collection(self.collection))
        dim = next((int(f["params"]["dim"]) for f in info["fields"] if f["name"] == "vector"), -1)
        names = {f["name"] for f in info["fields"]}
        try:
            recorded = IndexSettings.from_json((info.get("properties") or {}).get(SETTINGS_KEY, ""))
            recorded = recorded or IndexSettings.from_json(info.get("description", ""))
        except CollectionMismatchError as exc:
            raise CollectionMismatchError(f"{self.label}: {exc}") from None
        return dim, recorded if {"id", "vector", *OUTPUT_FIELDS} <= names else None

    def _vector_index_params(self):
        index = self.client.prepare_index_params()
        kind = "FLAT" if is_lite_uri(self.uri) else "AUTOINDEX"
        index.add_index("vector", index_type=kind, metric_type="COSINE")
        return index

    def create(self, settings: IndexSettings) -> None:
        """Create the collection (settings recorded), its vector index (see the module docstring)
        and scalar indexes on ``content_id`` and ``source``."""
        DataType = optional_import("pymilvus").DataType
        schema = optional_import("pymilvus").MilvusClient.create_schema(
            auto_id=False, enable_dynamic_field=False, description=settings.to_json())
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=settings.dim)
        schema.add_field("content_id", DataType.VARCHAR, max_length=ID_MAX)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX)
        schema.add_field("modality", DataType.VARCHAR, max_length=MODALITY_MAX)
        schema.add_field("page", DataType.INT64)
        schema.add_field("offset", DataType.INT64)
        schema.add_field("snippet", DataType.VARCHAR, max_length=SNIPPET_MAX)
        schema.add_field("metadata", DataType.JSON)
        self._call(lambda: self.client.create_collection(
            self.collection, schema=schema, consistency_level="Strong", properties={SETTINGS_KEY: settings.to_json()}))
        index = self._vector_index_params()
        index.add_index("content_id", index_type="INVERTED")
        index.add_index("source", index_type="INVERTED")
        # sync=False: pymilvus' wait for the build calls AllocTimestamp, which Milvus Lite lacks. A run killed
        # before this line leaves a collection without a vector index: ensure_index() repairs it.
        self._call(lambda: self.client.create_index(self.collection, index, sync=False))
        self.ensure_loaded()
        logger.info("created %s (%d-d, model %s)", self.label, settings.dim, settings.model)

    def ensure_index(self) -> bool:
        """Create the vector index when it is missing, then load the collection; True when repaired."""
        if self._call(lambda: self.client.list_indexes(self.collection, field_name="vector")):
            self.ensure_loaded()
            return False
        self._call(lambda: self.client.create_index(self.collection, self._vector_index_params(), sync=False))
        self.ensure_loaded()
        return True

    # -- reads ---------------------------------------------------------------------------------
    def _query(self, expr: str, fields: Sequence[str], limit: int | None = None) -> list[dict]:
        extra = {"limit": limit} if limit is not None else {}
        return self._call(lambda: self.client.query(self.collection, filter=expr, output_fields=list(fields),
                                                    consistency_level="Strong", **extra))

    def count(self, filter: str = "") -> int:
        rows = self._query(filter, ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def fetch(self, ids: Sequence[str], fields: Iterable[str] = ("source",)) -> dict[str, dict]:
        """Rows of ``ids`` that exist (Strong consistency), keyed by id."""
        if not ids:
            return {}
        return {row["id"]: row for row in self._query(_in_filter("id", ids), ["id", *fields])}

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return set(self.fetch(ids, fields=()))

    def vectors_for(self, content_ids: Sequence[str]) -> dict[str, StoredVector]:
        if not content_ids:
            return {}
        rows = self._query(_in_filter("content_id", content_ids), ["content_id", "vector", "snippet"], limit=16384)
        return {row["content_id"]: StoredVector(np.asarray(row["vector"], dtype=np.float32), row["snippet"])
                for row in rows}

    def rows_under(self, roots: Sequence[str]) -> Iterator[tuple[str, str]]:
        if not roots:
            return
        expr = " or ".join(_under_filter(root) for root in roots)
        iterator = self._call(lambda: self.client.query_iterator(
            self.collection, batch_size=1000, filter=expr, output_fields=["id", "source"], consistency_level="Strong"))
        try:
            while True:
                batch = self._call(iterator.next)
                if not batch:
                    return
                for row in batch:
                    yield row["id"], row["source"]
        finally:
            iterator.close()

    def search(self, vector, limit: int, filter: str = "") -> list[dict]:
        hits = self._call(lambda: self.client.search(
            self.collection, data=[[float(x) for x in vector]], limit=limit, filter=filter,
            output_fields=OUTPUT_FIELDS, search_params={"metric_type": "COSINE"}, consistency_level="Strong"))
        return list(hits[0]) if hits else []

    # -- writes --------------------------------------------------------------------------------
    @staticmethod
    def _entity(row: Row) -> dict:
        return {"id": row.id, "vector": [float(x) for x in row.vector], "content_id": row.content_id,
                "source": row.source, "modality": row.modality, "page": int(row.page), "offset": int(row.offset),
                "snippet": row.snippet, "metadata": row.metadata}

    @staticmethod
    def _refusal(row: Row) -> str | None:
        for name, value, limit in (("id", row.id, ID_MAX), ("content_id", row.content_id, ID_MAX),
                                   ("source", row.source, SOURCE_MAX), ("modality", row.modality, MODALITY_MAX),
                                   ("snippet", row.snippet, SNIPPET_MAX)):
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > limit:
                return f"{name} is {size} bytes, over the collection's {limit}-byte field"
        return None

    def write(self, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        """Upsert ``rows`` (duplicate ids: last wins), bisecting around rows Milvus refuses, then
        verify with a Strong read. Returns ``(row, reason)`` for every row not stored."""
        unique = list({row.id: row for row in rows}.values())
        failed, good = [], []
        for row in unique:
            reason = self._refusal(row)
            if reason:
                failed.append((row, reason))
            else:
                good.append(row)
        failed += self._upsert_bisecting(good)
        bad = {row.id for row, _ in failed}
        attempted = [row for row in good if row.id not in bad]
        present = self.existing_ids([row.id for row in attempted])
        failed += [(row, "not found when read back after the write") for row in attempted if row.id not in present]
        return failed

    def _upsert_bisecting(self, rows: list[Row]) -> list[tuple[Row, str]]:
        if not rows:
            return []
        pymilvus = optional_import("pymilvus")
        try:
            entities = [self._entity(row) for row in rows]
            self._call(lambda: self.client.upsert(self.collection, entities))
            return []
        except (pymilvus.exceptions.MilvusException, ValueError, TypeError) as exc:
            if _is_disk_full(exc):
                raise StoreError(f"no space left on the device holding {self.uri}; free space and run again "
                                 "(rows written so far are kept and will not be redone)") from None
            if len(rows) == 1:
                return [(rows[0], f"Milvus refused the row: {getattr(exc, 'message', exc)}")]
        half = len(rows) // 2
        return self._upsert_bisecting(rows[:half]) + self._upsert_bisecting(rows[half:])

    def delete(self, ids: Sequence[str]) -> int:
        if ids:
            self._call(lambda: self.client.delete(self.collection, ids=list(ids)))
        return len(ids)

    def _call(self, fn: Callable):
        """Run one Milvus call, retrying transient failures (server down or restarting) with backoff."""
        pymilvus = optional_import("pymilvus")
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except pymilvus.exceptions.MilvusException as exc:
                if attempt == self.retries or not _is_transient(exc):
                    raise
                logger.warning("Milvus call failed (%s); retry %d/%d in %.1f s", exc.message, attempt + 1,
                               self.retries, delay)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise StoreError(f"no space left on the device holding {self.uri}") from None
                raise
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")


def _is_transient(exc) -> bool:
    if type(exc).__name__ in ("MilvusUnavailableException", "ConnectionNotExistException", "ConnectError"):
        return True
    message = str(getattr(exc, "message", exc)).lower()
    return any(marker in message for marker in _TRANSIENT_MARKERS)


def _is_disk_full(exc) -> bool:
    message = str(getattr(exc, "message", exc)).lower()
    return "no space left" in message or "disk quota" in message


def _lite_server_running(path: str) -> bool:
    """True when this process already serves the Milvus Lite database at ``path``."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return False
    return path in getattr(server_manager_instance, "_servers", {})


def _check_lite_lock(path: str) -> None:
    """Raise StoreLockedError when another process holds the Milvus Lite lock of ``path``."""
    lock = os.path.join(path, "LOCK")
    if not os.path.isfile(lock):
        return
    try:
        import fcntl
    except ImportError:  # Windows: let Milvus Lite report it
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        raise StoreLockedError(
            f"the Milvus Lite database {path} is in use by another process (Milvus Lite allows one process per "
            "database); retry when that process has finished, or use a Milvus server URI for concurrent access"
        ) from None
    finally:
        os.close(fd)
