"""MultimodalIndex: index files and folders into a Milvus collection, search it, rerank the hits.

>>> from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker           # doctest: +SKIP
>>> from qwen3vl_integrations.milvus import MultimodalIndex                       # doctest: +SKIP
>>> emb = Qwen3VLEmbedder.from_pretrained("Qwen/Qwen3-VL-Embedding-2B")          # doctest: +SKIP
>>> with MultimodalIndex(emb, "./qwen3vl.db") as index:                           # doctest: +SKIP
...     report = index.add(["photos/", "manual.pdf"])
...     hits = index.search("a cat on a sofa", top_k=5)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .pipeline import IndexReport, ingest
from .settings import IndexSettings, check_compatible
from .sources import expand_file, iter_files, render_pdf_page
from .store import MilvusStore, is_lite_uri

__all__ = ["MultimodalIndex", "SearchHit", "collection_info", "DEFAULT_URI", "DEFAULT_COLLECTION"]

DEFAULT_URI = "./qwen3vl.db"
DEFAULT_COLLECTION = "qwen3vl"


@dataclass
class SearchHit:
    """One search result: the stored row, its vector score and (when reranked) its rerank score."""

    rank: int
    id: str
    source: str
    modality: str
    page: int
    offset: int
    snippet: str
    metadata: dict = field(default_factory=dict)
    score: float = 0.0  # cosine similarity of the query and item vectors
    rerank_score: float | None = None  # reranker relevance in [0, 1]; None when not reranked or failed
    vector_rank: int = 0  # rank before reranking

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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
        self.embedder, self.reranker, self.batch_size = embedder, reranker, batch_size
        self.chunk_chars, self.chunk_overlap, self.pdf_dpi = chunk_chars, chunk_overlap, pdf_dpi
        self.settings = IndexSettings.for_embedder(embedder, model_name=model_name, dim=dim, chunk_chars=chunk_chars,
                                                   chunk_overlap=chunk_overlap, pdf_dpi=pdf_dpi)
        if not 16 <= chunk_chars <= 4000 or not 0 <= chunk_overlap < chunk_chars // 2:
            raise ValueError(f"need 16 <= chunk_chars <= 4000 and 0 <= chunk_overlap < chunk_chars/2, "
                             f"got {chunk_chars}, {chunk_overlap}")
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

    def check(self, *, for_write: bool = True) -> bool:
        """Raise when this embedder's vectors do not belong in the collection; False when it does not exist."""
        if not self.store.exists():
            return False
        stored_dim, recorded = self.store.describe()
        check_compatible(self.store.collection, stored_dim, recorded, self.settings, check_preprocessing=for_write)
        self.store.ensure_loaded()
        return True

    # -- ingestion ----------------------------------------------------------------------------
    def add(self, paths: Iterable[str | os.PathLike] | str | os.PathLike, *, show_progress: bool = False,
            progress=None) -> IndexReport:
        """Index files and folders (streamed; see ``sources`` for what each file type becomes).

        ``show_progress``: a tqdm bar (items/s, ETA). ``progress``: your own tqdm-like object
        (``update``, ``set_postfix``, ``refresh``, ``total``) to report to instead."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = list(paths)
        if not self.check():
            self.store.create(self.settings)
        exclude = [self.store.uri] if is_lite_uri(self.store.uri) else []
        own_bar = show_progress and progress is None
        if own_bar:
            from tqdm.auto import tqdm

            total = sum(1 for _ in iter_files(paths, exclude))
            progress = tqdm(total=total, unit="item", desc="indexing", dynamic_ncols=True)
        stream = (entry if not isinstance(entry, os.PathLike) else self._expand(entry)
                  for entry in iter_files(paths, exclude))
        try:
            return ingest(stream, self.store, self.embedder, dim=self.dim, batch_size=self.batch_size,
                          progress=progress)
        finally:
            if own_bar:
                progress.close()

    def _expand(self, path):
        return expand_file(path, self.settings.settings_hash, chunk_chars=self.chunk_chars,
                           chunk_overlap=self.chunk_overlap, pdf_dpi=self.pdf_dpi,
                           max_pixels=self.embedder.config.max_pixels)

    # -- search -------------------------------------------------------------------------------
    def search(self, query: str | None = None, *, image: Any = None, video: Any = None, top_k: int = 10,
               filter: str = "", rerank: bool | None = None, candidates: int | None = None,
               instruction: str | None = None) -> list[SearchHit]:
        """Search by text, image, video or a mix. ``filter``: a Milvus filter expression on the
        stored fields (``modality == "image"``, ``metadata["pages"] > 2``...). ``rerank`` (default:
        when a reranker is set) rescores the top ``candidates`` (default ``max(4 * top_k, 20)``)."""
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        query_input = _query_input(query, image, video)
        if not self.store.exists():
            return []
        self.check(for_write=False)
        rerank = self.reranker is not None if rerank is None else rerank
        if rerank and self.reranker is None:
            raise ValueError("rerank=True needs a reranker (MultimodalIndex(..., reranker=...))")
        vector = self.embedder.embed_queries([query_input], instruction=instruction, dim=self.dim)[0]
        limit = max(candidates or max(4 * top_k, 20), top_k) if rerank else top_k
        hits = [_hit(raw, rank) for rank, raw in enumerate(self.store.search(vector, limit, filter), 1)]
        if rerank and hits:
            hits = self._rerank(query_input, hits)
        hits = hits[:top_k]
        for rank, hit in enumerate(hits, 1):
            hit.rank = rank
        return hits

    def _rerank(self, query_input, hits: list[SearchHit]) -> list[SearchHit]:
        documents = [self._document(hit) for hit in hits]
        scores = self.reranker.score(query_input, documents, errors="return")
        for hit, score in zip(hits, scores):
            hit.rerank_score = score if isinstance(score, float) else None
        return sorted(hits, key=lambda h: (h.rerank_score is None, -(h.rerank_score or 0.0), h.vector_rank))

    def _document(self, hit: SearchHit):
        """What the reranker reads for a hit: the chunk text, the page image, the image or video."""
        if hit.modality == "text":
            return hit.snippet
        if hit.modality == "pdf_page":
            try:
                image, _ = render_pdf_page(hit.source, hit.page, self.pdf_dpi, self.embedder.config.max_pixels)
            except Exception:
                return {"image": hit.source}
            return {"image": image}
        return {hit.modality: hit.source}

    # -- stats ----------------------------------------------------------------------------------
    def info(self) -> dict:
        """Row counts (total and per modality) and the recorded settings of the collection."""
        return collection_info(self.store)


def collection_info(store: MilvusStore) -> dict:
    """Row counts (total and per modality) and the recorded settings of ``store``'s collection."""
    out = {"collection": store.collection, "uri": store.uri, "exists": store.exists()}
    if not out["exists"]:
        return out
    dim, recorded = store.describe()
    store.ensure_loaded()
    out.update(rows=store.count(), dim=dim, recorded=recorded.__dict__ if recorded else None,
               modalities={m: store.count(f'modality == "{m}"') for m in ("text", "image", "pdf_page", "video")})
    return out


def _query_input(query, image, video):
    if isinstance(query, str) and not query.strip():
        query = None
    if query is None and image is None and video is None:
        raise ValueError("give a text query, an image or a video to search with")
    if image is None and video is None:
        return query
    item = {"text": query, "image": image, "video": video}
    return {k: v for k, v in item.items() if v is not None}


def _hit(raw: dict, rank: int) -> SearchHit:
    entity = raw.get("entity", {})
    return SearchHit(rank=rank, id=str(raw["id"]), source=entity.get("source", ""), modality=entity.get("modality", ""),
                     page=int(entity.get("page", 0)), offset=int(entity.get("offset", 0)),
                     snippet=entity.get("snippet", ""), metadata=entity.get("metadata") or {},
                     score=float(raw.get("distance", 0.0)), vector_rank=rank)
