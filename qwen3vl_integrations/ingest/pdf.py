"""PDF pages as images (pypdfium2, extra ``milvus``), with the page's text layer."""

from __future__ import annotations

import math

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.errors import MediaDecodeError

__all__ = ["pdf_page_count", "render_pdf_page"]


def pdf_page_count(path: str) -> int:
    """Pages of the PDF at ``path``; MediaDecodeError when it cannot be opened."""
    pdfium = optional_import("pypdfium2")
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise MediaDecodeError(f"the PDF cannot be opened ({exc})") from None
    try:
        return len(document)
    finally:
        document.close()


def render_pdf_page(path: str, number: int, pdf_dpi: float, max_pixels: int):
    """Page ``number`` (1-based) as an RGB PIL image at ``pdf_dpi`` (at most ``max_pixels`` pixels),
    and the page's text layer, whitespace collapsed (may be empty). MediaDecodeError on failure."""
    pdfium = optional_import("pypdfium2")
    try:
        document = pdfium.PdfDocument(path)
        try:
            if not 1 <= number <= len(document):
                raise MediaDecodeError(f"the PDF has {len(document)} pages, not a page {number}")
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
