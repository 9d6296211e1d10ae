"""``qwen3vl index --ray`` and ``sync_on_ray`` on a real local Ray (2 CPUs, tiny checkpoint): the rows and
report of a local ``qwen3vl index`` of the same folder, a re-run that adds nothing, the sync of a changed
folder, a bad file that is one failure, and worker writes into a Milvus server that survive a killed actor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.cli import main  # noqa: E402
from qwen3vl_integrations.ingest import SourceOptions, sync  # noqa: E402
from qwen3vl_integrations.milvus import MilvusStore  # noqa: E402
from qwen3vl_integrations.ray import MilvusUpserts, describe_model, sync_on_ray  # noqa: E402
from qwen3vl_integrations.ray import sync as sync_module  # noqa: E402
from tests.conftest import cosine  # noqa: E402
from tests.integration.ray_support import STAGE_CPUS, actor_processes, start_ray  # noqa: E402

pytestmark = pytest.mark.slow

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"
FOLDER = ("coffee.txt", "cats.md", "space_notes.md", "coffee.jpg", "cat_chelsea.jpg", "field_report.pdf",
          "bouncing_ball.mp4")
FIELDS = ["id", "content_id", "vector", "source", "modality", "page", "offset", "snippet", "metadata"]


@pytest.fixture(scope="module")
def ray_session():
    start_ray(ray)
    yield
    ray.shutdown()


def stored_rows(db: str, collection: str = "qwen3vl") -> dict[str, dict]:
    with MilvusStore(db, collection) as store:
        store.ensure_loaded()
        return {row["id"]: row for row in store._query("", FIELDS, limit=16384)}


def index(capsys, *argv) -> tuple[int, dict]:
    code = main(["index", *argv, "--json", "--no-progress", "--batch-size", "4"])
    return code, json.loads(capsys.readouterr().out)


def same_report(ray_report: dict, local_report: dict) -> None:
    strip = {"seconds", "db"}
    assert {k: v for k, v in ray_report.items() if k not in strip} == {
        k: v for k, v in local_report.items() if k not in strip}


def assert_same_rows(ray_rows: dict, local_rows: dict) -> None:
    assert sorted(ray_rows) == sorted(local_rows)
    for key, local in local_rows.items():
        row = ray_rows[key]
        assert {f: row[f] for f in FIELDS if f != "vector"} == {f: local[f] for f in FIELDS if f != "vector"}
        assert cosine(row["vector"], local["vector"]) >= 0.99999


@pytest.fixture(scope="module")
def indexed(ray_session, tiny_checkpoint, tmp_path_factory):
    """The folder (texts, images, a PDF, a video, a copy of an image and a bad image) indexed with --ray
    and locally, into two databases: (folder, ray db, local db, ray report, local report)."""
    root = tmp_path_factory.mktemp("ray-index")
    folder = root / "docs"
    folder.mkdir()
    for name in FOLDER:
        shutil.copy(MEDIA / name, folder)
    shutil.copy(MEDIA / "coffee.jpg", folder / "coffee copy.jpg")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    return folder, str(root / "ray.db"), str(root / "local.db")


def test_ray_index_equals_local_index(indexed, tiny_checkpoint, capsys):
    folder, ray_db, local_db = indexed
    model = ["--model", str(tiny_checkpoint)]
    ray_code, ray_report = index(capsys, str(folder), "--db", ray_db, *model, "--ray")
    local_code, local_report = index(capsys, str(folder), "--db", local_db, *model)
    assert ray_code == local_code == 1  # the bad file
    same_report(ray_report, local_report)
    assert ray_report["duplicates"] == 1 and ray_report["indexed"] == ray_report["rows"] - 1
    assert [(f["source"], f["code"]) for f in ray_report["failures"]] == [(str(folder / "bad.jpg"), "media_decode")]
    ray_rows = stored_rows(ray_db)
    assert_same_rows(ray_rows, stored_rows(local_db))
    assert {row["modality"] for row in ray_rows.values()} == {"text", "image", "pdf_page", "video"}
    assert {row["source"] for row in ray_rows.values()} == {str(p) for p in folder.iterdir() if p.name != "bad.jpg"}


@pytest.fixture(scope="module")
def facts(ray_session, tiny_checkpoint):
    """What ``describe_model`` says of the checkpoint with the CLI's default chunking (one load, in a worker)."""
    return describe_model(str(tiny_checkpoint), model_name=str(tiny_checkpoint))


class RecordingProgress:
    """A tqdm-like progress that records what it is told."""

    def __init__(self):
        self.files, self.postfix = 0, {}

    def update(self, files: int) -> None:
        self.files += files

    def set_postfix(self, refresh: bool = True, **counts) -> None:
        self.postfix = counts


