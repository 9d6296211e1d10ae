"""Image loading under a MediaPolicy: header checks before pixels, forced decoding, EXIF, colour modes.

``load_image`` returns a fully decoded RGB ``PIL.Image``; ``read_video`` returns a ``VideoClip``
of the frames the model contract samples (docs/model-contract.md, section 6). Where the bytes come from (paths, URLs, data URIs ...)
is ``fetch`` / ``http``; video decoding is ``video``. This module holds the image rules:

- The pixel ceiling (``policy.max_image_pixels``) is checked from the header, before any pixel is
  decoded; PIL's own ``DecompressionBombError`` is reported as ``MediaTooLargeError`` too.
- Decoding is forced (``.load()``): truncated or non-image bytes raise ``MediaDecodeError`` here,
  not later in the model.
- EXIF orientation is applied. Animated GIF / APNG / WebP and multi-page TIFF: frame 0 only.
- Colour: ``RGBA`` is composited on white exactly like ``qwen_vl_utils.vision_process.to_rgb``;
  ``LA``/``PA``/``P`` with transparency are composited on white too (the reference would drop
  the alpha channel); 16-bit grey (``I;16*``) is scaled by 1/257; ``I`` and ``F`` by their value
  range (see ``_scale_to_uint8``); every other mode is ``.convert("RGB")``.
- Aspect ratio above 200 raises ``UnsupportedMediaError`` ("aspect ratio > 200"): the model's
  resize (qwen-vl-utils ``smart_resize``) cannot handle it. Resizing is not done here.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import MediaDecodeError, MediaError, MediaTooLargeError, UnsupportedMediaError
from .fetch import MediaBytes, read_media_bytes
from .policy import DEFAULT_POLICY, MediaPolicy
from .sniff import is_video_source

__all__ = ["MAX_ASPECT_RATIO", "load_image", "decode_image_bytes", "to_rgb", "is_video_source"]

logger = logging.getLogger(__name__)

MAX_ASPECT_RATIO = 200
_EXIF_ORIENTATION = 0x0112
_ALPHA_MODES = ("LA", "La", "PA", "RGBa")
_HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_WARNINGS_LOCK = threading.Lock()


def load_image(source, policy: MediaPolicy = DEFAULT_POLICY) -> Image.Image:
    """Load ``source`` as a fully decoded RGB image, enforcing ``policy``.

    ``source`` may be a path (``str`` or ``pathlib.Path``), ``file://`` URI, ``http(s)://`` URL,
    ``data:image/...;base64,...`` URI, bare base64 string, bytes-like, binary file object,
    ``PIL.Image.Image`` (never modified) or numpy array (HxW, HxWx1, HxWx3, HxWx4 of uint8,
    uint16, bool, or float in [0, 1]), or :class:`MediaBytes` already read from one of these.

    A refusal is logged at DEBUG with its code and message (which never hold a path, URL
    credentials or query string) before it is raised.
    """
    try:
        if isinstance(source, MediaBytes):
            image = decode_image_bytes(source.data, policy, label=source.label)
        elif isinstance(source, Image.Image):
            image = _check_pil_image(source, policy)
        elif isinstance(source, np.ndarray):
            image = _image_from_array(source, policy)
        else:
            data, _content_type, label = read_media_bytes(source, policy, kind="image")
            image = decode_image_bytes(data, policy, label=label)
        return _finish(image)
    except MediaError as exc:
        logger.debug("image refused (%s): %s", exc.code, exc)
        raise


def decode_image_bytes(data: bytes, policy: MediaPolicy = DEFAULT_POLICY, *, label: str = "image") -> Image.Image:
    """Decode encoded image bytes (header checked first, then ``.load()`` forced); mode unchanged."""
    try:
        image = _open_header(data, policy)
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise MediaTooLargeError(f"{label} declares too many pixels (over PIL's decompression-bomb limit of {limit})") from None
    except UnidentifiedImageError:
        raise MediaDecodeError(f"{label} is not a recognised image (allowed formats: {', '.join(policy.image_formats)})") from None
    except Exception as exc:
        raise MediaDecodeError(f"{label} header cannot be parsed ({type(exc).__name__})") from None
    _check_dimensions(image.size, policy, label)
    _force_load(image, label)
    return image


def _open_header(data: bytes, policy: MediaPolicy) -> Image.Image:
    """``Image.open`` (header only) with its warnings silenced: DecompressionBombWarning (the
    policy's own pixel check follows) and "corrupt EXIF" chatter. ``catch_warnings`` swaps global
    state, so callers are serialised here; the expensive ``.load()`` runs outside the lock."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Image.open(io.BytesIO(data), formats=_pil_formats(policy.image_formats))


def _pil_formats(allowed: tuple) -> list:
    """The allowed formats PIL can open (MPO, for instance, is opened through JPEG)."""
    Image.init()
    return [name for name in allowed if name in Image.OPEN]


def _force_load(image: Image.Image, label: str) -> None:
    try:
        image.load()
    except Image.DecompressionBombError:
        raise MediaTooLargeError(f"{label} declares too many pixels (over PIL's decompression-bomb limit)") from None
    except MemoryError:
        raise MediaTooLargeError(f"{label} is too large to decode in memory") from None
    except Exception as exc:
        raise MediaDecodeError(f"{label} data is truncated or corrupt ({type(exc).__name__}: {exc})") from None


def _check_dimensions(size: tuple[int, int], policy: MediaPolicy, label: str) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise MediaDecodeError(f"{label} has a zero dimension ({width}x{height})")
    if width * height > policy.max_image_pixels:
        raise MediaTooLargeError(f"{label} is {width}x{height} = {width * height} pixels, over the {policy.max_image_pixels}-pixel limit")
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise UnsupportedMediaError(f"{label} aspect ratio > {MAX_ASPECT_RATIO} ({width}x{height})")


def _check_pil_image(image: Image.Image, policy: MediaPolicy) -> Image.Image:
    if image.format is not None and image.format.upper() not in policy.image_formats:
        raise UnsupportedMediaError(f"PIL image of format {image.format} is not allowed by the media policy")
    _check_dimensions(image.size, policy, "image")
    _force_load(image, "image")
    return image


def _image_from_array(array: np.ndarray, policy: MediaPolicy) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UnsupportedMediaError(f"numpy image must be HxW, HxWx1, HxWx3 or HxWx4, got shape {tuple(array.shape)}")
    height, width = array.shape[:2]
    _check_dimensions((width, height), policy, "numpy image")
    pixels = np.ascontiguousarray(_array_to_uint8(array))
    return Image.fromarray(pixels)  # uint8 HxW -> L, HxWx3 -> RGB, HxWx4 -> RGBA


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.rint(array.astype(np.float32) / 257.0).astype(np.uint8)
    if kind == "f":
        if not np.isfinite(array).all():
            raise MediaDecodeError("numpy image contains NaN or infinite values")
        if array.size and (array.min() < 0.0 or array.max() > 1.0):
            raise UnsupportedMediaError("float numpy images must have values in [0, 1]")
        return np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    if kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise UnsupportedMediaError(f"{array.dtype} numpy image values must lie in [0, 255] (use uint16 for 16-bit data)")
        return array.astype(np.uint8)
    raise UnsupportedMediaError(f"numpy image dtype {array.dtype} is not supported")


def _finish(image: Image.Image) -> Image.Image:
    """EXIF orientation, then RGB. Always returns a new image object."""
    image = _apply_exif_orientation(image)
    rgb = to_rgb(image)
    if rgb.width <= 0 or rgb.height <= 0:  # pragma: no cover - guarded by _check_dimensions
        raise MediaDecodeError("image has a zero dimension")
    return rgb


def _apply_exif_orientation(image: Image.Image) -> Image.Image:
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        logger.debug("ignoring unreadable EXIF block", exc_info=True)
        return image
    if orientation not in (2, 3, 4, 5, 6, 7, 8):
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        logger.debug("could not apply EXIF orientation %s", orientation, exc_info=True)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of ``image``; pixel-identical to qwen-vl-utils ``to_rgb`` for RGB, RGBA and L."""
    mode = image.mode
    if mode == "RGBA":
        return _composite_on_white(image)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return _composite_on_white(image.convert("RGBA"))
    if mode in _HIGH_BIT_MODES:
        grey = Image.fromarray(_scale_to_uint8(image))
        return grey.convert("RGB")
    try:
        return image.convert("RGB")
    except (ValueError, OSError) as exc:
        raise UnsupportedMediaError(f"image mode {mode} cannot be converted to RGB ({exc})") from None


def _composite_on_white(rgba: Image.Image) -> Image.Image:
    # same operations as qwen_vl_utils.vision_process.to_rgb
    white_background = Image.new("RGB", rgba.size, (255, 255, 255))
    white_background.paste(rgba, mask=rgba.split()[3])
    return white_background


def _scale_to_uint8(image: Image.Image) -> np.ndarray:
    """Map a high-bit-depth grey image to 0..255.

    ``I;16*``: divide by 257 (65535 -> 255, an 8-bit value v stored as v*257 maps back to v).
    ``I``: kept if within 0..255, divided by 257 if within 0..65535, else min-max stretched.
    ``F``: times 255 if within [0, 1], kept if within [0, 255], else min-max stretched;
    NaN/inf become 0.
    """
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        return np.rint(values.astype(np.float32) / 257.0).astype(np.uint8)
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = values * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        scaled = values
    elif image.mode == "I" and lo >= 0.0 and hi <= 65535.0:
        scaled = values / 257.0
    else:
        scaled = (values - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
