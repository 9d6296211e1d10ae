"""The ingestion pipeline on a Ray cluster: ``ingest.sync`` with its expansion, decoding, embedding
and (optionally) writing on Ray, and its semantics where they are defined, in ``ingest.SyncRun``.

>>> from qwen3vl_integrations.milvus import MilvusStore                       # doctest: +SKIP
>>> from qwen3vl_integrations.ray import MilvusUpserts, describe_model, sync_on_ray  # doctest: +SKIP
>>> facts = describe_model("Qwen/Qwen3-VL-Embedding-2B")                      # doctest: +SKIP
>>> with MilvusStore("http://milvus:19530", "qwen3vl") as store:              # doctest: +SKIP
...     report = sync_on_ray(["/data/photos"], store, "Qwen/Qwen3-VL-Embedding-2B",
...                          settings=facts.settings, options=facts.options, concurrency=8,
...                          writer=MilvusUpserts("http://milvus:19530", "qwen3vl"))

The job, driven from the driver:

1. ``prepare_sink`` (refuses an incompatible collection before any write, creates a missing one);
2. **plan** (driver, with the expansion on Ray CPU tasks, :mod:`.sources`): every walk entry goes
   through ``SyncRun.note``, every batch of items through ``SyncRun.plan`` (unchanged items,
   copies of stored content written with the stored vector, items to embed);
3. **embed** (Ray Data): the items to embed, loaded and decoded on CPU tasks (PDF pages rendered
   there), embedded by a pool of actors holding one model each (:func:`.embed_dataset`), written
   by writer actors when ``writer`` is given (:mod:`.write`);
4. **commit** (driver): ``SyncRun.commit`` per batch of results (it writes them, or accounts what
   the workers wrote), then ``SyncRun.finish`` prunes the stale rows under the paths.

The report, the sync semantics and the resumability are those of a local ``qwen3vl index``: the
same ids (computed before anything is embedded), the same rows, the same counts. The models start
once the plan is complete: planning reads every file once (hash) and asks the sink about each
batch of ids; the items to embed wait in Ray's object store meanwhile (their pickled ingest
``SourceItem``: a text chunk's text, or a file path and place, a few hundred bytes each).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.ingest import (
    FileItems,
    IndexReport,
    IndexSettings,
    Plan,
    Sink,
    SourceItem,
    SourceOptions,
    SourceProblem,
    SyncRun,
    prepare_sink,
)

from .embed import _gpus_per_actor, embed_dataset
from .rows import ERROR_CODE, ITEM, SNIPPET, source_item_input
from .sources import item_table, iter_entries
from .write import FILES, LEADS, WRITE_ERROR, PrewrittenSink, WorkerWriter, WriteStage, result_of

logger = logging.getLogger(__name__)

__all__ = ["sync_on_ray", "describe_model", "ModelFacts", "PLAN_BATCH", "BLOCK_ROWS"]

#: items per ``SyncRun.plan`` call (two sink reads each)
PLAN_BATCH = 1024
#: rows per block of the embedding stages' input (a decode task reads one block at a time)
BLOCK_ROWS = 64


@dataclass(frozen=True)
class ModelFacts:
    """What the driver needs of the model without loading it: its largest vector, the settings a
    collection records for it (at its default dim) and the source options of its budgets."""

    hidden_size: int
    settings: IndexSettings
    options: SourceOptions

    def at_dim(self, dim: int | None) -> IndexSettings:
        """The settings with vectors of ``dim`` (None: the model's)."""
        return self.settings if dim is None else replace(self.settings, dim=int(dim))


def _describe(model: str, engine: dict, model_name: str | None, ingest: dict) -> ModelFacts:
    from qwen3vl_integrations import Qwen3VLEmbedder

    embedder = Qwen3VLEmbedder.from_pretrained(model, **engine)
    try:
        return ModelFacts(embedder.hidden_size, IndexSettings.for_embedder(embedder, model_name=model_name, **ingest),
                          SourceOptions.for_embedder(embedder, **ingest))
    finally:
        embedder.close()


def describe_model(model: str, *, device: str | None = None, dtype=None, config=None, policy=None,
                   model_name: str | None = None, num_gpus: float | None = None, chunk_chars: int = 2000,
                   chunk_overlap: int = 200, pdf_dpi: float = 150.0) -> ModelFacts:
    """Load ``model`` once in a Ray worker that exits afterwards (no GPU memory kept) and return its
    :class:`ModelFacts`: ``IndexSettings.for_embedder`` and ``SourceOptions.for_embedder`` of the
    engine the actors will load, computed by the embedder itself (a model that cannot be loaded
    raises here, before anything else runs). ``num_gpus``: as ``num_gpus_per_actor``."""
    ray = optional_import("ray")
    gpus = _gpus_per_actor(num_gpus, ray)
    if gpus == 0 and device is None:
        device = "cpu"
    engine = {"device": device, "dtype": dtype, "config": config, "policy": policy}
    ingest = {"chunk_chars": chunk_chars, "chunk_overlap": chunk_overlap, "pdf_dpi": pdf_dpi}
    task = ray.remote(max_calls=1, num_gpus=gpus, num_cpus=0.5)(_describe)
    return ray.get(task.remote(model, engine, model_name, ingest))


class _FileProgress:
    """A tqdm-like ``progress`` advanced by walk entries, as each one's items are all accounted."""

    def __init__(self, progress, report: IndexReport):
        self.progress, self.report = progress, report
        self.outstanding: dict[str, int] = {}

    def entry(self, source: str, items: int) -> None:
        if items:
            self.outstanding[source] = self.outstanding.get(source, 0) + items
        else:
            self._advance(1)

    def done(self, sources: Iterable[str]) -> None:
        finished = 0
        for source in sources:
            self.outstanding[source] -= 1
            if self.outstanding[source] == 0:
                del self.outstanding[source]
                finished += 1
        self._advance(finished)

    def _advance(self, files: int) -> None:
        if self.progress is None:
            return
        r = self.report
        self.progress.set_postfix(new=r.indexed, unchanged=r.unchanged, failed=r.failed, refresh=False)
        if files:
            self.progress.update(files)


class _RayRun:
    """The driver's state of one job: the SyncRun, the items to embed (as blocks in Ray's object
    store) and the followers of each of them (items of the same content, written with its vector)."""

    def __init__(self, run: SyncRun, dim: int, progress):
        self.run, self.dim = run, dim
        self.progress = _FileProgress(progress, run.report)
        self.followers: dict[str, list[SourceItem]] = {}
        self.blocks: list = []
        self.pending: list[SourceItem] = []
        #: results held for a deferred (bulk) writer, and the files its actors committed
        self.deferred: list | None = None
        self.files: list[list[str]] = []

    def note(self, entry: FileItems | SourceProblem, plan_batch: int) -> None:
        items = self.run.note(entry)
        self.progress.entry(entry.source, len(items))
        self.pending.extend(items)
        while len(self.pending) >= plan_batch:
            self.plan(plan_batch)

    def plan(self, count: int) -> None:
        ray = optional_import("ray")
        batch, self.pending = self.pending[:count], self.pending[count:]
        if not batch:
            return
        plan = self.run.plan(batch)
        waiting = {id(item) for item in plan.items}
        for leader, group in plan.followers.items():
            self.followers[leader] = group
            waiting.update(id(item) for item in group)
        self.progress.done(item.source for item in batch if id(item) not in waiting)
        pa = optional_import("pyarrow")
        for start in range(0, len(plan.items), BLOCK_ROWS):
            chunk = plan.items[start:start + BLOCK_ROWS]
            table = item_table(chunk).append_column(LEADS, pa.array([item.id in plan.followers for item in chunk]))
            self.blocks.append(ray.put(table))

    def receive(self, table) -> None:
        """One batch of results: committed now, or (deferred writers) once their files are imported."""
        rows = table.to_pylist()
        items = [pickle.loads(row[ITEM]) for row in rows]
        outcomes = {row["id"]: row[WRITE_ERROR] for row in rows if WRITE_ERROR in row and row.get(ERROR_CODE) is None}
        results = [result_of(item, row, self.dim) for item, row in zip(items, rows)]
        followers = {item.id: self.followers.pop(item.id) for item in items if item.id in self.followers}
        if self.deferred is not None:
            self.deferred.append((items, results, followers, outcomes))
            self.files.extend(group for row in rows if row.get(FILES) for group in json.loads(row[FILES]))
            return
        self._commit(items, results, followers, outcomes)

    def _commit(self, items: list[SourceItem], results: list, followers: dict, outcomes: dict) -> None:
        if isinstance(self.run.sink, PrewrittenSink):
            self.run.sink.settle(outcomes)
        self.run.commit(Plan(items, followers), results)
        self.progress.done([item.source for item in items] + [f.source for group in followers.values() for f in group])

    def import_deferred(self, writer) -> None:
        """Import the files of a deferred writer, read the ids back, then commit what was held."""
        writer.finish(self.files)
        for items, results, followers, outcomes in self.deferred or []:
            written = [key for key, reason in outcomes.items() if reason is None]
            found = self.run.sink.existing_ids(written) if written else set()
            outcomes.update({key: "not found after the bulk import" for key in written if key not in found})
            self._commit(items, results, followers, outcomes)


def sync_on_ray(paths: Iterable[str | os.PathLike], sink: Sink, model: str, *, settings: IndexSettings,
                options: SourceOptions, prune: bool = True, exclude: Iterable[str | os.PathLike] = (),
                follow_symlinks: bool = False, writer: WorkerWriter | None = None, writers: int | None = None,
                batch_size: int = 32, plan_batch_size: int = PLAN_BATCH, expand_num_cpus: float = 0.5,
                writer_num_cpus: float = 0.0, max_dim: int | None = None, progress=None,
                stats: Callable[[str], None] | None = None, **embed_options) -> IndexReport:
    """Make the rows of ``sink`` under ``paths`` mirror the files there, as ``ingest.sync`` does,
    with the work on the connected Ray cluster (steps in the module docstring).

    - ``model`` / ``settings`` / ``options``: the model reference the actors load and what
      :func:`describe_model` returned for it (``settings`` at the collection's dim).
    - ``writer``: workers write (e.g. :class:`~.write.MilvusUpserts` for a Milvus server), in
      ``writers`` actors (default: as many as model actors); None: the driver writes.
    - ``batch_size``: rows per actor call (and per write); ``plan_batch_size``: items per plan.
    - ``progress``: a tqdm-like object advanced by walk entries; ``max_dim``: the model's largest
      vector, for ``prepare_sink``'s advice; ``stats``: called with Ray Data's ``Dataset.stats()``
      of the embedding stages once they are done (per-stage times).
    - ``embed_options``: :func:`.embed_dataset`'s (``concurrency``, ``num_gpus_per_actor``,
      ``device``, ``config``, ``policy``, ``decode_*``...), with the settings the actors load
      (``config`` and ``policy`` of ``settings``; ``dim`` is ``settings.dim``).
    """
    if plan_batch_size < 1:
        raise ValueError(f"plan_batch_size must be >= 1, got {plan_batch_size}")
    paths = list(paths)
    prepare_sink(sink, settings, max_dim=max_dim)
    target = PrewrittenSink(sink) if writer is not None else sink
    job = _RayRun(SyncRun(target, roots=paths, prune=prune), settings.dim, progress)
    for entry in iter_entries(paths, settings.settings_hash, options, exclude=exclude, follow_symlinks=follow_symlinks,
                              num_cpus=expand_num_cpus):
        job.note(entry, plan_batch_size)
    job.plan(len(job.pending))
    logger.info("planned: %d items to embed in %d blocks", job.run.report.items, len(job.blocks))
    if job.blocks:
        ray = optional_import("ray")
        ds = embed_dataset(ray.data.from_arrow_refs(job.blocks), model, dim=settings.dim, batch_size=batch_size,
                           reader=source_item_input, extra_columns=(SNIPPET,), **embed_options)
        if writer is not None:
            actors = writers or _pool_size(embed_options.get("concurrency", 1))
            ds = ds.map_batches(WriteStage, batch_format="pyarrow", batch_size=getattr(writer, "batch_rows", batch_size),
                                fn_constructor_args=(writer, settings.dim), compute=ray.data.ActorPoolStrategy(size=actors),
                                num_cpus=writer_num_cpus, udf_modifying_row_count=False)
        if getattr(writer, "deferred", False):
            job.deferred = []
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None, prefetch_batches=1):
            job.receive(table)
        if stats is not None:
            stats(ds.stats())
        if job.deferred is not None:
            job.import_deferred(writer)
    return job.run.finish()


def _pool_size(concurrency) -> int:
    return concurrency[1] if isinstance(concurrency, tuple) else int(concurrency)
