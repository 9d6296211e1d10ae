"""``qwen3vl index PATH... --ray [auto|ADDRESS]``: the same job as a local index, run on a Ray cluster.

Same store options, model resolution, dims, report, progress bar and exit codes as ``cmd_index``;
the work runs in ``qwen3vl_integrations.ray.sync_on_ray``. A Milvus server or Weaviate URI is
written by the workers (upserts), a Milvus Lite database by this process.
"""

from __future__ import annotations

import logging

from qwen3vl_integrations.errors import ModelLoadError
from qwen3vl_integrations.ingest import count_entries
from qwen3vl_integrations.milvus.store import is_lite_uri
from qwen3vl_integrations.weaviate import is_weaviate_uri

from .commands import _dim, _open_store, _weaviate_key, index_outcome, model_name
from .models import DEFAULT_MODEL, TINY_RANDOM, engine_config, warn_random
from .options import EXIT_FAILED, EXIT_MODEL, CliError

logger = logging.getLogger(__name__)

__all__ = ["cmd_index_ray"]

_RAY_LOGGERS = ("ray", "ray.data", "ray.train")


def _connect(address: str, verbose: int):
    """Ray, connected: the session of this process if there is one, else ``ray.init(address)``.
    Returns (ray, whether this call connected)."""
    from qwen3vl_integrations import optional_import

    ray = optional_import("ray")
    if ray.is_initialized():
        return ray, False
    for name in _RAY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)
    try:
        ray.init(address=address or None, log_to_driver=verbose >= 1, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address}" if address else "(RAY_ADDRESS, or a local one)"
        raise CliError(f"cannot connect to the Ray cluster {where}: {exc}", EXIT_FAILED) from None
    return ray, True


def _progress_bar(args, exclude: list[str]):
    if args.no_progress or args.quiet:
        return None
    from tqdm.auto import tqdm

    total = count_entries(args.paths, exclude=exclude, follow_symlinks=args.follow_symlinks)
    return tqdm(total=total, unit="file", desc="indexing on ray", dynamic_ncols=True)


def cmd_index_ray(args) -> int:
    from qwen3vl_integrations.ray import describe_model, sync_on_ray

    ray, connected = _connect(args.ray, args.verbose)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        with _open_store(args, must_exist=False) as store:
            stored_dim, recorded = store.describe() if store.exists() else (None, None)
            spec = args.model or (recorded.model if recorded is not None else DEFAULT_MODEL)
            if spec == TINY_RANDOM:
                warn_random(args.quiet)
            config, model = engine_config(), model_name(spec)
            try:
                facts = describe_model(model, device=args.device, config=config, model_name=model,
                                       num_gpus=args.ray_gpus_per_actor, chunk_chars=args.chunk_chars,
                                       chunk_overlap=args.chunk_overlap, pdf_dpi=args.pdf_dpi)
            except ModelLoadError as exc:  # raised in the worker: Ray's error is also a ModelLoadError
                cause = getattr(exc, "cause", None) or exc
                detail = " ".join(str(cause).split(". Pass a local", 1)[0].split())
                raise CliError(f"cannot load the embedding model {spec!r} on the Ray cluster: {detail}",
                               EXIT_MODEL) from None
            exclude = [args.db] if is_lite_uri(args.db) else []
            progress = _progress_bar(args, exclude)
            try:
                report = sync_on_ray(args.paths, store, model, settings=facts.at_dim(_dim(args, stored_dim, facts)),
                                     options=facts.options, exclude=exclude, follow_symlinks=args.follow_symlinks,
                                     writer=_writer(args), batch_size=args.batch_size, max_dim=facts.hidden_size,
                                     progress=progress, concurrency=args.ray_actors or _actors(ray),
                                     num_gpus_per_actor=args.ray_gpus_per_actor, device=args.device, config=config,
                                     policy=facts.options.policy)
            finally:
                if progress is not None:
                    progress.close()
            rows = store.count()
        return index_outcome(args, report, store.label, rows)
    finally:
        if connected:
            ray.shutdown()


def _writer(args):
    """Who writes: the workers for a server (Milvus, Weaviate), this process for Milvus Lite (None)."""
    from qwen3vl_integrations.ray import MilvusUpserts, WeaviateUpserts

    if is_weaviate_uri(args.db):
        return WeaviateUpserts(args.db, args.collection, _weaviate_key(args))
    return None if is_lite_uri(args.db) else MilvusUpserts(args.db, args.collection, args.token)


def _actors(ray) -> int:
    return max(1, int(ray.cluster_resources().get("GPU", 0)))
