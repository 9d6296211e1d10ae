"""From a MultimodalInput to model tensors: resizing, HF processor calls, tokenisation, truncation.

Resizing uses qwen-vl-utils' own ``smart_resize`` and ``smart_nframes`` (docs/model-contract.md, section 6);
pixel values come from the checkpoint's HF image/video processors with resizing off; token ids are
built from the fully expanded prompt string, in the transformers 4.57 video layout.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..errors import (
    EmptyInputError,
    InputError,
    InputTooLongError,
    MediaDecodeError,
    MediaTooLargeError,
    Qwen3VLError,
    UnsupportedMediaError,
)
from ..media import DEFAULT_POLICY, MediaPolicy, load_image, read_video
from .cache import MediaCache
from .config import IMAGE_FACTOR, EngineConfig
from .inputs import MultimodalInput, is_frame_list
from .prompts import expand_image, expand_video
from .tokens import IMAGE_PAD_ID, SPECIAL_IDS, VIDEO_PAD_ID

__all__ = ["VisualInput", "PreparedItem", "Preprocessor", "truncate_ids", "rope_positions", "sample_frame_list",
           "SPECIAL_IDS"]

_SURROGATE = re.compile("[\ud800-\udfff]")
SUFFIX_LEN = 5
FRAME_LIST_FACTOR = 64  # qwen-vl-utils pre-resizes listed frames with image_patch_size=32 -> factor 64
VIDEO_MIN_PIXELS = 128 * IMAGE_FACTOR * IMAGE_FACTOR
VIDEO_FRAME_MAX_PIXELS = 768 * IMAGE_FACTOR * IMAGE_FACTOR
FRAME_LIST_FPS = 2.0


@dataclass
class VisualInput:
    """One preprocessed image or video: patches, grid and the token string that stands for it."""

    pixel_values: torch.Tensor
    grid_thw: tuple[int, int, int]
    tokens: str
    meta: dict = field(default_factory=dict)
    #: vision-tower output (merged features, deepstack features per layer) once encoded; a query's
    #: media are encoded once per rerank call and reused for every pair
    features: tuple | None = None
    #: key of this visual in the engine's MediaCache (content hash + settings); ``None`` when uncached
    cache_key: str | None = None


@dataclass
class PreparedItem:
    input_ids: list[int]
    images: list[VisualInput]
    videos: list[VisualInput]
    truncated: bool = False
    #: M-RoPE position of the first token (non-zero for a continuation of a cached prompt prefix)
    position_offset: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)

    def positions(self) -> torch.Tensor:
        """M-RoPE position ids (3, len) of this item, starting at ``position_offset``."""
        return self.position_offset + rope_positions(
            self.input_ids, [v.grid_thw for v in self.images], [v.grid_thw for v in self.videos])


logger = logging.getLogger(__name__)


def _grid(thw) -> tuple[int, int, int]:
    t, h, w = (int(x) for x in thw)
    return t, h, w


def _smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    from qwen_vl_utils.vision_process import smart_resize

    try:
        h, w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
    except ValueError as exc:  # qwen-vl-utils raises ValueError for aspect ratio > 200
        raise UnsupportedMediaError(f"aspect ratio > 200 ({width}x{height})") from exc
    # a lowered max_pixels can floor a thin side to 0 upstream; never resize to a zero side
    return max(h, factor), max(w, factor)


def _timestamps(indices: Sequence[int], fps: float, merge: int = 2) -> list[float]:
    idx = [int(i) for i in indices]
    while len(idx) % merge:
        idx.append(idx[-1])
    times = [i / fps for i in idx]
    return [(times[i] + times[i + merge - 1]) / 2 for i in range(0, len(times), merge)]


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


def truncate_ids(ids: list[int], max_length: int, special_ids=SPECIAL_IDS) -> tuple[list[int], bool]:
    """Keep the 5-token chat suffix; from the rest keep every special token and the first
    ``max_length - #special`` ordinary tokens (the reference reranker's rule)."""
    body, suffix = ids[:-SUFFIX_LEN], ids[-SUFFIX_LEN:]
    if len(body) <= max_length:
        return ids, False
    budget = max_length - sum(1 for t in body if t in special_ids)
    kept, out = 0, []
    for t in body:
        if t in special_ids:
            out.append(t)
        elif kept < budget:
            out.append(t)
            kept += 1
    return out + suffix, True


