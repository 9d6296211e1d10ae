"""MultimodalInput and coercion of every accepted input form into it.

An input is a ``str`` (text), a dict in the reference format (keys ``text``, ``image``, ``video``,
``instruction``, ``fps``, ``max_frames``; each media value one item or a list), a
:class:`MultimodalInput`, a PIL image, numpy array or bytes (an image), or a ``pathlib.Path`` (an
image or a video by extension, ``media.formats``). A ``video`` value given as a list is one frame
list when its first element is an image, otherwise a list of videos (see ``_video_list`` and
docs/model-contract.md, section 2): ``["clip.mp4", [f1, f2]]`` is two videos, ``["f1.png", "f2.png"]``
one video of two frames.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, UnsupportedInputError
from ..media.sniff import is_image_object, is_image_source, is_video_source

__all__ = ["MultimodalInput", "coerce_input", "coerce_inputs", "is_frame_list", "has_remote_media"]

_DICT_KEYS = {"text", "image", "video", "instruction", "fps", "max_frames"}


@dataclass(frozen=True)
class MultimodalInput:
    """One item to embed or one side of a rerank pair: texts, images and videos.

    A video is a video file source (path, URL, bytes, data URI, file object) or a list of frames
    (each frame any image form). In the prompt, videos come first, then images, then texts,
    whatever order they were given in (docs/model-contract.md, section 2).
    """

    texts: tuple[str, ...] = ()
    images: tuple[Any, ...] = ()
    videos: tuple[Any, ...] = ()
    instruction: str | None = None
    fps: float | None = None
    max_frames: int | None = None

    @classmethod
    def of(cls, text=None, image=None, video=None, instruction=None, fps=None, max_frames=None) -> MultimodalInput:
        """Build from reference-style arguments (each one item or a list)."""
        return cls(
            texts=tuple(_as_list(text)),
            images=tuple(_as_list(image)),
            videos=tuple(_video_list(video)),
            instruction=instruction,
            fps=fps,
            max_frames=max_frames,
        )

    @property
    def modality(self) -> str:
        kinds = [name for name, items in (("video", self.videos), ("image", self.images), ("text", self.texts)) if items]
        return kinds[0] if len(kinds) == 1 else "mixed"

    def check_not_empty(self) -> None:
        if not self.images and not self.videos and not any(t.strip() for t in self.texts):
            raise EmptyInputError("the input has no content (no image, no video, and no non-blank text)")


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def is_frame_list(video) -> bool:
    return isinstance(video, (list, tuple))


def has_remote_media(item) -> bool:
    """Whether an input (any accepted form; one that does not coerce counts as local) names an http(s) media URL."""
    try:
        item = coerce_input(item)
    except Exception:
        return False
    sources = list(item.images)
    for video in item.videos:
        sources.extend(video if is_frame_list(video) else [video])
    return any(isinstance(s, str) and s[:8].lower().startswith(("http://", "https://")) for s in sources)


def _video_list(value) -> list:
    """A ``video`` value -> the list of videos it denotes (the rule of docs/model-contract.md, section 2).

    One source (str, Path, bytes, file object) is one video. A list or tuple is **one frame
    list** when its first element is an image (:func:`~qwen3vl_integrations.media.is_image_source`:
    a PIL image or numpy array, a str/Path with an image extension, a ``data:image/`` URI or base64
    image, bytes with an image signature); otherwise it is **a list of videos**, each a source or a
    frame list (a nested list or tuple).
    """
    if value is None:
        return []
    if isinstance(value, (str, Path, bytes, bytearray, memoryview, io.IOBase)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise UnsupportedInputError(f"unsupported video value of type {type(value).__name__}")
    if not value:
        return []
    if is_image_source(value[0]):
        return [list(value)]  # one frame list
    videos = []
    for k, video in enumerate(value):
        if isinstance(video, (list, tuple)):
            videos.append(list(video))
        elif is_image_object(video):
            raise UnsupportedInputError(
                f"video {k} is an image, but the list's first element is not: a frame list must start with an "
                "image, a list of videos holds video sources and frame lists")
        else:
            videos.append(video)
    return videos


def coerce_input(obj) -> MultimodalInput:
    """Turn any accepted input form into a MultimodalInput (no media is loaded here)."""
    if isinstance(obj, MultimodalInput):
        return obj
    if isinstance(obj, str):
        return MultimodalInput(texts=(obj,))
    if isinstance(obj, dict):
        unknown = set(obj) - _DICT_KEYS
        if unknown:
            raise UnsupportedInputError(
                f"unknown key(s) {sorted(unknown)} in input dict; valid keys: {sorted(_DICT_KEYS)}"
            )
        texts = _as_list(obj.get("text"))
        for text in texts:
            if not isinstance(text, str):
                raise UnsupportedInputError(f"text must be str, got {type(text).__name__}")
        return MultimodalInput.of(
            text=texts, image=obj.get("image"), video=obj.get("video"), instruction=obj.get("instruction"),
            fps=obj.get("fps"), max_frames=obj.get("max_frames"),
        )
    if isinstance(obj, Path):
        return MultimodalInput(videos=(obj,)) if is_video_source(obj) else MultimodalInput(images=(obj,))
    if isinstance(obj, (bytes, bytearray, memoryview)) or is_image_object(obj):
        return MultimodalInput(images=(obj,))
    raise UnsupportedInputError(
        f"unsupported input of type {type(obj).__name__}; pass a str (text), dict, MultimodalInput, "
        "PIL image, numpy array, bytes or pathlib.Path"
    )


def coerce_inputs(inputs: Any) -> list:
    """Normalise the ``inputs`` argument of embed()/rerank(): one item or a list of items."""
    if isinstance(inputs, (str, dict, MultimodalInput, Path, bytes, bytearray)) or is_image_object(inputs):
        return [inputs]
    if isinstance(inputs, Iterable):
        return list(inputs)
    raise UnsupportedInputError(f"inputs must be an item or a list of items, got {type(inputs).__name__}")
