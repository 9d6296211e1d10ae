"""Turn the files of a walk into indexable items, lazily, with deterministic ids.

Every item carries two ids computed *before* any decoding:

- ``content_id``: ``item_id(settings_hash, sha256 of the file bytes, locator)``, where the locator
  is the PDF page or the text chunk span and ``settings_hash`` covers everything that changes a
  vector (``IndexSettings.settings_hash``). Identical content anywhere has the same content id,
  so its vector can be reused instead of recomputed.
- ``id`` (the primary key): ``row_id(content_id, source)``, one per (path, content, place in the
  file). Every path has its own rows; a re-run finds the ids it already wrote without embedding
  anything, and a killed run resumes where it stopped. 32 hex characters: a valid UUID too.

What each kind of file becomes:

- Images (``media.IMAGE_EXTENSIONS``): one item, embedded from the file.
- Videos (``media.VIDEO_EXTENSIONS``): one item; the core samples the frames.
- PDFs: one item per page, rendered at ``pdf_dpi`` (capped at ``max_pixels``) and embedded as a
  page image (``pdf.render_pdf_page``); the page's text layer, when it has one, is the snippet
  (its first ``chunks.MAX_CHUNK_CHARS`` characters).
- Text (``walk.TEXT_EXTENSIONS``): UTF-8, cut into chunks by ``chunks.chunk_text``; each chunk
  keeps its character offset.

Reading is bounded: a file is opened only when it is a regular file (``O_NONBLOCK``, then
``fstat``: a file swapped for a FIFO after the walk is refused, never waited on), and at most
the byte cap of its kind is read to hash it: ``MediaPolicy.max_image_bytes`` / ``max_video_bytes``
of the embedder's policy for images and videos, ``MAX_TEXT_FILE_BYTES`` and ``MAX_PDF_BYTES``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from qwen3vl_integrations.errors import MediaDecodeError
from qwen3vl_integrations.media import DEFAULT_POLICY, MediaPolicy

from .chunks import MAX_CHUNK_CHARS, check_chunking, chunk_text
from .pdf import pdf_page_count, render_pdf_page
from .walk import FileRef, SourceProblem

__all__ = ["SourceItem", "FileItems", "SourceOptions", "expand_file", "item_id", "row_id", "file_digest",
           "MAX_TEXT_FILE_BYTES", "MAX_PDF_BYTES", "byte_cap"]

MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024
MAX_PDF_BYTES = 512 * 1024 * 1024
_HASH_BLOCK = 1024 * 1024


@dataclass
class SourceItem:
    """One row to be: its ids, where it comes from, and how to load what the embedder needs.

    ``load()`` returns ``(embedder input, snippet)``; the loaders of ``expand_file`` are
    ``functools.partial`` objects of module functions (picklable, for process pools and Ray).
    ``content_id`` defaults to ``id`` (no sharing) for items made by hand."""

    id: str
    source: str
    modality: str  # "text" | "image" | "video" | "pdf_page"
    load: Callable[[], tuple[Any, str]]
    page: int = 0  # 1-based PDF page, 0 otherwise
    offset: int = 0  # character offset of a text chunk, 0 otherwise
    metadata: dict = field(default_factory=dict)
    content_id: str = ""

    def __post_init__(self) -> None:
        if not self.content_id:
            self.content_id = self.id


@dataclass
class FileItems:
    """The items of one file (a PDF's pages, a text file's chunks, or one image/video)."""

    source: str
    items: list


@dataclass(frozen=True)
class SourceOptions:
    """The settings ``expand_file`` needs (the chunking and PDF ones are part of ``IndexSettings``)."""

    chunk_chars: int = 2000
    chunk_overlap: int = 200
    pdf_dpi: float = 150.0
    max_pixels: int = 1800 * 32 * 32
    policy: MediaPolicy = DEFAULT_POLICY

    def __post_init__(self) -> None:
        check_chunking(self.chunk_chars, self.chunk_overlap)
        if not self.pdf_dpi > 0:
            raise ValueError(f"pdf_dpi must be positive, got {self.pdf_dpi}")

    @classmethod
    def for_embedder(cls, embedder, **options) -> SourceOptions:
        """Options with the embedder's ``max_pixels`` and media policy (byte caps)."""
        return cls(max_pixels=embedder.config.max_pixels, policy=embedder.policy, **options)


def item_id(settings_hash: str, content_digest: str, locator: str = "") -> str:
    """Content id: 32 hex characters of sha256(settings, content, locator)."""
    return hashlib.sha256(f"{settings_hash}\0{content_digest}\0{locator}".encode()).hexdigest()[:32]


def row_id(content_id: str, source: str) -> str:
    """Primary key of the row of ``content_id`` at ``source``: 32 hex characters (a UUID's worth)."""
    return hashlib.sha256(content_id.encode() + b"\0" + source.encode("utf-8")).hexdigest()[:32]


def byte_cap(kind: str, policy: MediaPolicy) -> int:
    """The most bytes read from a file of ``kind``."""
    return {"image": policy.max_image_bytes, "video": policy.max_video_bytes, "text": MAX_TEXT_FILE_BYTES,
            "pdf": MAX_PDF_BYTES}[kind]


