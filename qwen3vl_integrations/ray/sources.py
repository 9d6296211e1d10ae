"""Reading for the ingestion runner: paths to the ingest pipeline's entries, expanded on Ray CPU tasks.

The walk (``ingest.iter_files``: names and file types, nothing opened) runs on the driver. Every
file it finds is expanded by ingest's own ``expand_file`` (read and hashed, a PDF's pages counted,
a text file chunked) on Ray tasks, and the entries come back in the walk's order, so a run on Ray
meets the same entries as a local one. Images and videos are decoded and PDF pages rendered later,
on the CPU stage (:mod:`.prepare`), from the items' loaders.

The paths must name the same files on the driver and on every worker: a local Ray, or a cluster
whose nodes share the filesystem (NFS, a bucket mounted at the same path...). For object-store URIs
Ray reads itself (``s3://``, ``gs://``), read the media with ``ray.data.read_binary_files`` and embed
them with :func:`~qwen3vl_integrations.ray.embed_dataset` (no sync: ids and pruning are defined on a
walkable filesystem).
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterable, Iterator, Sequence

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.ingest import FileItems, FileRef, SourceItem, SourceOptions, SourceProblem, expand_file, iter_files

from .rows import ITEM

logger = logging.getLogger(__name__)

__all__ = ["iter_entries", "expand_batch", "item_table", "REF", "ENTRY", "EXPAND_BATCH"]

REF, ENTRY = "_qwen3vl_ref", "_qwen3vl_entry"
#: files per expansion task call
EXPAND_BATCH = 32


def expand_batch(table, *, settings_hash: str, options: SourceOptions):
    """One batch of the expansion stage: each row's pickled ``FileRef`` (``_qwen3vl_ref``) becomes its
    pickled ``FileItems`` or ``SourceProblem`` (``_qwen3vl_entry``)."""
    pa = optional_import("pyarrow")
    entries = [pickle.dumps(expand_file(pickle.loads(blob), settings_hash, options), protocol=pickle.HIGHEST_PROTOCOL)
               for blob in table.column(REF).to_pylist()]
    return pa.table({ENTRY: pa.array(entries, pa.large_binary())})


def iter_entries(paths: Iterable[str | os.PathLike], settings_hash: str, options: SourceOptions, *,
                 exclude: Iterable[str | os.PathLike] = (), follow_symlinks: bool = False,
                 batch_size: int = EXPAND_BATCH, num_cpus: float = 0.5,
                 concurrency: int | None = None) -> Iterator[FileItems | SourceProblem]:
    """``ingest.iter_entries`` with the expansion on Ray tasks: the walk of ``paths`` (here, on the
    driver), each file expanded into its items there, yielded in the walk's order.
    ``num_cpus`` / ``concurrency``: reserved per expansion task / most tasks at once."""
    ray = optional_import("ray")
    walk = list(iter_files(paths, exclude=exclude, follow_symlinks=follow_symlinks))
    refs = [entry for entry in walk if isinstance(entry, FileRef)]
    logger.info("walked %d entries (%d files to expand on Ray)", len(walk), len(refs))
    expanded: Iterator = iter(())
    if refs:
        ds = ray.data.from_items([{REF: pickle.dumps(ref, protocol=pickle.HIGHEST_PROTOCOL)} for ref in refs])
        ds = ds.map_batches(expand_batch, batch_format="pyarrow", batch_size=batch_size,
                            fn_kwargs={"settings_hash": settings_hash, "options": options}, num_cpus=num_cpus,
                            compute=ray.data.TaskPoolStrategy(size=concurrency))
        ds.context.execution_options.preserve_order = True
        expanded = (pickle.loads(blob) for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None)
                    for blob in batch.column(ENTRY).to_pylist())
    for entry in walk:
        yield entry if isinstance(entry, SourceProblem) else next(expanded)


def item_table(items: Sequence[SourceItem]):
    """The rows of the embedding stages for ``items``: ``id`` and the pickled item (``_qwen3vl_item``)."""
    pa = optional_import("pyarrow")
    return pa.table({"id": pa.array([item.id for item in items], pa.string()),
                     ITEM: pa.array([pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items],
                                    pa.large_binary())})
