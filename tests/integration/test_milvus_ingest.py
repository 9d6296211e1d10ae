"""Ingestion into Milvus Lite: kill and resume, idempotence, failures, refusals, locking, search.

Reliability cases 50-56 of docs/robustness.md (resume after a kill, idempotent re-ingest, in-batch duplicates, poison rows, dimension
mismatch, read-after-write, a locked Milvus Lite file), on the tiny random checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations import DimensionMismatchError, StoreLockedError
from qwen3vl_integrations.ingest import Row
from qwen3vl_integrations.milvus import CollectionMismatchError, MilvusStore, MultimodalIndex, SourceItem, ingest

N_TEXT, N_IMAGE, N_PDF, N_VIDEO = 30, 12, 4, 4
ROOT = Path(__file__).resolve().parents[2]


# -- corpus -------------------------------------------------------------------------------------
def _write_video(path: Path, color: tuple, frames: int = 8) -> None:
    import av
    from PIL import Image

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for t in range(frames):
            image = Image.new("RGB", (64, 64), color)
            image.paste((255 - color[0], t * 30 % 256, 0), (t * 6, 20, t * 6 + 16, 36))
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_corpus(folder: Path) -> dict[str, str]:
    """50 files that each become exactly one item: name -> modality."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    kinds = {}
    for i in range(N_TEXT):
        (folder / f"{i:02d}_note.txt").write_text(f"Note {i}: the {['cat', 'rocket', 'coffee'][i % 3]} number {i} "
                                                 f"is described here in a few words ({rng.integers(1e9)}).")
        kinds[f"{i:02d}_note.txt"] = "text"
    for i in range(N_IMAGE):
        name = f"{i * 4 + 1:02d}_photo.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (48 + i, 64, 3), dtype=np.uint8)).save(folder / name)
        kinds[name] = "image"
    for i in range(N_PDF):
        page = Image.new("RGB", (200, 260), "white")
        ImageDraw.Draw(page).text((20, 20 + 10 * i), f"page of document {i}", fill="black")
        name = f"{i * 10 + 3:02d}_doc.pdf"
        page.save(folder / name, "PDF", resolution=72)
        kinds[name] = "pdf_page"
    for i in range(N_VIDEO):
        name = f"{i * 10 + 7:02d}_clip.mp4"
        _write_video(folder / name, (40 * i, 120, 200 - 30 * i))
        kinds[name] = "video"
    return kinds


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("corpus") / "files"
    return folder, make_corpus(folder)


def _fresh_input(path: Path, modality: str):
    if modality == "text":
        return path.read_text()
    if modality == "image":
        return {"image": str(path)}
    if modality == "video":
        return {"video": str(path)}
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    image = document[0].render(scale=150 / 72).to_pil().convert("RGB")
    document.close()
    return {"image": image}


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN3VL_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    return env


def _all_rows(db: Path, collection: str = "qwen3vl") -> list[dict]:
    with MilvusStore(str(db), collection) as store:
        store.ensure_loaded()
        return store.client.query(collection, filter="", output_fields=["id", "source", "modality", "vector"],
                                  consistency_level="Strong", limit=10000)


# -- kill and resume (cases 50, 51, 55) --------------------------------------------------------
def _index_then_kill(db: Path, folder: Path, checkpoint: Path, after_rows: int) -> int:
    cmd = [sys.executable, "-m", "qwen3vl_integrations.cli", "index", str(folder), "--db", str(db),
           "--model", str(checkpoint), "--device", "cpu", "--batch-size", "2", "--no-progress", "-v"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env(),
                            cwd=str(ROOT))
    written, seen = 0, []
    try:
        for line in proc.stderr:
            seen.append(line)
            match = re.search(r"committed \d+ rows \((\d+) new so far\)", line)
            if match and int(match.group(1)) >= after_rows:
                written = int(match.group(1))
                time.sleep(random.uniform(0.0, 0.3))  # land anywhere in the next batch: embed, upsert or verify
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert written, f"the indexer ended before writing {after_rows} rows:\n" + "".join(seen[-30:])
    return written


