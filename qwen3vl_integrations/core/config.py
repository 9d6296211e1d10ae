"""Engine settings: one frozen dataclass shared by Python callers, the CLI, env vars and the server."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

__all__ = ["EngineConfig", "ENV_PREFIX", "DEFAULT_EMBED_INSTRUCTION", "DEFAULT_RERANK_INSTRUCTION"]

ENV_PREFIX = "QWEN3VL_"
DEFAULT_EMBED_INSTRUCTION = "Represent the user's input."
DEFAULT_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."

IMAGE_FACTOR = 32


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: value types of the fields whose default is ``None`` (``auto`` in the environment)
_OPTIONAL_KINDS = {"max_length": int, "num_workers": int, "min_batch_fill": float, "packing": bool,
                   "vision_patch_budget": int, "cache_bytes": int}


@dataclass(frozen=True)
class EngineConfig:
    """Preprocessing and batching settings (defaults are the model contract's).

    ``max_length`` is ``None`` to mean "the model's default" (8192 for the embedder,
    10240 for the reranker).
    """

    max_length: int | None = None
    min_pixels: int = 4 * IMAGE_FACTOR * IMAGE_FACTOR  # 4096
    max_pixels: int = 1800 * IMAGE_FACTOR * IMAGE_FACTOR  # 1,843,200
    total_pixels: int = 10 * 768 * IMAGE_FACTOR * IMAGE_FACTOR  # 7,864,320
    fps: float = 1.0
    max_frames: int = 64
    truncate: bool = True
    #: texts longer than this many characters are refused before tokenisation
    max_text_chars: int = 1_000_000
    #: tokens one forward pass may hold: batch rows x longest row when padded, real tokens when packed
    token_budget: int = 16384
    #: most items in one forward pass
    max_batch_items: int = 64
    #: padded batches only: least share of real (non-padding) tokens in a batch; a longest-first batch
    #: is closed before it drops below this. ``None`` = auto: 0.95 on a CPU (where batching buys no
    #: parallelism and padding is pure waste), 0.85 on an accelerator (where bigger batches are the gain)
    min_batch_fill: float | None = None
    #: threads that load and preprocess media ahead of the forward pass (0 = inline). ``None`` = auto:
    #: 2 on an accelerator or when media come from URLs; on a CPU, only the cores torch leaves free
    #: (the forward pass already uses the cores torch is given, so preparing ahead there only competes)
    num_workers: int | None = None
    #: run each batch as its rows laid end to end in one sequence (no padding; attention row by row)
    #: instead of a padded batch. ``None`` = auto: on a CPU, where a padded batch buys no parallelism
    packing: bool | None = None
    #: most vision patches per vision-tower call; a batch's images or videos are encoded in groups
    #: under it (a single larger one alone). ``None`` = auto: 8192 on a CPU (measured about 5 % faster
    #: than whole batches), no cap on an accelerator
    vision_patch_budget: int | None = None
    #: byte cap of the engine's cache of prepared media and vision features (core/cache.py); 0 turns it
    #: off. ``None`` = auto: 10 % of the device's memory (accelerator memory, or the host's RAM for a
    #: CPU), at most 8 GiB
    cache_bytes: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for name in ("min_pixels", "max_pixels", "total_pixels", "max_frames", "max_text_chars", "token_budget", "max_batch_items"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})")
        if self.max_length is not None and self.max_length < 16:
            raise ValueError(f"max_length must be at least 16, got {self.max_length}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.min_batch_fill is not None and not 0.0 <= self.min_batch_fill <= 1.0:
            raise ValueError(f"min_batch_fill must be within [0, 1], got {self.min_batch_fill}")
        if self.vision_patch_budget is not None and self.vision_patch_budget <= 0:
            raise ValueError(f"vision_patch_budget must be positive, got {self.vision_patch_budget}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.cache_bytes is not None and self.cache_bytes < 0:
            raise ValueError(f"cache_bytes must be >= 0, got {self.cache_bytes}")

    def replace(self, **changes) -> EngineConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> EngineConfig:
        """Read ``QWEN3VL_<FIELD>`` variables (e.g. ``QWEN3VL_MAX_FRAMES=32``); overrides win."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = _OPTIONAL_KINDS.get(f.name, type(getattr(cls(), f.name)))
            word = raw.strip().lower()
            if f.name in _OPTIONAL_KINDS and word in ("", "auto", "none"):
                values[f.name] = None
            elif kind is bool:
                if word not in _TRUE + _FALSE:
                    raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a boolean (1/0, true/false, yes/no, on/off)")
                values[f.name] = word in _TRUE
            else:
                try:
                    values[f.name] = kind(raw)
                except ValueError as exc:
                    raise ValueError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from exc
        values.update(overrides)
        return cls(**values)
