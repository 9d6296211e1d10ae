"""search(): the library's query vector goes out through the client's near_vector, and the hits come
back reranked by Qwen3VLReranker (tiny checkpoint; in-memory Weaviate, see weaviate_fake)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")

from qwen3vl_integrations import EmptyInputError  # noqa: E402
from qwen3vl_integrations import weaviate as qw  # noqa: E402
from tests.conftest import random_image  # noqa: E402

from .weaviate_fake import FakeWeaviate, connected_client  # noqa: E402

TEXTS = ["a red bicycle leaning on a wall", "a bowl of noodle soup", "the rocket launch at dawn"]


@pytest.fixture(scope="module")
def corpus(embedder):
    rng = np.random.default_rng(3)
    image = random_image(rng, 64, 80)
    png = io.BytesIO()
    image.save(png, format="PNG")
    vectors = embedder.embed_documents([*TEXTS, {"image": image}])
    objects = [qw.data_object(f"t{i}", vectors[i],
                              qw.object_properties(item_id=f"t{i}", source=f"/n/{i}.txt", modality="text", text=t))
               for i, t in enumerate(TEXTS)]
    objects.append(qw.data_object("img", vectors[3], qw.object_properties(
        item_id="img", source="/p/cat.png", modality="image", image=qw.image_blob(png.getvalue()))))
    return objects, png.getvalue()


@pytest.fixture
def collection(corpus):
    fake = FakeWeaviate()
    with connected_client(fake) as client:
        store = qw.WeaviateStore(client, "Docs")
        store.create()
        assert store.write_objects(corpus[0]) == []
        yield store.collection, fake


def sent_vector(fake) -> np.ndarray:
    near = fake.searches[-1].near_vector
    raw = near.vector_for_targets[0].vectors[0].vector_bytes if near.vector_for_targets else near.vectors[0].vector_bytes
    return np.frombuffer(raw, dtype="<f4")


@pytest.mark.slow
def test_query_vector_is_the_librarys(collection, embedder):
    docs, fake = collection
    image = random_image(np.random.default_rng(9), 48, 48)
    for query, kwargs, item in [("noodles", {}, "noodles"), (None, {"image": image}, {"image": image}),
                                ("soup", {"image": image}, {"text": "soup", "image": image})]:
        qw.search(docs, embedder, query, k=2, **kwargs)
        expected = embedder.embed_queries([item])[0]
        got = sent_vector(fake)
        assert got.shape == expected.shape
        assert float(got @ expected / np.linalg.norm(got) / np.linalg.norm(expected)) >= 0.99999
        assert np.max(np.abs(got - expected)) <= 1e-5
        assert fake.searches[-1].limit == 2


@pytest.mark.slow
def test_rerank_orders_by_the_rerankers_scores(collection, corpus, embedder, reranker):
    docs, fake = collection
    hits = qw.search(docs, embedder, "a bicycle", k=3, reranker=reranker)
    assert fake.searches[-1].limit == 20  # candidates: max(4 * k, 20)
    assert "image" in fake.searches[-1].properties.non_ref_properties  # the reranker reads the stored image
    documents = [*TEXTS, {"image": corpus[1]}]
    expected = reranker.score("a bicycle", documents)
    by_id = {f"t{i}": s for i, s in enumerate(expected[:3])} | {"img": expected[3]}
    assert len(hits) == 3
    scores = [h.metadata.rerank_score for h in hits]
    assert scores == sorted(scores, reverse=True)
    for hit in hits:
        assert abs(hit.metadata.rerank_score - by_id[hit.properties["item_id"]]) <= 1e-5
        assert hit.metadata.distance is not None
    assert [h.properties["item_id"] for h in hits] == sorted(by_id, key=lambda i: -by_id[i])[:3]


def test_image_hit_is_reranked_from_its_blob():
    blob = base64.b64encode(b"\x89PNG...").decode()
    from qwen3vl_integrations.weaviate.search import rerank_document

    assert rerank_document({"modality": "image", "source": "/x.png", "image": blob}) == {"image": b"\x89PNG..."}
    assert rerank_document({"modality": "image", "source": "/x.png"}) == {"image": "/x.png"}
    assert rerank_document({"modality": "video", "source": "/v.mp4"}) == {"video": "/v.mp4"}
    assert rerank_document({"modality": "pdf_page", "source": "/d.pdf", "text": "page text"}) == "page text"


def test_bad_search_arguments(collection, embedder):
    docs, _ = collection
    with pytest.raises(EmptyInputError):
        qw.search(docs, embedder, "   ")
    with pytest.raises(ValueError, match="needs a reranker"):
        qw.search(docs, embedder, "x", rerank=True)
    with pytest.raises(ValueError, match="k must be"):
        qw.search(docs, embedder, "x", k=0)
