"""The store-agnostic index facade: a sink that mirrors indexed files, searched by text, image or video.

``SinkIndex`` is what ``milvus.MultimodalIndex`` and ``weaviate.Qwen3VLWeaviate`` share: the
settings record of the embedder, ``add`` (the sync pipeline, with an optional progress bar),
``remove``, and ``search`` (embed the query, the store's vector search, rerank with
``rerank_hits``, ranks). A store adapter subclasses it and supplies the store's own parts:

- ``_vector_hits(vector, limit, filter)``: the ``limit`` nearest rows as ``SearchHit``s, in
  vector order (``score`` the cosine similarity, ``rank`` = ``vector_rank`` from 1);
- ``info()``: row counts and the recorded settings;
- optionally ``_exclude()``: paths the walk must skip (a database file inside an indexed folder).

The sink must also answer ``count(filter)`` for the ``filter`` its search takes (``SearchableSink``:
the completeness check of ``search``), and may have a ``close()``.
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from qwen3vl_integrations.core.outputs import check_dim

from .pipeline import prepare_sink, remove_paths, sync
from .report import IndexReport
from .search import MAX_SEARCH_LIMIT, SearchHit, query_input, rerank_hits
from .settings import IndexSettings
from .sink import Sink
from .sources import SourceOptions
from .walk import count_entries

logger = logging.getLogger(__name__)

__all__ = ["SinkIndex", "SearchableSink"]


class SearchableSink(Sink, Protocol):
    """A sink that also counts the rows a search filter admits (all rows for ``None``)."""

    def count(self, filter: Any = None, /) -> int:
        ...


class SinkIndex(abc.ABC):
    """A collection of text chunks, images, PDF pages and videos, embedded by one embedder.

    ``store``: the sink, or a function that opens it (called once the arguments are checked, so
    that a bad argument opens nothing). ``dim``: Matryoshka size (default the embedder's).
    ``model_name``: the model id recorded in the collection (default ``embedder.model_id``). The
    collection is created on the first write; writing into one made by another model, dim or
    preprocessing settings is refused before anything is written (``DimensionMismatchError``,
    ``CollectionMismatchError``). ``max_results``: the most rows one vector search may return.
    """

    max_results = MAX_SEARCH_LIMIT

    store: SearchableSink

    def __init__(self, embedder, store: SearchableSink | Callable[[], SearchableSink], *, reranker=None, dim: int | None = None,
                 model_name: str | None = None, batch_size: int = 32, chunk_chars: int = 2000,
                 chunk_overlap: int = 200, pdf_dpi: float = 150.0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.embedder, self.reranker, self.batch_size = embedder, reranker, batch_size
        self.options = SourceOptions.for_embedder(embedder, chunk_chars=chunk_chars, chunk_overlap=chunk_overlap,
                                                  pdf_dpi=pdf_dpi)
        dim = check_dim(dim, embedder.hidden_size) if dim is not None else None
        self.settings = IndexSettings.for_embedder(embedder, model_name=model_name, dim=dim, chunk_chars=chunk_chars,
                                                   chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi)
        self.store = store if isinstance(store, Sink) else store()

    # -- what a store adapter supplies ------------------------------------------------------------
    @abc.abstractmethod
    def _vector_hits(self, vector, limit: int, filter) -> list[SearchHit]:
        """The ``limit`` rows nearest to ``vector`` that ``filter`` admits, in vector order."""

    @abc.abstractmethod
    def info(self) -> dict:
        """Row counts (total and per modality) and the recorded settings of the collection."""

    def _exclude(self) -> list[str]:
        return []

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def dim(self) -> int:
        return self.settings.dim

    @property
    def pdf_dpi(self) -> float:
        return self.options.pdf_dpi

    def check(self, *, for_write: bool = True) -> bool:
        """Raise when this embedder's vectors do not belong in the collection (a missing vector
        index is created); False when the collection does not exist."""
        if not self.store.exists():
            return False
        return prepare_sink(self.store, self.settings, for_write=for_write, max_dim=self.embedder.hidden_size)

    # -- ingestion ----------------------------------------------------------------------------
    def add(self, paths: Iterable[str | os.PathLike] | str | os.PathLike, *, prune: bool = True,
            follow_symlinks: bool = False, show_progress: bool = False, progress=None) -> IndexReport:
        """Sync the collection with files and folders (see ``qwen3vl_integrations.ingest``): new and
        changed files are embedded, copies and moved files reuse stored vectors, and (``prune``)
        the rows of changed or vanished files under ``paths`` are deleted.

        ``follow_symlinks``: follow file symlinks that point outside the indexed folders.
        ``show_progress``: a tqdm bar over files. ``progress``: your own tqdm-like object
        (``update``, ``set_postfix``) to report to instead."""
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        exclude = self._exclude()
        own_bar = show_progress and progress is None
        if own_bar:
            from tqdm.auto import tqdm

            total = count_entries(paths, exclude=exclude, follow_symlinks=follow_symlinks)
            progress = tqdm(total=total, unit="file", desc="indexing", dynamic_ncols=True)
        try:
            return sync(paths, self.store, self.embedder, settings=self.settings, options=self.options,
                        batch_size=self.batch_size, prune=prune, exclude=exclude, follow_symlinks=follow_symlinks,
                        progress=progress)
        finally:
            if own_bar:
                progress.close()

    def remove(self, paths: Iterable[str | os.PathLike] | str | os.PathLike) -> int:
        """Delete the rows of files at or under ``paths`` (they need not exist); returns how many."""
        paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if not self.check(for_write=False):
            return 0
        return remove_paths(self.store, paths)

    # -- search -------------------------------------------------------------------------------
    def search(self, query: str | None = None, *, image: Any = None, video: Any = None, top_k: int = 10,
               filter: Any = None, rerank: bool | None = None, candidates: int | None = None,
               instruction: str | None = None) -> list[SearchHit]:
        """Search by text, image, video or a mix: ``min(top_k, matching rows)`` hits. ``filter``:
        the store's filter on the stored fields (Milvus: an expression such as
        ``modality == "image"``; Weaviate: a ``weaviate.classes.query.Filter``). ``rerank``
        (default: when a reranker is set) rescores the top ``candidates`` (default
        ``max(4 * top_k, 20)``, at most ``max_results``) with the reranker."""
        if not 1 <= top_k <= self.max_results:
            raise ValueError(f"top_k must be between 1 and {self.max_results}, got {top_k}")
        query_value = query_input(query, image, video)
        rerank = self.reranker is not None if rerank is None else rerank
        if rerank and self.reranker is None:
            raise ValueError(f"rerank=True needs a reranker ({type(self).__name__}(..., reranker=...))")
        if not self.check(for_write=False):
            return []
        vector = self.embedder.embed_queries([query_value], instruction=instruction, dim=self.dim)[0]
        limit = min(max(candidates or max(4 * top_k, 20), top_k), self.max_results) if rerank else top_k
        hits = self._vector_hits(vector, limit, filter)
        if len(hits) < limit:
            matching = self.store.count(filter) if filter else self.store.count()
            if len(hits) < min(limit, matching):
                logger.warning("%s: the vector search returned %d of the %d rows asked for (%d match); results are "
                               "incomplete", self.store.label, len(hits), limit, matching)
        if rerank and hits:
            hits = rerank_hits(self.reranker, query_value, hits, pdf_dpi=self.pdf_dpi,
                               max_pixels=self.embedder.config.max_pixels, policy=self.embedder.policy)
        hits = hits[:top_k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits
