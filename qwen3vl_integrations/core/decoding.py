"""The media half of preprocessing: load, check, sample and resize images and videos to the sizes
the model sees, with no tokenizer, HF processor or model.

:class:`MediaDecoder` is that half on its own; :class:`~.processing.Preprocessor` extends it with
the HF processor calls, tokenisation and the media cache. A distributed job runs the decoder on CPU
workers and hands the results (:class:`DecodedImage`, :class:`DecodedVideo`: uint8 pixels, about an
eighth of the HF processor's float patches) to the model workers, where they are input forms of
their own: an item holding one skips loading and resizing, and is refused when it was decoded for
other settings. Decoded media bypass the engine's media cache (both levels): the work the cache
saves is already done, and their bytes were never read by the engine to key it.

Resizing uses qwen-vl-utils' own ``smart_resize`` and ``smart_nframes`` (docs/model-contract.md,
section 6).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from ..errors import EmptyInputError, InputError, MediaDecodeError, MediaTooLargeError, Qwen3VLError, UnsupportedMediaError
from ..media import DEFAULT_POLICY, MediaPolicy, load_image, read_video
from .config import IMAGE_FACTOR, EngineConfig
from .inputs import MultimodalInput, coerce_input, is_frame_list

__all__ = ["MediaDecoder", "DecodedImage", "DecodedVideo", "sample_frame_list"]

FRAME_LIST_FACTOR = 64  # qwen-vl-utils pre-resizes listed frames with image_patch_size=32 -> factor 64
VIDEO_MIN_PIXELS = 128 * IMAGE_FACTOR * IMAGE_FACTOR
VIDEO_FRAME_MAX_PIXELS = 768 * IMAGE_FACTOR * IMAGE_FACTOR
FRAME_LIST_FPS = 2.0


@dataclass
class DecodedImage:
    """An image loaded, checked and resized for the model (:meth:`MediaDecoder.decode_image`)."""

    pixels: np.ndarray  # uint8 (H, W, 3) RGB, H and W multiples of 32
    source_size: tuple[int, int]  # (width, height) before resizing
    budget: tuple[int, int]  # (min_pixels, max_pixels) it was resized for


@dataclass
class DecodedVideo:
    """A video's sampled frames resized for the model (:meth:`MediaDecoder.decode_video`)."""

    frames: torch.Tensor  # uint8 (T, 3, H, W) RGB, T even
    indices: list[int]  # source frame index of each frame (frame lists: 0..T-1)
    fps: float  # source frame rate the timestamps are computed from (frame lists: 2)
    effective: dict  # effective sampling values (fps, max_frames, total_frames, clamped_by)
    request: tuple  # (fps, max_frames, total_pixels, policy) it was sampled and resized for


def _check_decoded(kind: str, made_for: tuple, wanted: tuple, names: Sequence[str]) -> None:
    differing = [f"{name} {mine!r} != {theirs!r}" for name, mine, theirs in zip(names, made_for, wanted)
                 if mine != theirs]
    if differing:
        raise InputError(f"the decoded {kind} was made for other settings than this engine's ({'; '.join(differing)}); "
                         "decode it with the engine's settings and media policy")


def _smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    from qwen_vl_utils.vision_process import smart_resize

    try:
        h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError as exc:  # qwen-vl-utils raises ValueError for aspect ratio > 200
        raise UnsupportedMediaError(f"aspect ratio > 200 ({width}x{height})") from exc
    # a lowered max_pixels can floor a thin side to 0 upstream; never resize to a zero side
    return max(h, factor), max(w, factor)


def _resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic, antialiased resize of uint8 (T, 3, H, W) frames, as qwen-vl-utils does (result uint8)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    return TF.resize(frames, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)


def sample_frame_list(frames: Sequence, max_frames: int) -> list:
    """The frames a frame-list video keeps: all of them, or ``max_frames`` evenly spaced ones."""
    if len(frames) > max_frames:
        return [frames[i] for i in np.linspace(0, len(frames) - 1, max_frames, dtype=int).tolist()]
    return list(frames)


def merge_clamps(effective: dict, clamped_by: Sequence[str]) -> dict:
    """``effective`` with the request's clamps (``clamped_by``) named first in its ``clamped_by``."""
    return {**effective, "clamped_by": tuple(dict.fromkeys([*clamped_by, *effective["clamped_by"]]))}


