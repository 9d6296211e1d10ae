"""Bounded video decoding with PyAV at the model contract's frame indices.

``read_video`` opens the source under the MediaPolicy (never handing a URL or a caller's path
string to FFmpeg: it gets a file object, with nested protocol opens disabled and demuxers
limited to ``policy.video_formats``), checks the header (frame size, duration, frame count),
demuxes the video packets *without decoding* to count frames (as a full decode would) and map
frame index -> timestamp, computes ``nframes`` with qwen-vl-utils' ``smart_nframes`` and the
indices with ``torch.linspace(0, total - 1, nframes).round()``, then decodes only those frames
(``video_decode``: seeking for MP4/MKV, sequential otherwise). Only the sampled frames are kept in
memory, in a tensor allocated once (``max_video_output_bytes`` bounds it).

Bounded: opening (PyAV ``timeout``), demuxing and decoding (a deadline checked between packets
and frames, ``video_decode_timeout``), decoder work (``max_decoded_frames``). Not bounded here:
a single packet on which FFmpeg itself loops forever (bounding that needs decoding in a subprocess
that is killed at the deadline; see docs/robustness.md, case 15).
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InputError, MediaDecodeError, MediaError, MediaTimeoutError, MediaTooLargeError
from .fetch import OpenedMedia, open_media
from .policy import DEFAULT_POLICY, MediaPolicy
from .sniff import is_video_bytes
from .video_decode import Budget, check_deadline, sample_frames

if TYPE_CHECKING:  # torch is imported lazily: image-only callers never pay for it
    import torch

__all__ = ["VideoClip", "read_video", "is_video_bytes", "FrameLimit"]

logger = logging.getLogger(__name__)

#: ``frame_limit(width, height)``: the most frames a caller can afford for source frames of that size
FrameLimit = Callable[[int, int], int]

_NO_PROTOCOLS = "qwen3vl-no-nested-io"  # matches no protocol: demuxers cannot open other URLs/files
_CHECK_EVERY = 64


@dataclass
class VideoClip:
    frames: torch.Tensor  # torch.uint8 (T, 3, H, W), RGB, the sampled frames in order
    fps: float  # source average frame rate
    frame_indices: list  # source frame index of each sampled frame
    total_frames: int  # frames in the source
    sample_fps: float  # T / total_frames * fps
    effective_fps: float = 0.0  # sampling fps actually used (request clamped to the policy)
    effective_max_frames: int = 0  # max_frames actually used (request clamped to the policy)
    duration: float = 0.0  # total_frames / fps, seconds
    width: int = 0
    height: int = 0
    codec: str = ""
    metadata: dict = field(default_factory=dict)  # format, strategy ("seek"/"sequential"), decoded_frames


def read_video(source, policy: MediaPolicy = DEFAULT_POLICY, *, fps: float, max_frames: int,
               frame_limit: FrameLimit | None = None) -> VideoClip:
    """Decode the contract's sampled frames of a video file (see the module docstring).

    ``fps`` is clamped to ``policy.max_sample_fps``; ``max_frames`` to ``policy.max_video_frames``,
    to what ``policy.max_video_output_bytes`` holds at the source frame size, and to
    ``frame_limit(width, height)`` when given: the most frames the caller can afford for source
    frames of that size (the core passes its budget of resized pixels, ``policy.max_video_pixels``).
    All of this is decided from the header, before any frame is decoded; the clip reports the
    effective values and ``metadata["clamped_by"]`` names the limits that lowered them.

    Raises ``MediaDecodeError`` (empty, too short, corrupt, no video stream, unsupported codec),
    ``MediaTooLargeError`` (bytes, frame size, duration, frame count, decode work),
    ``MediaTimeoutError`` (decode deadline), ``MediaPolicyError`` / ``MediaFetchError`` (source).
    ``source`` may also be an :class:`OpenedMedia` from ``open_media`` (read from its start, not closed).
    """
    _validate_request(fps, max_frames)
    try:
        # an OpenedMedia was opened by the caller (e.g. to hash its bytes first), who closes it
        owned = contextlib.nullcontext(source) if isinstance(source, OpenedMedia) else open_media(source, policy,
                                                                                                  kind="video")
        with owned as opened:
            deadline = time.monotonic() + policy.video_decode_timeout
            return _read_opened(opened, policy, float(fps), int(max_frames), deadline, frame_limit)
    except MediaError as exc:
        logger.debug("video refused (%s): %s", exc.code, exc)
        raise


def _validate_request(fps, max_frames) -> None:
    if not isinstance(fps, numbers.Real) or isinstance(fps, bool) or not math.isfinite(fps) or fps <= 0:
        raise InputError(f"fps must be a positive finite number, got {fps!r}")
    if not isinstance(max_frames, numbers.Integral) or isinstance(max_frames, bool) or max_frames < 2:
        raise InputError(f"max_frames must be an integer >= 2, got {max_frames!r}")


def _read_opened(opened: OpenedMedia, policy: MediaPolicy, fps: float, max_frames: int, deadline: float,
                 frame_limit: FrameLimit | None) -> VideoClip:
    import torch

    holder = {"container": _open_container(opened, policy, deadline)}

    def reopen():
        holder["container"].close()
        holder["container"] = _open_container(opened, policy, deadline)
        return holder["container"], _video_stream(holder["container"], opened.label)

    try:
        container = holder["container"]
        stream = _video_stream(container, opened.label)
        header = _check_header(container, stream, policy, opened.label)
        packet_pts, keyframes = _index_packets(container, stream, policy, deadline, opened.label)
        total = len(packet_pts)
        eff_fps, eff_max, clamped_by = _effective_request(fps, max_frames, header, policy, frame_limit, opened.label)
        indices = _sample_indices(total, header["fps"], eff_fps, eff_max, opened.label)
        frames = torch.empty((len(indices), 3, header["height"], header["width"]), dtype=torch.uint8)
        metadata = {"format": container.format.name, "header_frames": int(stream.frames or 0), "clamped_by": clamped_by}
        budget = Budget(policy, deadline, opened.label)
        metadata["strategy"] = sample_frames(container, stream, reopen, packet_pts, keyframes, indices, frames, budget)
        metadata["decoded_frames"] = budget.decoded
    finally:
        holder["container"].close()
    return VideoClip(
        frames=frames, fps=header["fps"], frame_indices=indices, total_frames=total,
        sample_fps=len(indices) / max(total, 1e-6) * header["fps"], effective_fps=eff_fps,
        effective_max_frames=eff_max, duration=total / header["fps"], width=header["width"],
        height=header["height"], codec=header["codec"], metadata=metadata,
    )


def _ffmpeg_reason(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return str(reason)[:120]


def _open_container(opened: OpenedMedia, policy: MediaPolicy, deadline: float):
    import av

    opened.stream.seek(0)
    remaining = max(0.1, deadline - time.monotonic())
    options = {"protocol_whitelist": _NO_PROTOCOLS, "format_whitelist": ",".join(policy.video_formats)}
    try:
        return av.open(opened.stream, mode="r", container_options=options, metadata_errors="ignore", timeout=remaining)
    except Exception as exc:
        if time.monotonic() >= deadline:
            raise MediaTimeoutError(f"{opened.label}: opening the video exceeded the {policy.video_decode_timeout:g}s decode timeout") from None
        raise MediaDecodeError(f"{opened.label} is not a readable video (missing header or moov atom, unsupported container, "
                               f"or corrupt): {_ffmpeg_reason(exc)}") from None


def _video_stream(container, label: str):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise MediaDecodeError(f"{label} contains no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise MediaDecodeError(f"{label} uses a video codec this build cannot decode")
    stream.codec_context.thread_type = "AUTO"
    stream.codec_context.thread_count = min(4, os.cpu_count() or 1)
    return stream


def _check_header(container, stream, policy: MediaPolicy, label: str) -> dict:
    ctx = stream.codec_context
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    if width <= 0 or height <= 0:
        raise MediaDecodeError(f"{label} has no frame size in its header")
    if width * height > policy.max_frame_pixels:
        raise MediaTooLargeError(f"{label} frames are {width}x{height}, over the {policy.max_frame_pixels}-pixel limit")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    avg_fps = float(rate) if rate else 0.0
    if not avg_fps > 0 or avg_fps > 10_000:
        raise MediaDecodeError(f"{label} has no usable frame rate")
    duration = None
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    if duration is not None and duration > policy.max_video_duration:
        raise MediaTooLargeError(f"{label} lasts {duration:.0f}s, over the {policy.max_video_duration:g}s limit")
    if stream.frames and stream.frames > policy.max_video_total_frames:
        raise MediaTooLargeError(f"{label} has {stream.frames} frames, over the {policy.max_video_total_frames}-frame limit")
    return {"width": width, "height": height, "fps": avg_fps, "codec": ctx.name or ""}


def _index_packets(container, stream, policy: MediaPolicy, deadline: float, label: str) -> tuple[list, list]:
    """Demux (no decoding) the video packets: presentation timestamps and keyframe timestamps."""
    pts_list: list = []
    keyframes: list = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_discard:
                continue
            pts_list.append(packet.pts)
            if packet.is_keyframe and packet.pts is not None:
                keyframes.append(packet.pts)
            if len(pts_list) % _CHECK_EVERY == 0:
                check_deadline(deadline, policy, label)
                if len(pts_list) > policy.max_video_total_frames:
                    raise MediaTooLargeError(f"{label} has more than {policy.max_video_total_frames} frames")
    except (MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:
        if not pts_list:
            raise MediaDecodeError(f"{label} is corrupt (no video packet could be read): {_ffmpeg_reason(exc)}") from None
        logger.warning("%s: demuxing stopped after %d packets (%s)", label, len(pts_list), _ffmpeg_reason(exc))
    if len(pts_list) > policy.max_video_total_frames:
        raise MediaTooLargeError(f"{label} has more than {policy.max_video_total_frames} frames")
    if stream.frames and stream.frames != len(pts_list):
        logger.debug("%s: header says %d frames, demuxed %d", label, stream.frames, len(pts_list))
    keyframes.sort()
    return pts_list, keyframes


def _effective_request(fps: float, max_frames: int, header: dict, policy: MediaPolicy, frame_limit: FrameLimit | None,
                       label: str) -> tuple[float, int, list[str]]:
    """(fps, max_frames, names of the limits that lowered them) for this source's frame size."""
    width, height = header["width"], header["height"]
    limits = {"max_video_frames": policy.max_video_frames,
              "max_video_output_bytes": policy.max_video_output_bytes // (3 * width * height)}
    if frame_limit is not None:
        limits["frame_limit"] = int(frame_limit(width, height))
    eff_fps, eff_max, clamped_by = float(min(fps, policy.max_sample_fps)), max_frames, []
    if eff_fps != fps:
        clamped_by.append("max_sample_fps")
    for name, limit in limits.items():
        if limit < eff_max:
            eff_max = limit
            clamped_by.append(name)
    if eff_max < 2:
        budget = "the caller's frame budget" if clamped_by[-1] == "frame_limit" else \
            f"the {policy.max_video_output_bytes}-byte frame budget"
        raise MediaTooLargeError(f"{label}: two frames of {width}x{height} exceed {budget}")
    if clamped_by:
        logger.debug("video request clamped (%s): fps %g -> %g, max_frames %d -> %d", ", ".join(clamped_by), fps, eff_fps,
                    max_frames, eff_max)
    return eff_fps, eff_max, clamped_by


def _sample_indices(total: int, video_fps: float, fps: float, max_frames: int, label: str) -> list:
    import torch
    from qwen_vl_utils.vision_process import smart_nframes

    if total < 2:
        raise MediaDecodeError(f"{label}: video too short ({total} frame{'s' if total != 1 else ''}; at least 2 are needed)")
    try:
        nframes = smart_nframes({"fps": fps, "max_frames": max_frames}, total_frames=total, video_fps=video_fps)
    except (ValueError, AssertionError, ZeroDivisionError) as exc:
        raise MediaDecodeError(f"{label}: video too short ({total} frames): {exc}") from None
    return torch.linspace(0, total - 1, nframes).round().long().tolist()
