"""WeaviateStore as the sink of the ingest pipeline, and Qwen3VLWeaviate over it, through the real
weaviate-client against the in-memory Weaviate of ``weaviate_fake`` (the sync semantics of issue 13,
the batch failures of reliability case 57 in docs/robustness.md, the refusals before any write)."""

from __future__ import annotations

import json

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")

from weaviate.classes.query import Filter  # noqa: E402

from qwen3vl_integrations import CollectionMismatchError, DimensionMismatchError  # noqa: E402
from qwen3vl_integrations import weaviate as qw  # noqa: E402
from qwen3vl_integrations.ingest import IndexSettings, Row, Sink, remove_paths  # noqa: E402

from .folders import change_folder, check_changed_sync, make_folder  # noqa: E402
from .weaviate_fake import FakeWeaviate, connected_client  # noqa: E402


def refuse_marked(props: dict) -> str | None:
    return "refused by the server" if props.get("source", "").endswith("refuse.txt") else None


@pytest.fixture
def fake():
    return FakeWeaviate(refuse=refuse_marked, drop=lambda props: props.get("source", "").endswith("lost.txt"))


@pytest.fixture
def client(fake):
    with connected_client(fake) as client:
        yield client


def rows_of(store: qw.WeaviateStore) -> set[tuple]:
    """(source, page, offset, content sha256, id) of every object, read with the client's cursor."""
    objects = store.collection.iterator(return_properties=["source", "page", "offset", "metadata", "item_id"])
    return {(o.properties["source"], o.properties["page"], o.properties["offset"],
             json.loads(o.properties["metadata"])["sha256"], o.properties["item_id"]) for o in objects}


def settings(dim: int = 8, **preprocessing) -> IndexSettings:
    return IndexSettings("test-model", "f" * 24, dim, {"chunk_chars": 2000, **preprocessing})


def row(i: int, source: str, vector=None) -> Row:
    vector = np.random.default_rng(i).standard_normal(8).astype(np.float32) if vector is None else vector
    return Row(f"{i:032x}", f"{i + 100:032x}", vector / np.linalg.norm(vector), source, "text",
               snippet=f"chunk {i}", metadata={"sha256": f"{i:064x}", "end": 7})


@pytest.mark.slow
def test_modify_delete_add_copy_move_then_objects_equal_a_fresh_index(embedder, client, fake, tmp_path):
    folder = tmp_path / "folder"
    make_folder(folder)
    with qw.Qwen3VLWeaviate(embedder, client, collection="Sync") as index:
        assert isinstance(index.store, Sink)
        first = index.add([folder])
        assert (first.indexed, first.failed, index.store.count()) == (14, 0, 14)  # 8 + 3 + 2 pages
        change_folder(folder)
        report = index.add([folder])
        synced = rows_of(index.store)
        gone = str(folder / "t0001.txt")
        assert index.search("note", top_k=20, rerank=False, filter=Filter.by_property("source").equal(gone)) == []
    fresh = qw.Qwen3VLWeaviate(embedder, client, collection="Fresh")
    assert fresh.add([folder]).ok
    assert synced == rows_of(fresh.store)
    check_changed_sync(report, synced)
    # a re-run builds the same uuids, finds every object, and sends nothing
    uuids, batches = set(fake.objects["Sync"]), len(fake.batches)
    rerun = qw.Qwen3VLWeaviate(embedder, client, collection="Sync").add([folder])
    assert (rerun.indexed, rerun.unchanged, rerun.replaced, rerun.removed, rerun.duplicates) == (0, 15, 0, 0, 0)
    assert len(fake.batches) == batches and set(fake.objects["Sync"]) == uuids
    assert uuids == {str(qw.object_uuid(item_id)) for *_, item_id in synced}


def test_a_batch_with_one_invalid_object_reports_that_object(client, fake):
    """Reliability case 57: the object of the wrong property type surfaces through the client's
    failed_objects; the numpy float32 vectors of the others read back equal."""
    store = qw.WeaviateStore(client, "Docs", batch_size=10)
    store.create()
    vectors = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    objects = [qw.data_object(f"id{i}", vectors[i], qw.object_properties(
        item_id=f"id{i}", source=f"/d/{i}.txt", modality="text", text=f"chunk {i}")) for i in range(3)]
    objects[1].properties["page"] = "three"
    failed = store.write_objects(objects)
    assert [obj.uuid for obj, _ in failed] == [objects[1].uuid]
    assert "invalid int property 'page'" in failed[0][1] and "three" in failed[0][1]
    stored = store.collection.query.fetch_objects_by_ids([o.uuid for o in objects], include_vector=True)
    assert {o.uuid for o in stored.objects} == {objects[0].uuid, objects[2].uuid}
    for obj in stored.objects:
        index = int(obj.properties["item_id"][2:])
        np.testing.assert_array_equal(np.asarray(obj.vector["qwen3vl"], dtype=np.float32), vectors[index])
    longer = qw.data_object("id9", np.ones(9, dtype=np.float32), qw.object_properties(
        item_id="id9", source="/d/9.txt", modality="text"))
    [(refused, message)] = store.write_objects([longer])
    assert refused is longer and "length 9" in message


