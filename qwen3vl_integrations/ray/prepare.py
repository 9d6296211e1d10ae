"""The CPU stage: read and decode each row's media on Ray tasks, before the model actors see it.

Fetching, image decoding and resizing, video demuxing, frame sampling and resizing (the core's
:class:`~qwen3vl_integrations.core.decoding.MediaDecoder`) run here, in stateless Ray tasks that need no model,
no tokenizer and no GPU. The actors then only run the HF processor calls, tokenisation and the
forward pass. A row that cannot be read or decoded gets its error fields here and goes on to the
actors with nothing to embed, so it is reported, not dropped.
"""

from __future__ import annotations

import logging
import pickle
import time
from collections.abc import Callable
from typing import Any

from qwen3vl_integrations import DEFAULT_POLICY, EngineConfig, MediaPolicy, optional_import
from qwen3vl_integrations.core.decoding import MediaDecoder
from qwen3vl_integrations.errors import Qwen3VLError

from .rows import ERROR_CODE, ERROR_MESSAGE, PREPARED, error_detail, row_input

logger = logging.getLogger(__name__)

__all__ = ["prepare_dataset", "prepare_batch", "DECODE_MEMORY"]

#: heap reserved per decode task: one worst-case image (64 MP under the default MediaPolicy) or
#: video (384 MiB of sampled frames) in flight, with room for its copies
DECODE_MEMORY = 1024 ** 3

RowReader = Callable[[dict], "tuple[Any, dict]"]


def prepare_batch(table, *, config: EngineConfig, policy: MediaPolicy = DEFAULT_POLICY,
                  reader: RowReader = row_input, extra_columns: tuple[str, ...] = ()):
    """One batch (a ``pyarrow.Table``) of the CPU stage: every row's item decoded and pickled into
    the ``_qwen3vl_prepared`` column, or its error fields set. Rows that arrive with an
    ``error_code`` already (from an earlier stage) are passed through untouched. ``extra_columns``:
    the string columns ``reader`` adds, present (null on failed rows) even when every row fails."""
    pa = optional_import("pyarrow")
    started = time.perf_counter()
    decoder = MediaDecoder(config, policy)
    rows = table.to_pylist()
    blobs: list = [None] * len(rows)
    codes = [row.get(ERROR_CODE) for row in rows]
    messages = [row.get(ERROR_MESSAGE) for row in rows]
    extras: list[dict] = [{} for _ in rows]
    for i, row in enumerate(rows):
        if codes[i] is not None:
            continue
        try:
            raw, extras[i] = reader(row)
            blobs[i] = pickle.dumps(decoder.decode(raw), protocol=pickle.HIGHEST_PROTOCOL)
        except (Qwen3VLError, OSError) as exc:
            codes[i], messages[i] = getattr(exc, "code", "unreadable"), error_detail(exc)
            logger.info("row %d of a batch cannot be decoded: %s: %s", i, codes[i], messages[i])
    out = table.drop_columns([c for c in (ERROR_CODE, ERROR_MESSAGE, PREPARED) if c in table.column_names])
    for name in dict.fromkeys([*extra_columns, *sorted({key for extra in extras for key in extra})]):
        kind = pa.string() if name in extra_columns else None
        out = out.append_column(name, pa.array([extra.get(name) for extra in extras], kind))
    out = out.append_column(PREPARED, pa.array(blobs, pa.large_binary()))
    out = out.append_column(ERROR_CODE, pa.array(codes, pa.string()))
    out = out.append_column(ERROR_MESSAGE, pa.array(messages, pa.string()))
    logger.debug("decoded %d rows in %.3f s", len(rows), time.perf_counter() - started)
    return out


def prepare_dataset(ds, *, config: EngineConfig | None = None, policy: MediaPolicy | None = None,
                    reader: RowReader = row_input, extra_columns: tuple[str, ...] = (), batch_size: int = 16,
                    concurrency: int | None = None, num_cpus: float = 1.0, memory: float | None = DECODE_MEMORY):
    """``ds`` with the CPU stage added (lazily, like every Ray Data transform).

    ``config`` / ``policy``: the engine settings and media policy the actors will use (default:
    ``EngineConfig.from_env()`` read here, on the driver, and the default policy); decoded media
    carry the budgets they were made for and the actors refuse ones made for other settings.
    ``concurrency``: most decode tasks at once (default: as many as the cluster's CPUs allow).
    ``num_cpus`` / ``memory``: reserved per decode task. A memory reservation the actors do not
    make also keeps Ray from fusing this stage into the actor stage."""
    ray = optional_import("ray")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1 or None, got {concurrency}")
    kwargs = {"config": config or EngineConfig.from_env(), "policy": policy or DEFAULT_POLICY, "reader": reader,
              "extra_columns": tuple(extra_columns)}
    return ds.map_batches(prepare_batch, batch_format="pyarrow", batch_size=batch_size, fn_kwargs=kwargs,
                          compute=ray.data.TaskPoolStrategy(size=concurrency), num_cpus=num_cpus, memory=memory,
                          udf_modifying_row_count=False)
