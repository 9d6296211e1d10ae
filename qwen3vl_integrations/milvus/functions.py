"""Embedding and rerank functions of ``pymilvus.model`` (pymilvus-model) backed by Qwen3-VL.

With pymilvus-model installed (``pip install pymilvus[model]``) the classes subclass its
``BaseEmbeddingFunction`` / ``BaseRerankFunction`` and results are its ``RerankResult``; without
it they keep the same shape. ``Qwen3VLEmbeddingFunction`` has ``__call__``, ``encode_queries``,
``encode_documents`` (each returns a list of 1-D float32 ``np.ndarray``) and ``dim``, like
``SentenceTransformerEmbeddingFunction``; ``Qwen3VLRerankFunction.__call__(query, documents, top_k=5)``
returns :class:`RerankResult` objects (``text``, ``score``, ``index``) sorted by descending score,
everything when ``top_k`` is 0 or ``None``, like ``BGERerankFunction``. Unlike those, every query
and document may also be multimodal: a dict ``{"text", "image", "video"}``, a ``MultimodalInput``,
a PIL image or a ``pathlib.Path``.

Importing this module imports pymilvus-model (several seconds); ``qwen3vl_integrations.milvus``
imports it only when one of these names is used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.core.outputs import RerankResult as CoreRerankResult

try:
    from pymilvus.model.base import BaseEmbeddingFunction, BaseRerankFunction
    from pymilvus.model.base import RerankResult as _PymilvusRerankResult
except ImportError:  # pymilvus-model is optional: same shape, plain bases
    BaseEmbeddingFunction = BaseRerankFunction = _PymilvusRerankResult = object

__all__ = ["Qwen3VLEmbeddingFunction", "Qwen3VLRerankFunction", "RerankResult"]


class RerankResult(CoreRerankResult, _PymilvusRerankResult):
    """The core's rerank result (``index``, ``score``, ``document``) in pymilvus-model's shape:
    ``RerankResult(text, score, index)``, ``text`` (the document as given) and ``to_dict()``; an
    instance of ``pymilvus.model.base.RerankResult`` when pymilvus-model is installed."""

    def __init__(self, text: Any, score: float, index: int):
        CoreRerankResult.__init__(self, index, score, text)

    @classmethod
    def of(cls, result: CoreRerankResult) -> RerankResult:
        """The pymilvus-shaped copy of a core result."""
        return cls(result.document, float(result.score), result.index)

    @property
    def text(self) -> Any:
        return self.document

    def to_dict(self) -> dict:
        return {"text": self.text, "score": self.score, "index": self.index}

    def __repr__(self) -> str:
        return f"RerankResult(text={self.text!r}, score={self.score}, index={self.index})"

    __str__ = __repr__


def _load_options(batch_size: int | None, device: Any, load_kwargs: dict) -> dict:
    """pymilvus-model's common constructor arguments as ``from_pretrained`` arguments."""
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        load_kwargs["max_batch_items"] = batch_size
    if device is not None:
        load_kwargs["device"] = device
    return load_kwargs


def _check_loaded(owner: str, given: Any, arguments: dict) -> None:
    """Loading arguments (``arguments``: name -> value as passed) make no sense with a loaded engine."""
    passed = sorted(name for name, value in arguments.items() if value is not None)
    if given is not None and passed:
        raise ValueError(f"{passed} only apply when loading from model_name=, not with {owner}=")


class Qwen3VLEmbeddingFunction(BaseEmbeddingFunction):
    """Qwen3-VL-Embedding as a pymilvus-model dense embedding function.

    ``model_name``: hub id or local checkpoint (ignored when ``embedder`` is given).
    ``dim``: Matryoshka size. ``query_instruction`` / ``doc_instruction``: the instructions of
    ``encode_queries`` / ``encode_documents`` (``None``: the model's). ``batch_size``: most items per
    forward pass (the core batches by token budget under it); ``device``: as pymilvus-model's.
    ``normalize_embeddings`` must stay ``True`` (vectors are always L2-normalised). Other keyword
    arguments go to ``Qwen3VLEmbedder.from_pretrained`` (``dtype``, EngineConfig fields such as
    ``max_pixels``).
    """

    def __init__(self, model_name: str | os.PathLike = "Qwen/Qwen3-VL-Embedding-2B", *,
                 embedder: Qwen3VLEmbedder | None = None, dim: int | None = None, batch_size: int | None = None,
                 device: Any = None, query_instruction: str | None = None, doc_instruction: str | None = None,
                 normalize_embeddings: bool = True, show_progress: bool = False, **load_kwargs):
        if not normalize_embeddings:
            raise ValueError("normalize_embeddings=False is not supported: Qwen3-VL vectors are always L2-normalised")
        _check_loaded("embedder", embedder, {"batch_size": batch_size, "device": device, **load_kwargs})
        load_kwargs = _load_options(batch_size, device, load_kwargs)
        self.embedder = embedder or Qwen3VLEmbedder.from_pretrained(model_name, dim=dim, **load_kwargs)
        self.model_name = str(model_name) if embedder is None else str(self.embedder.model_id)
        self._dim = dim or self.embedder.dim
        self.batch_size = self.embedder.config.max_batch_items
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction
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
        options: dict[str, Any] = {"dim": self._dim, "show_progress": self.show_progress}
        vectors = self.embedder.embed_documents(_as_list(documents), instruction=self.doc_instruction, **options)
        return list(vectors)


class Qwen3VLRerankFunction(BaseRerankFunction):
    """Qwen3-VL-Reranker as a pymilvus-model rerank function (documents and query of any modality).

    ``batch_size`` / ``device`` / ``max_length`` as pymilvus-model's rerankers; ``use_fp16=True``
    loads float16 weights; ``normalize`` must stay ``True`` (scores are always sigmoid
    probabilities in [0, 1]). Other keyword arguments go to ``Qwen3VLReranker.from_pretrained``.
    """

    def __init__(self, model_name: str | os.PathLike = "Qwen/Qwen3-VL-Reranker-2B", *,
                 reranker: Qwen3VLReranker | None = None, instruction: str | None = None,
                 batch_size: int | None = None, device: Any = None, max_length: int | None = None,
                 use_fp16: bool = False, normalize: bool = True, **load_kwargs):
        if not normalize:
            raise ValueError("normalize=False is not supported: Qwen3-VL-Reranker scores are sigmoid probabilities")
        _check_loaded("reranker", reranker, {"batch_size": batch_size, "device": device, "max_length": max_length,
                                             "use_fp16": use_fp16 or None, **load_kwargs})
        load_kwargs = _load_options(batch_size, device, load_kwargs)
        if max_length is not None:
            load_kwargs["max_length"] = max_length
        if use_fp16:
            load_kwargs["dtype"] = "float16"
        self.reranker = reranker or Qwen3VLReranker.from_pretrained(model_name, **load_kwargs)
        self.model_name = str(model_name) if reranker is None else str(self.reranker.model_id)
        self.batch_size = self.reranker.config.max_batch_items
        self.instruction = instruction

    def __call__(self, query: Any, documents: Sequence[Any], top_k: int | None = 5) -> list[RerankResult]:
        """Documents sorted by descending score, the ``top_k`` best (0 or ``None``: all of them)."""
        documents = _as_list(documents)
        ranked = self.reranker.rerank(query, documents, top_k=top_k or None, instruction=self.instruction)
        return [RerankResult.of(r) for r in ranked]


def _as_list(items) -> list:
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"expected a list of items, got {type(items).__name__}; wrap a single item in a list")
    return list(items)
