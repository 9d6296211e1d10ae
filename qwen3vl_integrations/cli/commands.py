"""The ``index``, ``search``, ``remove`` and ``info`` commands: their options and what they run.

Each ``register_*(subparsers)`` adds one command whose parser carries ``handler`` (run with the
parsed arguments, returns the exit code) and optionally ``validate`` (returns a usage error
message or None) as defaults; ``run`` maps the errors every command may meet to exit codes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from qwen3vl_integrations.errors import (
    CollectionMismatchError,
    DimensionMismatchError,
    InputError,
    StoreError,
    StoreLockedError,
)
from qwen3vl_integrations.ingest import absolute, remove_paths
from qwen3vl_integrations.milvus import MilvusStore, MultimodalIndex, collection_info
from qwen3vl_integrations.milvus.store import is_lite_uri
from qwen3vl_integrations.weaviate import Qwen3VLWeaviate, WeaviateStore, is_weaviate_uri
from qwen3vl_integrations.weaviate import collection_info as weaviate_collection_info

from .models import DEFAULT_MODEL, DEFAULT_RERANKER, TINY_RANDOM, engine_config, load_embedder, load_reranker, warn_random
from .options import (
    ENV_PREFIX,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_MISMATCH,
    EXIT_USAGE,
    SEARCH_LIMIT,
    CliError,
    add_model_options,
    add_output_options,
    add_ray_options,
    add_store_options,
    env_default,
    int_between,
    positive_float,
    positive_int,
)
from .output import format_hits, format_info, format_removed, format_report, printable

logger = logging.getLogger(__name__)

__all__ = ["run", "register_index", "register_search", "register_remove", "register_info"]


def run(args) -> int:
    """Run one parsed command; every expected failure is one line on stderr and an exit code."""
    try:
        return args.handler(args)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except StoreLockedError as exc:
        return _fail(str(exc), EXIT_LOCKED)
    except (DimensionMismatchError, CollectionMismatchError) as exc:
        return _fail(str(exc), EXIT_MISMATCH)
    except InputError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except StoreError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return _fail("interrupted; rows written so far are kept, run the same command again to resume",
                     EXIT_INTERRUPTED)
    except Exception as exc:
        if type(exc).__module__.startswith("pymilvus"):
            return _fail(f"Milvus refused the request: {getattr(exc, 'message', exc)}", EXIT_FAILED)
        if logger.isEnabledFor(logging.INFO):
            raise
        return _fail(f"{type(exc).__name__}: {exc} (run with -v for the traceback)", EXIT_FAILED)


def _fail(message: str, code: int) -> int:
    print(f"qwen3vl: error: {printable(message)}", file=sys.stderr)
    return code


def _print_json(value: dict) -> None:
    print(json.dumps(value, indent=2))


# -- opening the store and the models ------------------------------------------------------------
def _weaviate_key(args) -> str | None:
    """The Weaviate API key: ``--token`` given on the command line, else ``$QWEN3VL_WEAVIATE_API_KEY``,
    else ``$QWEN3VL_TOKEN`` (the default of ``--token``)."""
    if args.token and not getattr(args.token, "variable", ""):
        return args.token
    return env_default("WEAVIATE_API_KEY") or args.token


def _connect_store(args, *, must_exist: bool = False) -> MilvusStore | WeaviateStore:
    """The store ``--db`` names: ``weaviate://`` / ``weaviates://`` a Weaviate, anything else Milvus."""
    if is_weaviate_uri(args.db):
        return WeaviateStore.open(args.db, args.collection, api_key=_weaviate_key(args))
    return MilvusStore(args.db, args.collection, args.token, create=not must_exist)


def _open_store(args, *, must_exist: bool) -> MilvusStore | WeaviateStore:
    """The store of ``--db``/``--collection``. ``must_exist``: a missing collection (or Milvus
    Lite database, which is then not created) is an error."""
    store = _connect_store(args, must_exist=must_exist)
    if must_exist and not store.exists():
        store.close()
        raise CliError(f"collection {args.collection!r} does not exist in {args.db}; run `qwen3vl index PATH` first")
    return store


def _dim(args, stored_dim: int | None, embedder) -> int | None:
    """--dim (a usage error when the model cannot make it), else the collection's when the model can."""
    hidden = embedder.hidden_size
    if args.dim is not None:
        if args.dim > hidden:
            raise CliError(f"--dim {args.dim} is larger than the model's vectors ({hidden}-d)", EXIT_USAGE)
        return args.dim
    return stored_dim if stored_dim is not None and stored_dim <= hidden else None


def model_name(spec: str) -> str:
    """The model id a collection records for ``--model spec`` (a local directory: its absolute path)."""
    return os.path.abspath(spec) if spec != TINY_RANDOM and os.path.isdir(spec) else spec


