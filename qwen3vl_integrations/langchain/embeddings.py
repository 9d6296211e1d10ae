"""Qwen3VLEmbeddings: a LangChain ``Embeddings`` for text, images, video and mixed items."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .. import PRECISIONS, Qwen3VLEmbedder

__all__ = ["Qwen3VLEmbeddings"]


class Qwen3VLEmbeddings(BaseModel, Embeddings):
    """Qwen3-VL-Embedding as a LangChain ``Embeddings``.

    Texts go through ``embed_documents`` / ``embed_query`` as with any LangChain embedding; images
    (path, ``file://`` URI, http(s) URL, data URI or base64) through ``embed_image(uris=[...])``,
    which vector stores with ``add_images`` call; videos through ``embed_video``; and any mix of
    text, images and videos per item through ``embed_multimodal``.

    Documents are embedded with the default instruction, queries with a task instruction
    (``query_instruction``, else the embedder's own), following the model's convention.

    Build it from a model id or local path (``model=...``; ``model_kwargs`` go to
    :meth:`Qwen3VLEmbedder.from_pretrained`, e.g. ``{"device": "cpu"}``), or share an already loaded
    :class:`~qwen3vl_integrations.Qwen3VLEmbedder` (``embedder=...``).

    >>> embeddings = Qwen3VLEmbeddings(model="Qwen/Qwen3-VL-Embedding-2B")   # doctest: +SKIP
    >>> embeddings.embed_image(uris=["cat.jpg"])                              # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: str | None = Field(default=None, description="Hub id or local path of a Qwen3-VL-Embedding checkpoint.")
    embedder: Qwen3VLEmbedder | None = Field(default=None, exclude=True, repr=False,
                                             description="An already loaded embedder (shared, not copied).")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Keyword arguments for Qwen3VLEmbedder.from_pretrained.")
    dim: int | None = Field(default=None, description="Matryoshka output size (None: the embedder's).")
    precision: str = Field(default="float32", description=f"Output precision, one of {PRECISIONS}.")
    query_instruction: str | None = Field(default=None, description="Task instruction of the query side.")
    document_instruction: str | None = Field(default=None, description="Instruction of the document side.")

    @field_validator("precision")
    @classmethod
    def _check_precision(cls, value: str) -> str:
        if value not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _load_embedder(self) -> Qwen3VLEmbeddings:
        if self.embedder is None:
            if not self.model:
                raise ValueError("pass model= (a hub id or local path) or embedder= (a loaded Qwen3VLEmbedder)")
            self.embedder = Qwen3VLEmbedder.from_pretrained(self.model, **self.model_kwargs)
        elif self.model_kwargs:
            raise ValueError("model_kwargs only apply when loading from model=, not with embedder=")
        elif self.model is None:
            self.model = self.embedder.model_id
        return self

    # -- synchronous ------------------------------------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts on the document side."""
        return self._embed(list(texts), is_query=False)

    def embed_query(self, text: str) -> list[float]:
        """Embed one text on the query side (task instruction)."""
        return self._embed([text], is_query=True)[0]

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed images on the document side: paths, ``file://`` URIs, URLs, data URIs or base64."""
        return self._embed([{"image": uri} for uri in uris], is_query=False)

    def embed_video(self, uris: list[str]) -> list[list[float]]:
        """Embed video files (path or URL) or frame lists (a list of images) on the document side."""
        return self._embed([{"video": uri} for uri in uris], is_query=False)

    def embed_multimodal(self, inputs: Sequence[Any], *, is_query: bool = False) -> list[list[float]]:
        """Embed mixed items, one vector each: a ``str`` (text), a dict ``{"text", "image", "video",
        "instruction"}`` (each value one item or a list), a ``MultimodalInput`` or a PIL image.
        ``is_query=True`` embeds them on the query side."""
        return self._embed(list(inputs), is_query=is_query)

    # -- asynchronous: the core runs in a worker thread, the event loop stays free -----------------
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_image, uris)

    async def aembed_video(self, uris: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_video, uris)

    async def aembed_multimodal(self, inputs: Sequence[Any], *, is_query: bool = False) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_multimodal, inputs, is_query=is_query)

    # -- mapping to the core ---------------------------------------------------------------------
    def _embed(self, inputs: list, *, is_query: bool) -> list[list[float]]:
        if not inputs:
            return []
        assert self.embedder is not None  # set by the validator
        options: dict[str, Any] = {"dim": self.dim, "precision": self.precision}
        if is_query:
            vectors = self.embedder.embed_queries(inputs, instruction=self.query_instruction, **options)
        else:
            vectors = self.embedder.embed_documents(inputs, instruction=self.document_instruction, **options)
        return np.asarray(vectors, dtype=np.float64).tolist()
