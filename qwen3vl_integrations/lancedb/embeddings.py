"""Qwen3VLEmbeddings: LanceDB's embedding function ``"qwen3vl"`` for text, image and video source columns."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from lancedb.embeddings import EmbeddingFunction, register
from pydantic import PrivateAttr

from .. import Qwen3VLEmbedder

__all__ = ["Qwen3VLEmbeddings"]


@register("qwen3vl")
class Qwen3VLEmbeddings(EmbeddingFunction):
    """Qwen3-VL-Embedding in LanceDB's embedding-function registry (``get_registry().get("qwen3vl")``).

    ``source`` says what the source column holds: ``"text"`` (strings), ``"image"`` (paths,
    ``file://`` or http(s) URLs, data URIs, base64 strings or encoded bytes) or ``"video"`` (paths or
    URLs). Every column is embedded on the document side into one vector space, so a text
    column and an image column of one table (two functions, one per column) are comparable.
    Queries (``table.search(...)``) are embedded on the query side (task instruction): a string is
    a text query; a PIL image, bytes or a ``pathlib.Path`` an image query. A null source value gets
    a null vector.

    ``name``: hub id or local checkpoint; ``device``, ``dim``, ``query_instruction``,
    ``document_instruction`` as in the core. Each table records these settings and LanceDB
    recreates the function from them when the table is opened; the model itself is loaded once
    per process and settings (:meth:`Qwen3VLEmbedder.shared`), however many functions use it.
    A bad item raises the core's typed error (no retries: the model is local).
    """

    name: str = "Qwen/Qwen3-VL-Embedding-2B"
    device: str | None = None
    dim: int | None = None
    source: Literal["text", "image", "video"] = "text"
    query_instruction: str | None = None
    document_instruction: str | None = None

    _embedder: Any = PrivateAttr(default=None)

    @property
    def embedder(self) -> Qwen3VLEmbedder:
        """The core embedder (loaded on first use, shared by every function with the same settings)."""
        if self._embedder is None:
            self._embedder = Qwen3VLEmbedder.shared(self.name, device=self.device)
        return self._embedder

    def ndims(self) -> int:
        return self.dim or self.embedder.dim

    def compute_query_embeddings(self, query: Any, *args: Any, **kwargs: Any) -> list[np.ndarray | None]:
        item = query if isinstance(query, str) else {"image": query}
        return list(self.embedder.embed_queries([item], instruction=self.query_instruction, dim=self.dim))

    def compute_source_embeddings(self, inputs: Any, *args: Any, **kwargs: Any) -> list[np.ndarray | None]:
        values = self.sanitize_input(inputs)
        present = [i for i, value in enumerate(values) if value is not None]
        items = [values[i] if self.source == "text" else {self.source: values[i]} for i in present]
        out: list[np.ndarray | None] = [None] * len(values)
        if items:
            vectors = self.embedder.embed_documents(items, instruction=self.document_instruction, dim=self.dim)
            for i, vector in zip(present, vectors):
                out[i] = vector
        return out

    def compute_query_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[np.ndarray | None]:
        return self.compute_query_embeddings(*args, **kwargs)  # a local model: retrying cannot help

    def compute_source_embeddings_with_retry(self, *args: Any, **kwargs: Any) -> list[np.ndarray | None]:
        return self.compute_source_embeddings(*args, **kwargs)
