"""The collection mirrors the indexed folder (issue 13: stale rows, copies, removal, repair), on Milvus Lite."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.milvus import MilvusStore, MultimodalIndex
from qwen3vl_integrations.milvus.store import string_literal

from .folders import MEDIA, change_folder, check_changed_sync, make_folder


def rows_of(store: MilvusStore) -> set[tuple]:
    """(source, page, offset, content sha256) of every row, and the ids."""
    store.ensure_loaded()
    rows = store.client.query(store.collection, filter="", output_fields=["id", "source", "page", "offset", "metadata"],
                              consistency_level="Strong", limit=16384)
    return {(r["source"], r["page"], r["offset"], r["metadata"]["sha256"], r["id"]) for r in rows}


def test_modify_delete_add_copy_move_then_rows_equal_a_fresh_index(embedder, tmp_path):
    folder = tmp_path / "folder"
    make_folder(folder)
    db = str(tmp_path / "sync.db")
    with MultimodalIndex(embedder, db) as index:
        first = index.add([folder])
        assert (first.indexed, first.failed, index.store.count()) == (14, 0, 14)  # 8 + 3 + 2 pages
        change_folder(folder)  # modify, overwrite, delete, add, copy, move
        report = index.add([folder])
        synced = rows_of(index.store)
        gone = str(folder / "t0001.txt")
        assert index.search("note", top_k=20, rerank=False, filter=f"source == {string_literal(gone)}") == []
    with MultimodalIndex(embedder, db, collection="fresh") as fresh:
        assert fresh.add([folder]).ok
        assert synced == rows_of(fresh.store)
    check_changed_sync(report, synced)
    again = MultimodalIndex(embedder, db)
    with again:
        rerun = again.add([folder])
        assert (rerun.indexed, rerun.unchanged, rerun.replaced, rerun.removed, rerun.duplicates) == (0, 15, 0, 0, 0)


def test_identical_files_are_each_found_by_their_own_path(embedder, tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    (folder / "a.txt").write_text("exactly the same words")
    (folder / "b.txt").write_text("exactly the same words")
    with MultimodalIndex(embedder, str(tmp_path / "same.db")) as index:
        report = index.add([folder])
        assert (report.indexed, report.duplicates, index.store.count()) == (1, 1, 2)
        for name in ("a.txt", "b.txt"):
            [hit] = index.search("same", top_k=5, rerank=False, filter=f"source == {string_literal(str(folder / name))}")
            assert hit.source == str(folder / name)
        (folder / "b.txt").write_text("now b is different")
        report = index.add([folder])
        assert (report.indexed, report.unchanged, report.replaced) == (1, 1, 1)
        assert sorted(Path(h.source).name for h in index.search("words", top_k=5, rerank=False)) == ["a.txt", "b.txt"]
        # a copy added later reuses the stored vector: nothing re-embedded
        shutil.copy(folder / "a.txt", folder / "c.txt")
        report = index.add([folder / "c.txt"])
        assert (report.indexed, report.duplicates) == (0, 1)
        vectors = index.store.fetch([h.id for h in index.search("same", top_k=5, rerank=False)], fields=("vector",))
        by_source = {row["id"]: np.asarray(row["vector"]) for row in vectors.values()}
        assert len(by_source) == 3


def test_rows_under_other_paths_are_untouched_and_remove_deletes_them(embedder, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "x.txt").write_text(f"text in {folder.name}")
        (folder / "y.txt").write_text(f"more text in {folder.name}")
    with MultimodalIndex(embedder, str(tmp_path / "two.db")) as index:
        assert index.add([one]).indexed == 2 and index.add([two]).indexed == 2
        (two / "y.txt").unlink()
        index.add([one])
        assert index.store.count() == 4
        report = index.add([two])
        assert index.store.count() == 3 and report.removed == 1
        shutil.rmtree(one)
        missing = index.add([one])  # a path that does not exist: a failure, its rows kept
        assert (missing.failed, missing.removed, index.store.count()) == (1, 0, 3)
        assert missing.failures[0].code == "not_found"
        assert index.remove([one]) == 2 and index.store.count() == 1
        assert index.remove([tmp_path / "nothing"]) == 0


def test_a_folder_named_like_a_prefix_is_not_under_it(embedder, tmp_path):
    a, ab = tmp_path / "a", tmp_path / "a b"
    for folder in (a, ab, tmp_path / "a_"):
        folder.mkdir()
        (folder / "n.txt").write_text(f"note in {folder.name}")
    with MultimodalIndex(embedder, str(tmp_path / "prefix.db")) as index:
        assert index.add([tmp_path]).indexed == 3
        (a / "n.txt").unlink()
        report = index.add([a])
        assert index.store.count() == 2 and report.removed == 1
        assert index.remove([a]) == 0 and index.remove([tmp_path / "a_"]) == 1


def test_missing_vector_index_is_created_on_the_next_run(embedder, tmp_path):
    (tmp_path / "n.txt").write_text("a note")
    db = str(tmp_path / "repair.db")
    with MultimodalIndex(embedder, db) as index:
        index.store.create(index.settings)
        client = index.store.client
        client.release_collection(index.store.collection)
        client.drop_index(index.store.collection, "vector")  # as if killed between create_collection and create_index
        assert client.list_indexes(index.store.collection, field_name="vector") == []
    with MultimodalIndex(embedder, db) as index:
        report = index.add([tmp_path / "n.txt"])
        assert report.indexed == 1
        assert index.store.client.list_indexes(index.store.collection, field_name="vector") == ["vector"]
        assert [h.source for h in index.search("note", top_k=1, rerank=False)] == [str(tmp_path / "n.txt")]


def test_progress_advances_over_a_fixed_total_of_files(embedder, tmp_path):
    class Probe:
        total = 0

        def __init__(self):
            self.n, self.totals = 0, set()

        def update(self, n=1):
            self.n += n
            self.totals.add(self.total)

        def set_postfix(self, **kwargs):
            pass

        def refresh(self):
            self.totals.add(self.total)

    from qwen3vl_integrations.ingest import count_entries

    total = count_entries([MEDIA])
    probe = Probe()
    probe.total = total
    with MultimodalIndex(embedder, str(tmp_path / "p.db"), batch_size=4) as index:
        report = index.add([MEDIA], progress=probe)
    assert report.files == total == 11 and probe.n == total and probe.totals == {total}
