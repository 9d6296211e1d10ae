"""Qwen3VLRerank: a LangChain document compressor that reranks text, image and video documents."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, model_validator

from .. import Qwen3VLReranker

__all__ = ["Qwen3VLRerank", "document_to_input"]

QueryType = Literal["text", "image", "video"]

# Base64 of the first bytes of JPEG, PNG, GIF and WebP (RIFF) files: how a page_content that holds a
# base64 image (as ``add_images`` of several vector stores stores it) is recognised without decoding it.
_BASE64_IMAGE_PREFIXES = ("/9j/", "iVBORw0KGgo", "R0lGOD", "UklGR")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_MIN_BASE64_CHARS = 64


def _is_base64_image(text: str) -> bool:
    if text.startswith("data:image/"):
        return True
    return (len(text) >= _MIN_BASE64_CHARS and len(text) % 4 == 0 and text.startswith(_BASE64_IMAGE_PREFIXES)
            and _BASE64_RE.match(text) is not None)


def _first_value(metadata: dict, keys: Sequence[str]) -> Any:
    for key in keys:
        value = metadata.get(key)
        if value is not None and value != "":
            return value
    return None


def document_to_input(document: Document, image_keys: Sequence[str] = ("image", "image_path"),
                      video_keys: Sequence[str] = ("video",), base64_page_content: bool = True) -> dict:
    """The core input of a LangChain document: its image and video (from metadata, or a base64
    image in ``page_content``) and its text (``page_content``, unless it only names the media)."""
    metadata = document.metadata or {}
    image, video = _first_value(metadata, image_keys), _first_value(metadata, video_keys)
    text = document.page_content or ""
    if image is None and base64_page_content and _is_base64_image(text.strip()):
        image, text = text.strip(), ""
    if text.strip() and text.strip() in (str(image), str(video)):
        text = ""  # the page content is only the media's path or URL
    item: dict = {}
    if text.strip():
        item["text"] = text
    if image is not None:
        item["image"] = image
    if video is not None:
        item["video"] = video
    return item


class Qwen3VLRerank(BaseDocumentCompressor):
    """Qwen3-VL-Reranker as a LangChain ``BaseDocumentCompressor``.

    Returns at most ``top_n`` copies of the documents (the originals are never mutated), sorted by
    descending relevance, each with ``metadata["relevance_score"]``; with ``score_threshold``,
    documents scoring below it are dropped. A document's image or video comes from its metadata
    (``image_metadata_keys`` / ``video_metadata_keys``, first key present wins) or from a base64
    image in ``page_content`` (how ``add_images`` stores images). The query is text unless
    ``query_type`` says it is an image or video source (path, URL, data URI).

    Build it from a model id or path (``model=...``), from a loaded reranker (``reranker=...``), or
    with :meth:`Qwen3VLReranker.as_langchain_compressor`.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: str | None = Field(default=None, description="Hub id or local path of a Qwen3-VL-Reranker checkpoint.")
    reranker: Qwen3VLReranker | None = Field(default=None, exclude=True, repr=False,
                                             description="An already loaded reranker (shared, not copied).")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Keyword arguments for Qwen3VLReranker.from_pretrained.")
    top_n: int | None = Field(default=3, ge=0, description="Most documents returned (None: all).")
    score_threshold: float | None = Field(default=None, description="Drop documents scoring below this.")
    instruction: str | None = Field(default=None, description="Reranker instruction (None: the model default).")
    query_type: QueryType = Field(default="text", description="How the query string is read.")
    image_metadata_keys: tuple[str, ...] = ("image", "image_path")
    video_metadata_keys: tuple[str, ...] = ("video",)
    base64_page_content: bool = Field(default=True, description="Read a base64 image page_content as an image.")

    @model_validator(mode="after")
    def _load_reranker(self) -> Qwen3VLRerank:
        if self.reranker is None:
            if not self.model:
                raise ValueError("pass model= (a hub id or local path) or reranker= (a loaded Qwen3VLReranker)")
            self.reranker = Qwen3VLReranker.from_pretrained(self.model, **self.model_kwargs)
        elif self.model_kwargs:
            raise ValueError("model_kwargs only apply when loading from model=, not with reranker=")
        elif self.model is None:
            self.model = self.reranker.model_id
        return self

    def _query_input(self, query: str) -> Any:
        return query if self.query_type == "text" else {self.query_type: query}

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """Rerank ``documents`` against ``query``; returns scored copies, best first."""
        if not documents:
            return []
        items = [document_to_input(d, self.image_metadata_keys, self.video_metadata_keys, self.base64_page_content)
                 for d in documents]
        results = self.reranker.rerank(self._query_input(query), items, top_k=self.top_n,
                                       instruction=self.instruction)
        out = []
        for result in results:
            if self.score_threshold is not None and result.score < self.score_threshold:
                break  # results are sorted: every later one scores lower
            original = documents[result.index]
            metadata = {**original.metadata, "relevance_score": result.score}
            out.append(original.model_copy(update={"metadata": metadata}))
        return out

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        """Async :meth:`compress_documents`: the model runs in a worker thread."""
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)
