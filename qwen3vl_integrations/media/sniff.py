"""What a media source is, decided without decoding it: image or video, and base64 or not.

One set of rules for the loaders (``fetch`` decides whether a string is base64 or a path), input
coercion (whether a ``video`` list is one frame list or a list of videos) and the adapters (whether
a document's text is a base64 image):

- :func:`is_image_bytes` / :func:`is_video_bytes`: the first bytes match an image signature (PNG,
  JPEG, GIF, BMP, WebP, TIFF, ICO, QOI, AVIF/HEIF) / a video container (ISO-BMFF with a non-image
  brand, Matroska/WebM, AVI, FLV, MPEG-PS/TS, ASF, Ogg);
- :func:`is_base64_image`: a ``data:image/...`` URI, or a bare base64 string whose first bytes are an
  image signature (only the first 64 characters are decoded);
- :func:`is_image_source` / :func:`is_video_source`: any accepted source form (PIL image, numpy array,
  path, URL, data URI, base64, bytes), by object type, extension (``IMAGE_EXTENSIONS`` /
  ``VIDEO_EXTENSIONS``), media type or signature.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["strip_ascii_whitespace", "is_base64_text", "is_base64_payload", "base64_head", "source_scheme", "is_image_bytes", "is_video_bytes",
           "is_base64_image", "is_image_object", "is_image_source", "is_video_source"]

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_WS_RE = re.compile(r"[ \t\r\n]+")
_ASCII_WS = " \t\r\n"
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"qoif",
                     b"\x00\x00\x01\x00")
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heif")
_SNIFF_CHARS = 64  # base64 characters decoded to look at a payload's first 48 bytes


def source_scheme(text: str) -> str | None:
    """The lower-cased URI scheme of ``text`` (``None`` for a plain path or base64)."""
    match = _SCHEME_RE.match(text)
    if not match:
        return None
    scheme = match.group(1).lower()
    if os.name == "nt" and len(scheme) == 1:  # C:\ drive letter
        return None
    return scheme


def is_image_bytes(head: bytes) -> bool:
    """True when ``head`` starts like an image file of a format the loader knows."""
    if head.startswith(_IMAGE_SIGNATURES):
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return True
    return head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS


def is_video_bytes(head: bytes) -> bool:
    """True when ``head`` starts like a video container (ISO-BMFF non-image brand, EBML, AVI,
    FLV, MPEG-PS/TS, ASF, Ogg)."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    if head.startswith((b"\x1aE\xdf\xa3", b"FLV", b"\x00\x00\x01\xba", b"\x30\x26\xb2\x75", b"OggS")):
        return True
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return True
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG-TS sync bytes


def strip_ascii_whitespace(text: str) -> str:
    """``text`` without ASCII spaces, tabs and line breaks (MIME base64 line breaks). A text with none
    is returned as it is after four substring scans: a regex pass costs about 2 ms per 200 kB payload."""
    return _WS_RE.sub("", text) if any(c in text for c in _ASCII_WS) else text


def is_base64_text(text: str) -> bool:
    """Whether ``text`` (whitespace removed) is standard-alphabet base64: one or more alphabet
    characters, then at most two ``=`` (scanned in C, not by a regex)."""
    if not text.isascii():
        return False
    body = text.rstrip("=")
    if not body or len(text) - len(body) > 2:
        return False
    return not body.encode("ascii").translate(None, _B64_ALPHABET)


def is_base64_payload(compact: str) -> bool:
    """Whether ``compact`` (whitespace removed) could be a base64 media payload rather than a path or a
    word: standard base64 of a valid length (a multiple of 4), at least 16 characters."""
    return len(compact) >= 16 and not len(compact) % 4 and is_base64_text(compact)


def base64_head(text: str) -> bytes | None:
    """The first bytes ``text`` decodes to when it is standard base64 with a valid length
    (whitespace ignored, at least 16 characters), else ``None``. Decodes at most 64 characters."""
    compact = strip_ascii_whitespace(text)
    if not is_base64_payload(compact):
        return None
    try:
        return base64.b64decode(compact[:_SNIFF_CHARS], validate=True)
    except (binascii.Error, ValueError):
        return None


def is_base64_image(text: str) -> bool:
    """True when ``text`` (surrounding whitespace ignored) is a ``data:image/...`` URI, or bare
    standard base64 whose payload starts like an image file. Nothing is validated beyond that: the
    loader decodes the whole payload strictly and raises a typed error if it is broken."""
    text = text.strip()
    if text[:11].lower() == "data:image/":
        return True
    if source_scheme(text) is not None:
        return False
    head = base64_head(text)
    return head is not None and is_image_bytes(head)


def _extension(text: str) -> str:
    if source_scheme(text) is not None:  # URL: the path's extension, query and fragment ignored
        text = text.split("#", 1)[0].split("?", 1)[0]
    return os.path.splitext(text.rstrip("/"))[1].lower()


def is_video_source(source) -> bool:
    """True when ``source`` names a video file by extension (``str`` / ``Path``; URL query and
    fragment ignored), is a ``data:video/...`` URI, or is bytes that start like a video container."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return is_video_bytes(bytes(source[:256]))
    if isinstance(source, os.PathLike):
        source = os.fsdecode(os.fspath(source))
    if not isinstance(source, str):
        return False
    text = source.strip()
    if source_scheme(text) == "data":
        return text[5:].split(",", 1)[0].split(";", 1)[0].strip().lower().startswith("video/")
    return _extension(text) in VIDEO_EXTENSIONS


def is_image_object(value) -> bool:
    """Whether ``value`` is an in-memory image: a PIL image or a numpy array (neither imported)."""
    module = type(value).__module__
    return module.startswith("PIL.") or (module == "numpy" and type(value).__name__ == "ndarray")


def is_image_source(source) -> bool:
    """True when ``source`` is an image: a PIL image or numpy array; a ``str`` / ``Path`` with an
    image extension (URL query and fragment ignored); a ``data:image/...`` URI or bare base64 of an
    image; or bytes that start like an image file."""
    if is_image_object(source):
        return True
    if isinstance(source, (bytes, bytearray, memoryview)):
        return is_image_bytes(bytes(source[:16]))
    if isinstance(source, os.PathLike):
        source = os.fsdecode(os.fspath(source))
    if not isinstance(source, str):
        return False
    text = source.strip()
    return _extension(text) in IMAGE_EXTENSIONS or is_base64_image(text)
