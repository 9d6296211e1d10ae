"""The ``qwen3vl`` command line: sync folders into Milvus or Weaviate, search them, remove paths, show what is stored.

    qwen3vl index PATH... [--db URI] [--collection NAME] [--model ID] [--dim D]   (URI: a Milvus Lite file,
                  http(s)://host:19530 for Milvus, weaviate://host:8080 or weaviates://host for Weaviate)
    qwen3vl search [QUERY] [--image PATH] [--top-k K] [--rerank/--no-rerank] [--json]
    qwen3vl remove PATH... [--json]
    qwen3vl info [--json]
    qwen3vl serve [--model ID] [--reranker-model ID] [--host 127.0.0.1] [--port 8080]   (see cli/serve.py)

Every option also comes from an environment variable of the one prefix ``ENV_PREFIX``
(``QWEN3VL_DB``, ``QWEN3VL_TOKEN``, ``QWEN3VL_COLLECTION``, ``QWEN3VL_MODEL``,
``QWEN3VL_RERANKER_MODEL``, ``QWEN3VL_DIM``, ``QWEN3VL_DEVICE``, ``QWEN3VL_BATCH_SIZE``,
``QWEN3VL_CACHE_DIR``, ``QWEN3VL_WEAVIATE_API_KEY``; engine settings such as ``QWEN3VL_MAX_PIXELS``).
Exit codes: 0 success, 1 failed items or a store error, 2 bad arguments (a bad variable included), 3 model cannot be
loaded, 4 collection holds another model/dim/settings, 75 database locked by another process
(retry later), 130 interrupted.

A command is one ``register(subparsers)`` function in ``COMMANDS``: it adds its parser with a
``handler`` default (and optionally ``validate``); adding a command is one more entry there.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .commands import register_index, register_info, register_remove, register_search, run
from .options import ENV_PREFIX

__all__ = ["main", "build_parser", "ENV_PREFIX", "COMMANDS"]

_NOISY_LOGGERS = ("pymilvus", "milvus_lite", "grpc", "faiss", "httpx", "urllib3", "huggingface_hub", "filelock",
                  "weaviate-client")


def register_serve(sub) -> None:
    """``qwen3vl serve`` (``cli/serve.py``), imported only to build the parser."""
    from .serve import add_serve_parser, run_serve

    add_serve_parser(sub).set_defaults(handler=run_serve)


#: the subcommands, in the order ``--help`` lists them
COMMANDS = [register_index, register_search, register_remove, register_info, register_serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen3vl", description="Index folders of images, PDFs, videos and text into Milvus or Weaviate with "
        "Qwen3-VL-Embedding, and search them by text or image, reranked by Qwen3-VL-Reranker.",
        epilog=f"Environment variables use the prefix {ENV_PREFIX} (see each option). Exit codes: 0 ok, 1 failed "
               "items or store error, 2 bad arguments, 3 model not loadable, 4 incompatible collection, "
               "75 database locked (retry), 130 interrupted.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
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
    validate = getattr(args, "validate", None)
    problem = validate(args) if validate is not None else None
    if problem:
        parser.error(problem)
    configure_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    return run(args)