def rope_positions(ids: Sequence[int], image_grids: Sequence[tuple], video_grids: Sequence[tuple],
                   merge: int = 2) -> torch.Tensor:
    """Multimodal RoPE position ids (3, L) of one unpadded sequence, as Qwen3-VL computes them:
    text runs count up; each image / video frame group gets (t, h, w) grid positions from the
    current offset, after which the offset advances by max(h, w)."""
    arr = np.asarray(ids, dtype=np.int64)
    length = len(arr)
    pos = np.zeros((3, length), dtype=np.int64)
    runs = {IMAGE_PAD_ID: iter([tuple(g) for g in image_grids]),
            VIDEO_PAD_ID: iter([(1, g[1], g[2]) for g in video_grids for _ in range(int(g[0]))])}
    is_vision = (arr == IMAGE_PAD_ID) | (arr == VIDEO_PAD_ID)
    cur, i = 0, 0
    while i < length:
        if not is_vision[i]:
            nxt = np.flatnonzero(is_vision[i:])
            j = i + (int(nxt[0]) if len(nxt) else length - i)
            pos[:, i:j] = np.arange(j - i) + cur
            cur += j - i
            i = j
            continue
        t, h, w = next(runs[int(arr[i])])
        hh, ww = int(h) // merge, int(w) // merge
        n = int(t) * hh * ww
        grid = np.stack(np.meshgrid(np.arange(int(t)), np.arange(hh), np.arange(ww), indexing="ij")).reshape(3, -1)
        pos[:, i:i + n] = grid + cur
        cur += max(hh, ww)
        i += n
    return torch.from_numpy(pos)


