"""Qwen3VLRerank: a LangChain document compressor that reranks text, image and video documents."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, model_validator

from .. import Qwen3VLReranker
from ..core.documents import OnError, document_input, document_label, rerank_documents
from ..errors import ItemError

__all__ = ["Qwen3VLRerank", "document_to_input"]

QueryType = Literal["text", "image", "video"]


def document_to_input(document: Document, image_keys: Sequence[str] = ("image", "image_path"),
                      video_keys: Sequence[str] = ("video",), base64_page_content: bool = True,
                      label: str = "the document") -> dict:
    """The core input of a LangChain document (rules: :mod:`qwen3vl_integrations.core.documents`):
    its image and video from metadata (or a base64 image in ``page_content``) and its text
    (``page_content``, unless it only names the media)."""
    return document_input(document.page_content, document.metadata, image_keys=image_keys, video_keys=video_keys,
                          base64_text=base64_page_content, label=label)


class Qwen3VLRerank(BaseDocumentCompressor):
    """Qwen3-VL-Reranker as a LangChain ``BaseDocumentCompressor``.

    Returns at most ``top_n`` copies of the documents (the originals are never mutated), sorted by
    descending relevance, each with ``metadata["relevance_score"]``; with ``score_threshold``,
    documents scoring below it are dropped. A document's image or video comes from its metadata
    (``image_metadata_keys`` / ``video_metadata_keys``, first key holding one wins) or from a base64
    image in ``page_content`` (how ``add_images`` stores images). The query is text unless
    ``query_type`` says it is an image or video source (path, URL, data URI).

    A document that cannot be scored (a moved image file...) is handled by ``on_error``: dropped
    (default) or ranked last (``relevance_score`` None, ``rerank_error`` its error code), each
    with a logged warning naming it, or ``"raise"``. A document whose page content only names a
    media file but whose metadata holds no media reference is always refused (``InputError``).

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
    on_error: OnError = Field(default="drop", description="What to do with a document that cannot be scored.")

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
        items = [document_to_input(d, self.image_metadata_keys, self.video_metadata_keys, self.base64_page_content,
                                   label=document_label(i, {}, d.id)) for i, d in enumerate(documents)]
        labels = [document_label(i, item, d.id) for i, (item, d) in enumerate(zip(items, documents))]
        ranked = rerank_documents(self.reranker, self._query_input(query), items, top_k=self.top_n,
                                  instruction=self.instruction, on_error=self.on_error, labels=labels)
        out = []
        for result in ranked:
            original = documents[result.index]
            extra: dict[str, Any]
            if isinstance(result, ItemError):
                if self.score_threshold is not None:
                    break  # an unscored document never reaches a threshold; only unscored ones follow
                extra = {"relevance_score": None, "rerank_error": result.code}
            elif self.score_threshold is not None and result.score < self.score_threshold:
                break  # results are sorted: every later one scores lower
            else:
                extra = {"relevance_score": result.score}
            out.append(original.model_copy(update={"metadata": {**original.metadata, **extra}}))
        return out

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        """Async :meth:`compress_documents`: the model runs in a worker thread."""
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)
