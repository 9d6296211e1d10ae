"""A Milvus collection of multimodal items: connection, schema, verified writes, search.

Milvus Lite (a local ``*.db`` path, the default ``./qwen3vl.db``) and Milvus servers or Zilliz
Cloud (``http(s)://`` URI plus token) go through the same ``MilvusClient`` calls. Milvus Lite
allows one process per database: a database locked by another process raises
``StoreLockedError`` (retryable) before anything is touched.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Iterable

from qwen3vl_integrations import StoreError, StoreLockedError, optional_import

from .settings import PROPERTY_KEY, IndexSettings

logger = logging.getLogger(__name__)

__all__ = ["MilvusStore", "StoreError", "is_lite_uri", "OUTPUT_FIELDS"]

ID_MAX, SOURCE_MAX, MODALITY_MAX, SNIPPET_MAX = 64, 4096, 16, 16384
OUTPUT_FIELDS = ["source", "modality", "page", "offset", "snippet", "metadata"]
_LITE_REFS: dict[str, int] = {}  # Milvus Lite databases opened by stores of this process -> open stores
_TRANSIENT_MARKERS = ("unavailable", "connection refused", "deadline exceeded", "connection reset", "fail connecting",
                      "temporarily", "timed out", "too many requests", "rate limit")


def is_lite_uri(uri: str) -> bool:
    return "://" not in uri and uri.endswith(".db")


def _truncate_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


class MilvusStore:
    """One collection; every read that decides what to write uses Strong consistency."""

    def __init__(self, uri: str = "./qwen3vl.db", collection: str = "qwen3vl", token: str | None = None, *,
                 retries: int = 5, backoff: float = 0.5, timeout: float | None = None):
        self.uri, self.collection, self.retries, self.backoff = uri, collection, retries, backoff
        self._release_lite: str | None = None
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
        path, self._release_lite = self._release_lite, None
        if path is None:
            return
        _LITE_REFS[path] -= 1
        if _LITE_REFS[path] == 0:
            del _LITE_REFS[path]
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema and settings ------------------------------------------------------------------
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
        if not {"id", "vector", *OUTPUT_FIELDS} <= names:
            return dim, None
        recorded = IndexSettings.from_json((info.get("properties") or {}).get(PROPERTY_KEY, ""))
        return dim, recorded or IndexSettings.from_json(info.get("description", ""))

    def create(self, settings: IndexSettings) -> None:
        """Create the collection (COSINE index on normalised vectors), settings recorded."""
        pymilvus = optional_import("pymilvus")
        DataType = pymilvus.DataType
        schema = pymilvus.MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                                     description=settings.to_json())
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=settings.dim)
        schema.add_field("source", DataType.VARCHAR, max_length=SOURCE_MAX)
        schema.add_field("modality", DataType.VARCHAR, max_length=MODALITY_MAX)
        schema.add_field("page", DataType.INT64)
        schema.add_field("offset", DataType.INT64)
        schema.add_field("snippet", DataType.VARCHAR, max_length=SNIPPET_MAX)
        schema.add_field("metadata", DataType.JSON)
        self._call(lambda: self.client.create_collection(
            self.collection, schema=schema, consistency_level="Strong", properties={PROPERTY_KEY: settings.to_json()}))
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        # sync=False: pymilvus' wait for the build calls AllocTimestamp, which Milvus Lite lacks
        self._call(lambda: self.client.create_index(self.collection, index, sync=False))
        self._call(lambda: self.client.load_collection(self.collection))
        logger.info("created collection %r (%d-d, model %s)", self.collection, settings.dim, settings.model)

    # -- reads ---------------------------------------------------------------------------------
    def count(self, filter: str = "") -> int:
        rows = self._call(lambda: self.client.query(self.collection, filter=filter, output_fields=["count(*)"],
                                                    consistency_level="Strong"))
        return int(rows[0]["count(*)"]) if rows else 0

    def fetch(self, ids: list[str], fields: Iterable[str] = ("source",)) -> dict[str, dict]:
        """Rows of ``ids`` that exist (Strong consistency), keyed by id."""
        if not ids:
            return {}
        expr = "id in [" + ", ".join(f'"{i}"' for i in ids) + "]"
        rows = self._call(lambda: self.client.query(self.collection, filter=expr, output_fields=["id", *fields],
                                                    consistency_level="Strong"))
        return {row["id"]: row for row in rows}

    def search(self, vector, limit: int, filter: str = "") -> list[dict]:
        hits = self._call(lambda: self.client.search(
            self.collection, data=[[float(x) for x in vector]], limit=limit, filter=filter,
            output_fields=OUTPUT_FIELDS, search_params={"metric_type": "COSINE"}, consistency_level="Strong"))
        return list(hits[0]) if hits else []

    # -- writes --------------------------------------------------------------------------------
    @staticmethod
    def row(item_id: str, vector, source: str, modality: str, page: int, offset: int, snippet: str,
            metadata: dict) -> dict:
        return {"id": item_id, "vector": [float(x) for x in vector], "source": _truncate_bytes(source, SOURCE_MAX),
                "modality": modality, "page": int(page), "offset": int(offset),
                "snippet": _truncate_bytes(snippet, SNIPPET_MAX), "metadata": metadata}

    def write(self, rows: list[dict]) -> list[tuple[dict, str]]:
        """Upsert ``rows`` (duplicate ids: last wins), bisecting around rows Milvus refuses, then
        verify with a Strong read. Returns ``(row, reason)`` for every row not stored."""
        unique = list({row["id"]: row for row in rows}.values())
        failed = self._upsert_bisecting(unique)
        bad = {id(row) for row, _ in failed}
        attempted = [row for row in unique if id(row) not in bad]
        present = self.fetch([row["id"] for row in attempted], fields=())
        failed += [(row, "not found when read back after the write") for row in attempted if row["id"] not in present]
        return failed

    def _upsert_bisecting(self, rows: list[dict]) -> list[tuple[dict, str]]:
        if not rows:
            return []
        pymilvus = optional_import("pymilvus")
        try:
            self._call(lambda: self.client.upsert(self.collection, rows))
            return []
        except pymilvus.exceptions.MilvusException as exc:
            if _is_disk_full(exc):
                raise StoreError(f"no space left on the device holding {self.uri}; free space and run again "
                                 "(rows written so far are kept and will not be redone)") from None
            if len(rows) == 1:
                return [(rows[0], f"Milvus refused the row: {exc.message}")]
        half = len(rows) // 2
        return self._upsert_bisecting(rows[:half]) + self._upsert_bisecting(rows[half:])

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
