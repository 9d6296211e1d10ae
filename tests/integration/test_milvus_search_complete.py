"""Searches return every row they should (issue 13, observation 3): 300 synthetic rows in Milvus Lite.

Milvus Lite's HNSW (AUTOINDEX) returned 154 of top-250 and 2-4 of 5 filtered rows once the
collection was reopened; the store now uses an exact FLAT index there
(``benchmarks/bench_search_completeness.py`` measures the alternatives).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.ingest import Row
from qwen3vl_integrations.milvus import MultimodalIndex

N_ROWS, GROUPS = 300, 60


@pytest.fixture(scope="module")
def collection(embedder, tmp_path_factory):
    """300 rows of random unit vectors (``page`` = row % 60: each page value matches 5 rows), written and closed."""
    db = str(tmp_path_factory.mktemp("complete") / "c.db")
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(N_ROWS, embedder.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with MultimodalIndex(embedder, db) as index:
        index.store.create(index.settings)
        rows = [Row(f"{i:032x}", f"{i:032x}", vectors[i], f"/synthetic/{i:03d}.txt", "text", page=i % GROUPS,
                    snippet=f"synthetic row {i}", metadata={"sha256": "0"}) for i in range(N_ROWS)]
        for start in range(0, N_ROWS, 32):
            assert index.store.write(rows[start:start + 32]) == []
    return db, vectors


def _query_vector(index: MultimodalIndex, text: str) -> np.ndarray:
    return index.embedder.embed_queries([text], dim=index.dim)[0]


def test_top_k_returns_min_of_k_and_rows_exactly(embedder, collection):
    db, vectors = collection
    with MultimodalIndex(embedder, db) as index:  # reopened: what a later `qwen3vl search` sees
        for top_k in (250, 300, 400):
            hits = index.search("a query", top_k=top_k, rerank=False)
            assert len(hits) == min(top_k, N_ROWS) == len({h.id for h in hits})
        scores = vectors @ _query_vector(index, "a query")
        expected = {f"{i:032x}" for i in np.argsort(-scores)[:250]}
        assert {h.id for h in index.search("a query", top_k=250, rerank=False)} == expected


def test_a_filter_returns_every_matching_row(embedder, collection):
    db, _ = collection
    with MultimodalIndex(embedder, db) as index:
        for q in range(20):
            group = q * 7 % GROUPS
            hits = index.search(f"query number {q}", top_k=5, rerank=False, filter=f"page == {group}")
            assert sorted(int(h.source[-7:-4]) for h in hits) == [group + GROUPS * k for k in range(5)]


@pytest.mark.slow
def test_reranker_candidates_are_complete(embedder, reranker, collection):
    db, _ = collection
    with MultimodalIndex(embedder, db, reranker=reranker) as index:
        hits = index.search("synthetic row", top_k=250, candidates=250)
        assert len(hits) == 250 and all(h.rerank_score is not None for h in hits)
        assert [h.rerank_score for h in hits] == sorted((h.rerank_score for h in hits), reverse=True)
        assert sorted(h.vector_rank for h in hits) == list(range(1, 251))
