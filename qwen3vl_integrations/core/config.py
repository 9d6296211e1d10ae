"""Engine settings: one frozen dataclass shared by Python callers, the CLI, env vars and the server.

The library never reads the environment by itself: ``from_pretrained`` uses only the arguments it
is given. :meth:`EngineConfig.from_env` and :func:`env_value` are the explicit way for the CLI and
the server (or a user) to turn ``QWEN3VL_*`` variables into settings.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..env import ENV_PREFIX, env_value
from ..errors import ConfigError

__all__ = ["EngineConfig", "ENV_PREFIX", "env_value", "DEFAULT_EMBED_INSTRUCTION", "DEFAULT_RERANK_INSTRUCTION",
           "IMAGE_FACTOR"]

#: prefix of every environment variable of this package (``QWEN3VL_MAX_FRAMES``...)
DEFAULT_EMBED_INSTRUCTION = "Represent the user's input."
DEFAULT_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."

#: pixels per side of one merged image token (patch 16 x spatial merge 2)
IMAGE_FACTOR = 32

#: value types of the fields whose default is ``None`` (``auto`` in the environment)
_OPTIONAL_KINDS: dict[str, type] = {"max_length": int, "num_workers": int, "min_batch_fill": float, "packing": bool,
                                    "vision_patch_budget": int, "cache_bytes": int, "max_queue_items": int,
                                    "max_queue_tokens": int}
_POSITIVE = ("min_pixels", "max_pixels", "total_pixels", "max_frames", "max_text_chars", "token_budget",
             "max_batch_items")




@dataclass(frozen=True)
class EngineConfig:
    """Preprocessing, batching and admission settings (defaults are the model contract's).

    ``max_length`` is ``None`` to mean "the model's default" (8192 for the embedder,
    10240 for the reranker). An invalid value raises :class:`ConfigError` naming the field.
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
    #: threads of the engine's preparation pool, which loads and preprocesses media ahead of the forward
    #: pass (0 = on the forward thread, between forward passes). ``None`` = auto: 2 on an accelerator or
    #: when a call's media come from URLs; on a CPU, only the cores torch leaves free (the forward pass
    #: already uses the cores torch is given, so preparing ahead there only competes)
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
    #: admission bounds of the dispatcher: items (and estimated tokens) queued but not yet run, over
    #: every caller. A call that does not fit raises ``ModelOverloadedError`` at once (a call is always
    #: admitted into an empty queue). ``None`` = no bound
    max_queue_items: int | None = None
    max_queue_tokens: int | None = None
    #: let the items of concurrent calls share forward passes (off: each forward pass holds one call's items)
    cross_caller_batching: bool = True
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name != "extra":
                _check_field(f.name, getattr(self, f.name), _field_kind(f))
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}", param=name)
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels})", param="min_pixels")
        if self.max_length is not None and self.max_length < 16:
            raise ConfigError(f"max_length must be at least 16, got {self.max_length}", param="max_length")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ConfigError(f"fps must be positive, got {self.fps}", param="fps")
        if self.min_batch_fill is not None and not 0.0 <= self.min_batch_fill <= 1.0:
            raise ConfigError(f"min_batch_fill must be within [0, 1], got {self.min_batch_fill}", param="min_batch_fill")
        for name in ("vision_patch_budget", "max_queue_items", "max_queue_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}", param=name)
        if self.num_workers is not None and self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {self.num_workers}", param="num_workers")
        if self.cache_bytes is not None and self.cache_bytes < 0:
            raise ConfigError(f"cache_bytes must be >= 0, got {self.cache_bytes}", param="cache_bytes")

    def replace(self, **changes) -> EngineConfig:
        """A copy with ``changes`` applied (an unknown field raises :class:`ConfigError`)."""
        return EngineConfig.create(self, **changes)

    @classmethod
    def create(cls, base: EngineConfig | None = None, **values) -> EngineConfig:
        """``base`` (or the defaults) with ``values`` applied; an unknown field raises :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown EngineConfig field(s) {unknown}; valid fields: {sorted(known - {'extra'})}",
                              param=unknown[0])
        return dataclasses.replace(base, **values) if base is not None else cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> EngineConfig:
        """Settings from ``QWEN3VL_<FIELD>`` variables (e.g. ``QWEN3VL_MAX_FRAMES=32``); ``overrides`` win.

        This is the only place the environment becomes engine settings; the CLI and the server call
        it, the library itself never does."""
        values: dict = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            value = env_value(f.name, _field_kind(f), dataclasses.MISSING, environ, optional=f.name in _OPTIONAL_KINDS)
            if value is not dataclasses.MISSING:
                values[f.name] = value
        values.update(overrides)
        return cls.create(**values)


def _field_kind(f: dataclasses.Field) -> type:
    """The type a field's values have (the auto fields': their type when set)."""
    return _OPTIONAL_KINDS.get(f.name) or type(f.default)


def _check_field(name: str, value: Any, kind: type) -> None:
    """Type check of one field (``None`` is allowed for the auto fields); ints are accepted for floats."""
    if value is None and name in _OPTIONAL_KINDS:
        return
    if kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{name} must be {kind.__name__}{' or None' if name in _OPTIONAL_KINDS else ''}, "
                          f"got {value!r}", param=name)
