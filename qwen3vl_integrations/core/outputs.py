"""Matryoshka truncation, output precisions and the result types (one of each).

``precision="int8"`` is the model contract's fixed scale, ``clip(round(x * 127), -127, 127)``: it
depends on nothing but the vector. sentence-transformers' ``int8`` is range-calibrated instead
(per dimension, ``(x - min) / ((max - min) / 255) - 128`` over calibration embeddings, truncated
towards zero); pass ``calibration_embeddings=`` to get those codes. ``binary`` and ``ubinary``
are the same as sentence-transformers'.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, NonFiniteOutputError

logger = logging.getLogger(__name__)

__all__ = ["PRECISIONS", "truncate_dim", "quantize", "calibration_ranges", "postprocess", "check_dim",
           "check_precision", "check_calibration", "RerankResult", "EmbedOutput", "ScoreOutput"]

PRECISIONS = ("float32", "float16", "int8", "ubinary", "binary")


def check_dim(dim: Any, hidden: int) -> int:
    """``dim`` as an int within [1, hidden] (``None`` = hidden); warns below 32."""
    if dim is None:
        return hidden
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise InputError(f"dim must be an int between 1 and {hidden}, got {dim!r}", param="dim")
    if not 1 <= dim <= hidden:
        raise InputError(f"dim must be between 1 and {hidden}, got {dim}", param="dim")
    if dim < 32:
        warnings.warn(f"dim={dim} is below 32, the smallest Matryoshka size evaluated for these models", stacklevel=3)
    return int(dim)


def check_precision(precision: Any) -> str:
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}", param="precision")
    return precision


def calibration_ranges(calibration: np.ndarray) -> np.ndarray:
    """Per-dimension (min, max) of calibration embeddings: shape (2, dim)."""
    return np.stack([calibration.min(axis=0), calibration.max(axis=0)])


def check_calibration(calibration: Any, precision: str, dim: int) -> np.ndarray | None:
    """The per-dimension ranges of ``calibration_embeddings`` (``None`` when not given), validated:
    a finite float array (N, dim) with N >= 1, for ``precision="int8"`` only."""
    if calibration is None:
        return None
    if precision != "int8":
        raise InputError(f"calibration_embeddings applies to precision='int8' only, not {precision!r}",
                         param="calibration_embeddings")
    try:
        array = np.asarray(calibration)
    except Exception as exc:
        raise InputError(f"calibration_embeddings must be an array, got {type(calibration).__name__}",
                         param="calibration_embeddings") from exc
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != dim or array.dtype.kind != "f":
        raise InputError(f"calibration_embeddings must be a float array of shape (N, {dim}), got "
                         f"{array.dtype} {array.shape}", param="calibration_embeddings")
    if not np.isfinite(array).all():
        raise InputError("calibration_embeddings holds non-finite values", param="calibration_embeddings")
    return calibration_ranges(array)


def truncate_dim(vectors: np.ndarray, dim: int) -> np.ndarray:
    """First ``dim`` components, L2-normalised again (a no-op renormalisation at full size)."""
    out = np.asarray(vectors, dtype=np.float32)[..., :dim]
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


def _calibrated_int8(vectors: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """sentence-transformers' calibrated int8 codes (255 steps between each dimension's min and max,
    shifted by -128, truncated towards zero). Values outside the calibration range are clipped to
    [-128, 127] (sentence-transformers' cast would wrap them); a dimension whose calibration values
    are all equal maps to -128."""
    starts = ranges[0]
    steps = (ranges[1] - ranges[0]) / 255  # in the arithmetic of sentence-transformers (no upcast)
    flat = steps <= 0
    codes = np.trunc((vectors - starts) / np.where(flat, 1, steps) - 128)
    return np.where(flat, -128, np.clip(codes, -128, 127)).astype(np.int8)


def quantize(vectors: np.ndarray, precision: str, calibration_embeddings: np.ndarray | None = None, *,
             ranges: np.ndarray | None = None) -> np.ndarray:
    """Quantise normalised float32 vectors. Without calibration every precision is per-vector
    deterministic; ``int8`` with ``calibration_embeddings`` (or their ``ranges``, shape (2, dim))
    uses sentence-transformers' range-calibrated codes (see the module docstring)."""
    check_precision(precision)
    if calibration_embeddings is not None and ranges is None:
        ranges = check_calibration(calibration_embeddings, precision, vectors.shape[-1])
    elif ranges is not None and precision != "int8":
        raise InputError("calibration ranges apply to precision='int8' only", param="calibration_embeddings")
    if precision == "float32":
        return vectors.astype(np.float32, copy=False)
    if precision == "float16":
        return vectors.astype(np.float16)
    if precision == "int8":
        if ranges is not None:
            return _calibrated_int8(vectors, ranges)
        return np.clip(np.round(vectors * 127.0), -127, 127).astype(np.int8)
    packed = np.packbits(vectors > 0, axis=-1)
    return packed if precision == "ubinary" else (packed.astype(np.int16) - 128).astype(np.int8)


def postprocess(vectors: np.ndarray, dim: int, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """Matryoshka truncation then quantisation; a non-finite vector raises :class:`NonFiniteOutputError`."""
    check_precision(precision)
    if not np.isfinite(vectors).all():
        raise NonFiniteOutputError("the model produced a non-finite vector")
    return quantize(truncate_dim(vectors, dim), precision, ranges=ranges)


@dataclass(frozen=True)
class RerankResult:
    """One reranked document: its position in the input, its relevance score, and the document."""

    index: int
    score: float
    document: Any = None


@dataclass(frozen=True)
class EmbedOutput:
    """One embedded item (``submit_embed``): the post-processed vector and what was computed."""

    #: the vector with ``dim`` and ``precision`` applied
    vector: np.ndarray
    #: real prompt tokens of the item (for usage accounting)
    tokens: int
    #: whether ordinary text tokens were cut to fit ``max_length``
    truncated: bool
    #: effective media values actually used, per visual: ``{"video[0]": {"fps": ..., "frames": ...}}``
    effective: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreOutput:
    """One scored (query, document) pair (``submit_score``)."""

    score: float
    #: real prompt tokens of the pair
    tokens: int
    truncated: bool
