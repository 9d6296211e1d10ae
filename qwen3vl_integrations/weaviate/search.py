"""Search a collection of your own objects (``objects.data_object``): embed the query,
``near_vector``, rerank from the stored properties; the client's own objects come back. (A collection
that ``Qwen3VLWeaviate`` fills is searched with ``Qwen3VLWeaviate.search``, which returns
``ingest.SearchHit``s and reranks from the files.)

>>> import weaviate                                                              # doctest: +SKIP
>>> from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker           # doctest: +SKIP
>>> from qwen3vl_integrations.weaviate import search                            # doctest: +SKIP
>>> with weaviate.connect_to_local() as client:                                  # doctest: +SKIP
...     docs = client.collections.use("Qwen3VL")
...     hits = search(docs, embedder, "a cat on a sofa", k=5, reranker=reranker)
...     hits[0].properties["source"], hits[0].metadata.distance, hits[0].metadata.rerank_score
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from qwen3vl_integrations.ingest import query_input

from .config import DEFAULT_VECTOR, PROPERTIES, weaviate_module
from .objects import vector_list

logger = logging.getLogger(__name__)

__all__ = ["search", "rerank_document"]


def rerank_document(properties: dict) -> Any:
    """What the reranker reads for a stored object: its text, its stored image (decoded from the
    blob; the file at ``source`` when none was stored) or the video at ``source``."""
    modality, source = properties.get("modality"), properties.get("source")
    if modality == "text":
        return properties.get("text") or ""
    if modality == "video":
        return {"video": source}
    blob = properties.get("image")
    if blob:
        return {"image": base64.b64decode(blob)}
    if modality == "image":
        return {"image": source}
    return properties.get("text") or ""  # a PDF page stored without its image: its text layer


def search(collection, embedder, query: str | None = None, *, image: Any = None, video: Any = None, k: int = 10,
           filters=None, reranker=None, rerank: bool | None = None, candidates: int | None = None,
           vector_name: str = DEFAULT_VECTOR, instruction: str | None = None, dim: int | None = None) -> list:
    """The ``k`` best objects of ``collection`` (a weaviate-client collection) for a text, image or
    video query (or a mix), as the client's own ``Object``s.

    ``filters``: a ``weaviate.classes.query.Filter``. ``rerank`` (default: when a ``reranker`` is
    given) rescores the top ``candidates`` (default ``max(4 * k, 20)``) with the reranker; each
    object's ``metadata.rerank_score`` is then the reranker's relevance (``None`` where it could not
    score the object, which then sorts last) and the list is in rerank order. ``dim``: the
    Matryoshka size the collection was written with (default the embedder's)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rerank = reranker is not None if rerank is None else rerank
    if rerank and reranker is None:
        raise ValueError("rerank=True needs a reranker")
    item = query_input(query, image, video)
    vector = embedder.embed_queries([item], instruction=instruction, dim=dim)[0]
    limit = max(candidates or max(4 * k, 20), k) if rerank else k
    wq = weaviate_module("weaviate.classes.query")
    returned = list(PROPERTIES) if rerank else [p for p in PROPERTIES if p != "image"]
    result = collection.query.near_vector(near_vector=vector_list(vector), target_vector=vector_name, limit=limit,
                                          filters=filters, return_metadata=wq.MetadataQuery(distance=True),
                                          return_properties=returned)
    hits = list(result.objects)
    if rerank and hits:
        hits = _rerank(reranker, item, hits)
    return hits[:k]


def _rerank(reranker, item, hits: list) -> list:
    scores = reranker.score(item, [rerank_document(hit.properties) for hit in hits], errors="return")
    for hit, score in zip(hits, scores):
        hit.metadata.rerank_score = score if isinstance(score, float) else None
    unscored = sum(hit.metadata.rerank_score is None for hit in hits)
    if unscored:
        logger.warning("the reranker could not score %d of %d hits; they sort last", unscored, len(hits))
    order = sorted(range(len(hits)), key=lambda i: (hits[i].metadata.rerank_score is None,
                                                    -(hits[i].metadata.rerank_score or 0.0), i))
    return [hits[i] for i in order]