@pytest.mark.slow
def test_sigkill_midway_then_resume_gives_exactly_the_corpus(corpus, tiny_checkpoint, embedder, tmp_path):
    folder, kinds = corpus
    db = tmp_path / "resume.db"
    written = _index_then_kill(db, folder, tiny_checkpoint, after_rows=10)
    rows = _all_rows(db)
    assert written <= len(rows) < len(kinds), "the kill did not land midway"
    assert len({r["id"] for r in rows}) == len(rows)

    with MultimodalIndex(embedder, str(db), batch_size=8) as index:
        report = index.add([folder])
        assert report.ok, report.failures
        assert report.unchanged == len(rows) and report.indexed == len(kinds) - len(rows)
        assert index.search("the cat number 3", top_k=3)  # Strong read right after the write (case 55)

    rows = _all_rows(db)
    assert len(rows) == len(kinds) == 50
    assert len({r["id"] for r in rows}) == 50
    by_source = {Path(r["source"]).name: r for r in rows}
    assert set(by_source) == set(kinds)
    names = sorted(kinds)
    fresh = embedder.embed_documents([_fresh_input(folder / n, kinds[n]) for n in names])
    for name, vector in zip(names, fresh):
        row = by_source[name]
        assert row["modality"] == kinds[name]
        stored = np.asarray(row["vector"], dtype=np.float64)
        cosine = stored @ vector / (np.linalg.norm(stored) * np.linalg.norm(vector))
        assert cosine >= 0.999, (name, cosine)

    # a third run (through the command line) adds nothing
    out = subprocess.run([sys.executable, "-m", "qwen3vl_integrations.cli", "index", str(folder), "--db", str(db),
                          "--model", str(tiny_checkpoint), "--device", "cpu", "--json", "-q"],
                         capture_output=True, text=True, env=_env(), cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert (report["indexed"], report["unchanged"], report["failed"], report["rows"]) == (0, 50, 0, 50)
    assert len(_all_rows(db)) == 50


# -- failures, duplicates, poison rows (cases 52, 53) ---------------------------------------------
def test_failed_items_are_recorded_and_the_rest_go_in(embedder, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("a perfectly good text file")
    good_jpeg = (ROOT / "examples" / "media" / "coffee.jpg").read_bytes()
    (folder / "good.jpg").write_bytes(good_jpeg)
    (folder / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "empty.md").write_text("   \n")
    with MultimodalIndex(embedder, str(tmp_path / "f.db")) as index:
        report = index.add([folder, tmp_path / "missing.png"])
        assert (report.indexed, report.failed, report.skipped) == (2, 4, 1)
        assert not report.ok
        reasons = {Path(f.source).name: f.code for f in report.failures}
        assert reasons == {"truncated.jpg": "media_decode", "broken.pdf": "media_decode", "latin1.txt": "not_text",
                           "missing.png": "not_found"}
        assert all(f.message for f in report.failures)
        assert index.store.count() == 2


def test_duplicate_ids_in_one_batch_last_wins(embedder, tmp_path):
    with MultimodalIndex(embedder, str(tmp_path / "d.db")) as index:
        index.check() or index.store.create(index.settings)

        def item(text: str, snippet: str) -> SourceItem:
            return SourceItem("same-id", "memory://x", "text", lambda: (text, snippet))

        report = ingest([item("first", "first"), item("second", "second")], index.store, embedder, dim=index.dim)
        assert (report.indexed, report.duplicates) == (1, 1)
        row = index.store.fetch(["same-id"], fields=("snippet",))["same-id"]
        assert row["snippet"] == "second"


def test_poison_row_is_bisected_out(embedder, tmp_path):
    with MultimodalIndex(embedder, str(tmp_path / "p.db")) as index:
        index.check() or index.store.create(index.settings)
        rng = np.random.default_rng(0)
        rows = [Row(f"id{i}", f"c{i}", rng.normal(size=index.dim), "/s", "text", snippet="x") for i in range(9)]
        rows.insert(4, Row("poison", "cp", np.ones(index.dim + 3), "/s", "text", snippet="x"))
        rows.append(Row("long", "cl", rng.normal(size=index.dim), "/" + "s" * 5000, "text"))
        failed = index.store.write(rows)
        assert [row.id for row, _ in failed] == ["long", "poison"]
        assert "4096-byte" in failed[0][1] and "dim" in failed[1][1]
        assert index.store.count() == 9


# -- refusals before any write (cases 51, 54) ---------------------------------------------------------
def test_other_dim_or_model_is_refused_before_writing(embedder, tmp_path):
    db, text = str(tmp_path / "m.db"), tmp_path / "t.txt"
    text.write_text("one small text")
    other = tmp_path / "other.txt"
    other.write_text("another small text")
    with MultimodalIndex(embedder, db, collection="full") as index:
        assert index.add([text]).indexed == 1
    with MultimodalIndex(embedder, db, collection="small", dim=32) as index:  # second collection, other dim
        assert index.add([text]).indexed == 1
    full_dim = embedder.dim
    for collection, dim, stored in (("full", 32, full_dim), ("small", None, 32)):
        with MultimodalIndex(embedder, db, collection=collection, dim=dim) as index:
            with pytest.raises(DimensionMismatchError) as info:
                index.add([other])
            assert str(stored) in str(info.value) and str(dim or full_dim) in str(info.value)
            assert index.store.count() == 1
    with MultimodalIndex(embedder, db, collection="full", chunk_chars=500) as index:
        with pytest.raises(CollectionMismatchError, match="chunk_chars"):
            index.add([other])
        index.settings = dataclasses.replace(index.settings, model="someone/else", fingerprint="0" * 24)
        with pytest.raises(CollectionMismatchError, match="someone/else"):
            index.add([other])
        with pytest.raises(CollectionMismatchError):
            index.search("text")
        assert index.store.count() == 1


# -- locking (case 56) ------------------------------------------------------------------------------
def test_database_open_in_another_process_raises_store_locked(tmp_path, capsys):
    db = tmp_path / "locked.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pymilvus import MilvusClient\nMilvusClient(sys.argv[1])\n"
                               "print('ready', flush=True)\ntime.sleep(120)", str(db)],
        stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError, match="another process") as info:
            MilvusStore(str(db))
        assert "retry" in str(info.value) and info.value.retryable
        from qwen3vl_integrations.cli import main

        assert main(["info", "--db", str(db)]) == 75
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another process" in err[0]
    finally:
        holder.kill()
        holder.wait()
    with MilvusStore(str(db)) as store:  # free again once the holder is gone
        assert not store.exists()


