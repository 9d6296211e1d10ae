"""Turn files and folders into indexable items, lazily, with deterministic ids.

Every item carries an id computed *before* any decoding: a hash of the content bytes of its
file, its place inside the file (PDF page, text chunk span) and the settings that change the
vector (``IndexSettings.settings_hash``). Re-running an ingestion therefore finds the ids it
already wrote without embedding anything, and a killed run resumes where it stopped.

- Images (``media.IMAGE_EXTENSIONS``: ``.jpg .png .webp`` ...): one item each, embedded from the path.
- Videos (``media.VIDEO_EXTENSIONS``: ``.mp4 .mov .webm`` ...): one item each; the core samples the frames.
- PDFs: one item per page, rendered with pypdfium2 (``pdf_dpi``, capped at the embedder's
  ``max_pixels``) and embedded as a page image (visual document); the page's text layer, when it
  has one, becomes the snippet.
- Text (``.txt .md .markdown .rst``): UTF-8, cut into chunks of at most ``chunk_chars``
  characters overlapping by ``chunk_overlap``, preferring paragraph, line, sentence and word
  boundaries; each chunk keeps its character offset.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

logger = logging.getLogger(__name__)

__all__ = [
    "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "TEXT_EXTENSIONS", "PDF_EXTENSIONS", "SourceItem", "SourceProblem",
    "FileItems", "kind_of", "iter_files", "expand_file", "chunk_text", "item_id", "file_digest", "render_pdf_page",
]

TEXT_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".rst"})
PDF_EXTENSIONS = frozenset({".pdf"})
MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024
_HASH_BLOCK = 1024 * 1024


@dataclass
class SourceItem:
    """One row to be: its id, where it comes from, and how to load what the embedder needs."""

    id: str
    source: str
    modality: str  # "text" | "image" | "video" | "pdf_page"
    load: Callable[[], tuple[Any, str]]  # -> (embedder input, snippet)
    page: int = 0  # 1-based PDF page, 0 otherwise
    offset: int = 0  # character offset of a text chunk, 0 otherwise
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SourceProblem:
    """A file (or part of one) that yields no item: ``failed`` counts against the run, ``skipped`` not."""

    source: str
    code: str
    message: str
    failed: bool = True


@dataclass
class FileItems:
    """The items of one file (a PDF's pages, a text file's chunks, or one image/video)."""

    source: str
    items: list


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    for kind, extensions in (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS), ("text", TEXT_EXTENSIONS),
                             ("pdf", PDF_EXTENSIONS)):
        if suffix in extensions:
            return kind
    return None


def iter_files(paths: Iterable[str | os.PathLike],
               exclude: Iterable[str | os.PathLike] = ()) -> Iterator[Path | SourceProblem]:
    """Files named in ``paths`` and, for folders, every supported file under them (sorted, hidden
    entries and ``exclude`` skipped, directory symlinks not followed). Yields a SourceProblem for a
    missing path and for an explicitly named file of an unsupported type."""
    excluded = {os.path.realpath(os.fspath(p)) for p in exclude}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from _walk(path, excluded)
        elif path.is_file():
            if kind_of(path) is None:
                yield SourceProblem(str(path), "unsupported", f"unsupported file type {path.suffix or '(none)'}", False)
            else:
                yield path
        else:
            yield SourceProblem(str(path), "not_found", "no such file or directory")


def _walk(root: Path, excluded: set) -> Iterator[Path]:
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(directory, d)) not in excluded)
        for name in sorted(files):
            path = Path(directory, name)
            if not name.startswith(".") and kind_of(path) is not None:
                yield path


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def item_id(settings_hash: str, content_digest: str, locator: str = "") -> str:
    """Deterministic primary key: 32 hex characters of sha256(settings, content, locator)."""
    return hashlib.sha256(f"{settings_hash}\0{content_digest}\0{locator}".encode()).hexdigest()[:32]


def expand_file(path: Path, settings_hash: str, *, chunk_chars: int, chunk_overlap: int, pdf_dpi: float,
                max_pixels: int) -> FileItems | SourceProblem:
    """The items of one supported file, ids computed, nothing decoded yet (PDFs: page count only)."""
    source = str(path.resolve())
    try:
        digest = file_digest(path)
        kind = kind_of(path)
        if kind == "text":
            return _text_items(path, source, digest, settings_hash, chunk_chars, chunk_overlap)
        if kind == "pdf":
            return _pdf_items(path, source, digest, settings_hash, pdf_dpi, max_pixels)
    except OSError as exc:
        return SourceProblem(source, "unreadable", f"cannot read the file ({exc.strerror or type(exc).__name__})")
    size = os.path.getsize(path)
    key = "image" if kind == "image" else "video"
    item = SourceItem(item_id(settings_hash, digest), source, kind, lambda: ({key: source}, ""),
                      metadata={"file": path.name, "bytes": size, "sha256": digest})
    return FileItems(source, [item])


def _text_items(path: Path, source: str, digest: str, settings_hash: str, chunk_chars: int,
                chunk_overlap: int) -> FileItems | SourceProblem:
    size = os.path.getsize(path)
    if size > MAX_TEXT_FILE_BYTES:
        return SourceProblem(source, "too_large",
                             f"text file is {size} bytes, over the {MAX_TEXT_FILE_BYTES}-byte limit")
    raw = path.read_bytes()
    if b"\0" in raw:
        return SourceProblem(source, "not_text", "the file contains NUL bytes (binary data, not text)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SourceProblem(source, "not_text", f"the file is not UTF-8 text (invalid byte at offset {exc.start})")
    items = []
    for start, chunk in chunk_text(text, chunk_chars, chunk_overlap):
        end = start + len(chunk)
        items.append(SourceItem(
            item_id(settings_hash, digest, f"chars={start}-{end}"), source, "text", _constant((chunk, chunk)),
            offset=start, metadata={"file": path.name, "bytes": size, "sha256": digest, "end": end}))
    if not items:
        return SourceProblem(source, "empty", "the file has no text", False)
    return FileItems(source, items)


def _constant(value):
    return lambda: value


def _pdf_items(path: Path, source: str, digest: str, settings_hash: str, pdf_dpi: float,
               max_pixels: int) -> FileItems | SourceProblem:
    pdfium = optional_import("pypdfium2")
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        return SourceProblem(source, "media_decode", f"the PDF cannot be opened ({exc})")
    try:
        pages = len(document)
    finally:
        document.close()
    if pages == 0:
        return SourceProblem(source, "empty", "the PDF has no pages", False)
    items = []
    for number in range(1, pages + 1):
        loader = _page_loader(source, number, pdf_dpi, max_pixels)
        items.append(SourceItem(
            item_id(settings_hash, digest, f"page={number}"), source, "pdf_page", loader, page=number,
            metadata={"file": path.name, "sha256": digest, "pages": pages, "dpi": pdf_dpi}))
    return FileItems(source, items)


def _page_loader(source: str, number: int, pdf_dpi: float, max_pixels: int):
    return lambda: render_pdf_page(source, number, pdf_dpi, max_pixels)


def render_pdf_page(source: str, number: int, pdf_dpi: float, max_pixels: int):
    """Page ``number`` (1-based) as an RGB PIL image at ``pdf_dpi`` (at most ``max_pixels`` pixels),
    and the page's text layer (may be empty)."""
    pdfium = optional_import("pypdfium2")
    from qwen3vl_integrations import MediaDecodeError

    try:
        document = pdfium.PdfDocument(source)
        try:
            page = document[number - 1]
            width, height = page.get_size()
            scale = pdf_dpi / 72.0
            if width * height * scale * scale > max_pixels:
                scale = math.sqrt(max_pixels / (width * height))
            image = page.render(scale=scale).to_pil().convert("RGB")
            text = page.get_textpage().get_text_range()
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        raise MediaDecodeError(f"page {number} of the PDF cannot be rendered ({exc})") from None
    return image, " ".join(text.split())


_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def chunk_text(text: str, chunk_chars: int = 2000, overlap: int = 200) -> Iterator[tuple[int, str]]:
    """``(offset, chunk)`` pairs covering ``text``: chunks of at most ``chunk_chars`` characters,
    cut at the last paragraph/line/sentence/word break in their second half, the next one starting
    ``overlap`` characters before the cut. Blank chunks are dropped."""
    if chunk_chars < 16 or not 0 <= overlap < chunk_chars // 2:
        raise ValueError(f"need chunk_chars >= 16 and 0 <= overlap < chunk_chars/2, got {chunk_chars}, {overlap}")
    start, length = 0, len(text)
    while start < length:
        end = min(start + chunk_chars, length)
        if end < length:
            end = _break_before(text, start + chunk_chars // 2, end)
        chunk = text[start:end]
        if chunk.strip():
            yield start, chunk
        if end >= length:
            return
        start = max(end - overlap, start + 1)


def _break_before(text: str, low: int, high: int) -> int:
    for mark in _BREAKS:
        cut = text.rfind(mark, low, high)
        if cut != -1:
            return cut + len(mark)
    return high
