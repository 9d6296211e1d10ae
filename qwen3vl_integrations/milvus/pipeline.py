"""The ingestion loop: stream items, skip what is stored, embed the rest, write, verify.

Items are processed in chunks of ``batch_size``; only one chunk's inputs and vectors are held at
a time, so memory does not grow with the corpus. For each chunk:

1. duplicate ids inside the chunk are dropped, the last occurrence wins;
2. the ids already in the collection are read back (Strong consistency) and skipped; an item
   whose stored source path no longer exists (the file moved) has its row's fields refreshed;
3. the other items are loaded and embedded with ``errors="return"``: a failure is recorded with
   its reason and the rest go on;
4. the rows are upserted (deterministic ids: re-running adds nothing, a killed run resumes) and
   read back with Strong consistency; a row that is not there is a failure.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from qwen3vl_integrations import ItemError, Qwen3VLError

from .sources import FileItems, SourceItem, SourceProblem
from .store import MilvusStore

logger = logging.getLogger(__name__)

__all__ = ["IndexReport", "Failure", "ingest"]

MAX_LISTED = 1000


@dataclass(frozen=True)
class Failure:
    source: str
    code: str
    message: str
    page: int = 0
    offset: int = 0

    @property
    def where(self) -> str:
        page = f" (page {self.page})" if self.page else ""
        return self.source + page + (f" (chars {self.offset}+)" if self.offset else "")


@dataclass
class IndexReport:
    """What one ingestion did. ``ok`` is true when nothing failed."""

    indexed: int = 0
    unchanged: int = 0
    relocated: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: int = 0
    files: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)  # the first MAX_LISTED Failure records
    skips: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def items(self) -> int:
        return self.indexed + self.unchanged + self.relocated + self.failed

    def fail(self, failure: Failure) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append(failure)
        logger.info("failed: %s: %s: %s", failure.where, failure.code, failure.message)

    def skip(self, problem: SourceProblem) -> None:
        self.skipped += 1
        if len(self.skips) < MAX_LISTED:
            self.skips.append(Failure(problem.source, problem.code, problem.message))

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, "indexed": self.indexed, "unchanged": self.unchanged, "relocated": self.relocated,
            "duplicates": self.duplicates, "failed": self.failed, "skipped": self.skipped, "files": self.files,
            "seconds": round(self.seconds, 3),
            "failures": [f.__dict__ for f in self.failures], "skips": [s.__dict__ for s in self.skips],
        }


def ingest(stream: Iterable[FileItems | SourceProblem | SourceItem], store: MilvusStore, embedder, *, dim: int,
           batch_size: int = 32, progress=None) -> IndexReport:
    """Run the loop over ``stream`` (files' items, problems, or bare items) into ``store``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    report, started = IndexReport(), time.perf_counter()
    items = _flatten(stream, report, progress)
    while True:
        chunk = list(itertools.islice(items, batch_size))
        if not chunk:
            break
        _process_chunk(chunk, store, embedder, dim, report)
        if progress is not None:
            progress.set_postfix(new=report.indexed, unchanged=report.unchanged, failed=report.failed, refresh=False)
            progress.update(len(chunk))
    report.seconds = time.perf_counter() - started
    return report


def _flatten(stream, report: IndexReport, progress) -> Iterator[SourceItem]:
    for entry in stream:
        if isinstance(entry, SourceItem):
            yield entry
            continue
        report.files += 1
        if isinstance(entry, SourceProblem):
            if entry.failed:
                report.fail(Failure(entry.source, entry.code, entry.message))
            else:
                report.skip(entry)
            if progress is not None:
                progress.update(1)
            continue
        if progress is not None and len(entry.items) != 1:
            progress.total = (progress.total or 0) + len(entry.items) - 1
            progress.refresh()
        yield from entry.items


def _process_chunk(chunk: list[SourceItem], store: MilvusStore, embedder, dim: int, report: IndexReport) -> None:
    unique = {item.id: item for item in chunk}  # last wins
    report.duplicates += len(chunk) - len(unique)
    existing = store.fetch(list(unique), fields=("source",))
    todo, moved = [], []
    for item_id, item in unique.items():
        stored = existing.get(item_id)
        if stored is None:
            todo.append(item)
        elif stored["source"] != item.source and not os.path.exists(stored["source"]):
            moved.append(item)
        else:
            report.unchanged += 1
    if moved:
        _refresh_moved(moved, store, report)
    if not todo:
        return
    rows = _embed_rows(todo, embedder, dim, report)
    failed = store.write(rows)
    for row, reason in failed:
        item = unique[row["id"]]
        report.fail(Failure(item.source, "write_failed", reason, item.page, item.offset))
    report.indexed += len(rows) - len(failed)
    logger.info("committed %d rows (%d new so far)", len(rows) - len(failed), report.indexed)


def _embed_rows(items: list[SourceItem], embedder, dim: int, report: IndexReport) -> list[dict]:
    inputs, loaded = [], []
    for item in items:
        try:
            payload, snippet = item.load()
        except (Qwen3VLError, OSError) as exc:
            report.fail(Failure(item.source, getattr(exc, "code", "unreadable"), str(exc), item.page, item.offset))
            continue
        inputs.append(payload)
        loaded.append((item, snippet))
    if not inputs:
        return []
    vectors = embedder.embed_documents(inputs, dim=dim, errors="return")
    rows = []
    for (item, snippet), vector in zip(loaded, vectors):
        if isinstance(vector, ItemError):
            message = vector.message.split(": ", 1)[1] if vector.message.startswith("input[") else vector.message
            report.fail(Failure(item.source, vector.code, message, item.page, item.offset))
        elif not np.isfinite(vector).all() or vector.shape != (dim,):
            report.fail(Failure(item.source, "non_finite_output", "the vector is not finite or has the wrong size",
                                item.page, item.offset))
        else:
            rows.append(store_row(item, vector, snippet))
    return rows


def store_row(item: SourceItem, vector, snippet: str) -> dict:
    return MilvusStore.row(item.id, vector, item.source, item.modality, item.page, item.offset, snippet,
                           item.metadata)


def _refresh_moved(items: list[SourceItem], store: MilvusStore, report: IndexReport) -> None:
    """Rewrite the rows of moved files with their new path (vectors reused, nothing re-embedded)."""
    stored = store.fetch([item.id for item in items], fields=("vector", "snippet"))
    rows = [MilvusStore.row(i.id, stored[i.id]["vector"], i.source, i.modality, i.page, i.offset,
                            stored[i.id]["snippet"], i.metadata) for i in items if i.id in stored]
    failed = {row["id"] for row, _ in store.write(rows)}
    for item in items:
        if item.id in failed:
            report.fail(Failure(item.source, "write_failed", "could not update the moved file's row", item.page,
                                item.offset))
        else:
            report.relocated += 1
