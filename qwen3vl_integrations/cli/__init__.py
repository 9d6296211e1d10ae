"""The ``qwen3vl`` command line: index a folder into Milvus, search it, show what is stored.

    qwen3vl index PATH... [--db URI] [--collection NAME] [--model ID] [--dim D]
    qwen3vl search [QUERY] [--image PATH] [--top-k K] [--rerank/--no-rerank] [--json]
    qwen3vl info [--json]
    qwen3vl serve [--model ID] [--reranker-model ID] [--host 127.0.0.1] [--port 8080]   (see cli/serve.py)

Every option also comes from an environment variable of the one prefix ``QWEN3VL_``
(``QWEN3VL_DB``, ``QWEN3VL_TOKEN``, ``QWEN3VL_COLLECTION``, ``QWEN3VL_MODEL``,
``QWEN3VL_RERANKER_MODEL``, ``QWEN3VL_DIM``, ``QWEN3VL_DEVICE``, ``QWEN3VL_BATCH_SIZE``,
``QWEN3VL_CACHE_DIR``; engine settings such as ``QWEN3VL_MAX_PIXELS``). Exit codes: 0 success,
1 failed items or a Milvus error, 2 bad arguments, 3 model cannot be loaded, 4 collection holds
another model/dim/settings, 75 database locked by another process (retry later).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

__all__ = ["main", "build_parser", "ENV_PREFIX"]

ENV_PREFIX = "QWEN3VL_"
_NOISY_LOGGERS = ("pymilvus", "milvus_lite", "grpc", "faiss", "httpx", "urllib3", "huggingface_hub", "filelock")


def _env(name: str, default=None):
    return os.environ.get(ENV_PREFIX + name, default)


def _env_int(name: str, default: int | None) -> int | None:
    raw = _env(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"qwen3vl: error: {ENV_PREFIX}{name}={raw!r} is not an integer") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    store = parser.add_argument_group("store")
    store.add_argument("--db", metavar="URI", default=_env("DB", "./qwen3vl.db"),
                       help="Milvus Lite file (default ./qwen3vl.db) or Milvus server URI http(s)://host:19530 "
                            "[QWEN3VL_DB]")
    store.add_argument("--token", metavar="T", default=_env("TOKEN"),
                       help="Milvus token, 'user:password' or API key; prefer the variable [QWEN3VL_TOKEN]")
    store.add_argument("--collection", metavar="NAME", default=_env("COLLECTION", "qwen3vl"),
                       help="collection name (default qwen3vl) [QWEN3VL_COLLECTION]")
    model = parser.add_argument_group("model")
    model.add_argument("--model", metavar="ID", default=_env("MODEL"),
                       help="embedding model: hub id, local checkpoint directory, or 'tiny-random' (random weights, "
                            "for offline trials). Default: the collection's recorded model, else "
                            "Qwen/Qwen3-VL-Embedding-2B [QWEN3VL_MODEL]")
    model.add_argument("--dim", metavar="D", type=_positive, default=_env_int("DIM", None),
                       help="Matryoshka vector size (default: the collection's, else the model's) [QWEN3VL_DIM]")
    model.add_argument("--device", metavar="DEV", default=_env("DEVICE"),
                       help="cpu, cuda, cuda:1 ... (default: CUDA when present) [QWEN3VL_DEVICE]")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only, no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen3vl", description="Index folders of images, PDFs, videos and text into Milvus with "
        "Qwen3-VL-Embedding, and search them by text or image, reranked by Qwen3-VL-Reranker.",
        epilog="Environment variables use the prefix QWEN3VL_ (see each option). Exit codes: 0 ok, 1 failed "
               "items or Milvus error, 2 bad arguments, 3 model not loadable, 4 incompatible collection, "
               "75 database locked (retry).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    index = sub.add_parser("index", help="index files and folders (resumable, re-runs add nothing)",
                           description="Index files and folders: images, videos, PDFs (one row per page) and text "
                                       "files (chunked). Rows have content-hash ids: re-running adds nothing and "
                                       "an interrupted run resumes.")
    index.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (folders are walked)")
    _common(index)
    index.add_argument("--batch-size", metavar="N", type=_positive, default=_env_int("BATCH_SIZE", 32),
                       help="items embedded and written per batch (default 32) [QWEN3VL_BATCH_SIZE]")
    index.add_argument("--chunk-chars", metavar="N", type=_positive, default=2000, help="text chunk size in characters")
    index.add_argument("--chunk-overlap", metavar="N", type=int, default=200,
                       help="overlap of text chunks in characters")
    index.add_argument("--pdf-dpi", metavar="DPI", type=float, default=150.0, help="PDF page rendering resolution")
    index.add_argument("--allow-partial", action="store_true", help="exit 0 even when some items failed")
    index.add_argument("--no-progress", action="store_true", help="no progress bar")
    index.add_argument("--json", action="store_true", help="print the report as JSON")

    search = sub.add_parser("search", help="search by text and/or image", description="Search the collection "
                            "by text, image, video or a mix; the top candidates are reranked by default.")
    search.add_argument("query", nargs="?", metavar="QUERY", help="text query")
    search.add_argument("--image", metavar="PATH", help="image query (path or URL), alone or with QUERY")
    search.add_argument("--video", metavar="PATH", help="video query (path or URL)")
    search.add_argument("--top-k", metavar="K", type=_positive, default=10, help="results to show (default 10)")
    search.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=True,
                        help="rerank the top candidates with Qwen3-VL-Reranker (default on)")
    search.add_argument("--reranker-model", metavar="ID", default=_env("RERANKER_MODEL"),
                        help="reranker: hub id or local checkpoint (default Qwen/Qwen3-VL-Reranker-2B; "
                             "tiny-random with --model tiny-random) [QWEN3VL_RERANKER_MODEL]")
    search.add_argument("--candidates", metavar="N", type=_positive,
                        help="vector hits passed to the reranker (default max(4*K, 20))")
    search.add_argument("--filter", metavar="EXPR", default="",
                        help='Milvus filter expression, e.g. \'modality == "image"\'')
    search.add_argument("--instruction", metavar="TEXT",
                        help="query instruction (default: the embedder's retrieval task)")
    _common(search)
    search.add_argument("--json", action="store_true", help="print the results as JSON")

    info = sub.add_parser("info", help="collection stats and recorded model settings")
    _common(info)
    info.add_argument("--json", action="store_true", help="print as JSON")
    from .serve import add_serve_parser

    add_serve_parser(sub)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:  # pymilvus configures its loggers when imported: import it first, then quiet them
        import pymilvus  # noqa: F401
    except ImportError:
        pass
    for name in (*_NOISY_LOGGERS, "pymilvus.milvus_client", "pymilvus.bulk_writer"):
        logging.getLogger(name).setLevel(level if verbose >= 2 else logging.CRITICAL)
    if verbose < 2:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - transformers is a core dependency
            pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qwen3vl`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "search" and not (args.query or args.image or args.video):
        parser.error("search needs a QUERY, --image or --video")
    if args.command == "index" and not 16 <= args.chunk_chars <= 4000:
        parser.error("--chunk-chars must be between 16 and 4000")
    if args.command == "index" and not 0 <= args.chunk_overlap < args.chunk_chars // 2:
        parser.error("--chunk-overlap must be >= 0 and less than half of --chunk-chars")
    configure_logging(args.verbose, args.quiet)
    if args.command == "serve":
        from .serve import run_serve

        return run_serve(args)
    from .commands import run

    return run(args)
