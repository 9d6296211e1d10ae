"""Matryoshka truncation, output precisions and result types."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NonFiniteOutputError

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "truncate_dim", "quantize", "postprocess", "check_dim", "RerankResult"]

PRECISIONS = ("float32", "float16", "int8", "ubinary", "binary")


def check_dim(dim: int | None, hidden: int) -> int:
    if dim is None:
        return hidden
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ValueError(f"dim must be an int between 1 and {hidden}, got {dim!r}")
    if not 1 <= dim <= hidden:
        raise ValueError(f"dim must be between 1 and {hidden}, got {dim}")
    if dim < 32:
        warnings.warn(f"dim={dim} is below 32, the smallest Matryoshka size evaluated for these models", stacklevel=3)
    return int(dim)


def truncate_dim(vectors: np.ndarray, dim: int) -> np.ndarray:
    """First ``dim`` components, L2-normalised again (a no-op renormalisation at full size)."""
    out = np.asarray(vectors, dtype=np.float32)[..., :dim]
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def quantize(vectors: np.ndarray, precision: str) -> np.ndarray:
    """Per-vector deterministic quantisation of normalised float32 vectors."""
    if precision == "float32":
        return vectors.astype(np.float32, copy=False)
    if precision == "float16":
        return vectors.astype(np.float16)
    if precision == "int8":
        return np.clip(np.round(vectors * 127.0), -127, 127).astype(np.int8)
    if precision in ("ubinary", "binary"):
        packed = np.packbits(vectors > 0, axis=-1)
        return packed if precision == "ubinary" else (packed.astype(np.int16) - 128).astype(np.int8)
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def postprocess(vectors: np.ndarray, dim: int, precision: str) -> np.ndarray:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if not np.isfinite(vectors).all():
        raise NonFiniteOutputError("the model produced a non-finite vector")
    return quantize(truncate_dim(vectors, dim), precision)


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its position in the input, its relevance score, and the document."""

    index: int
    score: float
    document: Any = None