class _TooLarge(Exception):
    def __init__(self, size: int, cap: int):
        super().__init__(f"the file is over the {cap}-byte limit for its type ({size}+ bytes)")


class _NotRegular(Exception):
    pass


def _read_regular(path: str, cap: int, *, keep: bool) -> tuple[str, bytes | None, int]:
    """(sha256 hex, the bytes when ``keep``, size) of the regular file ``path``, reading at most
    ``cap`` bytes. Raises _NotRegular, _TooLarge or OSError."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb", buffering=0) as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular()
        if info.st_size > cap:
            raise _TooLarge(info.st_size, cap)
        digest, kept, size = hashlib.sha256(), [], 0
        while True:
            block = handle.read(min(_HASH_BLOCK, cap + 1 - size))
            if not block:
                break
            size += len(block)
            if size > cap:  # the file grew after fstat
                raise _TooLarge(size, cap)
            digest.update(block)
            if keep:
                kept.append(block)
    return digest.hexdigest(), b"".join(kept) if keep else None, size


def file_digest(path: str | os.PathLike, cap: int) -> str:
    """sha256 (hex) of the regular file ``path``; ValueError when it is not one or is over ``cap`` bytes."""
    try:
        return _read_regular(os.fspath(path), cap, keep=False)[0]
    except _NotRegular:
        raise ValueError("not a regular file") from None
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None


def expand_file(ref: FileRef, settings_hash: str, options: SourceOptions) -> FileItems | SourceProblem:
    """The items of one file of the walk, ids computed, nothing decoded yet (PDFs: page count only)."""
    try:
        digest, data, size = _read_regular(ref.path, byte_cap(ref.kind, options.policy), keep=ref.kind == "text")
    except _NotRegular:
        return SourceProblem(ref.source, "not_regular", "not a regular file; only regular files are read", failed=False)
    except _TooLarge as exc:
        return SourceProblem(ref.source, "media_too_large", str(exc))
    except FileNotFoundError:
        return SourceProblem(ref.source, "not_found", "the file disappeared while indexing")
    except OSError as exc:
        return SourceProblem(ref.source, "unreadable", f"cannot read the file ({exc.strerror or type(exc).__name__})",
                             keep=True)
    meta = {"file": os.path.basename(ref.source), "bytes": size, "sha256": digest}
    if ref.kind == "text":
        assert data is not None
        return _text_items(ref, data, meta, settings_hash, options)
    if ref.kind == "pdf":
        return _pdf_items(ref, meta, settings_hash, options)
    content_id = item_id(settings_hash, digest)
    item = SourceItem(row_id(content_id, ref.source), ref.source, ref.kind, partial(_file_input, ref.kind, ref.path),
                      metadata=meta, content_id=content_id)
    return FileItems(ref.source, [item])


def _file_input(kind: str, path: str) -> tuple[dict, str]:
    return {kind: path}, ""


def _text_input(chunk: str) -> tuple[str, str]:
    return chunk, chunk


def _pdf_input(path: str, number: int, pdf_dpi: float, max_pixels: int) -> tuple[dict, str]:
    image, text = render_pdf_page(path, number, pdf_dpi, max_pixels)
    return {"image": image}, text[:MAX_CHUNK_CHARS]  # the snippet: the page's text, as long as a chunk at most


def _text_items(ref: FileRef, raw: bytes, meta: dict, settings_hash: str,
                options: SourceOptions) -> FileItems | SourceProblem:
    if b"\0" in raw:
        return SourceProblem(ref.source, "not_text", "the file contains NUL bytes (binary data, not text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SourceProblem(ref.source, "not_text", f"the file is not UTF-8 text (invalid byte at offset {exc.start})")
    items = []
    for start, chunk in chunk_text(text, options.chunk_chars, options.chunk_overlap):
        end = start + len(chunk)
        content_id = item_id(settings_hash, meta["sha256"], f"chars={start}-{end}")
        items.append(SourceItem(row_id(content_id, ref.source), ref.source, "text", partial(_text_input, chunk),
                                offset=start, metadata={**meta, "end": end}, content_id=content_id))
    if not items:
        return SourceProblem(ref.source, "empty", "the file has no text", failed=False)
    return FileItems(ref.source, items)


def _pdf_items(ref: FileRef, meta: dict, settings_hash: str, options: SourceOptions) -> FileItems | SourceProblem:
    try:
        pages = pdf_page_count(ref.path)
    except MediaDecodeError as exc:
        return SourceProblem(ref.source, exc.code, str(exc))
    if pages == 0:
        return SourceProblem(ref.source, "empty", "the PDF has no pages", failed=False)
    items = []
    for number in range(1, pages + 1):
        content_id = item_id(settings_hash, meta["sha256"], f"page={number}")
        loader = partial(_pdf_input, ref.path, number, options.pdf_dpi, options.max_pixels)
        items.append(SourceItem(row_id(content_id, ref.source), ref.source, "pdf_page", loader, page=number,
                                metadata={**meta, "pages": pages, "dpi": options.pdf_dpi}, content_id=content_id))
    return FileItems(ref.source, items)
