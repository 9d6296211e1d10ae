"""Embedding and rerank functions in the shape of ``pymilvus.model`` (pymilvus-model).

They are duck-typed, so ``pymilvus[model]`` is not needed: ``Qwen3VLEmbeddingFunction`` has
``__call__``, ``encode_queries``, ``encode_documents`` (each returns a list of 1-D float32
``np.ndarray``) and ``dim``, like ``pymilvus.model.dense.SentenceTransformerEmbeddingFunction``;
``Qwen3VLRerankFunction.__call__(query, documents, top_k)`` returns ``RerankResult`` objects
(``text``, ``score``, ``index``) sorted by descending score, like
``pymilvus.model.reranker.BGERerankFunction``. Unlike those, every query and document may also be
multimodal: a dict ``{"text", "image", "video"}``, a ``MultimodalInput``, a PIL image or a
``pathlib.Path``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker

__all__ = ["Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult"]


class RerankResult:
    """pymilvus-model's rerank result: the document (``text``), its ``score`` and its input ``index``."""

    __slots__ = ("text", "score", "index")

    def __init__(self, text: Any, score: float, index: int):
        self.text, self.score, self.index = text, score, index

    def to_dict(self) -> dict:
        return {"text": self.text, "score": self.score, "index": self.index}

    def __repr__(self) -> str:
        return f"RerankResult(text={self.text!r}, score={self.score}, index={self.index})"

    __str__ = __repr__


class Qwen3VLEmbeddingFunction:
    """Qwen3-VL-Embedding as a pymilvus-model dense embedding function.

    ``model_name``: hub id or local checkpoint (ignored when ``embedder`` is given).
    ``dim``: Matryoshka size; ``query_instruction``: the task of ``encode_queries``.
    Other keyword arguments go to ``Qwen3VLEmbedder.from_pretrained`` (``device``, ``dtype``,
    EngineConfig fields such as ``max_pixels``).
    """

    def __init__(self, model_name: str | os.PathLike = "Qwen/Qwen3-VL-Embedding-2B", *,
                 embedder: Qwen3VLEmbedder | None = None, dim: int | None = None,
                 query_instruction: str | None = None, show_progress: bool = False, **load_kwargs):
        self.embedder = embedder or Qwen3VLEmbedder.from_pretrained(model_name, dim=dim, **load_kwargs)
        self.model_name = str(model_name) if embedder is None else str(self.embedder.model_id)
        self._dim = dim or self.embedder.dim
        self.query_instruction = query_instruction
        self.show_progress = show_progress

    @property
    def dim(self) -> int:
        return self._dim

    def __call__(self, texts: Sequence[Any]) -> list[np.ndarray]:
        return self.encode_documents(texts)

    def encode_queries(self, queries: Sequence[Any]) -> list[np.ndarray]:
        vectors = self.embedder.embed_queries(_as_list(queries), instruction=self.query_instruction, dim=self._dim,
                                              show_progress=self.show_progress)
        return list(vectors)

    def encode_documents(self, documents: Sequence[Any]) -> list[np.ndarray]:
        vectors = self.embedder.embed_documents(_as_list(documents), dim=self._dim, show_progress=self.show_progress)
        return list(vectors)


class Qwen3VLRerankFunction:
    """Qwen3-VL-Reranker as a pymilvus-model rerank function (documents and query of any modality)."""

    def __init__(self, model_name: str | os.PathLike = "Qwen/Qwen3-VL-Reranker-2B", *,
                 reranker: Qwen3VLReranker | None = None, instruction: str | None = None, **load_kwargs):
        self.reranker = reranker or Qwen3VLReranker.from_pretrained(model_name, **load_kwargs)
        self.model_name = str(model_name) if reranker is None else str(self.reranker.model_id)
        self.instruction = instruction

    def __call__(self, query: Any, documents: Sequence[Any], top_k: int = 5) -> list[RerankResult]:
        documents = _as_list(documents)
        ranked = self.reranker.rerank(query, documents, top_k=top_k, instruction=self.instruction)
        return [RerankResult(documents[r.index], float(r.score), r.index) for r in ranked]


def _as_list(items) -> list:
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"expected a list of items, got {type(items).__name__}; wrap a single item in a list")
    return list(items)
