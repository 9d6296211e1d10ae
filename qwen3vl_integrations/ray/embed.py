"""Embedding a Ray Dataset: a CPU decode stage, then a pool of actors holding one model each.

>>> import ray                                                                          # doctest: +SKIP
>>> from qwen3vl_integrations.ray import embed_dataset                                   # doctest: +SKIP
>>> ds = ray.data.read_binary_files("s3://bucket/photos/", include_paths=True)           # doctest: +SKIP
>>> ds = ds.rename_columns({"bytes": "image"})                                          # doctest: +SKIP
>>> out = embed_dataset(ds, "Qwen/Qwen3-VL-Embedding-2B", concurrency=8, batch_size=32)  # doctest: +SKIP
>>> out.write_parquet("s3://bucket/vectors/")                                           # doctest: +SKIP

Each actor loads the engine once, in ``__init__``, from a model reference (hub id, a checkpoint
path present on every GPU node, or ``tiny-random``) and the settings: weights are never pickled
or sent through the object store. Actor deaths are retried by Ray Data (actors are restarted and
their unfinished batches rerun), so a killed worker costs time, not rows. Output order is Ray
Data's (not the input's): keep an id column to join on.
"""

from __future__ import annotations

import logging
import pickle
import time

import numpy as np

from qwen3vl_integrations import DEFAULT_POLICY, PRECISIONS, EngineConfig, MediaPolicy, optional_import
from qwen3vl_integrations.errors import ItemError

from .prepare import RowReader, prepare_dataset
from .rows import DEFAULT_VECTOR_COLUMN, ERROR_CODE, ERROR_MESSAGE, PREPARED, error_detail, row_input

logger = logging.getLogger(__name__)

__all__ = ["embed_dataset", "EmbedActor"]


class EmbedActor:
    """The actor stage: one embedder per actor; each call embeds one batch (a ``pyarrow.Table``)
    of prepared rows and adds the vector column and the error fields."""

    def __init__(self, model: str, *, config: EngineConfig, policy: MediaPolicy = DEFAULT_POLICY,
                 device: str | None = None, dtype: str | None = None, dim: int | None = None,
                 precision: str = "float32", instruction: str | None = None, column: str = DEFAULT_VECTOR_COLUMN):
        from qwen3vl_integrations import Qwen3VLEmbedder

        started = time.perf_counter()
        self.embedder = Qwen3VLEmbedder.shared(model, device=device, dtype=dtype, config=config, policy=policy, dim=dim)
        self.precision, self.instruction, self.column = precision, instruction, column
        empty = self.embedder.embed([], precision=precision)  # (0, width) in the precision's dtype
        self.width, self.dtype = int(empty.shape[1]), empty.dtype
        logger.info("actor loaded %s on %s in %.1f s", model, self.embedder.device, time.perf_counter() - started)

    def __call__(self, table):
        pa = optional_import("pyarrow")
        if self.column in table.column_names:
            raise ValueError(f"the dataset already has a column {self.column!r}; pass column=... to name the vectors")
        started = time.perf_counter()
        blobs = table.column(PREPARED).to_pylist()
        codes, messages = table.column(ERROR_CODE).to_pylist(), table.column(ERROR_MESSAGE).to_pylist()
        slots = [i for i, blob in enumerate(blobs) if blob is not None]
        items = [pickle.loads(blobs[i]) for i in slots]
        results = self.embedder.embed(items, instruction=self.instruction, precision=self.precision,
                                      errors="return") if items else []
        vectors = np.zeros((len(blobs), self.width), self.dtype)
        valid = np.zeros(len(blobs), bool)
        for i, result in zip(slots, results):
            if isinstance(result, ItemError):
                codes[i], messages[i] = result.code, error_detail(result.error)
            else:
                vectors[i], valid[i] = result, True
        values = pa.array(vectors.reshape(-1))
        column = pa.FixedSizeListArray.from_arrays(values, self.width, mask=pa.array(~valid))
        out = table.drop_columns([PREPARED, ERROR_CODE, ERROR_MESSAGE]).append_column(self.column, column)
        out = out.append_column(ERROR_CODE, pa.array(codes, pa.string()))
        out = out.append_column(ERROR_MESSAGE, pa.array(messages, pa.string()))
        logger.debug("embedded %d of %d rows in %.3f s", int(valid.sum()), len(blobs), time.perf_counter() - started)
        return out


