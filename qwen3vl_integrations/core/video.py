"""Bounded video decoding with PyAV at the model contract's frame indices.

``read_video`` opens the source under the MediaPolicy (never handing a URL or a caller's path
string to FFmpeg: it gets a file object, with nested protocol opens disabled and demuxers
limited to ``policy.video_formats``), checks the header (frame size, duration, frame count),
demuxes the video packets *without decoding* to count frames (as a full decode would) and map
frame index -> timestamp, computes ``nframes`` with qwen-vl-utils' ``smart_nframes`` and the
indices with ``torch.linspace(0, total - 1, nframes).round()``, then decodes only those frames,
seeking to the keyframe before each target. Only the sampled frames are kept in memory, in a
tensor allocated once (``max_video_output_bytes`` bounds it).

Bounded: opening (PyAV ``timeout``), demuxing and decoding (a deadline checked between packets
and frames, ``video_decode_timeout``), decoder work (``max_decoded_frames``). Not bounded here:
a single packet on which FFmpeg itself loops forever; the server runs decoding in a subprocess
it can kill for that (reliability case 15).
"""

from __future__ import annotations

import bisect
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import InputError, MediaDecodeError, MediaTimeoutError, MediaTooLargeError
from .fetch import OpenedMedia, open_media
from .media_policy import DEFAULT_POLICY, MediaPolicy

if TYPE_CHECKING:  # torch is imported lazily: image-only callers never pay for it
    import torch

__all__ = ["VideoClip", "read_video", "VIDEO_EXTENSIONS", "is_video_bytes"]

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".mpeg", ".mpg", ".mpe", ".m2v", ".wmv", ".asf",
     ".flv", ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".ogv", ".vob", ".divx", ".f4v", ".mj2"}
)
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
    metadata: dict = field(default_factory=dict)


def is_video_bytes(head: bytes) -> bool:
    """True when ``head`` starts like a video container (ISO-BMFF non-image brand, EBML, AVI,
    FLV, MPEG-PS/TS, ASF, Ogg)."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heif")
    if head.startswith((b"\x1aE\xdf\xa3", b"FLV", b"\x00\x00\x01\xba", b"\x30\x26\xb2\x75", b"OggS")):
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS sync bytes


def read_video(source, policy: MediaPolicy = DEFAULT_POLICY, *, fps: float, max_frames: int) -> VideoClip:
    """Decode the contract's sampled frames of a video file (see the module docstring).

    Raises ``MediaDecodeError`` (empty, too short, corrupt, no video stream, unsupported codec),
    ``MediaTooLargeError`` (bytes, frame size, duration, frame count, decode work),
    ``MediaTimeoutError`` (decode deadline), ``MediaPolicyError`` / ``MediaFetchError`` (source).
    """
    _validate_request(fps, max_frames)
    with open_media(source, policy, kind="video") as opened:
        deadline = time.monotonic() + policy.video_decode_timeout
        return _read_opened(opened, policy, float(fps), int(max_frames), deadline)


def _validate_request(fps, max_frames) -> None:
    if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not fps > 0 or fps != fps or fps == float("inf"):
        raise InputError(f"fps must be a positive finite number, got {fps!r}")
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames < 2:
        raise InputError(f"max_frames must be an integer >= 2, got {max_frames!r}")


def _read_opened(opened: OpenedMedia, policy: MediaPolicy, fps: float, max_frames: int, deadline: float) -> VideoClip:
    import torch

    container = _open_container(opened, policy, deadline)
    try:
        stream = _video_stream(container, opened.label)
        header = _check_header(container, stream, policy, opened.label)
        packet_pts, keyframes = _index_packets(container, stream, policy, deadline, opened.label)
        total = len(packet_pts)
        eff_fps, eff_max = _effective_request(fps, max_frames, header["width"] * header["height"], policy)
        indices = _sample_indices(total, header["fps"], eff_fps, eff_max, opened.label)
        frames = torch.empty((len(indices), 3, header["height"], header["width"]), dtype=torch.uint8)
        timestamps = _timestamps_or_none(packet_pts)
        if timestamps is None:
            container.close()
            container = _open_container(opened, policy, deadline)
            stream = _video_stream(container, opened.label)
            _decode_sequential(container, stream, indices, frames, policy, deadline)
        else:
            _decode_seeking(container, stream, [timestamps[i] for i in indices], keyframes, frames, policy, deadline)
    finally:
        container.close()
    return VideoClip(
        frames=frames, fps=header["fps"], frame_indices=indices, total_frames=total,
        sample_fps=len(indices) / max(total, 1e-6) * header["fps"], effective_fps=eff_fps,
        effective_max_frames=eff_max, duration=total / header["fps"], width=header["width"],
        height=header["height"], codec=header["codec"],
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
    except Exception as exc:  # noqa: BLE001 - FFmpeg/OS errors of any kind mean "not a readable video"
        if time.monotonic() >= deadline:
            raise MediaTimeoutError(f"{opened.label}: opening the video exceeded the {policy.video_decode_timeout:g}s decode timeout") from None
        raise MediaDecodeError(f"{opened.label} is not a readable video (missing header or moov atom, unsupported container, or corrupt): {_ffmpeg_reason(exc)}") from None


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


def _check_deadline(deadline: float, policy: MediaPolicy, label: str) -> None:
    if time.monotonic() > deadline:
        raise MediaTimeoutError(f"{label}: decoding exceeded the {policy.video_decode_timeout:g}s decode timeout")


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
                _check_deadline(deadline, policy, label)
                if len(pts_list) > policy.max_video_total_frames:
                    raise MediaTooLargeError(f"{label} has more than {policy.max_video_total_frames} frames")
    except (MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt tail: keep what was demuxed
        if not pts_list:
            raise MediaDecodeError(f"{label} is corrupt (no video packet could be read): {_ffmpeg_reason(exc)}") from None
        logger.warning("%s: demuxing stopped after %d packets (%s)", label, len(pts_list), _ffmpeg_reason(exc))
    if len(pts_list) > policy.max_video_total_frames:
        raise MediaTooLargeError(f"{label} has more than {policy.max_video_total_frames} frames")
    if stream.frames and stream.frames != len(pts_list):
        logger.debug("%s: header says %d frames, demuxed %d", label, stream.frames, len(pts_list))
    keyframes.sort()
    return pts_list, keyframes


def _effective_request(fps: float, max_frames: int, frame_pixels: int, policy: MediaPolicy) -> tuple[float, int]:
    eff_fps = min(fps, policy.max_sample_fps)
    fit = policy.max_video_output_bytes // (3 * frame_pixels)
    eff_max = min(max_frames, policy.max_video_frames, fit)
    if eff_max < 2:
        raise MediaTooLargeError(f"two frames of {frame_pixels} pixels exceed the {policy.max_video_output_bytes}-byte frame budget")
    if eff_fps != fps or eff_max != max_frames:
        logger.info("video request clamped to the media policy: fps %g -> %g, max_frames %d -> %d", fps, eff_fps, max_frames, eff_max)
    return eff_fps, eff_max


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


def _timestamps_or_none(packet_pts: list) -> list | None:
    """Presentation timestamps in presentation order, or None when they cannot index frames."""
    if any(p is None for p in packet_pts):
        return None
    ordered = sorted(packet_pts)
    if any(a == b for a, b in zip(ordered, ordered[1:])):
        return None
    return ordered


def _store(frames: "torch.Tensor", slot: int, frame) -> None:
    import torch

    height, width = frames.shape[2], frames.shape[3]
    if frame.width == width and frame.height == height:
        array = frame.to_ndarray(format="rgb24")
    else:  # resolution changed mid-stream: bring it to the header size
        array = frame.to_ndarray(format="rgb24", width=width, height=height)
    frames[slot].copy_(torch.from_numpy(array).permute(2, 0, 1))


class _Budget:
    """Counts decoded frames against the policy's work bound and the deadline."""

    def __init__(self, policy: MediaPolicy, deadline: float, label: str = "video") -> None:
        self.policy, self.deadline, self.label, self.decoded = policy, deadline, label, 0

    def tick(self) -> None:
        self.decoded += 1
        if self.decoded > self.policy.max_decoded_frames:
            raise MediaTooLargeError(f"{self.label}: sampling needs more than {self.policy.max_decoded_frames} decoded frames")
        _check_deadline(self.deadline, self.policy, self.label)


