"""The bulk path for very large loads into a Milvus server (extra ``ray-bulk``): the writer actors
put the rows into Parquet files in object storage with pymilvus' ``RemoteBulkWriter``, and the
driver imports them with ``bulk_import`` once the stream is done, waits for the import job, and
reads the ids back before ``SyncRun.commit`` accounts them.

>>> writer = MilvusBulkImport("http://milvus:19530", "qwen3vl", remote_path="qwen3vl-bulk",   # doctest: +SKIP
...                           s3={"endpoint": "minio:9000", "access_key": "...", "secret_key": "...",
...                               "bucket_name": "a-bucket"})
>>> report = sync_on_ray(paths, store, model, settings=..., options=..., writer=writer)     # doctest: +SKIP

What changes against upserts (:class:`~.write.MilvusUpserts`): rows become visible only when the
import job has finished, so the driver holds the job's results (ids, sources, places: no vectors)
until then; ``bulk_import`` inserts, so it is for items the plan found missing (what a sync sends
anyway) into a collection no other job writes at the same time. The bucket must be the one the
Milvus server reads (its ``minio.bucketName``). Rows the collection's fields refuse (a source over
4096 bytes...) are reported failed before any file is written, as ``MilvusStore.write`` does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.errors import StoreError
from qwen3vl_integrations.ingest import Row

logger = logging.getLogger(__name__)

__all__ = ["MilvusBulkImport", "BulkFiles", "wait_for_import"]

_DONE, _FAILED = "Completed", "Failed"


class BulkFiles:
    """A writer actor's sink of the bulk path: each ``write`` appends the rows to a pymilvus bulk
    writer (``RemoteBulkWriter``, or ``LocalBulkWriter`` for files on a shared disk) and commits
    them into files; :meth:`take_files` hands over the file groups written since the last call."""

    def __init__(self, writer):
        self.writer = writer
        self._taken = 0

    def write(self, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        from qwen3vl_integrations.milvus import MilvusStore

        refused = []
        for row in rows:
            reason = MilvusStore._refusal(row)
            if reason:
                refused.append((row, reason))
            else:
                self.writer.append_row(MilvusStore._entity(row))
        if len(refused) < len(rows):
            self.writer.commit()
        return refused

    def take_files(self) -> list[list[str]]:
        files = [list(group) for group in self.writer.batch_files[self._taken:]]
        self._taken += len(files)
        return files


@dataclass(frozen=True)
class MilvusBulkImport:
    """Bulk files in S3-compatible storage (``s3``: ``RemoteBulkWriter.S3ConnectParam`` arguments:
    ``endpoint``, ``access_key``, ``secret_key``, ``bucket_name``, ``secure``...) under
    ``remote_path``, imported into ``collection`` of the Milvus server at ``uri`` (its RESTful
    port, ``http://host:19530``; ``token``: ``user:password`` or an API key)."""

    uri: str
    collection: str
    remote_path: str
    s3: dict = field(default_factory=dict)
    token: str | None = None
    chunk_size: int = 512 * 1024 * 1024
    timeout: float = 6 * 3600.0
    #: rows per write (one Parquet file group per writer call)
    batch_rows: int = 8192
    #: rows become visible only after :meth:`finish` (``sync_on_ray`` commits them after it)
    deferred: bool = True

    def open(self) -> BulkFiles:
        """The writer actor's side: a ``RemoteBulkWriter`` for the collection's own schema."""
        from qwen3vl_integrations.milvus import MilvusStore

        bulk = optional_import("pymilvus.bulk_writer")
        schema_class = optional_import("pymilvus").CollectionSchema
        with MilvusStore(self.uri, self.collection, self.token) as store:
            schema = schema_class.construct_from_dict(store.client.describe_collection(self.collection))
        writer = bulk.RemoteBulkWriter(schema=schema, remote_path=self.remote_path,
                                       connect_param=bulk.RemoteBulkWriter.S3ConnectParam(**self.s3),
                                       chunk_size=self.chunk_size, file_type=bulk.BulkFileType.PARQUET)
        return BulkFiles(writer)

    def finish(self, files: list[list[str]]) -> None:
        """The driver's side: import ``files`` and wait for the job (``StoreError`` if it fails)."""
        if files:
            wait_for_import(self.uri, self.collection, files, token=self.token, timeout=self.timeout)


def wait_for_import(url: str, collection: str, files: list[list[str]], *, token: str | None = None,
                    timeout: float = 6 * 3600.0, poll: float = 2.0) -> str:
    """``bulk_import`` of ``files`` into ``collection``, then poll ``get_import_progress`` until the
    job completes; returns the job id. ``StoreError`` when it fails or times out."""
    bulk = optional_import("pymilvus.bulk_writer")
    response = bulk.bulk_import(url=url, collection_name=collection, files=files, api_key=token or "")
    job = str(response.json()["data"]["jobId"])
    logger.info("bulk import job %s: %d file groups into %s", job, len(files), collection)
    deadline = time.monotonic() + timeout
    while True:
        data = bulk.get_import_progress(url=url, job_id=job, api_key=token or "").json().get("data", {})
        state = data.get("state", "")
        if state == _DONE:
            return job
        if state == _FAILED:
            raise StoreError(f"Milvus bulk import job {job} failed: {data.get('reason', 'no reason given')}")
        if time.monotonic() > deadline:
            raise StoreError(f"Milvus bulk import job {job} did not finish within {timeout:.0f} s (state {state!r})")
        time.sleep(poll)
