"""Qwen3VLMediaRetriever: search a LangChain vector store with an image (or video) as the query."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field, model_validator

from .embeddings import Qwen3VLEmbeddings

__all__ = ["Qwen3VLMediaRetriever"]


class Qwen3VLMediaRetriever(BaseRetriever):
    """A retriever whose query string is an image (or video) source, not text.

    The query (a path, ``file://`` URI, http(s) URL, data URI or base64 image) is embedded by
    Qwen3-VL and the vector store is searched by that vector (``similarity_search_by_vector``), so
    it works with any LangChain vector store whose documents were embedded by Qwen3VLEmbeddings.

    ``as_query=True`` (default) embeds the query image on the query side (task instruction), the
    model's retrieval convention; ``as_query=False`` embeds it exactly like stored images, for
    near-duplicate search (an identical stored image then has cosine similarity 1).

    As with LangChain's own vector-store retriever, ``search_kwargs`` (``{"k": 2, "expr": ...}``)
    go to the store, and ``invoke(query, k=1, ...)`` overrides them for one call.

    >>> retriever = Qwen3VLMediaRetriever(vectorstore=store, k=4)   # doctest: +SKIP
    >>> retriever.invoke("photos/query.jpg")                         # doctest: +SKIP
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    vectorstore: VectorStore = Field(description="A vector store filled with Qwen3-VL vectors.")
    embeddings: Qwen3VLEmbeddings | None = Field(
        default=None, description="The embeddings (None: the vector store's own, which must be Qwen3VLEmbeddings).")
    k: int = Field(default=4, ge=1, description="How many documents to return.")
    query_type: Literal["image", "video"] = "image"
    as_query: bool = Field(default=True, description="Embed the query with the query-side task instruction.")
    search_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments of similarity_search_by_vector (filters; a 'k' here wins over the k field).")

    @model_validator(mode="after")
    def _resolve_embeddings(self) -> Qwen3VLMediaRetriever:
        if self.embeddings is None:
            own = getattr(self.vectorstore, "embeddings", None)
            if not isinstance(own, Qwen3VLEmbeddings):
                raise ValueError("pass embeddings= (a Qwen3VLEmbeddings): the vector store's embeddings are "
                                 f"{type(own).__name__}")
            self.embeddings = own
        return self

    def _query_input(self, query: str) -> list[dict]:
        return [{self.query_type: query}]

    def _search_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``search_kwargs`` overridden by the call's keyword arguments; ``k`` from either, else the field."""
        arguments = {**self.search_kwargs, **kwargs}
        arguments.setdefault("k", self.k)
        return arguments

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        embeddings = self._embeddings()
        vector = embeddings.embed_multimodal(self._query_input(query), is_query=self.as_query)[0]
        return self.vectorstore.similarity_search_by_vector(vector, **self._search_arguments(kwargs))

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       **kwargs: Any) -> list[Document]:
        embeddings = self._embeddings()
        vectors = await embeddings.aembed_multimodal(self._query_input(query), is_query=self.as_query)
        return await self.vectorstore.asimilarity_search_by_vector(vectors[0], **self._search_arguments(kwargs))

    def _embeddings(self) -> Qwen3VLEmbeddings:
        assert self.embeddings is not None  # set by the validator
        return self.embeddings