def test_write_reports_each_row_it_could_not_store_and_stores_the_rest(client, fake):
    store = qw.WeaviateStore(client, "Rows", batch_size=2)
    store.create(settings())
    nan = np.full(8, np.nan, dtype=np.float32)
    rows = [row(0, "/d/a.txt"), row(1, "/d/refuse.txt"), row(2, "/d/\udce9.txt"), row(3, "/d/b.txt", vector=nan),
            row(4, "/d/lost.txt"), row(5, "/d/old.txt"), row(5, "/d/new.txt")]  # id 5 twice: the last wins
    failed = {r.source: reason for r, reason in store.write(rows)}
    assert set(failed) == {"/d/refuse.txt", "/d/\udce9.txt", "/d/b.txt", "/d/lost.txt"}
    assert "refused by the server" in failed["/d/refuse.txt"]
    assert "UTF-8" in failed["/d/\udce9.txt"] and "non-finite" in failed["/d/b.txt"]
    assert failed["/d/lost.txt"] == "not found when read back after the write"
    assert store.existing_ids([r.id for r in rows]) == {rows[0].id, rows[5].id}
    assert store.count() == 2
    assert sorted(source for _, source in store.rows_under(["/d"])) == ["/d/a.txt", "/d/new.txt"]
    stored = store.vectors_for([rows[0].content_id, rows[6].content_id, "0" * 31 + "f"])
    assert set(stored) == {rows[0].content_id, rows[6].content_id}
    np.testing.assert_array_equal(stored[rows[0].content_id].vector, rows[0].vector)
    assert stored[rows[6].content_id].snippet == "chunk 5"
    assert store.delete([rows[0].id, "f" * 32]) == 2 and store.count() == 1


def test_rows_under_is_complete_past_the_query_limit_and_never_drops_a_row(client, fake):
    fake.max_results = 5  # QUERY_MAXIMUM_RESULTS of this server
    store = qw.WeaviateStore(client, "Many", max_results=5)
    store.create(settings())
    sources = [f"/a/{i}.txt" for i in range(7)] + ["/ab/x.txt", "/x*y/1.txt", "/xzzy/2.txt", "/a"]
    assert store.write([row(i, s) for i, s in enumerate(sources)]) == []
    under_a = {s for _, s in store.rows_under(["/a"])}  # 8 rows match: read with the cursor
    assert {f"/a/{i}.txt" for i in range(7)} | {"/a"} <= under_a
    assert {s for _, s in store.rows_under(["/x*y"])} >= {"/x*y/1.txt"}  # extra rows allowed, missing not
    assert remove_paths(store, ["/x*y"]) == 1 and remove_paths(store, ["/a"]) == 8
    assert sorted(s for _, s in store.rows_under(["/"])) == ["/ab/x.txt", "/xzzy/2.txt"]


def test_other_dim_model_settings_or_foreign_collection_is_refused_before_writing(embedder, client, fake, tmp_path):
    (tmp_path / "a.txt").write_text("some words")
    with qw.Qwen3VLWeaviate(embedder, client, collection="Full") as index:
        assert index.add([tmp_path]).indexed == 1
    batches = len(fake.batches)
    with pytest.raises(DimensionMismatchError, match="64-d"):
        qw.Qwen3VLWeaviate(embedder, client, collection="Full", dim=32).add([tmp_path])
    with pytest.raises(CollectionMismatchError, match="chunk_chars"):
        qw.Qwen3VLWeaviate(embedder, client, collection="Full", chunk_chars=500).add([tmp_path])
    qw.WeaviateStore(client, "Mine").create()  # a collection for your own objects: no settings record
    with pytest.raises(CollectionMismatchError, match="not written by qwen3vl_integrations"):
        qw.Qwen3VLWeaviate(embedder, client, collection="Mine").add([tmp_path])
    store = qw.WeaviateStore(client, "Mine")
    store.write_objects([qw.data_object("x", np.ones(3, dtype=np.float32), qw.object_properties(
        item_id="x", source="/x", modality="text"))])
    batches += 1
    with pytest.raises(DimensionMismatchError, match="3-d"):
        qw.Qwen3VLWeaviate(embedder, client, collection="Mine").add([tmp_path])
    assert len(fake.batches) == batches
    assert qw.Qwen3VLWeaviate(embedder, client, collection="Full").info()["rows"] == 1