# -- search -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_search_by_text_image_filter_and_rerank(embedder, reranker, tmp_path):
    media = ROOT / "examples" / "media"
    with MultimodalIndex(embedder, str(tmp_path / "s.db"), reranker=reranker) as index:
        assert index.add([media]).ok
        hits = index.search("a tabby cat", top_k=5)
        assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
        assert all(h.rerank_score is not None and 0 <= h.rerank_score <= 1 for h in hits)
        assert [h.rerank_score for h in hits] == sorted((h.rerank_score for h in hits), reverse=True)
        assert all(h.source and -1 <= h.score <= 1 and h.vector_rank >= 1 for h in hits)
        plain = index.search("a tabby cat", top_k=5, rerank=False)
        assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)
        assert all(h.rerank_score is None and h.vector_rank == h.rank for h in plain)
        pages = index.search(image=str(media / "cat_chelsea.jpg"), filter='modality == "pdf_page"', top_k=3)
        assert sorted(h.page for h in pages) == [1, 2, 3]
        assert {Path(h.source).name for h in pages} == {"field_report.pdf"}
        mixed = index.search("cat", image=str(media / "coffee.jpg"), top_k=2, filter='modality in ["image", "video"]')
        assert len(mixed) == 2 and all(h.modality in ("image", "video") for h in mixed)
        info = index.info()
        assert info["rows"] == 13 and info["modalities"] == {"text": 3, "image": 6, "pdf_page": 3, "video": 1}


def test_long_text_is_chunked_with_offsets(embedder, tmp_path):
    from qwen3vl_integrations.milvus import chunk_text

    paragraphs = [f"Paragraph {i}. " + " ".join(f"word{i}_{j}" for j in range(60)) for i in range(40)]
    text = "\n\n".join(paragraphs)
    chunks = list(chunk_text(text, 1000, 100))
    assert all(text[offset:offset + len(chunk)] == chunk and len(chunk) <= 1000 for offset, chunk in chunks)
    covered = np.zeros(len(text), bool)
    for offset, chunk in chunks:
        covered[offset:offset + len(chunk)] = True
    assert covered.all()
    assert all(chunk.endswith("\n\n") or chunk.endswith(" ") or offset + len(chunk) == len(text)
               for offset, chunk in chunks)
    (tmp_path / "long.md").write_text(text)
    with MultimodalIndex(embedder, str(tmp_path / "c.db"), chunk_chars=1000, chunk_overlap=100) as index:
        report = index.add([tmp_path / "long.md"])
        assert report.indexed == len(chunks) > 5
        hits = index.search("word7_3", top_k=len(chunks), rerank=False)
        assert sorted(h.offset for h in hits) == [offset for offset, _ in chunks]
        assert all(h.snippet == text[h.offset:h.offset + len(h.snippet)] for h in hits)
