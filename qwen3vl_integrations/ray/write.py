"""Writing the vectors of the ingestion runner: from the driver, or from Ray workers.

Where rows are written depends on the store:

- **From the driver** (the default; Milvus Lite, which one process holds per database): the
  driver's ``SyncRun.commit`` writes each batch of results as it arrives.
- **From workers** (Milvus servers, Zilliz Cloud): a pool of writer actors upserts each batch with
  its content-hash ids, straight after the model actors. A batch written twice (an actor retried
  after a failure) is the same rows again, so the job is idempotent, and a killed job resumes from
  what is stored. The driver still accounts every row in ``SyncRun.commit``: a
  :class:`PrewrittenSink` hands it the workers' outcome for the rows they wrote, and writes only
  the rest itself (items of identical content in one batch reuse the first one's vector there).

A worker writer is any picklable object with ``open() -> sink`` (a ``write(rows)`` of the ingest
``Sink`` protocol), opened once per writer actor: :class:`MilvusUpserts` here, the bulk files of
:mod:`.bulk` (a writer with ``deferred = True`` and ``finish(files)``: its rows are visible only
after the driver calls ``finish`` with the files the actors reported). Weaviate behaves the same
way: :class:`WeaviateUpserts` (its batch import is an upsert by the uuid of the content-hash id).
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.ingest import Embedded, Failure, IndexSettings, Row, Sink, SourceItem, StoredVector

from .rows import DEFAULT_VECTOR_COLUMN, ERROR_CODE, ERROR_MESSAGE, ITEM, SNIPPET

logger = logging.getLogger(__name__)

__all__ = ["WorkerWriter", "MilvusUpserts", "WeaviateUpserts", "WriteStage", "PrewrittenSink", "result_of", "stored_row", "WRITE_ERROR",
           "LEADS", "FILES"]

WRITE_ERROR = "write_error"
#: JSON list of the file groups a bulk writer committed for the batch (first row of the batch)
FILES = "_qwen3vl_files"
#: whether other items of the same content follow the row's item (its vector must reach the driver)
LEADS = "_qwen3vl_leads"
_NO_VECTOR = np.zeros(0, np.float32)


class WorkerWriter(Protocol):
    """What a writer actor opens once: a picklable recipe for a sink's ``write``."""

    def open(self) -> Any:
        ...


@dataclass(frozen=True)
class MilvusUpserts:
    """Upserts into a Milvus server collection from each writer actor (``MilvusStore.write``:
    bisects around refused rows and reads the ids back, Strong consistency)."""

    uri: str
    collection: str
    token: str | None = None

    def open(self):
        from qwen3vl_integrations.milvus import MilvusStore

        return MilvusStore(self.uri, self.collection, self.token)


@dataclass(frozen=True)
class WeaviateUpserts:
    """Upserts into a Weaviate collection from each writer actor (``WeaviateStore.write``: batch
    import by uuid, refused objects reported, ids read back), connected from a ``weaviate://`` URI."""

    uri: str
    collection: str
    api_key: str | None = None

    def open(self):
        from qwen3vl_integrations.weaviate import WeaviateStore

        return WeaviateStore.open(self.uri, self.collection, api_key=self.api_key)


def result_of(item: SourceItem, row: dict, dim: int, column: str = DEFAULT_VECTOR_COLUMN) -> Embedded | Failure:
    """What the embedding stages produced for ``item`` (its result row): the vector and snippet, or
    the failure with its code (the checks of ``ingest.embed_items``: finite, the collection's dim).
    A row a writer actor stored without sending its vector back (see :class:`WriteStage`) gives an
    empty vector: its row is never written again."""
    if row.get(ERROR_CODE) is not None:
        return Failure(item.source, row[ERROR_CODE], row.get(ERROR_MESSAGE) or "", item.page, item.offset)
    if row.get(column) is None and WRITE_ERROR in row:
        return Embedded(_NO_VECTOR, row.get(SNIPPET) or "")
    vector = np.asarray(row[column], dtype=np.float32)
    if vector.shape != (dim,) or not np.isfinite(vector).all():
        return Failure(item.source, "non_finite_output", "the vector is not finite or has the wrong size", item.page,
                       item.offset)
    return Embedded(vector, row.get(SNIPPET) or "")


