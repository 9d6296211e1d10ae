"""A bounded cache of prepared media and of vision-tower outputs, shared by every call of an engine.

Two levels, in one LRU under one byte cap (``EngineConfig.cache_bytes``):

- **prepared media**: an image's or video's :class:`~.processing.VisualInput` (patches, grid, prompt
  tokens, effective values). A hit skips decoding, resizing and the HF processor.
- **vision features**: the tower's merged features and deepstack features of one visual, on the
  engine's device and in its dtype. A hit skips the vision tower.

Keys are content hashes, never paths: the bytes the loader reads are hashed (BLAKE2b) and then
decoded from memory (images, frames) or from the same open file (videos), so a file changed on disk
is a new key. In-memory images (PIL, numpy) are hashed by their RGB pixels and size. A key also holds
every setting that changes the result: pixel budgets, fps and ``max_frames``, the total video pixel
budget, the media policy, the checkpoint (path, file sizes and modification times) and, for
features, the dtype and device.

Cached values are never handed out to be changed: a hit returns a new ``VisualInput`` (its own
``meta``) whose tensors the engine only reads. Concurrent callers wanting the same missing visual
wait for the first one's result instead of computing it again; only when that result cannot be read
from the cache (the computation failed, or its entry was too large for the cap or already evicted)
does each waiting caller compute it itself.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import logging
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ..errors import MediaFetchError, Qwen3VLError
from ..media import MediaPolicy, load_image
from ..media.fetch import MediaBytes, OpenedMedia, open_media, read_media_bytes

if TYPE_CHECKING:
    from .processing import VisualInput

logger = logging.getLogger(__name__)

__all__ = ["MediaCache", "default_cache_bytes", "resolve_cache_bytes", "model_fingerprint", "LEVELS"]

GiB = 1024 ** 3
#: share of the device's memory (accelerator memory; the host's RAM for a CPU) the default cap takes
DEFAULT_FRACTION = 0.10
#: ceiling of the default cap
DEFAULT_CEILING = 8 * GiB
LEVELS = ("prepared", "features")
_CHUNK = 1 << 20
_CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".jinja", ".model")


def default_cache_bytes(device: torch.device) -> int:
    """The cap ``cache_bytes=None`` means: 10 % of the device's memory, at most 8 GiB."""
    total = DEFAULT_CEILING * 10
    try:
        if device.type == "cuda":
            total = torch.cuda.get_device_properties(device).total_memory
        elif device.type == "cpu":
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError, RuntimeError):
        logger.debug("device memory unknown; default cache cap %d bytes", DEFAULT_CEILING, exc_info=True)
    return int(min(DEFAULT_CEILING, total * DEFAULT_FRACTION))


def resolve_cache_bytes(configured: int | None, device: torch.device) -> int:
    return default_cache_bytes(device) if configured is None else int(configured)