def test_a_rerun_adds_nothing_and_a_changed_folder_syncs_like_a_local_run(indexed, tiny_checkpoint, facts, capsys):
    folder, ray_db, local_db = indexed
    before = stored_rows(ray_db)
    with MilvusStore(ray_db) as store:
        again = sync_on_ray([folder], store, str(tiny_checkpoint), settings=facts.settings, options=facts.options,
                            **STAGE_CPUS)
    assert (again.indexed, again.duplicates, again.removed, again.failed) == (0, 0, 0, 1)
    assert again.unchanged == len(before) and sorted(stored_rows(ray_db)) == sorted(before)
    (folder / "bad.jpg").unlink()
    (folder / "cat_chelsea.jpg").unlink()
    (folder / "coffee.txt").write_text("Coffee is brewed from roasted beans; this text changed.")
    progress = RecordingProgress()
    with MilvusStore(ray_db) as store:
        changed = sync_on_ray([folder], store, str(tiny_checkpoint), settings=facts.settings, options=facts.options,
                              progress=progress, batch_size=2, **STAGE_CPUS)
    local_code, local_changed = index(capsys, str(folder), "--db", local_db, "--model", str(tiny_checkpoint))
    assert local_code == 0
    same_report({**changed.to_dict(), "collection": "qwen3vl", "rows": len(stored_rows(ray_db))}, local_changed)
    assert (changed.indexed, changed.replaced, changed.removed) == (1, 1, 1)
    assert progress.files == changed.files == len(list(folder.iterdir()))
    assert progress.postfix == {"new": 1, "unchanged": changed.unchanged, "failed": 0}
    assert_same_rows(stored_rows(ray_db), stored_rows(local_db))


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A Milvus server on 127.0.0.1 (Milvus Lite's gRPC server, in this process) that Ray workers reach by URI."""
    from milvus_lite.adapter.grpc.server import start_server_in_thread

    server, db, port = start_server_in_thread(str(tmp_path_factory.mktemp("milvus-server") / "data"), port=0)
    yield f"http://127.0.0.1:{port}"
    server.stop(grace=1)
    db.close()


@dataclass(frozen=True)
class GatedUpserts(MilvusUpserts):
    """Milvus upserts whose first write waits for ``gate`` (and says it is waiting): the job stays
    unfinished while the test kills the model actor."""

    gate: str = ""

    def open(self):
        return _GatedSink(super().open(), self.gate)


class _GatedSink:
    def __init__(self, sink, gate: str):
        self.sink, self.gate = sink, gate

    def write(self, rows):
        if not os.path.exists(self.gate):
            Path(self.gate + ".waiting").touch()
            deadline = time.monotonic() + 120
            while not os.path.exists(self.gate) and time.monotonic() < deadline:
                time.sleep(0.05)
        return self.sink.write(rows)


def kill_the_actor_when_the_writer_waits(gate: Path, killed: list) -> None:
    deadline = time.monotonic() + 120
    while not Path(str(gate) + ".waiting").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.extend(actor_processes())
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    gate.touch()


def test_workers_upsert_into_a_server_and_a_killed_actor_costs_no_row(ray_session, tiny_checkpoint, embedder,
                                                                     milvus_server, tmp_path, monkeypatch):
    folder, gate, killed = tmp_path / "notes", tmp_path / "gate", []
    folder.mkdir()
    (folder / "log.txt").write_text(" ".join(f"Entry {k}: the pump ran for {k * 7} minutes." for k in range(30)))
    facts = describe_model(str(tiny_checkpoint), chunk_chars=96, chunk_overlap=0)
    monkeypatch.setattr(sync_module, "BLOCK_ROWS", 1)  # one item per block: the actor has many calls to make
    monkeypatch.setattr(ray.data.DataContext.get_current(), "max_tasks_in_flight_per_actor", 1)
    killer = threading.Thread(target=kill_the_actor_when_the_writer_waits, args=(gate, killed), daemon=True)
    killer.start()
    with MilvusStore(milvus_server, "server_rows") as store:
        report = sync_on_ray([folder], store, str(tiny_checkpoint), settings=facts.settings, options=facts.options,
                             writer=GatedUpserts(milvus_server, "server_rows", gate=str(gate)), batch_size=1,
                             concurrency=1, **STAGE_CPUS)
        killer.join(5)
        assert len(killed) == 1 and killed[0] not in actor_processes()  # killed while the job was unfinished
        chunks = report.indexed
        assert chunks >= 12 and report.failed == 0 and store.count() == chunks  # every item, once
    with MilvusStore(str(tmp_path / "local.db")) as local:
        local_report = sync([folder], local, embedder, settings=facts.settings, options=SourceOptions.for_embedder(
            embedder, chunk_chars=96, chunk_overlap=0))
    assert local_report.indexed == chunks
    assert_same_rows(stored_rows(milvus_server, "server_rows"), stored_rows(str(tmp_path / "local.db")))


@dataclass(frozen=True)
class LocalBulkLoad:
    """The bulk path with pymilvus' ``LocalBulkWriter`` (files on this machine) in place of its
    ``RemoteBulkWriter``, and, in place of the server's ``bulk_import`` (Milvus Lite serves no import
    jobs), a ``finish`` that loads those Parquet files into the collection and lists what it loaded."""

    uri: str
    collection: str
    folder: str
    batch_rows: int = 4
    deferred: bool = True

    def open(self):
        from pymilvus import CollectionSchema
        from pymilvus.bulk_writer import BulkFileType, LocalBulkWriter

        from qwen3vl_integrations.ray.bulk import BulkFiles

        with MilvusStore(self.uri, self.collection) as store:
            schema = CollectionSchema.construct_from_dict(store.client.describe_collection(self.collection))
        return BulkFiles(LocalBulkWriter(schema=schema, local_path=self.folder, file_type=BulkFileType.PARQUET))

    def finish(self, files: list[list[str]]) -> None:
        import pyarrow.parquet as pq

        rows = [{**row, "metadata": json.loads(row["metadata"])} for group in files for name in group
                for row in pq.read_table(name).to_pylist()]
        with MilvusStore(self.uri, self.collection) as store:
            assert store.count() == 0  # nothing is visible before the import
            store.client.upsert(self.collection, rows)
        Path(self.folder, "imported.json").write_text(json.dumps(files))


def test_the_bulk_path_writes_files_and_commits_after_the_import(ray_session, tiny_checkpoint, facts, milvus_server,
                                                                  indexed, tmp_path):
    pytest.importorskip("pymilvus.bulk_writer")
    folder, ray_db, _ = indexed
    writer = LocalBulkLoad(milvus_server, "bulk_rows", str(tmp_path / "bulk"))
    with MilvusStore(milvus_server, "bulk_rows") as store:
        report = sync_on_ray([folder], store, str(tiny_checkpoint), settings=facts.settings, options=facts.options,
                             writer=writer, batch_size=2, **STAGE_CPUS)
        assert report.failed == int((folder / "bad.jpg").exists())  # whether the test that removes it ran
        assert store.count() == report.indexed + report.duplicates > 0
    files = json.loads((tmp_path / "bulk" / "imported.json").read_text())
    assert len(files) >= 2 and all(name.endswith(".parquet") for group in files for name in group)
    assert_same_rows(stored_rows(milvus_server, "bulk_rows"), stored_rows(ray_db))


def weaviate_rows(fake) -> dict[str, tuple[dict, list]]:
    """The objects of the in-memory Weaviate by uuid: (properties, vector)."""
    from qwen3vl_integrations.weaviate.config import DEFAULT_VECTOR

    return {uuid: (props, vectors[DEFAULT_VECTOR]) for uuid, (props, vectors) in fake.objects["Qwen3vl"].items()}


def test_ray_sync_into_weaviate_behaves_as_a_local_index(ray_session, tiny_checkpoint, facts, tmp_path, capsys):
    """Weaviate the same way: workers upsert (batch import by uuid), same report, same objects."""
    pytest.importorskip("weaviate")
    from qwen3vl_integrations.ray import WeaviateUpserts
    from qwen3vl_integrations.weaviate import WeaviateStore
    from tests.integration.weaviate_fake import FakeWeaviate, running

    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("coffee.txt", "coffee.jpg", "cats.md"):
        shutil.copy(MEDIA / name, folder)
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
    ray_side, local_side = FakeWeaviate(), FakeWeaviate()
    model = ["--model", str(tiny_checkpoint)]
    with running(ray_side) as (http, grpc), running(local_side) as (local_http, local_grpc):
        uri = f"weaviate://127.0.0.1:{http}?grpc_port={grpc}"
        with WeaviateStore.open(uri, "qwen3vl") as store:
            report = sync_on_ray([folder], store, str(tiny_checkpoint), settings=facts.settings, options=facts.options,
                                 writer=WeaviateUpserts(uri, "qwen3vl"), **STAGE_CPUS)
        local_code, local_report = index(capsys, str(folder), "--db",
                                         f"weaviate://127.0.0.1:{local_http}?grpc_port={local_grpc}", *model)
    assert local_code == 1 and report.indexed == 3
    same_report({**report.to_dict(), "collection": "qwen3vl", "rows": 3}, local_report)
    ours, theirs = weaviate_rows(ray_side), weaviate_rows(local_side)
    assert sorted(ours) == sorted(theirs)
    for uuid, (props, vector) in theirs.items():
        assert ours[uuid][0] == props and cosine(ours[uuid][1], vector) >= 0.99999