def stored_row(item: SourceItem, result: Embedded) -> Row:
    """The row stored for ``item``."""
    return Row(item.id, item.content_id, result.vector, item.source, item.modality, int(item.page), int(item.offset),
               result.snippet, item.metadata)


class WriteStage:
    """The writer actors: write each batch's embedded rows and record the outcome per row in
    ``write_error`` (null: stored, or not written because it failed before). The vectors of rows
    that lead no other item of the same content are dropped here: the driver needs only the outcome."""

    def __init__(self, writer: WorkerWriter, dim: int, column: str = DEFAULT_VECTOR_COLUMN):
        self.sink, self.dim, self.column = writer.open(), dim, column

    def __call__(self, table):
        pa = optional_import("pyarrow")
        started = time.perf_counter()
        rows = table.select([ITEM, self.column, SNIPPET, ERROR_CODE, ERROR_MESSAGE]).to_pylist()
        items = [pickle.loads(row[ITEM]) for row in rows]
        results = [result_of(item, row, self.dim, self.column) for item, row in zip(items, rows)]
        stored = [stored_row(item, result) for item, result in zip(items, results) if isinstance(result, Embedded)]
        refused = {row.id: reason for row, reason in self.sink.write(stored)} if stored else {}
        codes = [r.code if isinstance(r, Failure) else None for r in results]
        messages = [r.message if isinstance(r, Failure) else None for r in results]
        kept = [row[self.column] if lead else None for row, lead in zip(rows, table.column(LEADS).to_pylist())]
        out = table.drop_columns([self.column, ERROR_CODE, ERROR_MESSAGE])
        out = out.append_column(self.column, pa.array(kept, table.schema.field(self.column).type))
        out = out.append_column(ERROR_CODE, pa.array(codes, pa.string()))
        out = out.append_column(ERROR_MESSAGE, pa.array(messages, pa.string()))
        out = out.append_column(WRITE_ERROR, pa.array([refused.get(item.id) for item in items], pa.string()))
        if hasattr(self.sink, "take_files"):  # a bulk writer: the files it committed go to the driver
            files = [json.dumps(self.sink.take_files())] + [None] * (len(rows) - 1)
            out = out.append_column(FILES, pa.array(files, pa.string()))
        logger.debug("wrote %d rows (%d refused) in %.3f s", len(stored), len(refused), time.perf_counter() - started)
        return out


class PrewrittenSink:
    """The driver's sink when workers write: ``SyncRun`` reads through it as through ``sink``, and
    its ``write`` reports the workers' outcome for rows they wrote (:meth:`settle`) instead of
    writing them again; other rows are written to ``sink``."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.label = sink.label
        self._outcomes: dict[str, str | None] = {}

    def settle(self, outcomes: dict[str, str | None]) -> None:
        """Rows the workers wrote (by id), with None for stored or the reason it was refused."""
        self._outcomes.update(outcomes)

    def write(self, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        mine = [row for row in rows if row.id not in self._outcomes]
        failed = self.sink.write(mine) if mine else []
        for row in rows:
            reason = self._outcomes.pop(row.id, None)  # None: stored by a worker, or written just now
            if reason is not None:
                failed.append((row, reason))
        return failed

    # -- everything else reads the real sink ------------------------------------------------------
    def exists(self) -> bool:
        return self.sink.exists()

    def describe(self) -> tuple[int, IndexSettings | None]:
        return self.sink.describe()

    def create(self, settings: IndexSettings) -> None:
        self.sink.create(settings)

    def ensure_index(self) -> bool:
        return self.sink.ensure_index()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return self.sink.existing_ids(ids)

    def vectors_for(self, content_ids: Sequence[str]) -> dict[str, StoredVector]:
        return self.sink.vectors_for(content_ids)

    def rows_under(self, roots: Sequence[str]) -> Iterator[tuple[str, str]]:
        return self.sink.rows_under(roots)

    def delete(self, ids: Sequence[str]) -> int:
        return self.sink.delete(ids)

    def count(self) -> int:
        return self.sink.count()
