"""Text chunks: cut at paragraph, line, sentence or word breaks, overlapping from a word start."""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["chunk_text", "check_chunking", "MIN_CHUNK_CHARS", "MAX_CHUNK_CHARS"]

MIN_CHUNK_CHARS = 16
#: a chunk is its row's snippet: 4000 characters are at most 16,000 UTF-8 bytes (Milvus' VARCHAR holds 16,384)
MAX_CHUNK_CHARS = 4000
_BREAKS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ")


def check_chunking(chunk_chars: int, overlap: int) -> None:
    """ValueError unless ``MIN_CHUNK_CHARS <= chunk_chars <= MAX_CHUNK_CHARS`` and ``0 <= overlap < chunk_chars / 2``."""
    if not MIN_CHUNK_CHARS <= chunk_chars <= MAX_CHUNK_CHARS or not 0 <= overlap < chunk_chars // 2:
        raise ValueError(f"need {MIN_CHUNK_CHARS} <= chunk_chars <= {MAX_CHUNK_CHARS} and 0 <= chunk_overlap < "
                         f"chunk_chars/2, got {chunk_chars}, {overlap}")


def chunk_text(text: str, chunk_chars: int = 2000, overlap: int = 200) -> Iterator[tuple[int, str]]:
    """``(offset, chunk)`` pairs covering ``text``: chunks of at most ``chunk_chars`` characters,
    cut at the last paragraph/line/sentence/word break in their second half. The next chunk starts
    at most ``overlap`` characters before the cut, at the first word start there (never mid-word;
    no overlap when that stretch holds no break). Blank chunks are dropped."""
    check_chunking(chunk_chars, overlap)
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
        start = _word_start(text, max(end - overlap, start + 1), end)


def _break_before(text: str, low: int, high: int) -> int:
    for mark in _BREAKS:
        cut = text.rfind(mark, low, high)
        if cut != -1:
            return cut + len(mark)
    return high


def _word_start(text: str, position: int, end: int) -> int:
    """The first position in ``[position, end]`` that does not split a word."""
    if position >= end or text[position - 1].isspace() or text[position].isspace():
        return position
    for index in range(position, end):
        if text[index].isspace():
            return index + 1
    return end