def _decode_seeking(container, stream, targets: list, keyframes: list, frames, policy, deadline) -> None:
    """Decode the frames whose timestamps are ``targets`` (ascending), seeking between GOPs."""
    budget = _Budget(policy, deadline)
    i, retries = 0, 0
    while i < len(targets):
        key_pos = bisect.bisect_right(keyframes, targets[i]) - 1 - retries
        lenient = key_pos <= 0 or retries >= 3
        seek_to = keyframes[max(key_pos, 0)] if keyframes else targets[i]
        i, status = _decode_from(container, stream, seek_to, targets, i, keyframes, frames, budget, lenient)
        if status == "overshoot":
            retries += 1  # the seek landed after the target: start from an earlier keyframe
            continue
        retries = 0
        if status == "eof":
            raise MediaDecodeError(f"video is truncated or corrupt: only {i} of {len(targets)} sampled frames could be decoded")


def _decode_from(container, stream, seek_to, targets, i, keyframes, frames, budget, lenient):
    """Seek to ``seek_to`` and decode forward storing targets; returns (next i, status).

    status: "done" (all stored), "seek" (next target is past another keyframe), "overshoot" (the
    first frame is already after the target; never when ``lenient``), "eof".
    A target with no exactly matching frame gets the next frame (only in broken files).
    """
    try:
        container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        first = True
        for frame in container.decode(stream):
            budget.tick()
            pts = frame.pts
            if pts is None:
                continue
            if first and pts > targets[i] and not lenient:
                return i, "overshoot"
            first = False
            while i < len(targets) and pts >= targets[i]:
                _store(frames, i, frame)
                i += 1
            if i >= len(targets):
                return i, "done"
            k = bisect.bisect_right(keyframes, targets[i]) - 1
            if k >= 0 and keyframes[k] > pts:
                return i, "seek"
    except (MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaDecodeError(f"video frame could not be decoded: {_ffmpeg_reason(exc)}") from None
    return i, "eof"


def _decode_sequential(container, stream, indices: list, frames, policy, deadline) -> None:
    """Fallback without usable timestamps: decode from the start, keep the frames at ``indices``."""
    budget = _Budget(policy, deadline)
    wanted = iter(enumerate(indices))
    slot, target = next(wanted)
    try:
        for position, frame in enumerate(container.decode(stream)):
            budget.tick()
            while position == target:
                _store(frames, slot, frame)
                nxt = next(wanted, None)
                if nxt is None:
                    return
                slot, target = nxt
    except (MediaTimeoutError, MediaTooLargeError):
        raise
    except Exception as exc:  # noqa: BLE001
        raise MediaDecodeError(f"video frame could not be decoded: {_ffmpeg_reason(exc)}") from None
    raise MediaDecodeError(f"video is truncated or corrupt: only {slot} of {len(indices)} sampled frames could be decoded")
