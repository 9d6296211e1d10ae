"""Model resolution for the command line: hub ids, local paths and the ``tiny-random`` checkpoint."""

from __future__ import annotations

import logging
import sys

from qwen3vl_integrations.testing import TINY_RANDOM, cache_dir, tiny_random_checkpoint

from .options import EXIT_MODEL, EXIT_USAGE, CliError

logger = logging.getLogger(__name__)

__all__ = ["TINY_RANDOM", "DEFAULT_MODEL", "DEFAULT_RERANKER", "CliError", "resolve_model", "load_embedder",
           "load_reranker", "cache_dir", "engine_config"]

DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_RERANKER = "Qwen/Qwen3-VL-Reranker-2B"


def warn_random(quiet: bool = False) -> None:
    if quiet:
        return
    print("WARNING: --model tiny-random uses a tiny model with RANDOM weights: its rankings are MEANINGLESS. "
          "It is for trying the tool offline and for tests.", file=sys.stderr)


def resolve_model(spec: str) -> str:
    """The path or hub id to load for ``spec`` (``tiny-random`` -> the cached random checkpoint)."""
    if spec == TINY_RANDOM:
        return str(tiny_random_checkpoint())
    return spec


def _load(cls, spec: str, what: str, options: str, **kwargs):
    from qwen3vl_integrations.errors import ModelLoadError

    try:
        return cls.from_pretrained(resolve_model(spec), **kwargs)
    except ModelLoadError as exc:
        detail = " ".join(str(exc).split(". Pass a local", 1)[0].split())
        raise CliError(f"cannot load the {what} {spec!r}: {detail}. Options: {options}, or --model {TINY_RANDOM} "
                       "to try the tool offline with random weights (meaningless rankings).", EXIT_MODEL) from None


def engine_config():
    """The engine settings of the ``QWEN3VL_<FIELD>`` variables (``EngineConfig.from_env``); a bad value is exit code 2."""
    from qwen3vl_integrations import EngineConfig

    try:
        return EngineConfig.from_env()
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def load_embedder(spec: str, *, device: str | None, config=None):
    from qwen3vl_integrations import Qwen3VLEmbedder

    return _load(Qwen3VLEmbedder, spec, "embedding model", "--model PATH (a local checkpoint directory)",
                 device=device, config=config)


def load_reranker(spec: str, *, device: str | None, config=None):
    from qwen3vl_integrations import Qwen3VLReranker

    return _load(Qwen3VLReranker, spec, "reranker model",
                 "--reranker-model PATH (a local checkpoint directory), --no-rerank", device=device, config=config)
