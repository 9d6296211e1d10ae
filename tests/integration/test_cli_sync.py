"""The ``qwen3vl`` command line after issue 13: exit codes, quiet output, escaping, remove, reranking honesty."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.cli import main
from qwen3vl_integrations.ingest import IndexSettings
from qwen3vl_integrations.milvus import MilvusStore

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "examples" / "media"


def _index_folder(folder: Path, db: str, model: str, names=("coffee.txt", "coffee.jpg", "cats.md", "field_report.pdf")):
    folder.mkdir()
    for name in names:
        shutil.copy(MEDIA / name, folder)
    assert main(["index", str(folder), "--db", db, "--model", model, "-q"]) == 0
    return folder, db, model


@pytest.fixture(scope="module")
def shared(tiny_checkpoint, tmp_path_factory):
    """A small folder indexed once for the tests that only read it: (folder, db, model)."""
    root = tmp_path_factory.mktemp("shared")
    return _index_folder(root / "docs", str(root / "c.db"), str(tiny_checkpoint))


@pytest.fixture
def indexed(clean_env, tiny_checkpoint, capsys):
    """The same, for a test that changes it."""
    out = _index_folder(clean_env / "docs", str(clean_env / "c.db"), str(tiny_checkpoint))
    capsys.readouterr()
    return out


def test_bad_values_are_usage_errors(shared, clean_env, monkeypatch, capsys):
    folder, db, model = shared
    cases = [["search", "   ", "--db", db], ["search", "", "--db", db], ["search", "x", "--db", db, "--top-k", "20000"],
             ["index", str(folder), "--db", db, "--pdf-dpi", "0"], ["index", str(folder), "--chunk-chars", "5000"]]
    for argv in cases:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        assert "usage: qwen3vl" in capsys.readouterr().err
    assert main(["search", "x", "--db", db, "--model", model, "--dim", "100000", "--no-rerank"]) == 2
    assert "--dim 100000" in capsys.readouterr().err
    assert main(["search", "x", "--db", db, "--no-rerank", "--filter", "modality === 'x'"]) == 2
    assert "--filter" in capsys.readouterr().err
    monkeypatch.setenv("QWEN3VL_DIM", "abc")
    with pytest.raises(SystemExit) as info:
        main(["search", "x", "--db", db])
    assert info.value.code == 2 and "QWEN3VL_DIM='abc'" in capsys.readouterr().err
    monkeypatch.delenv("QWEN3VL_DIM")
    monkeypatch.setenv("QWEN3VL_MAX_PIXELS", "many")
    assert main(["search", "x", "--db", db, "--no-rerank"]) == 2
    assert "QWEN3VL_MAX_PIXELS" in capsys.readouterr().err


def test_collection_of_another_dim_is_exit_4_naming_its_dim(clean_env, tiny_checkpoint, embedder, capsys):
    db, folder = str(clean_env / "wide.db"), clean_env / "t"
    folder.mkdir()
    (folder / "a.txt").write_text("a note")
    settings = IndexSettings.for_embedder(embedder, model_name=str(tiny_checkpoint), chunk_chars=2000,
                                          chunk_overlap=200, pdf_dpi=150.0)
    with MilvusStore(db) as store:
        store.create(IndexSettings(settings.model, settings.fingerprint, 256, settings.preprocessing))
    for argv in (["search", "note", "--db", db, "--no-rerank"], ["index", str(folder), "--db", db, "-q"]):
        assert main(argv) == 4
        [line] = capsys.readouterr().err.strip().splitlines()
        assert "256-d" in line and "64-d" in line and "largest size is 64" in line
    with MilvusStore(db) as store:
        assert store.count() == 0


def test_read_commands_do_not_create_a_database(clean_env, capsys):
    db = clean_env / "nothing.db"
    assert main(["search", "cats", "--db", str(db), "--no-rerank"]) == 1
    assert "no Milvus Lite database" in capsys.readouterr().err
    assert main(["remove", str(clean_env), "--db", str(db)]) == 1
    assert main(["info", "--db", str(db)]) == 0
    assert "does not exist" in capsys.readouterr().out
    assert not db.exists()


def test_quiet_prints_nothing_but_errors(clean_env, tiny_cache, capsys):
    db, folder = str(clean_env / "q.db"), clean_env / "q"
    folder.mkdir()
    (folder / "a.txt").write_text("a note")
    assert main(["index", str(folder), "--db", db, "--model", "tiny-random", "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    (folder / "bad.png").write_bytes(b"not a png")
    assert main(["index", str(folder), "--db", db, "-q"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip().splitlines() == [
        "qwen3vl: error: 1 items failed (run without -q, or with --json, to see them)"]


def test_help_shows_the_defaults():
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), pytest.raises(SystemExit):
        main(["index", "--help"])
    text = " ".join(buffer.getvalue().split())
    for default in ("(default 2000)", "(default 200)", "(default 150)", "(default 32)", "(default ./qwen3vl.db)"):
        assert default in text


def test_control_characters_in_names_are_escaped(clean_env, tiny_checkpoint, capsys):
    folder, db = clean_env / "evil", str(clean_env / "e.db")
    folder.mkdir()
    evil = "clear\x1b[2J\nindexed 999, failed 0.png"
    (folder / evil).write_bytes(b"not an image")
    (folder / "note\u202etxt.md").write_text("a note whose name reverses the terminal")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as handle:
        handle.write("a name that is not UTF-8")
    assert main(["index", str(folder), "--db", db, "--model", str(tiny_checkpoint), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert len(lines) == 4 and lines[1] == "failed:"
    assert lines[2] == "  " + str(folder) + "/caf\\xe9.txt: invalid_path: the file name is not valid UTF-8; rename the file"
    assert lines[3].startswith("  " + str(folder) + "/clear\\x1b[2J\\nindexed 999, failed 0.png: media_decode:")
    assert main(["index", str(folder), "--db", db, "--json", "-q"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert os.fsencode(report["failures"][0]["source"]) == os.path.join(os.fsencode(folder), b"caf\xe9.txt")
    assert main(["search", "note", "--db", db, "--no-rerank"]) == 0
    table = capsys.readouterr().out
    assert "\u202e" not in table and "note\\u202etxt.md" in table


def test_table_and_json_show_the_same_paths(shared, clean_env, capsys):
    _, db, _ = shared
    assert main(["search", "coffee", "--db", db, "--no-rerank", "--top-k", "5", "--json"]) == 0
    sources = [hit["source"] for hit in json.loads(capsys.readouterr().out)["results"]]
    assert main(["search", "coffee", "--db", db, "--no-rerank", "--top-k", "5"]) == 0
    table = capsys.readouterr().out.splitlines()[1:]
    assert len(table) == len(sources) == 5
    assert all(os.path.isabs(source) and f"  {source}" in row for source, row in zip(sources, table))


def test_progress_total_is_the_file_count(clean_env, tiny_checkpoint, capsys):
    folder = clean_env / "p"
    folder.mkdir()
    for name in ("coffee.txt", "cats.md", "field_report.pdf"):  # 3 files, 5 items
        shutil.copy(MEDIA / name, folder)
    assert main(["index", str(folder), "--db", str(clean_env / "p.db"), "--model", str(tiny_checkpoint),
                 "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    totals = {int(total) for total in re.findall(r"\b\d+/(\d+)\b", err)}
    assert totals == {3} and "3/3" in err


def test_remove_command(clean_env, tiny_checkpoint, capsys):
    folder, db, _ = _index_folder(clean_env / "docs", str(clean_env / "r.db"), str(tiny_checkpoint),
                                  names=("coffee.txt", "cats.md", "space_notes.md"))
    capsys.readouterr()
    assert main(["remove", str(folder / "cats.md"), str(folder / "gone.txt"), "--db", db, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["removed"], result["rows"]) == (1, 2)
    assert result["paths"] == [str(folder / "cats.md"), str(folder / "gone.txt")]
    assert main(["remove", str(folder), "--db", db]) == 0
    assert capsys.readouterr().out.startswith("removed 2 rows under 1 path(s);")


def test_rerank_never_substitutes_a_changed_or_missing_file(indexed, capsys):
    folder, db, model = indexed
    (folder / "field_report.pdf").write_bytes(b"%PDF-1.4 replaced by something else")
    (folder / "coffee.jpg").unlink()
    assert main(["search", "coffee", "--db", db, "--json", "--top-k", "6", "--reranker-model", model]) == 0
    hits = {(Path(h["source"]).name, h["page"]): h for h in json.loads(capsys.readouterr().out)["results"]}
    assert len(hits) == 6
    for (name, _), hit in hits.items():
        if name == "field_report.pdf":
            assert hit["rerank_score"] is None and "changed since it was indexed" in hit["rerank_error"]
        elif name == "coffee.jpg":
            assert hit["rerank_score"] is None and "cannot be read" in hit["rerank_error"]
        else:
            assert hit["rerank_score"] is not None and hit["rerank_error"] is None
    by_rank = sorted(hits.values(), key=lambda h: h["rank"])
    assert [h["rerank_score"] is None for h in by_rank] == sorted(h["rerank_score"] is None for h in by_rank)
    assert np.all(np.diff([h["rerank_score"] for h in by_rank if h["rerank_score"] is not None]) <= 0)