class Preprocessor:
    """Turns inputs into PreparedItems for one checkpoint's processor and settings (thread-safe)."""

    def __init__(self, processor, config: EngineConfig, policy: MediaPolicy = DEFAULT_POLICY,
                 cache: MediaCache | None = None):
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.config = config
        self.policy = policy
        self.cache = cache if cache is not None else MediaCache(0)

    # -- media -----------------------------------------------------------------------------
    def image(self, source, min_pixels: int | None = None, max_pixels: int | None = None) -> VisualInput:
        budget = (min_pixels or self.config.min_pixels, max_pixels or self.config.max_pixels)
        return self.cache.image(source, self.policy, budget, lambda loadable: self._image(loadable, *budget))

    def _image(self, source, min_pixels: int, max_pixels: int) -> VisualInput:
        img = load_image(source, self.policy)
        source_size = img.size
        h, w = _smart_resize(img.height, img.width, IMAGE_FACTOR, min_pixels, max_pixels)
        img = img.resize((w, h), Image.Resampling.BICUBIC)
        out = self.processor.image_processor(images=[img], do_resize=False, return_tensors="pt")
        grid = _grid(out["image_grid_thw"][0])
        return VisualInput(out["pixel_values"], grid, expand_image(grid[0] * grid[1] * grid[2] // 4),
                           {"size": (w, h), "source_size": source_size})

    def video(self, source, fps=None, max_frames=None) -> VisualInput:
        """Sample, load, resize and encode one video (a file source or a frame list), through the cache.

        Its work is bounded by what the model computes: ``max_frames`` is lowered (before any
        frame is decoded) so that sampled frames x resized pixels stays within
        ``policy.max_video_pixels``; ``meta["effective"]`` reports the values used (see
        :meth:`_effective`). A frame list is first sampled to ``max_frames`` (the frames the cache
        key hashes), then to what the pixel budget allows."""
        fps, max_frames, clamped_by = self._video_request(fps, max_frames)
        total = self.config.total_pixels
        if is_frame_list(source):
            if len(source) == 0:
                raise EmptyInputError("a frame-list video has no frames")
            listed = len(source)
            visual = self.cache.frame_list(sample_frame_list(source, max_frames), self.policy, (max_frames, total),
                                           lambda frames: self._video(frames, fps, max_frames, listed))
        else:
            visual = self.cache.video_file(source, self.policy, (fps, max_frames, total),
                                           lambda opened: self._video(opened, fps, max_frames))
        effective = dict(visual.meta["effective"])
        effective["clamped_by"] = tuple(dict.fromkeys([*clamped_by, *effective["clamped_by"]]))
        visual.meta["effective"] = effective
        if effective["clamped_by"]:
            logger.info("video request clamped (%s): max_frames %s, %d frames of %dx%d", ", ".join(effective["clamped_by"]),
                        effective["max_frames"], visual.meta["frames"], *visual.meta["size"])
        return visual

    def _video(self, source, fps: float, max_frames: int, listed: int | None = None) -> VisualInput:
        """One video's VisualInput without the cache: ``source`` is an opened file or the sampled
        frames of a frame list (of ``listed`` frames in all)."""
        if is_frame_list(source):
            frames, indices, video_fps, effective = self._frame_list(source, max_frames, listed)
        else:
            frames, indices, video_fps, effective = self._video_file(source, fps, max_frames)
        visual = self._encode_video(frames, indices, video_fps)
        visual.meta["effective"] = self._effective(visual, effective)
        return visual

    @staticmethod
    def _effective(visual: VisualInput, values: dict) -> dict:
        """The effective values of one video: ``fps`` (files) and ``max_frames`` after clamping,
        ``total_frames`` (in the file or the list), ``frames`` (sampled, as the model sees them),
        ``size`` (resized ``(width, height)``), ``pixels`` (frames x width x height) and
        ``clamped_by`` (names of the limits that lowered the request; empty when none did)."""
        width, height = visual.meta["size"]
        frames = visual.meta["frames"]
        return {**values, "frames": frames, "size": (width, height), "pixels": frames * width * height}

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
        limit = min(max_frames, self.frames_within_budget(first.shape[0], first.shape[1], max_frames))
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

    def _encode_video(self, frames: torch.Tensor, indices: list[int], video_fps: float) -> VisualInput:
        video_processor = self.processor.video_processor
        extra = {"cap_pixels_per_frame": True} if hasattr(video_processor, "cap_pixels_per_frame") else {}
        out = video_processor(videos=[frames.float()], do_resize=False, do_sample_frames=False, return_tensors="pt",
                              **extra)
        grid = _grid(out["video_grid_thw"][0])
        times = _timestamps(indices, video_fps)[: grid[0]]
        tokens = expand_video(times, grid[1] * grid[2] // 4)
        h, w = frames.shape[-2:]
        return VisualInput(out["pixel_values_videos"], grid, tokens,
                           {"frames": int(frames.shape[0]), "size": (int(w), int(h)), "fps": video_fps,
                            "timestamps": times})

    # -- text ----------------------------------------------------------------------------------
    def check_text(self, item: MultimodalInput) -> None:
        """Cheap checks before the tokenizer sees the text: total length, and no lone surrogates."""
        total = sum(len(t) for t in item.texts)
        if total > self.config.max_text_chars:
            raise InputTooLongError(f"text of {total} characters exceeds max_text_chars={self.config.max_text_chars}")
        for text in (*item.texts, item.instruction or ""):
            if _SURROGATE.search(text):
                raise InputError("text contains a lone UTF-16 surrogate (not valid Unicode text)")

    def tokenize(self, prompt: str, max_length: int, truncate: bool, body_limit: int) -> tuple[list[int], bool]:
        """Tokenise the expanded prompt; cut ordinary tokens so the body fits ``body_limit``."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) - SUFFIX_LEN <= body_limit:
            return ids, False
        if not truncate:
            raise InputTooLongError(f"input has {len(ids)} tokens, more than max_length={max_length} (truncate=False)")
        return truncate_ids(ids, body_limit)