def _key(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def model_fingerprint(model: Any, model_id: str = "", model_path: os.PathLike | str | None = None) -> str:
    """Identity of a checkpoint: its id and path with each file's size and modification time, or the
    model object itself when it was not loaded from a directory."""
    parts: list = [model_id, str(model_path or "")]
    path = Path(model_path) if model_path else None
    if path is not None and path.is_dir():
        for file in sorted(path.iterdir()):
            if file.is_file() and file.suffix in _CHECKPOINT_SUFFIXES:
                info = file.stat()
                parts.append((file.name, info.st_size, info.st_mtime_ns))
    else:
        parts.append(f"in-memory model {id(model):x}")
    return _key(*parts)


@lru_cache(maxsize=32)
def _policy_fingerprint(policy: MediaPolicy) -> str:
    return _key(repr(policy))


def _digest_bytes(*chunks: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _read_image(source, policy: MediaPolicy, keep_decoded: bool) -> tuple[str, Any]:
    """``(content digest, what the image loader then decodes)``; the source's bytes are read once.
    In-memory images are hashed by their RGB pixels (passed on decoded when ``keep_decoded``)."""
    if isinstance(source, (Image.Image, np.ndarray)):
        rgb = load_image(source, policy)
        digest = _digest_bytes(b"rgb %d %d " % rgb.size, rgb.tobytes())
        return digest, rgb if keep_decoded else source
    data, _content_type, label = read_media_bytes(source, policy, kind="image")
    return _digest_bytes(b"bytes ", data), MediaBytes(data, label)


def _digest_stream(opened: OpenedMedia) -> str:
    h = hashlib.blake2b(digest_size=16)
    try:
        opened.stream.seek(0)
        while chunk := opened.stream.read(_CHUNK):
            h.update(chunk)
        opened.stream.seek(0)
    except OSError as exc:
        raise MediaFetchError(f"{opened.label} cannot be read ({exc.strerror or type(exc).__name__})") from exc
    return h.hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage().nbytes())


def _visual_bytes(visual: VisualInput) -> int:
    return _tensor_bytes(visual.pixel_values) + len(visual.tokens) + 256


@dataclass
class _Entry:
    value: Any
    nbytes: int
    level: str


#: every cache, so that a forked child starts with a free lock and nothing in flight
_CACHES: weakref.WeakSet[MediaCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """The parent's threads are gone in a child: a lock one of them held would never be released,
    and a visual one of them was encoding would never be finished (its waiters would wait forever)."""
    for cache in list(_CACHES):
        cache._lock = threading.Lock()
        cache._inflight = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class MediaCache:
    """Thread-safe LRU of prepared media and vision features, capped at ``max_bytes`` (0 = off).

    ``identity`` (see :func:`model_fingerprint`) is part of every key."""

    def __init__(self, max_bytes: int, identity: str = ""):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.identity = identity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, threading.Event] = {}
        self._counts = {level: {"hits": 0, "misses": 0} for level in LEVELS}
        self._bytes = self._peak = self._evictions = 0
        _CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __reduce__(self):
        """A copy (pickled, or in another process) starts empty with the same cap and identity."""
        return MediaCache, (self.max_bytes, self.identity)

    # -- counters ----------------------------------------------------------------------------
    def stats(self) -> dict:
        """``{"hits", "misses", "evictions", "bytes", "peak_bytes", "entries"}`` over both levels
        (a hit is a visual served without computing it, a miss one computed)."""
        with self._lock:
            return {"hits": sum(c["hits"] for c in self._counts.values()),
                    "misses": sum(c["misses"] for c in self._counts.values()),
                    "evictions": self._evictions, "bytes": self._bytes, "peak_bytes": self._peak,
                    "entries": len(self._entries)}

    def level_stats(self) -> dict:
        """Per level (``"prepared"``, ``"features"``): hits, misses, bytes and entries."""
        with self._lock:
            out = {level: dict(counts, bytes=0, entries=0) for level, counts in self._counts.items()}
            for entry in self._entries.values():
                out[entry.level]["bytes"] += entry.nbytes
                out[entry.level]["entries"] += 1
            return out

    def clear(self) -> None:
        """Drop every entry (counters other than ``bytes`` and ``entries`` are kept)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    # -- storage -----------------------------------------------------------------------------
    def _lookup(self, key: str) -> Any:
        """The value under ``key`` (marked most recently used), or ``None``; caller holds the lock."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry.value

    def _put(self, key: str, value: Any, nbytes: int, level: str) -> None:
        if nbytes > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = _Entry(value, nbytes, level)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes
                self._evictions += 1
            self._peak = max(self._peak, self._bytes)

    def _release(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                event = self._inflight.pop(key, None)
                if event is not None:
                    event.set()

    # -- level 1: prepared media ---------------------------------------------------------------
    def image(self, source, policy: MediaPolicy, settings: tuple, build: Callable[[Any], VisualInput]) -> VisualInput:
        """``build(loadable)`` for an image source, or its cached result (same bytes, same ``settings``)."""
        if not self.enabled:
            return build(source)
        digest, loadable = _read_image(source, policy, keep_decoded=True)
        return self._prepared(self._media_key("image", digest, settings, policy), lambda: build(loadable))

    def frame_list(self, frames: Sequence, policy: MediaPolicy, settings: tuple,
                   build: Callable[[list], VisualInput]) -> VisualInput:
        """``build(frames)`` for the (already sampled) frames of a frame-list video, or its cached
        result; the key is the hash of the frames' hashes, in order."""
        if not self.enabled:
            return build(list(frames))
        digests, loadables = [], []
        for k, frame in enumerate(frames):
            try:
                digest, loadable = _read_image(frame, policy, keep_decoded=False)
            except Qwen3VLError as exc:
                raise exc.__class__(f"frame {k}: {exc}") from exc
            digests.append(digest)
            loadables.append(loadable)
        return self._prepared(self._media_key("frames", _key(*digests), settings, policy), lambda: build(loadables))

    def video_file(self, source, policy: MediaPolicy, settings: tuple,
                   build: Callable[[Any], VisualInput]) -> VisualInput:
        """``build(opened)`` for a video file source, or its cached result; the file is opened once,
        hashed, and (on a miss) decoded from the same open stream."""
        if not self.enabled:
            return build(source)
        with open_media(source, policy, kind="video") as opened:
            key = self._media_key("video", _digest_stream(opened), settings, policy)
            return self._prepared(key, lambda: build(opened))

    def _media_key(self, kind: str, digest: str, settings: tuple, policy: MediaPolicy) -> str:
        return _key(kind, digest, settings, _policy_fingerprint(policy), self.identity)

    def _prepared(self, key: str, build: Callable[[], VisualInput]) -> VisualInput:
        owner, waited = False, False
        while True:
            with self._lock:
                stored = self._lookup(key)
                if stored is not None:
                    self._counts["prepared"]["hits"] += 1
                    return _fresh(stored)
                event = self._inflight.get(key)
                if event is None or waited:
                    if event is None:
                        self._inflight[key] = threading.Event()
                        owner = True
                    self._counts["prepared"]["misses"] += 1
                    break
            event.wait()
            waited = True
        try:
            visual = build()
            visual.cache_key = key
            stored = _fresh(visual)
            self._put(key, stored, _visual_bytes(stored), "prepared")
            return visual
        finally:
            if owner:
                self._release([key])

    # -- level 2: vision features -----------------------------------------------------------------
    def encode(self, visuals: Sequence[VisualInput], scope: str, run: Callable[[list[VisualInput]], None]) -> None:
        """Give each visual without features its vision-tower features: from the cache, from an
        identical visual of the same call, or from ``run(todo)`` (which sets ``features`` on each
        visual of ``todo``: one per distinct visual). ``scope`` names the dtype and device."""
        pending = list({id(v): v for v in visuals if v.features is None}.values())
        if not pending:
            return
        if not self.enabled:
            run(pending)
            return
        groups: dict[str, list[VisualInput]] = {}
        plain: list[VisualInput] = []
        for visual in pending:
            if visual.cache_key is None:
                plain.append(visual)
            else:
                groups.setdefault(_key("features", visual.cache_key, scope), []).append(visual)
        own, claimed, waits = self._claim(groups, wait=True)
        self._compute(plain, own, claimed, groups, run)
        if waits:
            for event in waits.values():
                event.wait()
            own, claimed, _ = self._claim({k: groups[k] for k in waits}, wait=False)
            self._compute([], own, claimed, groups, run)

    def _claim(self, groups: dict[str, list[VisualInput]],
               wait: bool) -> tuple[list[str], list[str], dict[str, threading.Event]]:
        """Attach cached features; return the keys to compute here (and those registered as in flight
        by this call) and the in-flight events of other callers to wait for (when ``wait``)."""
        own: list[str] = []
        claimed: list[str] = []
        waits: dict[str, threading.Event] = {}
        with self._lock:
            counts = self._counts["features"]
            for key, group in groups.items():
                stored = self._lookup(key)
                if stored is not None:
                    for visual in group:
                        visual.features = _features_view(stored)
                    counts["hits"] += len(group)
                    continue
                event = self._inflight.get(key)
                if event is not None and wait:
                    waits[key] = event
                    continue
                if event is None:
                    self._inflight[key] = threading.Event()
                    claimed.append(key)
                own.append(key)
                counts["misses"] += 1
                counts["hits"] += len(group) - 1
        return own, claimed, waits

    def _compute(self, plain: list[VisualInput], own: list[str], claimed: list[str],
                 groups: dict[str, list[VisualInput]], run: Callable[[list[VisualInput]], None]) -> None:
        try:
            todo = plain + [groups[key][0] for key in own]
            if todo:
                run(todo)
            for key in own:
                features = groups[key][0].features
                if features is None:  # run() encodes every visual it is given
                    raise RuntimeError("the vision tower returned no features for a visual")
                pooled, deep = features  # views into the whole group's output: copy them
                stored = (pooled.clone(), tuple(layer.clone() for layer in deep))
                self._put(key, stored, sum(_tensor_bytes(t) for t in (stored[0], *stored[1])), "features")
                for visual in groups[key]:
                    visual.features = _features_view(stored)
        finally:
            self._release(claimed)

    def __repr__(self) -> str:
        s = self.stats()
        return f"MediaCache(max_bytes={self.max_bytes}, bytes={s['bytes']}, entries={s['entries']})"


def _fresh(visual: VisualInput) -> VisualInput:
    """A new VisualInput sharing ``visual``'s tensors, with its own ``meta`` and no features."""
    return dataclasses.replace(visual, meta=copy.deepcopy(visual.meta), features=None)


def _features_view(stored: tuple) -> tuple:
    pooled, deep = stored
    return pooled, list(deep)