def _open(args, *, reranker: bool = False, must_exist: bool = False,
          **index_kwargs) -> MultimodalIndex | Qwen3VLWeaviate:
    """Open the store first (a locked database fails fast), then load the model(s) it needs."""
    store = _open_store(args, must_exist=must_exist)
    try:
        stored_dim, recorded = store.describe() if store.exists() else (None, None)
        spec = args.model or (recorded.model if recorded is not None else DEFAULT_MODEL)
        if spec == TINY_RANDOM:
            warn_random(args.quiet)
        config = engine_config()
        embedder = load_embedder(spec, device=args.device, config=config)
        rr = None
        if reranker:
            rr_spec = args.reranker_model or (TINY_RANDOM if spec == TINY_RANDOM else DEFAULT_RERANKER)
            if rr_spec == TINY_RANDOM and spec != TINY_RANDOM:
                warn_random(args.quiet)
            rr = load_reranker(rr_spec, device=args.device, config=config)
        kwargs = dict(reranker=rr, dim=_dim(args, stored_dim, embedder), model_name=model_name(spec), **index_kwargs)
        if isinstance(store, WeaviateStore):
            return Qwen3VLWeaviate(embedder, store=store, **kwargs)
        return MultimodalIndex(embedder, store=store, **kwargs)
    except BaseException:
        store.close()
        raise


# -- index ------------------------------------------------------------------------------------------
def register_index(sub) -> None:
    index = sub.add_parser(
        "index", help="sync files and folders into the collection (resumable; re-runs embed only what changed)",
        description="Index files and folders: images, videos, PDFs (one row per page) and text files (chunked). "
                    "The collection then mirrors the paths given: new and changed files are embedded, rows of "
                    "changed or deleted files under those paths are removed, copies reuse stored vectors, other "
                    "paths are untouched. An interrupted run resumes where it stopped.")
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (folders are walked)")
    add_store_options(index)
    add_model_options(index)
    index.add_argument("--batch-size", metavar="N", type=positive_int, default=env_default("BATCH_SIZE", 32),
                       help=f"items embedded and written per batch (default 32) [{ENV_PREFIX}BATCH_SIZE]")
    index.add_argument("--chunk-chars", metavar="N", type=int_between(16, 4000), default=2000,
                       help="text chunk size in characters, 16 to 4000 (default 2000)")
    index.add_argument("--chunk-overlap", metavar="N", type=int_between(0), default=200,
                       help="overlap of text chunks in characters, less than half of --chunk-chars (default 200)")
    index.add_argument("--pdf-dpi", metavar="DPI", type=positive_float, default=150.0,
                       help="PDF page rendering resolution, capped by max_pixels (default 150)")
    index.add_argument("--follow-symlinks", action="store_true",
                       help="also follow file symlinks that point outside the indexed folders")
    index.add_argument("--allow-partial", action="store_true", help="exit 0 even when some items failed")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_ray_options(index)
    add_output_options(index, "print the report as JSON")
    index.set_defaults(handler=cmd_index, validate=_validate_index)


def _validate_index(args) -> str | None:
    if args.chunk_overlap >= args.chunk_chars // 2:
        return "--chunk-overlap must be less than half of --chunk-chars"
    return None


def cmd_index(args) -> int:
    if args.ray is not None:
        from .ray_index import cmd_index_ray

        return cmd_index_ray(args)
    index = _open(args, batch_size=args.batch_size, chunk_chars=args.chunk_chars, chunk_overlap=args.chunk_overlap,
                  pdf_dpi=args.pdf_dpi)
    with index:
        report = index.add(args.paths, follow_symlinks=args.follow_symlinks,
                           show_progress=not (args.no_progress or args.quiet))
        rows = index.store.count()
    return index_outcome(args, report, index.store.label, rows)


def index_outcome(args, report, label: str, rows: int) -> int:
    """Print an index report as asked (JSON, summary or nothing) and return the exit code."""
    if args.json:
        _print_json({**report.to_dict(), "collection": args.collection, "db": args.db, "rows": rows})
    elif not args.quiet:
        print(format_report(report, label, rows))
    if report.ok or args.allow_partial:
        return 0
    if args.quiet and not args.json:
        _fail(f"{report.failed} items failed (run without -q, or with --json, to see them)", EXIT_FAILED)
    return EXIT_FAILED


