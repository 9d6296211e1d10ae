"""MultimodalIndex: a Milvus collection that mirrors indexed files and folders; search and rerank it.

>>> from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker           # doctest: +SKIP
>>> from qwen3vl_integrations.milvus import MultimodalIndex                       # doctest: +SKIP
>>> emb = Qwen3VLEmbedder.from_pretrained("Qwen/Qwen3-VL-Embedding-2B")          # doctest: +SKIP
>>> with MultimodalIndex(emb, "./qwen3vl.db") as index:                           # doctest: +SKIP
...     report = index.add(["photos/", "manual.pdf"])
...     hits = index.search("a cat on a sofa", top_k=5)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from qwen3vl_integrations.core.outputs import check_dim
from qwen3vl_integrations.ingest import (
    MAX_SEARCH_LIMIT,
    IndexReport,
    IndexSettings,
    SearchHit,
    SourceOptions,
    count_entries,
    prepare_sink,
    query_input,
    remove_paths,
    rerank_hits,
    sync,
)

from .store import MilvusStore, is_lite_uri

logger = logging.getLogger(__name__)

__all__ = ["MultimodalIndex", "SearchHit", "collection_info", "DEFAULT_URI", "DEFAULT_COLLECTION"]

DEFAULT_URI = "./qwen3vl.db"
DEFAULT_COLLECTION = "qwen3vl"
MODALITIES = ("text", "image", "pdf_page", "video")


class MultimodalIndex:
    """A collection of text chunks, images, PDF pages and videos, embedded by one embedder.

    ``uri``: a Milvus Lite file (``./qwen3vl.db``) or a Milvus server / Zilliz Cloud URI with
    ``token``. ``dim``: Matryoshka size (default the embedder's). ``model_name``: the model id
    recorded in the collection (default ``embedder.model_id``). The collection is created on
    the first write; writing into one made by another model, dim or preprocessing settings is
    refused before anything is written (``DimensionMismatchError``, ``CollectionMismatchError``).
    """

    def __init__(self, embedder, uri: str = DEFAULT_URI, *, collection: str = DEFAULT_COLLECTION,
                 token: str | None = None, reranker=None, dim: int | None = None, model_name: str | None = None,
                 batch_size: int = 32, chunk_chars: int = 2000, chunk_overlap: int = 200, pdf_dpi: float = 150.0,
                 store: MilvusStore | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.embedder, self.reranker, self.batch_size = embedder, reranker, batch_size
        self.options = SourceOptions.for_embedder(embedder, chunk_chars=chunk_chars, chunk_overlap=chunk_overlap,
                                                  pdf_dpi=pdf_dpi)
        dim = check_dim(dim, embedder.hidden_size) if dim is not None else None
        self.settings = IndexSettings.for_embedder(embedder, model_name=model_name, dim=dim, chunk_chars=chunk_chars,
                                                   chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi)
        self.store = store or MilvusStore(uri, collection, token)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> MultimodalIndex:
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
        exclude = [self.store.uri] if is_lite_uri(self.store.uri) else []
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
               filter: str = "", rerank: bool | None = None, candidates: int | None = None,
               instruction: str | None = None) -> list[SearchHit]:
        """Search by text, image, video or a mix: ``min(top_k, matching rows)`` hits. ``filter``: a
        Milvus filter expression on the stored fields (``modality == "image"``,
        ``metadata["pages"] > 2``...). ``rerank`` (default: when a reranker is set) rescores the top
        ``candidates`` (default ``max(4 * top_k, 20)``, at most ``MAX_SEARCH_LIMIT``)."""
        if not 1 <= top_k <= MAX_SEARCH_LIMIT:
            raise ValueError(f"top_k must be between 1 and {MAX_SEARCH_LIMIT}, got {top_k}")
        query_value = query_input(query, image, video)
        rerank = self.reranker is not None if rerank is None else rerank
        if rerank and self.reranker is None:
            raise ValueError("rerank=True needs a reranker (MultimodalIndex(..., reranker=...))")
        if not self.check(for_write=False):
            return []
        vector = self.embedder.embed_queries([query_value], instruction=instruction, dim=self.dim)[0]
        limit = min(max(candidates or max(4 * top_k, 20), top_k), MAX_SEARCH_LIMIT) if rerank else top_k
        raw = self.store.search(vector, limit, filter)
        if len(raw) < limit:
            matching = self.store.count(filter)
            if len(raw) < min(limit, matching):
                logger.warning("Milvus returned %d of the %d rows asked for (%d match); results are incomplete",
                               len(raw), limit, matching)
        hits = [_hit(row, rank) for rank, row in enumerate(raw, 1)]
        if rerank and hits:
            hits = rerank_hits(self.reranker, query_value, hits, pdf_dpi=self.pdf_dpi,
                               max_pixels=self.embedder.config.max_pixels, policy=self.embedder.policy)
        hits = hits[:top_k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits

    # -- stats ----------------------------------------------------------------------------------
    def info(self) -> dict:
        """Row counts (total and per modality) and the recorded settings of the collection."""
        return collection_info(self.store)


def collection_info(store: MilvusStore) -> dict:
    """Row counts (total and per modality) and the recorded settings of ``store``'s collection."""
    out: dict[str, Any] = {"collection": store.collection, "uri": store.uri, "exists": store.exists()}
    if not out["exists"]:
        return out
    dim, recorded = store.describe()
    store.ensure_index()
    out.update(rows=store.count(), dim=dim, recorded=recorded.__dict__ if recorded else None,
               modalities={m: store.count(f'modality == "{m}"') for m in MODALITIES})
    return out


def _hit(raw: dict, rank: int) -> SearchHit:
    entity = raw.get("entity", {})
    return SearchHit(rank=rank, id=str(raw["id"]), source=entity.get("source", ""), modality=entity.get("modality", ""),
                     page=int(entity.get("page", 0)), offset=int(entity.get("offset", 0)),
                     snippet=entity.get("snippet", ""), metadata=entity.get("metadata") or {},
                     score=float(raw.get("distance", 0.0)), vector_rank=rank)
