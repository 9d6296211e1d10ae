"""Qwen3VLEmbedding: a LlamaIndex ``MultiModalEmbedding`` for text, images and video."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import BaseNode, ImageType, MetadataMode

from .. import Qwen3VLEmbedder
from .nodes import node_has_media, node_to_input

__all__ = ["Qwen3VLEmbedding"]

DEFAULT_EMBED_BATCH_SIZE = 32


class Qwen3VLEmbedding(MultiModalEmbedding):
    """Qwen3-VL-Embedding as a LlamaIndex ``MultiModalEmbedding`` (one model for text and images).

    Use it as both ``embed_model`` and ``image_embed_model`` of a ``MultiModalVectorStoreIndex``:
    texts and images then share one vector space. Images may be a path, ``file://`` URI, http(s)
    URL, data URI, base64 string or ``BytesIO``; videos (file, URL or frame list) go through
    :meth:`get_video_embedding`. Text and image batches are embedded in one core call each (the
    core batches by token budget); ``embed_batch_size`` is how many items LlamaIndex hands over
    per call.

    As a transformation (``IngestionPipeline(transformations=[..., embed_model])``) it embeds each
    node with its media: an ``ImageNode``, or a generic node with ``image_resource`` /
    ``video_resource``, as its image (video) and caption; other nodes as their text.

    Queries (``get_query_embedding``) carry a task instruction (``query_instruction``, else the
    embedder's); texts and images are embedded on the document side, the model's convention.

    Build it from a model id or local path (``model_name=...``, ``model_kwargs`` go to
    :meth:`Qwen3VLEmbedder.from_pretrained`) or from a loaded embedder (``embedder=...``).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    embed_batch_size: int = Field(default=DEFAULT_EMBED_BATCH_SIZE, gt=0, le=2048,
                                  description="Items handed to the core per call.")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Keyword arguments for Qwen3VLEmbedder.from_pretrained.")
    dim: int | None = Field(default=None, description="Matryoshka output size (None: the embedder's).")
    query_instruction: str | None = Field(default=None, description="Task instruction of the query side.")
    document_instruction: str | None = Field(default=None, description="Instruction of the document side.")

    _embedder: Qwen3VLEmbedder = PrivateAttr()

    def __init__(self, model_name: str | None = None, *, embedder: Qwen3VLEmbedder | None = None, **kwargs: Any):
        if embedder is not None:
            if kwargs.get("model_kwargs"):
                raise ValueError("model_kwargs only apply when loading from model_name=, not with embedder=")
            super().__init__(model_name=model_name or embedder.model_id, **kwargs)
            self._embedder = embedder
        elif model_name is None:
            raise ValueError("pass model_name= (a hub id or local path) or embedder= (a loaded Qwen3VLEmbedder)")
        else:
            super().__init__(model_name=model_name, **kwargs)
            self._embedder = Qwen3VLEmbedder.from_pretrained(model_name, **self.model_kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLEmbedding"

    def __setstate__(self, state: dict[str, Any]) -> None:
        # pydantic's own: LlamaIndex's re-runs __init__, which would load the model again instead of
        # keeping the unpickled (shared) one
        BaseModel.__setstate__(self, state)

    @property
    def embedder(self) -> Qwen3VLEmbedder:
        """The core embedder (share it with other components)."""
        return self._embedder

    # -- mapping to the core ---------------------------------------------------------------------
    def _embed(self, inputs: list, *, is_query: bool) -> list[Embedding]:
        if not inputs:
            return []
        if is_query:
            vectors = self._embedder.embed_queries(inputs, instruction=self.query_instruction, dim=self.dim)
        else:
            vectors = self._embedder.embed_documents(inputs, instruction=self.document_instruction, dim=self.dim)
        return np.asarray(vectors, dtype=np.float64).tolist()

    # -- text ------------------------------------------------------------------------------------
    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embed([query], is_query=True)[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embed([text], is_query=False)[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embed(list(texts), is_query=False)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)

    # -- images ----------------------------------------------------------------------------------
    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._get_image_embeddings([img_file_path])[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._embed([{"image": image} for image in img_file_paths], is_query=False)

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return await asyncio.to_thread(self._get_image_embedding, img_file_path)

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await asyncio.to_thread(self._get_image_embeddings, img_file_paths)

    # -- nodes as a transformation: media nodes with their media -----------------------------------
    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        if not any(node_has_media(node) for node in nodes):
            return super().__call__(nodes, **kwargs)
        items = [node_to_input(node, MetadataMode.EMBED, label=f"nodes[{i}]") for i, node in enumerate(nodes)]
        for node, vector in zip(nodes, self._embed(items, is_query=False)):
            node.embedding = vector
        return nodes

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        if not any(node_has_media(node) for node in nodes):
            return await super().acall(nodes, **kwargs)
        return await asyncio.to_thread(self.__call__, nodes, **kwargs)

    # -- video and mixed items -------------------------------------------------------------------
    def get_video_embedding(self, video: Any) -> Embedding:
        """Embed one video: a file path or URL, or a list of frames (any image form)."""
        return self._embed([{"video": video}], is_query=False)[0]

    async def aget_video_embedding(self, video: Any) -> Embedding:
        return await asyncio.to_thread(self.get_video_embedding, video)

    def get_multimodal_embeddings(self, inputs: Sequence[Any], *, is_query: bool = False) -> list[Embedding]:
        """Embed mixed items, one vector each: a ``str`` (text), a dict ``{"text", "image", "video",
        "instruction"}`` (each value one item or a list) or a ``MultimodalInput``."""
        return self._embed(list(inputs), is_query=is_query)

    async def aget_multimodal_embeddings(self, inputs: Sequence[Any], *, is_query: bool = False) -> list[Embedding]:
        return await asyncio.to_thread(self.get_multimodal_embeddings, inputs, is_query=is_query)