class MediaDecoder:
    """Loads, checks, samples and resizes media for one engine's settings and media policy (thread-safe)."""

    def __init__(self, config: EngineConfig, policy: MediaPolicy = DEFAULT_POLICY):
        self.config = config
        self.policy = policy

    # -- public: whole items and single media ------------------------------------------------
    def decode(self, item) -> MultimodalInput:
        """``item`` (any input form) as a MultimodalInput whose images and videos are decoded (its
        texts and settings unchanged)."""
        item = coerce_input(item)
        videos = tuple(self.decode_video(v, item.fps, item.max_frames) for v in item.videos)
        return replace(item, images=tuple(self.decode_image(i) for i in item.images), videos=videos)

    def decode_image(self, source, min_pixels: int | None = None, max_pixels: int | None = None) -> DecodedImage:
        """One image loaded (policy-checked) and resized to the budget; a DecodedImage is checked and returned."""
        budget = (min_pixels or self.config.min_pixels, max_pixels or self.config.max_pixels)
        if isinstance(source, DecodedImage):
            _check_decoded("image", source.budget, budget, ("min_pixels", "max_pixels"))
            return source
        img = load_image(source, self.policy)
        h, w = _smart_resize(img.height, img.width, IMAGE_FACTOR, *budget)
        return DecodedImage(np.asarray(img.resize((w, h), Image.Resampling.BICUBIC)), img.size, budget)

    def decode_video(self, source, fps=None, max_frames=None) -> DecodedVideo:
        """One video (a file source or a frame list) sampled and resized as :meth:`Preprocessor.video`
        does; a DecodedVideo is checked against this request and returned."""
        fps, max_frames, clamped_by = self._video_request(fps, max_frames)
        if isinstance(source, DecodedVideo):
            _check_decoded("video", source.request, self._video_key(fps, max_frames),
                           ("fps", "max_frames", "total_pixels", "media policy"))
            return source
        if is_frame_list(source):
            if len(source) == 0:
                raise EmptyInputError("a frame-list video has no frames")
            decoded = self._decode_video(sample_frame_list(source, max_frames), fps, max_frames, len(source))
        else:
            decoded = self._decode_video(source, fps, max_frames)
        decoded.effective = merge_clamps(decoded.effective, clamped_by)
        return decoded

    # -- video request and budgets -------------------------------------------------------------
    def _video_key(self, fps: float, max_frames: int) -> tuple:
        return fps, max_frames, self.config.total_pixels, self.policy

    def _decode_video(self, source, fps: float, max_frames: int, listed: int | None = None) -> DecodedVideo:
        """An opened file or the sampled frames of a frame list (of ``listed`` frames in all), decoded."""
        if is_frame_list(source):
            frames, indices, video_fps, effective = self._frame_list(source, max_frames, listed)
        else:
            frames, indices, video_fps, effective = self._video_file(source, fps, max_frames)
        return DecodedVideo(frames, indices, video_fps, effective, self._video_key(fps, max_frames))

    def _video_request(self, fps, max_frames) -> tuple[float, int, list[str]]:
        """Validate a request's fps / max_frames; max_frames is capped by the policy's ceiling."""
        fps = self.config.fps if fps is None else fps
        max_frames = self.config.max_frames if max_frames is None else max_frames
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise InputError(f"fps must be a positive number, got {fps!r}")
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
            raise InputError(f"max_frames must be an integer >= 2, got {max_frames!r}")
        if max_frames > self.policy.max_video_frames:
            return float(fps), self.policy.max_video_frames, ["max_video_frames"]
        return float(fps), max_frames, []

    def _frame_size(self, nframes: int, height: int, width: int) -> tuple[int, int]:
        """Per-frame size under the total pixel budget (docs/model-contract.md section 6; files and frame lists alike)."""
        ceiling = max(min(VIDEO_FRAME_MAX_PIXELS, self.config.total_pixels / nframes * 2), int(VIDEO_MIN_PIXELS * 1.05))
        return _smart_resize(height, width, IMAGE_FACTOR, VIDEO_MIN_PIXELS, ceiling)

    def frames_within_budget(self, height: int, width: int, max_frames: int) -> int:
        """The most frames ``n <= max_frames`` such that every sample of up to ``n`` frames of this
        source size, padded to an even count and resized by :meth:`_frame_size`, holds at most
        ``policy.max_video_pixels`` pixels; ``MediaTooLargeError`` when not even two frames do."""
        budget, best = self.policy.max_video_pixels, 0
        for n in range(2, max_frames + 1):
            even = n + n % 2
            h, w = self._frame_size(even, height, width)
            if even * h * w > budget:
                break
            best = n
        if best < 2:
            h, w = self._frame_size(2, height, width)
            raise MediaTooLargeError(f"two frames of {width}x{height} resize to {w}x{h}: {2 * w * h} pixels, over "
                                     f"the media policy's max_video_pixels={budget}")
        return best

    # -- decoding ----------------------------------------------------------------------------------
    def _video_file(self, source, fps: float, max_frames: int) -> tuple[torch.Tensor, list[int], float, dict]:
        """Decode the contract's frames of a video file within the pixel budget, then resize them
        (the source-sized frames are released before the caller encodes)."""
        def frame_limit(width: int, height: int) -> int:
            return self.frames_within_budget(height, width, max_frames)

        clip = read_video(source, self.policy, fps=fps, max_frames=max_frames, frame_limit=frame_limit)
        frames = _resize_frames(clip.frames, *self._frame_size(len(clip.frames), *clip.frames.shape[-2:]))
        clamped_by = ["max_video_pixels" if name == "frame_limit" else name for name in clip.metadata.get("clamped_by", [])]
        effective = {"fps": clip.effective_fps, "max_frames": clip.effective_max_frames, "total_frames": clip.total_frames,
                     "clamped_by": clamped_by}
        return frames, list(clip.frame_indices), float(clip.fps), effective

    def _frame_list(self, frames: Sequence, max_frames: int,
                    listed: int | None = None) -> tuple[torch.Tensor, list[int], float, dict]:
        """Load and resize the (already sampled, :func:`sample_frame_list`) frames of a frame list one
        at a time (only one full-size frame in memory), padded to an even count by repeating the last;
        fps 2 timestamps, as qwen-vl-utils does. The first frame's size sets the pixel budget's frame
        count before any other is loaded (``listed``: frames in the caller's list)."""
        if len(frames) == 0:
            raise EmptyInputError("a frame-list video has no frames")
        first = self._list_frame(frames[0], 0)
        limit = self.frames_within_budget(first.shape[0], first.shape[1], max_frames)  # at most max_frames
        effective = {"max_frames": limit, "total_frames": len(frames) if listed is None else listed,
                     "clamped_by": ["max_video_pixels"] if limit < max_frames else []}
        positions = list(range(len(frames)))
        if len(frames) > limit:
            positions = np.linspace(0, len(frames) - 1, limit, dtype=int).tolist()
        nframes = len(positions) + len(positions) % 2
        h, w = self._frame_size(nframes, first.shape[0], first.shape[1])
        out = torch.empty((nframes, 3, h, w), dtype=torch.uint8)
        for slot, position in enumerate(positions):
            pixels = first if position == 0 else self._list_frame(frames[position], position)
            if pixels.shape != first.shape:
                raise MediaDecodeError("the frames of a frame-list video must have one size "
                                       "(after resizing to multiples of 64)")
            out[slot] = _resize_frames(torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None], h, w)[0]
        if len(positions) % 2:
            out[-1] = out[-2]
        return out, list(range(nframes)), FRAME_LIST_FPS, effective

    def _list_frame(self, frame, k: int) -> np.ndarray:
        """One listed frame, loaded and pre-resized to multiples of 64 as qwen-vl-utils does (H, W, 3)."""
        try:
            img = load_image(frame, self.policy)
        except Qwen3VLError as exc:
            raise exc.__class__(f"frame {k}: {exc}") from exc
        h, w = _smart_resize(img.height, img.width, FRAME_LIST_FACTOR, 4 * FRAME_LIST_FACTOR ** 2,
                             16384 * FRAME_LIST_FACTOR ** 2)
        return np.asarray(img.resize((w, h), Image.Resampling.BICUBIC))
