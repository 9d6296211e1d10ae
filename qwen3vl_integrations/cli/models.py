"""Model resolution for the command line: hub ids, local paths and the ``tiny-random`` checkpoint."""

from __future__ import annotations

import logging
import sys

from qwen3vl_integrations.testing import TINY_RANDOM, cache_dir, tiny_random_checkpoint

logger = logging.getLogger(__name__)

__all__ = ["TINY_RANDOM", "DEFAULT_MODEL", "DEFAULT_RERANKER", "CliError", "resolve_model", "load_embedder",
           "load_reranker", "cache_dir"]

DEFAULT_MODEL = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_RERANKER = "Qwen/Qwen3-VL-Reranker-2B"

EXIT_MODEL = 3


class CliError(Exception):
    """An error the command line reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def warn_random() -> None:
    print("WARNING: --model tiny-random uses a tiny model with RANDOM weights: its rankings are MEANINGLESS. "
          "It is for trying the tool offline and for tests.", file=sys.stderr)


def resolve_model(spec: str) -> str:
    """The path or hub id to load for ``spec`` (``tiny-random`` -> the cached random checkpoint)."""
    if spec == TINY_RANDOM:
        return str(tiny_random_checkpoint())
    return spec


def _load(cls, spec: str, what: str, options: str, **kwargs):
    from qwen3vl_integrations import ModelLoadError

    try:
        return cls.from_pretrained(resolve_model(spec), **kwargs)
    except ModelLoadError as exc:
        detail = " ".join(str(exc).split(". Pass a local", 1)[0].split())
        raise CliError(f"cannot load the {what} {spec!r}: {detail}. Options: {options}, or --model {TINY_RANDOM} "
                       "to try the tool offline with random weights (meaningless rankings).", EXIT_MODEL) from None


def load_embedder(spec: str, *, device: str | None, dim: int | None):
    from qwen3vl_integrations import Qwen3VLEmbedder

    return _load(Qwen3VLEmbedder, spec, "embedding model", "--model PATH (a local checkpoint directory)",
                 device=device, dim=dim)


def load_reranker(spec: str, *, device: str | None):
    from qwen3vl_integrations import Qwen3VLReranker

    return _load(Qwen3VLReranker, spec, "reranker model",
                 "--reranker-model PATH (a local checkpoint directory), --no-rerank", device=device)
