"""Turn a media *source* into bytes or an open file, under a MediaPolicy.

Sources: local paths (``str`` or ``pathlib.Path``), ``file://`` URIs, ``http(s)://`` URLs (see
``http``), ``data:`` URIs, bare base64 strings, bytes-like objects and binary file-likes.
Decoders never see a URL or a caller-supplied path string: they get bytes or a file object that
this module opened after the policy allowed it.

Error mapping (all subclasses of ``MediaError``):

- ``MediaPolicyError``: the policy forbids it (scheme, local paths, roots, non-regular files,
  ``data:`` URI whose media type is not image/video, Windows device paths).
- ``MediaDecodeError``: the payload is malformed (data URI without ``,`` or without ``;base64``,
  invalid base64, empty payload).
- ``MediaTooLargeError``: over ``max_image_bytes`` / ``max_video_bytes``.
- ``MediaFetchError``: a local file that cannot be read (not found, permission denied).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import stat
import tempfile
from dataclasses import dataclass
from typing import IO
from urllib.parse import unquote, urlsplit

from ..errors import (
    EmptyInputError,
    MediaDecodeError,
    MediaFetchError,
    MediaPolicyError,
    MediaTooLargeError,
    UnsupportedInputError,
)
from .policy import MediaPolicy
from .sniff import is_base64_payload, is_image_bytes, is_video_bytes, source_scheme, strip_ascii_whitespace

__all__ = ["OpenedMedia", "MediaBytes", "open_media", "read_media_bytes", "resolve_local_path", "strict_b64decode", "source_scheme"]

logger = logging.getLogger(__name__)

_OUTSIDE_ROOTS = "local path is not allowed by the media policy (outside the allowed roots)"
_PATH_MAX = 4096
_SPOOL_BYTES = 32 * 1024 * 1024


@dataclass
class OpenedMedia:
    """A readable, seekable binary stream positioned at 0, plus what is known about it."""

    stream: IO[bytes]
    size: int
    content_type: str | None
    label: str  # safe for error messages: never a resolved path

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> OpenedMedia:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class MediaBytes:
    """The bytes :func:`read_media_bytes` read from a source, with the source's label; the image
    loader decodes them without reading again (e.g. after they were hashed)."""

    data: bytes
    label: str


def open_media(source, policy: MediaPolicy, *, kind: str) -> OpenedMedia:
    """Open ``source`` as a seekable binary stream; the caller closes it."""
    cap = policy.max_bytes(kind)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), cap, kind)
        return OpenedMedia(io.BytesIO(data), len(data), None, f"{kind} bytes")
    if isinstance(source, os.PathLike):
        return _open_local(source, policy, kind)
    if isinstance(source, str):
        return _open_string(source, policy, kind)
    if hasattr(source, "read"):
        return _copy_file_like(source, cap, kind)
    raise UnsupportedInputError(f"unsupported {kind} source type {type(source).__name__}")


def read_media_bytes(source, policy: MediaPolicy, *, kind: str) -> tuple[bytes, str | None, str]:
    """``(data, content_type, label)`` of ``source``, read fully under the byte cap."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), policy.max_bytes(kind), kind)
        return data, None, f"{kind} bytes"
    cap = policy.max_bytes(kind)
    with open_media(source, policy, kind=kind) as opened:
        stream = opened.stream
        data = stream.getvalue() if isinstance(stream, io.BytesIO) else stream.read(cap + 1)
        _check_size(len(data), cap, kind)  # a local file may have grown since it was checked
        return data, opened.content_type, opened.label


def _check_size(size: int, cap: int, kind: str) -> None:
    if size > cap:
        raise MediaTooLargeError(f"{kind} is {size} bytes, over the {cap}-byte limit")
    if size == 0:
        raise MediaDecodeError(f"{kind} is empty (0 bytes)")


def _open_string(source: str, policy: MediaPolicy, kind: str) -> OpenedMedia:
    text = source.strip()
    if not text:
        raise EmptyInputError(f"empty {kind} source")
    scheme = source_scheme(text)
    if scheme == "data":
        data, mime = decode_data_uri(text, policy, kind=kind)
        return OpenedMedia(io.BytesIO(data), len(data), mime, f"{kind} data URI")
    if scheme == "file":
        return _open_local(_file_uri_path(text), policy, kind)
    if scheme in ("http", "https"):
        return _open_url(text, policy, kind)
    if scheme is not None:
        raise MediaPolicyError(f"URL scheme '{scheme}:' is not allowed for {kind}s")
    decoded = _maybe_base64(text, policy, kind)
    if decoded is not None:
        return OpenedMedia(io.BytesIO(decoded), len(decoded), None, f"{kind} base64")
    return _open_local(source, policy, kind)


def _open_url(url: str, policy: MediaPolicy, kind: str) -> OpenedMedia:
    from .http import fetch_url

    sink: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) if kind == "video" else io.BytesIO()
    try:
        content_type, size = fetch_url(url, policy, sink=sink, max_bytes=policy.max_bytes(kind), kind=kind)
        _check_size(size, policy.max_bytes(kind), kind)
    except BaseException:
        sink.close()
        raise
    sink.seek(0)
    return OpenedMedia(sink, size, content_type, f"{kind} URL")