def embed_dataset(ds, model: str, *, concurrency: int | tuple[int, int] = 1, num_gpus_per_actor: float | None = None,
                  num_cpus_per_actor: float = 1.0, batch_size: int = 32, dim: int | None = None,
                  precision: str = "float32", instruction: str | None = None, column: str = DEFAULT_VECTOR_COLUMN,
                  device: str | None = None, dtype: str | None = None, config: EngineConfig | None = None,
                  policy: MediaPolicy | None = None, decode_batch_size: int = 16, decode_concurrency: int | None = None,
                  decode_num_cpus: float = 1.0, reader: RowReader = row_input, extra_columns: tuple[str, ...] = ()):
    """``ds`` (rows as in :mod:`qwen3vl_integrations.ray.rows`) with a vector column and the error
    fields added, lazily: nothing runs until the result is consumed or written.

    - ``model``: hub id, checkpoint directory present on every actor's node, or ``tiny-random``.
    - ``concurrency``: actors (``n``, or ``(min, max)`` for an autoscaling pool).
    - ``num_gpus_per_actor``: GPUs reserved per actor (``0.5``: two actors share a GPU); default 1
      when the cluster has GPUs, else 0 (CPU actors, ``device="cpu"``). Ray is initialised here
      when it is not yet, as Ray Data would on first use.
    - ``batch_size``: rows per actor call (the engine batches them by tokens inside).
    - ``dim`` / ``precision`` / ``instruction``: as in ``Qwen3VLEmbedder.embed``; a row's
      ``instruction`` column wins over ``instruction``.
    - ``config`` / ``policy``: engine settings and media policy, fixed here on the driver for every
      worker (default ``EngineConfig.from_env()``, the default policy).
    - ``decode_*``: the CPU stage (see :func:`~qwen3vl_integrations.ray.prepare_dataset`);
      ``reader`` maps a row to its item there, adding the string columns ``extra_columns``.
    """
    ray = optional_import("ray")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"dim must be a positive int or None, got {dim!r}")
    compute = _actor_pool(concurrency, ray)
    config = config or EngineConfig.from_env()
    policy = policy or DEFAULT_POLICY
    gpus = _gpus_per_actor(num_gpus_per_actor, ray)
    if gpus == 0 and device is None:
        device = "cpu"
    prepared = prepare_dataset(ds, config=config, policy=policy, reader=reader, extra_columns=extra_columns,
                               batch_size=decode_batch_size, concurrency=decode_concurrency, num_cpus=decode_num_cpus)
    settings = {"config": config, "policy": policy, "device": device, "dtype": dtype, "dim": dim,
                "precision": precision, "instruction": instruction, "column": column}
    return prepared.map_batches(EmbedActor, batch_format="pyarrow", batch_size=batch_size, compute=compute,
                                fn_constructor_args=(model,), fn_constructor_kwargs=settings, num_gpus=gpus,
                                num_cpus=num_cpus_per_actor, udf_modifying_row_count=False)


def _actor_pool(concurrency, ray):
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1:
        return ray.data.ActorPoolStrategy(size=concurrency)
    if (isinstance(concurrency, tuple) and len(concurrency) == 2 and all(isinstance(n, int) for n in concurrency)
            and 1 <= concurrency[0] <= concurrency[1]):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    raise ValueError(f"concurrency must be an int >= 1 or a (min, max) pair with 1 <= min <= max, got {concurrency!r}")


def _gpus_per_actor(requested: float | None, ray) -> float:
    if requested is not None:
        if requested < 0:
            raise ValueError(f"num_gpus_per_actor must be >= 0, got {requested}")
        return requested
    if not ray.is_initialized():
        ray.init()
    available = ray.cluster_resources().get("GPU", 0)
    gpus = 1.0 if available >= 1 else 0.0
    logger.info("num_gpus_per_actor=%g (the cluster has %s GPUs)", gpus, available)
    return gpus
