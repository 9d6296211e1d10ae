"""Qwen3VLWeaviate.search returns what MultimodalIndex.search returns for the same folder: the same
``SearchHit`` type, rows, vector scores and reranker scores (Milvus Lite beside the in-memory Weaviate
of ``weaviate_fake``; both searches are exact here: FLAT on Milvus Lite, a full scan in the stand-in)."""

from __future__ import annotations

import dataclasses

import pytest

weaviate = pytest.importorskip("weaviate")
pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from weaviate.classes.query import Filter  # noqa: E402

from qwen3vl_integrations import weaviate as qw  # noqa: E402
from qwen3vl_integrations.ingest import SearchHit  # noqa: E402
from qwen3vl_integrations.ingest.search import hit_document  # noqa: E402
from qwen3vl_integrations.milvus import MultimodalIndex  # noqa: E402

from .folders import MEDIA, folder_of  # noqa: E402
from .weaviate_fake import FakeWeaviate, connected_client  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*ORM-style PyMilvus API")
QUERY = "a cup of coffee"


def same_hits(weaviate_hits: list, milvus_hits: list) -> None:
    assert weaviate_hits and all(type(h) is SearchHit for h in weaviate_hits + milvus_hits)
    assert len(weaviate_hits) == len(milvus_hits)
    for w, m in zip(weaviate_hits, milvus_hits):
        w_fields, m_fields = dataclasses.asdict(w), dataclasses.asdict(m)
        for scored in ("score", "rerank_score"):
            w_score, m_score = w_fields.pop(scored), m_fields.pop(scored)
            assert (w_score is None) == (m_score is None) and abs((w_score or 0) - (m_score or 0)) <= 1e-5, scored
        assert w_fields == m_fields


@pytest.mark.slow
def test_search_hits_equal_the_milvus_paths_and_the_rerankers_scores(embedder, reranker, tmp_path):
    folder = folder_of(tmp_path, "coffee.txt", "cats.md", "space_notes.md", "coffee.jpg")
    with MultimodalIndex(embedder, str(tmp_path / "m.db"), reranker=reranker) as milvus:
        assert milvus.add([folder]).indexed == 4
        milvus_hits = milvus.search(QUERY, top_k=3)
        milvus_plain = milvus.search(QUERY, top_k=4, rerank=False)
        milvus_images = milvus.search(image=MEDIA / "coffee.jpg", top_k=2, rerank=False, filter='modality == "image"')
    with connected_client(FakeWeaviate()) as client, qw.Qwen3VLWeaviate(embedder, client, reranker=reranker) as index:
        assert index.add([folder]).indexed == 4
        hits = index.search(QUERY, top_k=3)
        same_hits(hits, milvus_hits)
        same_hits(index.search(QUERY, top_k=4, rerank=False), milvus_plain)
        same_hits(index.search(image=MEDIA / "coffee.jpg", top_k=2, rerank=False,
                               filter=Filter.by_property("modality").equal("image")), milvus_images)
    documents = [hit_document(h, pdf_dpi=index.pdf_dpi, max_pixels=embedder.config.max_pixels, policy=embedder.policy)
                 for h in hits]
    for hit, score in zip(hits, reranker.score(QUERY, documents)):
        assert hit.rerank_score is not None and abs(hit.rerank_score - score) <= 1e-5
    assert [h.rerank_score for h in hits] == sorted((h.rerank_score for h in hits), reverse=True)