# -- search -----------------------------------------------------------------------------------------
def register_search(sub) -> None:
    search = sub.add_parser("search", help="search by text and/or image", description="Search the collection "
                            "by text, image, video or a mix; the top candidates are reranked by default.")
    search.add_argument("query", nargs="?", metavar="QUERY", help="text query")
    search.add_argument("--image", metavar="PATH", help="image query (path or URL), alone or with QUERY")
    search.add_argument("--video", metavar="PATH", help="video query (path or URL)")
    search.add_argument("--top-k", metavar="K", type=SEARCH_LIMIT, default=10,
                        help="results to show, up to 16384 (default 10)")
    search.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=True,
                        help="rerank the top candidates with Qwen3-VL-Reranker (default on)")
    search.add_argument("--reranker-model", metavar="ID", default=env_default("RERANKER_MODEL"),
                        help="reranker: hub id or local checkpoint (default Qwen/Qwen3-VL-Reranker-2B; "
                             f"tiny-random with --model tiny-random) [{ENV_PREFIX}RERANKER_MODEL]")
    search.add_argument("--candidates", metavar="N", type=SEARCH_LIMIT,
                        help="vector hits passed to the reranker (default max(4*K, 20))")
    search.add_argument("--filter", metavar="EXPR", default="",
                        help='Milvus filter expression, e.g. \'modality == "image"\' (not with weaviate://)')
    search.add_argument("--instruction", metavar="TEXT",
                        help="query instruction (default: the embedder's retrieval task)")
    add_store_options(search)
    add_model_options(search)
    add_output_options(search, "print the results as JSON")
    search.set_defaults(handler=cmd_search, validate=_validate_search)


def _validate_search(args) -> str | None:
    if args.query is not None and not args.query.strip():
        return "QUERY is empty or blank"
    if not (args.query or args.image or args.video):
        return "search needs a QUERY, --image or --video"
    if is_weaviate_uri(args.db):
        if args.filter:
            return "--filter takes a Milvus expression; with weaviate:// filter in Python (Qwen3VLWeaviate.search(filter=...))"
        if args.top_k > Qwen3VLWeaviate.max_results:
            return f"--top-k is at most {Qwen3VLWeaviate.max_results} with weaviate:// (Weaviate's QUERY_MAXIMUM_RESULTS)"
    return None


def cmd_search(args) -> int:
    index = _open(args, reranker=args.rerank, must_exist=True)
    with index:
        index.check(for_write=False)
        if args.filter and isinstance(index.store, MilvusStore):  # weaviate:// refuses --filter (validate)
            _check_filter(index.store, args.filter)
        hits = index.search(args.query, image=args.image, video=args.video, top_k=args.top_k, filter=args.filter,
                            rerank=args.rerank, candidates=args.candidates, instruction=args.instruction)
    if args.json:
        _print_json({"query": args.query, "image": args.image, "video": args.video, "collection": args.collection,
                     "reranked": bool(args.rerank), "results": [h.to_dict() for h in hits]})
    else:
        print(format_hits(hits, reranked=bool(args.rerank)))
    return 0


def _check_filter(store: MilvusStore, expression: str) -> None:
    """A --filter Milvus cannot evaluate is a usage error (exit code 2), not a failed search."""
    pymilvus = sys.modules.get("pymilvus")
    try:
        store.count(expression)
    except Exception as exc:
        if pymilvus is None or not isinstance(exc, pymilvus.exceptions.MilvusException):
            raise
        raise CliError(f"--filter {expression!r}: Milvus cannot evaluate it ({exc.message})", EXIT_USAGE) from None


# -- remove -----------------------------------------------------------------------------------------
def register_remove(sub) -> None:
    remove = sub.add_parser("remove", help="delete the rows of files and folders from the collection",
                            description="Delete every row whose source is one of PATH or lies under it (the files "
                                        "need not exist any more). No model is loaded.")
    remove.add_argument("paths", nargs="+", metavar="PATH", help="files or folders, as given to `qwen3vl index`")
    add_store_options(remove)
    add_output_options(remove, "print the result as JSON")
    remove.set_defaults(handler=cmd_remove)


def cmd_remove(args) -> int:
    with _open_store(args, must_exist=True) as store:
        if store.describe()[1] is None:
            raise CollectionMismatchError(f"{store.label} was not written by qwen3vl_integrations; "
                                          "refusing to delete from it")
        store.ensure_index()
        removed = remove_paths(store, args.paths)
        rows = store.count()
    paths = [absolute(p) for p in args.paths]
    if args.json:
        _print_json({"removed": removed, "paths": paths, "collection": args.collection, "db": args.db, "rows": rows})
    elif not args.quiet:
        print(format_removed(removed, paths, store.label, rows))
    return 0


# -- info -------------------------------------------------------------------------------------------
def register_info(sub) -> None:
    info = sub.add_parser("info", help="collection stats and recorded model settings",
                          description="Rows, rows per type, vector dim, and the recorded model and settings.")
    add_store_options(info)
    add_output_options(info, "print as JSON")
    info.set_defaults(handler=cmd_info)


def cmd_info(args) -> int:
    if is_lite_uri(args.db) and not os.path.exists(args.db):
        info = {"collection": args.collection, "uri": args.db, "exists": False}  # not created by looking
    else:
        with _connect_store(args) as store:
            info = weaviate_collection_info(store) if isinstance(store, WeaviateStore) else collection_info(store)
    if args.json:
        _print_json(info)
    else:
        print(format_info(info))
    return 0
