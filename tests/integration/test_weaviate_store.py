"""WeaviateStore and search through the real weaviate-client against an in-memory Weaviate.

``weaviate_fake.FakeWeaviate`` answers the REST and gRPC calls the client makes (Weaviate itself
cannot run here); the tests read the requests the client really sent.
"""

from __future__ import annotations

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")

from weaviate.classes.query import Filter  # noqa: E402
from weaviate.collections.classes.config import _CollectionConfigCreate  # noqa: E402

from qwen3vl_integrations import StoreError  # noqa: E402
from qwen3vl_integrations import weaviate as qw  # noqa: E402

from .weaviate_fake import FakeWeaviate, connected_client  # noqa: E402


@pytest.fixture
def fake():
    return FakeWeaviate(refuse=lambda props: "bad item" if props.get("text") == "REFUSE" else None)


@pytest.fixture
def client(fake):
    with connected_client(fake) as client:
        yield client


def text_object(i: int, text: str, dim: int = 4):
    vector = np.zeros(dim, dtype=np.float32)
    vector[i % dim] = 1.0
    item_id = f"{i:032x}"
    props = qw.object_properties(item_id=item_id, source=f"/docs/{i}.txt", modality="text", text=text, offset=10 * i)
    return qw.data_object(item_id, vector, props)


def test_create_posts_the_configured_schema_once(client, fake):
    store = qw.WeaviateStore(client, "Docs")
    assert not store.exists()
    store.create(with_reranker=True)
    expected = _CollectionConfigCreate(**qw.multimodal_collection("Docs", with_reranker=True))._to_dict()
    assert fake.posted == [expected] and list(fake.schemas) == ["Docs"]
    assert store.exists()
    store.create()  # an existing collection is left as it is
    assert fake.posted == [expected]


def test_write_sends_uuids_named_vectors_and_properties(client, fake):
    store = qw.WeaviateStore(client, "Docs", batch_size=2)
    store.create()
    objects = [text_object(i, f"chunk {i}") for i in range(5)]
    assert store.write_objects(objects) == []
    assert [len(b.objects) for b in fake.batches] == [2, 2, 1]  # the client's batch call, batch_size at a time
    stored = fake.objects["Docs"]
    assert set(stored) == {str(o.uuid) for o in objects}
    for obj in objects:
        props, vectors = stored[str(obj.uuid)]
        assert list(vectors) == ["qwen3vl"]
        np.testing.assert_array_equal(vectors["qwen3vl"], np.asarray(obj.vector["qwen3vl"], dtype=np.float32))
        assert props == {**obj.properties, "page": float(obj.properties["page"]),
                         "offset": float(obj.properties["offset"])}  # gRPC Struct numbers are doubles


def test_refused_objects_are_reported_item_by_item(client, fake):
    store = qw.WeaviateStore(client, "Docs", batch_size=3)
    store.create()
    objects = [text_object(0, "fine"), text_object(1, "REFUSE"), text_object(2, "fine too"),
               text_object(3, "REFUSE")]  # the second call has only refused objects: the client raises for it
    failed = store.write_objects(objects)
    assert [obj.uuid for obj, _ in failed] == [objects[1].uuid, objects[3].uuid]
    assert all("bad item" in message for _, message in failed)
    assert set(fake.objects["Docs"]) == {str(objects[0].uuid), str(objects[2].uuid)}


def test_existing_finds_stored_items_and_a_rerun_adds_nothing(client, fake):
    store = qw.WeaviateStore(client, "Docs")
    store.create()
    objects = [text_object(i, f"chunk {i}") for i in range(3)]
    store.write_objects(objects[:2])
    ids = [o.properties["item_id"] for o in objects]
    assert store.existing_ids(ids) == set(ids[:2])
    assert store.existing_ids([]) == set()
    rebuilt = [text_object(i, f"chunk {i}") for i in range(3)]  # a re-run builds the same objects
    assert [o.uuid for o in rebuilt] == [o.uuid for o in objects]
    store.write_objects(rebuilt)
    assert len(fake.objects["Docs"]) == 3


def test_unreachable_weaviate_is_a_store_error(client, fake):
    fake.stop()
    with pytest.raises(StoreError, match="Docs"):
        qw.WeaviateStore(client, "Docs").exists()


def test_search_filters_ranks_by_distance_and_returns_client_objects(client, fake):
    store = qw.WeaviateStore(client, "Docs")
    store.create()
    store.write_objects([text_object(i, f"chunk {i}") for i in range(4)])

    class AxisEmbedder:  # deterministic query vectors, so the expected order is known
        def embed_queries(self, items, instruction=None, dim=None):
            return np.array([[0.9, 0.1, 0.0, 0.0]], dtype=np.float32)

    hits = qw.search(store.collection, AxisEmbedder(), "anything", k=2)
    assert [h.properties["item_id"] for h in hits] == [f"{0:032x}", f"{1:032x}"]
    assert hits[0].metadata.distance < hits[1].metadata.distance
    request = fake.searches[-1]
    assert request.limit == 2 and "image" not in request.properties.non_ref_properties
    only = qw.search(store.collection, AxisEmbedder(), "anything", k=3,
                     filters=Filter.by_property("source").equal("/docs/3.txt"))
    assert [h.properties["source"] for h in only] == ["/docs/3.txt"]
