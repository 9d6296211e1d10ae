"""From a MultimodalInput to model tensors: resizing, HF processor calls, tokenisation, truncation.

Loading, sampling and resizing media is ``core/decoding.py`` (:class:`MediaDecoder`, which
:class:`Preprocessor` extends), with qwen-vl-utils' own ``smart_resize`` and ``smart_nframes``
(docs/model-contract.md, section 6). Pixel values come from the checkpoint's HF image/video
processors with resizing off; token ids are built from the fully expanded prompt string, in the
transformers 4.57 video layout.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from ..errors import EmptyInputError, InputError, InputTooLongError
from ..media import DEFAULT_POLICY, MediaPolicy
from .cache import MediaCache
from .config import EngineConfig
from .decoding import DecodedImage, DecodedVideo, MediaDecoder, merge_clamps, sample_frame_list
from .inputs import MultimodalInput, is_frame_list
from .prompts import expand_image, expand_video
from .tokens import IMAGE_PAD_ID, SPECIAL_IDS, VIDEO_PAD_ID

__all__ = ["VisualInput", "PreparedItem", "Preprocessor", "truncate_ids", "rope_positions", "sample_frame_list",
           "SPECIAL_IDS"]

_SURROGATE = re.compile("[\ud800-\udfff]")
SUFFIX_LEN = 5


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


def _timestamps(indices: Sequence[int], fps: float, merge: int = 2) -> list[float]:
    idx = [int(i) for i in indices]
    while len(idx) % merge:
        idx.append(idx[-1])
    times = [i / fps for i in idx]
    return [(times[i] + times[i + merge - 1]) / 2 for i in range(0, len(times), merge)]


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


class Preprocessor(MediaDecoder):
    """Turns inputs into PreparedItems for one checkpoint's processor and settings (thread-safe):
    the media half of :class:`~.decoding.MediaDecoder`, then the HF processor calls and tokenisation."""

    def __init__(self, processor, config: EngineConfig, policy: MediaPolicy = DEFAULT_POLICY,
                 cache: MediaCache | None = None):
        super().__init__(config, policy)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.cache = cache if cache is not None else MediaCache(0)

    # -- media -----------------------------------------------------------------------------
    def image(self, source, min_pixels: int | None = None, max_pixels: int | None = None) -> VisualInput:
        budget = (min_pixels or self.config.min_pixels, max_pixels or self.config.max_pixels)
        if isinstance(source, DecodedImage):  # decoded elsewhere: checked, not cached (see core/decoding.py)
            return self._image(source, *budget)
        return self.cache.image(source, self.policy, budget, lambda loadable: self._image(loadable, *budget))

    def _image(self, source, min_pixels: int, max_pixels: int) -> VisualInput:
        return self._encode_image(self.decode_image(source, min_pixels, max_pixels))

    def _encode_image(self, decoded: DecodedImage) -> VisualInput:
        img = Image.fromarray(decoded.pixels)
        out = self.processor.image_processor(images=[img], do_resize=False, return_tensors="pt")
        grid = _grid(out["image_grid_thw"][0])
        return VisualInput(out["pixel_values"], grid, expand_image(grid[0] * grid[1] * grid[2] // 4),
                           {"size": img.size, "source_size": decoded.source_size})

    def video(self, source, fps=None, max_frames=None) -> VisualInput:
        """Sample, load, resize and encode one video (a file source or a frame list), through the cache.

        Its work is bounded by what the model computes: ``max_frames`` is lowered (before any
        frame is decoded) so that sampled frames x resized pixels stays within
        ``policy.max_video_pixels``; ``meta["effective"]`` reports the values used (see
        :meth:`_effective`). A frame list is first sampled to ``max_frames`` (the frames the cache
        key hashes), then to what the pixel budget allows. A :class:`DecodedVideo` is checked
        against the request and encoded, not cached."""
        if isinstance(source, DecodedVideo):
            visual = self._encode_decoded(self.decode_video(source, fps, max_frames))
        else:
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
            visual.meta["effective"] = merge_clamps(visual.meta["effective"], clamped_by)
        effective = visual.meta["effective"]
        if effective["clamped_by"]:
            logger.info("video request clamped (%s): max_frames %s, %d frames of %dx%d", ", ".join(effective["clamped_by"]),
                        effective["max_frames"], visual.meta["frames"], *visual.meta["size"])
        return visual

    def _video(self, source, fps: float, max_frames: int, listed: int | None = None) -> VisualInput:
        """One video's VisualInput without the cache: ``source`` is an opened file or the sampled
        frames of a frame list (of ``listed`` frames in all)."""
        return self._encode_decoded(self._decode_video(source, fps, max_frames, listed))

    def _encode_decoded(self, decoded: DecodedVideo) -> VisualInput:
        visual = self._encode_video(decoded.frames, decoded.indices, decoded.fps)
        visual.meta["effective"] = self._effective(visual, decoded.effective)
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