def _copy_file_like(reader, cap: int, kind: str) -> OpenedMedia:
    sink: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) if kind == "video" else io.BytesIO()
    total = 0
    try:
        while True:
            chunk = reader.read(min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise UnsupportedInputError(f"{kind} file object must be opened in binary mode")
            total += len(chunk)
            if total > cap:
                raise MediaTooLargeError(f"{kind} stream is over the {cap}-byte limit")
            sink.write(chunk)
        _check_size(total, cap, kind)
    except BaseException:
        sink.close()
        raise
    sink.seek(0)
    return OpenedMedia(sink, total, None, f"{kind} stream")


# --------------------------------------------------------------------------- local files


def _file_uri_path(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise MediaPolicyError("malformed file:// URI") from None
    if parts.netloc not in ("", "localhost"):
        raise MediaPolicyError("file:// URIs naming a remote host are not allowed")
    path = unquote(parts.path)
    if not path:
        raise MediaDecodeError("file:// URI has no path")
    return path


def resolve_local_path(raw, policy: MediaPolicy) -> str:
    """The real path of ``raw`` if the policy allows reading it (it may not exist)."""
    if not policy.allow_local_paths:
        raise MediaPolicyError("local file paths are not allowed by the media policy")
    text = os.fsdecode(os.fspath(raw))
    if "\x00" in text:
        raise MediaPolicyError("local path contains a NUL byte")
    if text.startswith(("\\\\", "//?/", "//./")) or text.startswith("\\"):
        raise MediaPolicyError("Windows device and UNC paths are not allowed")
    if not text.strip():
        raise EmptyInputError("empty local path")
    resolved = os.path.realpath(os.path.abspath(text))  # '~' is deliberately not expanded
    if policy.local_roots and not _under_roots(resolved, policy.local_roots):
        raise MediaPolicyError(_OUTSIDE_ROOTS)
    return resolved


def _under_roots(path: str, roots: tuple) -> bool:
    for root in roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def _open_local(raw, policy: MediaPolicy, kind: str) -> OpenedMedia:
    resolved = resolve_local_path(raw, policy)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(resolved, flags)
    except FileNotFoundError:
        raise MediaFetchError(f"local {kind} file not found") from None
    except IsADirectoryError:
        raise MediaPolicyError(f"local {kind} path is not a regular file") from None
    except OSError as exc:
        raise MediaFetchError(f"local {kind} file cannot be opened ({exc.strerror or type(exc).__name__})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MediaPolicyError(f"local {kind} path is not a regular file")
        _recheck_open_fd(fd, policy)
        _check_size(info.st_size, policy.max_bytes(kind), kind)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return OpenedMedia(stream, info.st_size, None, f"local {kind} file")


def _recheck_open_fd(fd: int, policy: MediaPolicy) -> None:
    """Re-check the roots on the file actually opened (closes the symlink-swap race on Linux)."""
    if not policy.local_roots:
        return
    try:
        actual = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # not Linux: the realpath check above stands
    if not _under_roots(actual, policy.local_roots):
        raise MediaPolicyError(_OUTSIDE_ROOTS)


# --------------------------------------------------------------------------- data URIs and base64


def _allowed_mime(mime: str, kind: str) -> bool:
    if mime in ("application/octet-stream", "binary/octet-stream"):
        return True
    return mime.startswith("video/") if kind == "video" else mime.startswith("image/")


def decode_data_uri(uri: str, policy: MediaPolicy, *, kind: str) -> tuple[bytes, str]:
    """Decode ``data:<mime>;base64,<payload>`` (strictly) into ``(bytes, mime)``."""
    if not policy.allow_data_uris:
        raise MediaPolicyError("data: URIs are not allowed by the media policy")
    header, sep, payload = uri[5:].partition(",")
    if not sep:
        raise MediaDecodeError("malformed data URI: no ',' separator")
    params = [p.strip().lower() for p in header.split(";")]
    mime = params[0] or "text/plain"
    if not _allowed_mime(mime, kind):
        raise MediaPolicyError(f"data URI media type '{mime[:64]}' is not an allowed {kind} type")
    if "base64" not in params[1:]:
        raise MediaDecodeError("data URI is not base64-encoded (';base64,' missing)")
    return strict_b64decode(payload, policy.max_bytes(kind), what=f"{kind} data URI"), mime


def strict_b64decode(text: str, max_bytes: int, *, what: str = "base64 data") -> bytes:
    """Standard-alphabet base64 with padding; ASCII whitespace (MIME line breaks) is ignored."""
    compact = strip_ascii_whitespace(text)
    if not compact:
        raise MediaDecodeError(f"{what} is empty")
    if len(compact) // 4 * 3 > max_bytes + 3:
        raise MediaTooLargeError(f"{what} decodes to more than the {max_bytes}-byte limit")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise MediaDecodeError(f"{what} is not valid base64") from None
    _check_size(len(data), max_bytes, what)
    return data


def _maybe_base64(text: str, policy: MediaPolicy, kind: str) -> bytes | None:
    """Decode ``text`` if it is a bare base64 payload rather than a path, else ``None``.

    A string is taken as base64 when it uses only the base64 alphabet, has a valid length, and
    either contains no ``/`` or decodes to bytes that start like a known media file. Anything
    longer than PATH_MAX that is not a URI must be base64.
    """
    compact = strip_ascii_whitespace(text)
    too_long_for_path = len(text) > _PATH_MAX
    if not too_long_for_path:
        if not is_base64_payload(compact):
            return None
    if not policy.allow_base64:
        if too_long_for_path:
            raise MediaPolicyError("base64 media strings are not allowed by the media policy")
        return None
    if too_long_for_path:
        return strict_b64decode(compact, policy.max_bytes(kind), what=f"{kind} base64")
    data = strict_b64decode(compact, policy.max_bytes(kind), what=f"{kind} base64")
    if "/" in compact and not _looks_like_media(data):
        logger.debug("%s source is valid base64 but holds no known media signature: read as a path", kind)
        return None
    return data


def _looks_like_media(data: bytes) -> bool:
    head = data[:256]
    return is_image_bytes(head) or is_video_bytes(head)
