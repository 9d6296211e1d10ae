"""The ``index``, ``search`` and ``info`` commands, and the mapping of errors to exit codes."""

from __future__ import annotations

import json
import logging
import os
import sys

from qwen3vl_integrations import DimensionMismatchError, StoreLockedError
from qwen3vl_integrations.milvus import (
    CollectionMismatchError,
    MilvusStore,
    MultimodalIndex,
    StoreError,
    collection_info,
)

from .models import DEFAULT_MODEL, DEFAULT_RERANKER, TINY_RANDOM, CliError, load_embedder, load_reranker, warn_random
from .output import format_hits, format_info, format_report

logger = logging.getLogger(__name__)

__all__ = ["run"]

EXIT_FAILED, EXIT_MISMATCH, EXIT_LOCKED = 1, 4, 75


def run(args) -> int:
    """Run one parsed command; every expected failure is one line on stderr and an exit code."""
    try:
        return {"index": cmd_index, "search": cmd_search, "info": cmd_info}[args.command](args)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except StoreLockedError as exc:
        return _fail(str(exc), EXIT_LOCKED)
    except (DimensionMismatchError, CollectionMismatchError) as exc:
        return _fail(str(exc), EXIT_MISMATCH)
    except StoreError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return _fail("interrupted; rows written so far are kept, run the same command again to resume", 130)
    except Exception as exc:
        if type(exc).__module__.startswith("pymilvus"):
            return _fail(f"Milvus refused the request: {getattr(exc, 'message', exc)}", EXIT_FAILED)
        if logger.isEnabledFor(logging.INFO):
            raise
        return _fail(f"{type(exc).__name__}: {exc} (run with -v for the traceback)", EXIT_FAILED)


def _fail(message: str, code: int) -> int:
    print(f"qwen3vl: error: {message}", file=sys.stderr)
    return code


def _model_spec(args, recorded) -> str:
    """--model / QWEN3VL_MODEL, else the model the collection was built with, else the default."""
    if args.model:
        return args.model
    return recorded.model if recorded is not None else DEFAULT_MODEL


def _absolute_if_local(spec: str) -> str:
    return os.path.abspath(spec) if spec != TINY_RANDOM and os.path.isdir(spec) else spec


def _open(args, *, reranker: bool = False, must_exist: bool = False, **index_kwargs) -> MultimodalIndex:
    """Open the store first (a locked database fails fast), then load the model(s) it needs."""
    store = MilvusStore(args.db, args.collection, args.token)
    try:
        exists = store.exists()
        if must_exist and not exists:
            raise CliError(f"collection {args.collection!r} does not exist in {args.db}; "
                           "run `qwen3vl index PATH` first", EXIT_FAILED)
        recorded = store.describe()[1] if exists else None
        spec = _model_spec(args, recorded)
        dim = args.dim or (recorded.dim if recorded is not None else None)
        if spec == TINY_RANDOM:
            warn_random()
        embedder = load_embedder(spec, device=args.device, dim=dim)
        rr = None
        if reranker:
            rr_spec = args.reranker_model or (TINY_RANDOM if spec == TINY_RANDOM else DEFAULT_RERANKER)
            if rr_spec == TINY_RANDOM and spec != TINY_RANDOM:
                warn_random()
            rr = load_reranker(rr_spec, device=args.device)
        return MultimodalIndex(embedder, store=store, reranker=rr, dim=dim, model_name=_absolute_if_local(spec),
                               **index_kwargs)
    except BaseException:
        store.close()
        raise


def cmd_index(args) -> int:
    index = _open(args, batch_size=args.batch_size, chunk_chars=args.chunk_chars, chunk_overlap=args.chunk_overlap,
                  pdf_dpi=args.pdf_dpi)
    with index:
        report = index.add(args.paths, show_progress=not (args.no_progress or args.quiet))
        rows = index.store.count()
    if args.json:
        print(json.dumps({**report.to_dict(), "collection": args.collection, "db": args.db, "rows": rows}, indent=2))
    else:
        print(format_report(report, args.collection, args.db, rows))
    if report.ok or args.allow_partial:
        return 0
    return EXIT_FAILED


def cmd_search(args) -> int:
    index = _open(args, reranker=args.rerank, must_exist=True)
    with index:
        hits = index.search(args.query, image=args.image, video=args.video, top_k=args.top_k, filter=args.filter,
                            rerank=args.rerank, candidates=args.candidates, instruction=args.instruction)
    if args.json:
        print(json.dumps({"query": args.query, "image": args.image, "video": args.video, "collection": args.collection,
                          "reranked": bool(args.rerank), "results": [h.to_dict() for h in hits]}, indent=2))
    else:
        print(format_hits(hits, reranked=bool(args.rerank)))
    return 0


def cmd_info(args) -> int:
    with MilvusStore(args.db, args.collection, args.token) as store:
        info = collection_info(store)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_info(info))
    return 0
