"""MediaPolicy and bounded, policy-checked loading of images and videos.

INTERFACE STUB - being implemented (see issue 3). Signatures are fixed; the core codes against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MediaPolicy", "DEFAULT_POLICY", "VideoClip", "load_image", "read_video", "is_video_source"]


@dataclass(frozen=True)
class MediaPolicy:
    allow_local_paths: bool = True
    local_roots: tuple = ()


DEFAULT_POLICY = MediaPolicy()


@dataclass
class VideoClip:
    frames: "object"  # torch.uint8 tensor (T, 3, H, W) of the sampled frames, decode order
    fps: float  # the source's average frame rate
    frame_indices: list  # source frame index of each sampled frame
    total_frames: int  # frames in the source
    sample_fps: float  # T / total_frames * fps


def load_image(source, policy: MediaPolicy = DEFAULT_POLICY):
    raise NotImplementedError


def read_video(source, policy: MediaPolicy = DEFAULT_POLICY, *, fps: float, max_frames: int) -> VideoClip:
    raise NotImplementedError


def is_video_source(source) -> bool:
    raise NotImplementedError
