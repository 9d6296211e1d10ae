"""``qwen3vl serve``: run the HTTP server (OpenAI, Cohere and TEI protocols) for one or two models.

    qwen3vl serve [--model ID] [--reranker-model ID] [--host 127.0.0.1] [--port 8080] [limits...]

Either model may be omitted (an embed-only or a rerank-only server); with neither, both default models
are served. Every option is also a ``QWEN3VL_*`` variable (the option's name in capitals, e.g.
``QWEN3VL_MAX_BODY_BYTES``); the API key comes only from ``QWEN3VL_API_KEY`` or ``--api-key-file``.
Engine settings (``QWEN3VL_MAX_PIXELS``, ``QWEN3VL_TOKEN_BUDGET``...) are read as EngineConfig fields.
The options are built from ``ServerSettings``' fields, so the two never disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from ..core.config import ENV_PREFIX, env_value
from ..server.settings import ServerSettings, field_kind
from .options import EXIT_USAGE

__all__ = ["add_serve_parser", "run_serve"]

EXIT_CUT_OFF = 1  # SIGTERM's grace period ended with requests still in flight


def add_serve_parser(sub) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``qwen3vl`` sub-command parsers."""
    parser = sub.add_parser(
        "serve", help="serve the models over HTTP (OpenAI, Cohere, TEI protocols)",
        description="Serve Qwen3-VL embeddings and reranking over HTTP for Milvus, Weaviate and OpenAI / Cohere / "
                    "TEI clients. Each option is also a QWEN3VL_* variable; the API key only comes from "
                    "QWEN3VL_API_KEY or --api-key-file.")
    models = parser.add_argument_group("models")
    models.add_argument("--model", metavar="ID", default=os.environ.get(ENV_PREFIX + "MODEL"),
                        help="embedding model: hub id, local checkpoint directory, or 'tiny-random' [QWEN3VL_MODEL]")
    models.add_argument("--reranker-model", metavar="ID", default=os.environ.get(ENV_PREFIX + "RERANKER_MODEL"),
                        help="reranker model (omit both for the two default models) [QWEN3VL_RERANKER_MODEL]")
    models.add_argument("--device", metavar="DEV", default=os.environ.get(ENV_PREFIX + "DEVICE"),
                        help="cpu, cuda, cuda:1 ... (default: CUDA when present) [QWEN3VL_DEVICE]")
    models.add_argument("--dim", metavar="D", type=int, default=None,
                        help="default Matryoshka size of served vectors [QWEN3VL_DIM]")
    server = parser.add_argument_group("server and limits")
    for f in dataclasses.fields(ServerSettings):
        if f.metadata.get("cli", True):
            _add_setting(server, f)
    server.add_argument("--api-key-file", metavar="PATH", default=os.environ.get(ENV_PREFIX + "API_KEY_FILE"),
                        help="file holding the bearer API key required on inference routes [QWEN3VL_API_KEY_FILE]; "
                             "or set QWEN3VL_API_KEY")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return parser


def _add_setting(group, f: dataclasses.Field) -> None:
    kind = field_kind(f)
    flag = "--" + f.name.replace("_", "-")
    shown = "" if f.default in (None, ()) else f" (default {f.default!r})"
    help_text = f"{f.metadata['help']}{shown} [{ENV_PREFIX}{f.name.upper()}]"
    if kind is bool:
        group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif kind is tuple:
        group.add_argument(flag.rstrip("s"), dest=f.name, action="append", metavar="DIR", default=None,
                           help=help_text + "; several directories: repeat the option, or separate them with "
                                            f"{os.pathsep!r} in the variable")
    else:
        group.add_argument(flag, dest=f.name, type=kind, metavar=f.name.split("_")[-1].upper(), default=None,
                           help=help_text)


def settings_from_args(args) -> ServerSettings:
    """Command-line values over ``QWEN3VL_*`` variables over the defaults; the key from its file.
    A bad value raises ValueError naming the setting."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(ServerSettings)
                 if getattr(args, f.name, None) is not None}
    if args.api_key_file:
        try:
            overrides["api_key"] = Path(args.api_key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read --api-key-file: {exc.strerror}") from None
    return ServerSettings.from_env(**overrides)


def _load_models(args, settings: ServerSettings):
    from .models import DEFAULT_MODEL, DEFAULT_RERANKER, TINY_RANDOM, _load, engine_config, warn_random

    model, reranker = args.model, args.reranker_model
    if model is None and reranker is None:
        model, reranker = DEFAULT_MODEL, DEFAULT_RERANKER
    if TINY_RANDOM in (model, reranker):
        warn_random()
    from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker

    policy = settings.media_policy()
    config = engine_config()  # engine settings (QWEN3VL_MAX_PIXELS ...): the library reads no environment
    dim = args.dim if args.dim is not None else env_value("DIM", int)
    embedder = None if model is None else _load(
        Qwen3VLEmbedder, model, "embedding model", "--model PATH (a local checkpoint directory)",
        device=args.device, dim=dim, policy=policy, config=config)
    ranker = None if reranker is None else _load(
        Qwen3VLReranker, reranker, "reranker model", "--reranker-model PATH (a local checkpoint directory)",
        device=args.device, policy=policy, config=config)
    return embedder, ranker


def run_serve(args) -> int:
    """Load the models and serve until SIGTERM; returns the exit code."""
    from .models import CliError

    try:
        settings = settings_from_args(args)
        from qwen3vl_integrations.server import bind, serve
    except (ImportError, ValueError) as exc:
        print(f"qwen3vl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(f"qwen3vl: error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    try:
        embedder, reranker = _load_models(args, settings)
    except CliError as exc:
        print(f"qwen3vl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # a bad QWEN3VL_DIM (engine settings are CliErrors of engine_config)
        print(f"qwen3vl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def announce(url: str) -> None:
        print(f"qwen3vl serve: listening on {url} (health turns 200 after the warm-up)", file=sys.stderr, flush=True)

    drained = serve(embedder, reranker, settings, sock=sock, on_listening=announce)
    for engine in (embedder, reranker):
        if engine is not None and hasattr(engine, "close"):
            engine.close()
    if not drained:  # model work may still run in a worker thread: do not let it crash the interpreter's exit
        logging.shutdown()
        os._exit(EXIT_CUT_OFF)
    return 0
