"""Haystack components: a text embedder, a document embedder (texts and images) and a ranker."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from haystack import Document, component

from .. import Qwen3VLEmbedder, Qwen3VLReranker
from ..core.documents import check_on_error, document_input, document_label, rerank_documents
from ..errors import ItemError
from ..media.sniff import source_scheme

__all__ = ["Qwen3VLTextEmbedder", "Qwen3VLDocumentEmbedder", "Qwen3VLRanker"]

DEFAULT_EMBEDDER = "Qwen/Qwen3-VL-Embedding-2B"
DEFAULT_RERANKER = "Qwen/Qwen3-VL-Reranker-2B"


class _Loaded:
    """A component holding a core engine, loaded by ``warm_up`` (or the first ``run``) once per
    process and settings (:meth:`Qwen3VLEmbedder.shared`), so several components share it."""

    _engine_class: Any = Qwen3VLEmbedder

    def __init__(self, model: str, device: str | None, model_kwargs: dict[str, Any] | None) -> None:
        self.model = str(model)
        self.device = device
        self.model_kwargs = dict(model_kwargs or {})
        self._engine: Any = None

    def warm_up(self) -> None:
        if self._engine is None:
            self._engine = self._engine_class.shared(self.model, device=self.device, **self.model_kwargs)

    def _loaded(self) -> Any:
        self.warm_up()
        return self._engine


class _ReadsDocuments:
    """How a document becomes a core input: its image from ``meta[file_path_meta_field]`` (joined to
    ``root_path`` when relative) or an image ``blob``, its text from ``meta_fields_to_embed`` and
    ``content``. A ``file_path`` names an image only by its extension (``.png``, ...), so text
    documents keep reading as text."""

    file_path_meta_field: str
    root_path: str | None
    meta_fields_to_embed: list[str]
    embedding_separator: str

    def _input(self, index: int, document: Document) -> dict:
        meta = document.meta or {}
        parts = [str(meta[key]) for key in self.meta_fields_to_embed if meta.get(key) is not None]
        text = self.embedding_separator.join([*parts, document.content or ""]) if parts else document.content
        path = meta.get(self.file_path_meta_field)
        if self.root_path and isinstance(path, str) and source_scheme(path) is None and not os.path.isabs(path):
            path = os.path.join(self.root_path, path)
        blob = document.blob
        image = blob.data if blob is not None and (blob.mime_type or "").startswith("image/") else None
        return document_input(text, {self.file_path_meta_field: path}, image_keys=(self.file_path_meta_field,),
                              image=image, strict=True, label=document_label(index, {}, document.id))


@component
class Qwen3VLTextEmbedder(_Loaded):
    """Embeds a query string on the query side (task instruction: ``instruction``, else the model's).

    ``model``: hub id or local checkpoint; ``device`` and ``model_kwargs`` go to
    :meth:`Qwen3VLEmbedder.from_pretrained`; ``dim``: Matryoshka size.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, device: str | None = None, dim: int | None = None,
                 instruction: str | None = None, model_kwargs: dict[str, Any] | None = None) -> None:
        _Loaded.__init__(self, model, device, model_kwargs)  # @component rebuilds the class: no zero-argument super()
        self.dim = dim
        self.instruction = instruction

    @component.output_types(embedding=list[float], meta=dict[str, Any])
    def run(self, text: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise TypeError(f"{type(self).__name__} expects a string; embed documents with Qwen3VLDocumentEmbedder")
        vector = self._loaded().embed_queries([text], instruction=self.instruction, dim=self.dim)[0]
        return {"embedding": [float(x) for x in vector], "meta": {"model": self.model}}


@component
class Qwen3VLDocumentEmbedder(_Loaded, _ReadsDocuments):
    """Embeds documents on the document side into one vector space: a document whose
    ``meta[file_path_meta_field]`` names an image file (as ``ImageFileToDocument`` and image
    converters set it) or whose ``blob`` is an image is embedded as that image (its content, if
    any, as caption); any other document as its text (``meta_fields_to_embed`` first, joined by
    ``embedding_separator``). Returns copies with ``embedding`` set; the inputs are not mutated.
    """

    def __init__(self, model: str = DEFAULT_EMBEDDER, *, device: str | None = None, dim: int | None = None,
                 file_path_meta_field: str = "file_path", root_path: str | None = None,
                 meta_fields_to_embed: list[str] | None = None, embedding_separator: str = "\n",
                 instruction: str | None = None, model_kwargs: dict[str, Any] | None = None) -> None:
        _Loaded.__init__(self, model, device, model_kwargs)  # @component rebuilds the class: no zero-argument super()
        self.dim = dim
        self.file_path_meta_field = file_path_meta_field
        self.root_path = root_path
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.instruction = instruction

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError(f"{type(self).__name__} expects a list of Documents; embed a string with Qwen3VLTextEmbedder")
        items = [self._input(i, d) for i, d in enumerate(documents)]
        embedder = self._loaded()
        if not items:
            vectors: Any = []
        else:
            vectors = embedder.embed_documents(items, instruction=self.instruction, dim=self.dim)
        out = [replace(d, embedding=[float(x) for x in v]) for d, v in zip(documents, vectors)]
        return {"documents": out, "meta": {"model": self.model}}


@component
class Qwen3VLRanker(_Loaded, _ReadsDocuments):
    """Reranks documents against a query with Qwen3-VL-Reranker: copies with ``score`` in [0, 1],
    best first, at most ``top_k``, none below ``score_threshold``. Documents are read as the
    document embedder reads them (images from ``meta[file_path_meta_field]`` or an image blob).

    A document that cannot be scored (a moved image file...) is handled by ``on_error``: dropped
    (default) or ranked last (``score`` None), each with a logged warning naming it, or ``"raise"``.
    """

    _engine_class = Qwen3VLReranker

    def __init__(self, model: str = DEFAULT_RERANKER, *, device: str | None = None, top_k: int | None = 10,
                 score_threshold: float | None = None, file_path_meta_field: str = "file_path",
                 root_path: str | None = None, meta_fields_to_embed: list[str] | None = None,
                 embedding_separator: str = "\n", instruction: str | None = None, on_error: str = "drop",
                 model_kwargs: dict[str, Any] | None = None) -> None:
        _Loaded.__init__(self, model, device, model_kwargs)  # @component rebuilds the class: no zero-argument super()
        self.top_k = top_k
        self.score_threshold = score_threshold
        self.file_path_meta_field = file_path_meta_field
        self.root_path = root_path
        self.meta_fields_to_embed = list(meta_fields_to_embed or [])
        self.embedding_separator = embedding_separator
        self.instruction = instruction
        self.on_error = check_on_error(on_error)

    @component.output_types(documents=list[Document])
    def run(self, query: str, documents: list[Document], top_k: int | None = None,
            score_threshold: float | None = None) -> dict[str, list[Document]]:
        top_k = self.top_k if top_k is None else top_k
        threshold = self.score_threshold if score_threshold is None else score_threshold
        items = [self._input(i, d) for i, d in enumerate(documents)]
        labels = [document_label(i, item, d.id) for i, (item, d) in enumerate(zip(items, documents))]
        ranked = rerank_documents(self._loaded(), query, items, top_k=top_k, instruction=self.instruction,
                                  on_error=self.on_error, labels=labels)
        out = []
        for result in ranked:
            score = None if isinstance(result, ItemError) else result.score
            if threshold is not None and (score is None or score < threshold):
                break  # sorted: every later document scores lower (unscored ones come last)
            out.append(replace(documents[result.index], score=score))
        return {"documents": out}
