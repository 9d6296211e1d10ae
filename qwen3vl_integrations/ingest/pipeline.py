"""The sync pipeline: the collection mirrors the indexed paths, resumably, without re-embedding.

``sync(paths, sink, embedder, settings=..., options=...)`` is the whole job (what ``qwen3vl
index`` and ``MultimodalIndex.add`` run). Its steps are public so that another runner (Ray)
drives the same logic with its own embedding stage:

1. ``prepare_sink(sink, settings)``: refuse an incompatible collection before any write, create a
   missing one, repair a missing vector index.
2. ``iter_files`` (walk) and ``expand_file`` (ids, no decoding), or both: ``iter_entries``.
3. ``run = SyncRun(sink, roots=paths)``; per walk entry ``items = run.note(entry)``.
4. Per batch of items: ``plan = run.plan(items)`` drops ids repeated in the batch (last wins),
   counts the stored ids as unchanged, and writes the items whose content is stored under
   another path with that stored vector (``duplicates``). ``plan.items`` (one per new content)
   need vectors: ``results = embed_items(plan.items, embedder, dim)`` (or any stage returning,
   per item, an ``Embedded`` or a ``Failure``), then ``run.commit(plan, results)`` writes them,
   and the other items of the same content with the same vector.
5. ``report = run.finish()`` deletes the stored rows under the indexed paths that this run did not
   produce (``replaced``: their file changed; ``removed``: their file is gone), except under a
   file or folder that could not be read this time (``SourceProblem.keep``).

New rows are written before stale rows are deleted, so a run killed at any point loses nothing
and the next run finishes the job. The ids of the run are held in memory (about 100 bytes per
item) to find the stale rows; inputs and vectors are held one batch at a time.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from qwen3vl_integrations.errors import ItemError, Qwen3VLError

from .report import Failure, IndexReport
from .settings import IndexSettings, check_compatible
from .sink import Row, Sink
from .sources import FileItems, SourceItem, SourceOptions, expand_file
from .walk import SourceProblem, absolute, is_under, iter_files

logger = logging.getLogger(__name__)

__all__ = ["prepare_sink", "iter_entries", "SyncRun", "Plan", "Embedded", "embed_items", "run_batches", "sync",
           "ingest", "remove_paths", "DELETE_BATCH"]

DELETE_BATCH = 1000


def prepare_sink(sink: Sink, settings: IndexSettings, *, for_write: bool = True, max_dim: int | None = None) -> bool:
    """Raise (``DimensionMismatchError``, ``CollectionMismatchError``) when ``settings``' vectors do
    not belong in ``sink``; create it when missing and ``for_write``; repair a missing vector
    index. Returns whether the collection exists now. ``for_write=False`` (searching) does not
    compare the preprocessing settings."""
    if not sink.exists():
        if not for_write:
            return False
        sink.create(settings)
        return True
    dim, recorded = sink.describe()
    check_compatible(sink.label, dim, recorded, settings, check_preprocessing=for_write, max_dim=max_dim)
    if sink.ensure_index():
        logger.warning("%s had no vector index (a run was interrupted while creating it); created it", sink.label)
    return True


def iter_entries(paths: Iterable[str | os.PathLike], settings_hash: str, options: SourceOptions, *,
                 exclude: Iterable[str | os.PathLike] = (),
                 follow_symlinks: bool = False) -> Iterator[FileItems | SourceProblem]:
    """The walk of ``paths`` with each file expanded into its items (see ``walk`` and ``sources``)."""
    for entry in iter_files(paths, exclude=exclude, follow_symlinks=follow_symlinks):
        yield entry if isinstance(entry, SourceProblem) else expand_file(entry, settings_hash, options)


@dataclass(frozen=True)
class Embedded:
    """The vector (finite, the collection's dim) and snippet computed for one item."""

    vector: np.ndarray
    snippet: str


@dataclass
class Plan:
    """What a batch needs: ``items`` to embed (one per new content), and for each of them (by id)
    the other items of the batch with the same content, written with the same vector."""

    items: list[SourceItem]
    followers: dict[str, list[SourceItem]] = field(default_factory=dict)


def _row(item: SourceItem, vector, snippet: str) -> Row:
    return Row(item.id, item.content_id, np.asarray(vector, dtype=np.float32), item.source, item.modality,
               int(item.page), int(item.offset), snippet, item.metadata)


class SyncRun:
    """The state of one run into ``sink``: the report, and what it saw, to prune stale rows.

    ``roots``: the indexed paths (rows under them that the run does not produce are deleted by
    ``finish`` when ``prune``); none (``ingest``) means nothing is deleted."""

    def __init__(self, sink: Sink, *, roots: Iterable[str | os.PathLike] = (), prune: bool = True):
        self.sink = sink
        self.roots = [absolute(r) for r in roots]
        self.prune = prune and bool(self.roots)
        self.report = IndexReport()
        self._ids: set[str] = set()  # every id of this run
        self._read: set[str] = set()  # sources whose content was read
        self._kept: set[str] = set()  # sources (files or folders) that could not be read: their rows stay
        self._started = time.perf_counter()

    def note(self, entry: FileItems | SourceProblem) -> list[SourceItem]:
        """Account one entry of the walk; returns its items (none for a problem)."""
        self.report.files += 1
        if isinstance(entry, SourceProblem):
            self.report.problem(entry)
            if entry.keep:
                self._kept.add(entry.source)
            return []
        self._read.add(entry.source)
        return list(entry.items)

    def plan(self, items: Sequence[SourceItem]) -> Plan:
        """Sort one batch into unchanged, copies of stored content (written now) and items to embed."""
        unique = {item.id: item for item in items}  # last wins
        self.report.duplicates += len(items) - len(unique)
        self._ids.update(unique)
        stored = self.sink.existing_ids(list(unique)) if unique else set()
        self.report.unchanged += len(stored)
        groups: dict[str, list[SourceItem]] = {}
        for item in unique.values():
            if item.id not in stored:
                groups.setdefault(item.content_id, []).append(item)
        reusable = self.sink.vectors_for(list(groups)) if groups else {}
        copied = [item for c in groups if c in reusable for item in groups[c]]
        copies = [_row(item, reusable[item.content_id].vector, reusable[item.content_id].snippet) for item in copied]
        self._write(copies, copied, ["duplicates"] * len(copies))
        fresh = [group for content, group in groups.items() if content not in reusable]
        return Plan([group[0] for group in fresh], {group[0].id: group[1:] for group in fresh if len(group) > 1})

    def commit(self, plan: Plan, results: Sequence[Embedded | Failure]) -> None:
        """Write the vectors ``results`` (aligned with ``plan.items``) for each item and its followers."""
        if len(results) != len(plan.items):
            raise ValueError(f"{len(results)} results for {len(plan.items)} items")
        rows, items, kinds = [], [], []
        for item, result in zip(plan.items, results):
            group = [item, *plan.followers.get(item.id, ())]
            for position, member in enumerate(group):
                if isinstance(result, Failure):
                    self.report.fail(replace(result, source=member.source, page=member.page, offset=member.offset))
                    continue
                rows.append(_row(member, result.vector, result.snippet))
                items.append(member)
                kinds.append("indexed" if position == 0 else "duplicates")
        self._write(rows, items, kinds)

    def _write(self, rows: list[Row], items: list[SourceItem], kinds: list[str]) -> None:
        if not rows:
            return
        failed = {row.id: reason for row, reason in self.sink.write(rows)}
        for item, kind in zip(items, kinds):
            if item.id in failed:
                self.report.fail(Failure(item.source, "write_failed", failed[item.id], item.page, item.offset))
            else:
                setattr(self.report, kind, getattr(self.report, kind) + 1)
        logger.info("committed %d rows (%d new so far)", len(rows) - len(failed), self.report.indexed)

    def _is_kept(self, source: str) -> bool:
        return any(is_under(source, kept) for kept in self._kept)

    def finish(self) -> IndexReport:
        """Delete the stale rows under the roots (when pruning); the final report."""
        if self.prune:
            stale = [(row_id, source) for row_id, source in self.sink.rows_under(self.roots)
                     if row_id not in self._ids and any(is_under(source, root) for root in self.roots)
                     and not self._is_kept(source)]
            for start in range(0, len(stale), DELETE_BATCH):
                self.sink.delete([row_id for row_id, _ in stale[start:start + DELETE_BATCH]])
            for _, source in stale:
                if source in self._read:
                    self.report.replaced += 1
                else:
                    self.report.removed += 1
            if stale:
                logger.info("deleted %d stale rows", len(stale))
        self.report.seconds = time.perf_counter() - self._started
        return self.report


def embed_items(items: Sequence[SourceItem], embedder, dim: int) -> list[Embedded | Failure]:
    """Load and embed ``items`` (document side): per item an ``Embedded`` or the ``Failure`` saying why not."""
    results: list[Embedded | Failure | None] = [None] * len(items)
    inputs, loaded = [], []
    for position, item in enumerate(items):
        try:
            payload, snippet = item.load()
        except (Qwen3VLError, OSError) as exc:
            results[position] = Failure(item.source, getattr(exc, "code", "unreadable"), str(exc), item.page,
                                        item.offset)
            continue
        inputs.append(payload)
        loaded.append((position, snippet))
    vectors = embedder.embed_documents(inputs, dim=dim, errors="return") if inputs else []
    for (position, snippet), vector in zip(loaded, vectors):
        item = items[position]
        if isinstance(vector, ItemError):
            message = vector.message.split(": ", 1)[1] if vector.message.startswith("input[") else vector.message
            results[position] = Failure(item.source, vector.code, message, item.page, item.offset)
        elif vector.shape != (dim,) or not np.isfinite(vector).all():
            results[position] = Failure(item.source, "non_finite_output",
                                        "the vector is not finite or has the wrong size", item.page, item.offset)
        else:
            results[position] = Embedded(vector, snippet)
    return [result for result in results if result is not None]


Embed = Callable[[Sequence[SourceItem]], Sequence[Embedded | Failure]]


def run_batches(run: SyncRun, entries: Iterable[FileItems | SourceProblem | SourceItem], embed: Embed, *,
                batch_size: int = 32, progress=None) -> IndexReport:
    """Feed ``entries`` to ``run`` in batches of ``batch_size`` items, embedding with ``embed``.
    ``progress`` (tqdm-like: ``update``, ``set_postfix``) advances by walk entries, as each one's
    items are all written."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    pending: list[SourceItem] = []
    entries_seen = entries_done = 0

    def flush(count: int) -> None:
        nonlocal pending, entries_done
        batch, pending = pending[:count], pending[count:]
        if batch:
            plan = run.plan(batch)
            run.commit(plan, embed(plan.items) if plan.items else [])
        if progress is not None:
            done = entries_seen - len({item.source for item in pending})
            r = run.report
            progress.set_postfix(new=r.indexed, unchanged=r.unchanged, failed=r.failed, refresh=False)
            progress.update(done - entries_done)
            entries_done = done

    for entry in entries:
        if isinstance(entry, SourceItem):
            pending.append(entry)
        else:
            entries_seen += 1
            pending.extend(run.note(entry))
        while len(pending) >= batch_size:
            flush(batch_size)
        if progress is not None and not pending:
            flush(0)
    flush(len(pending))
    return run.finish()


def sync(paths: Iterable[str | os.PathLike], sink: Sink, embedder, *, settings: IndexSettings,
         options: SourceOptions, batch_size: int = 32, prune: bool = True, exclude: Iterable[str | os.PathLike] = (),
         follow_symlinks: bool = False, progress=None) -> IndexReport:
    """Make the rows of ``sink`` under ``paths`` mirror the files there (steps in the module docstring)."""
    paths = list(paths)
    prepare_sink(sink, settings, max_dim=getattr(embedder, "hidden_size", None))
    run = SyncRun(sink, roots=paths, prune=prune)
    entries = iter_entries(paths, settings.settings_hash, options, exclude=exclude, follow_symlinks=follow_symlinks)
    return run_batches(run, entries, lambda items: embed_items(items, embedder, settings.dim), batch_size=batch_size,
                       progress=progress)


def ingest(stream: Iterable[FileItems | SourceProblem | SourceItem], sink: Sink, embedder, *, dim: int,
           batch_size: int = 32, progress=None) -> IndexReport:
    """Write ``stream`` (files' items, problems, or your own items) into an existing, checked ``sink``;
    nothing is deleted (no roots)."""
    run = SyncRun(sink, prune=False)
    return run_batches(run, stream, lambda items: embed_items(items, embedder, dim), batch_size=batch_size,
                       progress=progress)


def remove_paths(sink: Sink, paths: Iterable[str | os.PathLike]) -> int:
    """Delete every row whose source is one of ``paths`` or lies under one (the files need not
    exist); returns how many rows were deleted."""
    roots = [absolute(p) for p in paths]
    ids = [row_id for row_id, source in sink.rows_under(roots) if any(is_under(source, root) for root in roots)]
    for start in range(0, len(ids), DELETE_BATCH):
        sink.delete(ids[start:start + DELETE_BATCH])
    return len(ids)
