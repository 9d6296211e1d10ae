"""Decode only the sampled frames of an opened video (PyAV), exactly as a full decode would index them.

Two strategies, same result:

- **seeking** (MP4/MOV and Matroska/WebM, whose packets carry presentation timestamps): frame
  index i is the i-th smallest packet timestamp; for each target, seek to the keyframe at or
  before it and decode forward (continuing instead of seeking while the next target is in the
  same GOP). Any surprise (a frame without or with a non-increasing timestamp, a target
  timestamp that never appears, a seek that lands past the target three times) abandons
  seeking for the sequential strategy, so a strange file costs time, never correctness.
- **sequential** (every other container): decode from the start, count frames, keep the ones at
  the sampled indices and stop after the last one.

Both keep only the sampled frames (written into a preallocated tensor) and count decoded frames
against ``max_decoded_frames`` and the decode deadline.
"""

from __future__ import annotations

import bisect
import logging
import time

from ..errors import MediaDecodeError, MediaTimeoutError, MediaTooLargeError
from .policy import MediaPolicy

__all__ = ["Budget", "check_deadline", "sample_frames", "SEEKABLE_FORMATS"]

logger = logging.getLogger(__name__)

#: demuxers whose packet timestamps are presentation timestamps that index frames reliably
SEEKABLE_FORMATS = ("mov", "matroska")
_MAX_OVERSHOOT_RETRIES = 3
#: colour conversion (swscale) without worker threads of its own. PyAV keeps one converter per
#: thread for that thread's life; one with worker threads hangs a forked child that frees it
#: (``os.fork``, multiprocessing, a subprocess with ``preexec_fn``, ``ray.init``), because the
#: child has none of those threads. The output is the same.
_CONVERT = {"format": "rgb24", "threads": 1}


class SeekAnomaly(Exception):
    """The file does not behave as seeking assumes; fall back to sequential decoding."""


def check_deadline(deadline: float, policy: MediaPolicy, label: str) -> None:
    if time.monotonic() > deadline:
        raise MediaTimeoutError(f"{label}: decoding exceeded the {policy.video_decode_timeout:g}s decode timeout")


class Budget:
    """Counts decoded frames against ``max_decoded_frames`` and checks the deadline."""

    def __init__(self, policy: MediaPolicy, deadline: float, label: str = "video") -> None:
        self.policy, self.deadline, self.label, self.decoded = policy, deadline, label, 0

    def tick(self) -> None:
        self.decoded += 1
        if self.decoded > self.policy.max_decoded_frames:
            raise MediaTooLargeError(f"{self.label}: sampling needs more than {self.policy.max_decoded_frames} decoded frames")
        check_deadline(self.deadline, self.policy, self.label)


def sample_frames(container, stream, reopen, packet_pts: list, keyframes: list, indices: list, frames, budget: Budget) -> str:
    """Fill ``frames[k]`` with source frame ``indices[k]``; returns the strategy used.

    ``reopen()`` -> (container, stream) gives a fresh container for the sequential fallback.
    """
    timestamps = _presentation_timestamps(container, packet_pts)
    if timestamps is not None:
        try:
            _decode_seeking(container, stream, [timestamps[i] for i in indices], keyframes, frames, budget)
            return "seek"
        except SeekAnomaly as exc:
            logger.info("%s: seeking abandoned (%s); decoding sequentially", budget.label, exc)
    container, stream = reopen()
    _decode_sequential(container, stream, indices, frames, budget)
    return "sequential"


def _presentation_timestamps(container, packet_pts: list) -> list | None:
    if container.format.name.split(",")[0] not in SEEKABLE_FORMATS:
        return None
    if any(p is None for p in packet_pts):
        return None
    ordered = sorted(packet_pts)
    if any(a == b for a, b in zip(ordered, ordered[1:])):
        return None
    return ordered


def _store(frames, slot: int, frame) -> None:
    import torch

    height, width = frames.shape[2], frames.shape[3]
    if frame.width == width and frame.height == height:
        array = frame.to_ndarray(**_CONVERT)
    else:  # resolution changed mid-stream: bring it to the header size
        array = frame.to_ndarray(**_CONVERT, width=width, height=height)
    frames[slot].copy_(torch.from_numpy(array).permute(2, 0, 1))


def _decode_seeking(container, stream, targets: list, keyframes: list, frames, budget: Budget) -> None:
    """Decode the frames whose timestamps are ``targets`` (ascending, distinct)."""
    i, retries = 0, 0
    while i < len(targets):
        key_pos = bisect.bisect_right(keyframes, targets[i]) - 1 - retries
        if key_pos < 0:
            raise SeekAnomaly("no keyframe before a sampled frame")
        i, status = _decode_from(container, stream, keyframes[key_pos], targets, i, keyframes, frames, budget)
        if status == "overshoot":
            retries += 1
            if retries > _MAX_OVERSHOOT_RETRIES:
                raise SeekAnomaly("seeking keeps landing after the sampled frame")
            continue
        retries = 0
        if status == "eof":
            raise SeekAnomaly(f"end of stream after {i} of {len(targets)} sampled frames")


def _decode_from(container, stream, seek_to: int, targets: list, i: int, keyframes: list, frames, budget: Budget):
    """Seek to ``seek_to`` and decode forward storing targets; returns (next i, status).

    status: "done", "seek" (the next target lies past another keyframe), "overshoot" (the first
    frame is already after the target), "eof".
    """
    try:
        container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            budget.tick()
            pts = frame.pts
            if pts is None or (last is not None and pts <= last):
                raise SeekAnomaly("frame timestamps are missing or not increasing")
            first, last = last is None, pts
            if pts < targets[i]:
                continue
            if pts > targets[i]:
                if first:
                    return i, "overshoot"
                raise SeekAnomaly("a sampled frame's timestamp never appeared")
            _store(frames, i, frame)
            i += 1
            if i == len(targets):
                return i, "done"
            k = bisect.bisect_right(keyframes, targets[i]) - 1
            if keyframes[k] > pts:
                return i, "seek"
    except (SeekAnomaly, MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:
        raise SeekAnomaly(f"decoder error while seeking ({type(exc).__name__})") from None
    return i, "eof"


def _decode_sequential(container, stream, indices: list, frames, budget: Budget) -> None:
    """Decode from the start, keeping the frames at ``indices`` (ascending)."""
    slot = 0
    try:
        for position, frame in enumerate(container.decode(stream)):
            budget.tick()
            while slot < len(indices) and indices[slot] == position:
                _store(frames, slot, frame)
                slot += 1
            if slot == len(indices):
                return
    except (MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise MediaDecodeError(f"{budget.label}: video frame {slot} could not be decoded ({reason})") from None
    raise MediaDecodeError(f"{budget.label} is truncated or corrupt: only {slot} of {len(indices)} sampled frames could be decoded")
