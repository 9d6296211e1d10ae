"""Qwen3VLEmbeddingFunction: a Chroma ``EmbeddingFunction`` for texts and images in one space."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from chromadb.api.types import Embeddable, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from .. import Qwen3VLEmbedder

__all__ = ["Qwen3VLEmbeddingFunction"]

#: settings that define the vectors of a collection: they cannot change once it has some
_FIXED = ("model_name", "dim", "document_instruction")


@register_embedding_function
class Qwen3VLEmbeddingFunction(EmbeddingFunction[Embeddable]):
    """Qwen3-VL-Embedding as a Chroma embedding function (registered as ``"qwen3vl"``).

    Chroma hands it documents (strings) or images (numpy arrays, which its ``ImageLoader`` reads
    from ``uris``); both are embedded into one vector space, documents on the document side.
    ``embed_query`` (Chroma's ``query_texts``, ``query_images`` and ``query_uris``) embeds on the
    query side, with a task instruction (``query_instruction``, else the model's).

    Build it from a model id or local path (``model_name``; ``device`` and ``model_kwargs`` go to
    :meth:`Qwen3VLEmbedder.from_pretrained`; the model is loaded once per process and settings, so a
    collection reopened from its stored config shares it) or from a loaded embedder (``embedder=``).
    The collection config records ``model_name``, ``device``, ``dim``, the instructions and
    ``model_kwargs`` (which must then be JSON values).
    """

    def __init__(self, model_name: str | os.PathLike = "Qwen/Qwen3-VL-Embedding-2B", *,
                 embedder: Qwen3VLEmbedder | None = None, device: str | None = None, dim: int | None = None,
                 query_instruction: str | None = None, document_instruction: str | None = None,
                 model_kwargs: dict[str, Any] | None = None) -> None:
        if embedder is not None and (device is not None or model_kwargs):
            raise ValueError("device and model_kwargs only apply when loading from model_name=, not with embedder=")
        self.model_name = str(embedder.model_id if embedder is not None else model_name)
        self.device = device
        self.model_kwargs = dict(model_kwargs or {})
        self.embedder = embedder or Qwen3VLEmbedder.shared(self.model_name, device=device, **self.model_kwargs)
        self.dim = dim
        self.query_instruction = query_instruction
        self.document_instruction = document_instruction

    def __call__(self, input: Embeddable) -> Embeddings:
        """Embed documents or images on the document side."""
        vectors = self.embedder.embed_documents(list(input), instruction=self.document_instruction, dim=self.dim)
        return _rows(vectors)

    def embed_query(self, input: Embeddable) -> Embeddings:
        """Embed query texts or images on the query side (task instruction)."""
        return _rows(self.embedder.embed_queries(list(input), instruction=self.query_instruction, dim=self.dim))

    @staticmethod
    def name() -> str:
        return "qwen3vl"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]  # vectors are L2-normalised: the three rank alike

    def get_config(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "device": self.device, "dim": self.dim,
                "query_instruction": self.query_instruction, "document_instruction": self.document_instruction,
                "model_kwargs": self.model_kwargs}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> Qwen3VLEmbeddingFunction:
        return Qwen3VLEmbeddingFunction(**config)

    def is_legacy(self) -> bool:
        return False  # Chroma's default test rebuilds the function from its config, i.e. loads the model again

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        changed = [key for key in _FIXED if key in new_config and new_config[key] != old_config.get(key)]
        if changed:
            raise ValueError(f"{changed} cannot change once a collection holds vectors of this embedding function")


def _rows(vectors: np.ndarray) -> Embeddings:
    return [np.asarray(row, dtype=np.float32) for row in vectors]
