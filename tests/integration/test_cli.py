"""The ``qwen3vl`` command line: help, bad arguments, the offline message, index/search/info output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.cli import main

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "examples" / "media"


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWEN3VL_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra)
    return env


def _cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qwen3vl_integrations.cli", *args], capture_output=True, text=True,
                          env=_env(**env), cwd=str(ROOT), timeout=300)


def test_help_lists_the_commands():
    out = _cli("--help")
    assert out.returncode == 0, out.stderr
    for word in ("index", "search", "remove", "info", "serve", "QWEN3VL_"):
        assert word in out.stdout
    for command in ("index", "search", "remove", "info", "serve"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0


@pytest.mark.parametrize("argv", [
    [], ["serve", "--port", "x"], ["index"], ["search"], ["search", "x", "--top-k", "0"], ["index", "x", "--batch-size", "-1"],
    ["index", "x", "--chunk-chars", "100", "--chunk-overlap", "60"], ["search", "x", "--bogus"],
])
def test_bad_arguments_exit_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: qwen3vl" in capsys.readouterr().err


def test_hub_unreachable_is_one_line_naming_the_options(tmp_path):
    out = _cli("index", str(MEDIA), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 3
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert line.startswith("qwen3vl: error:") and "Traceback" not in out.stderr
    assert "Qwen/Qwen3-VL-Embedding-2B" in line and "--model PATH" in line and "--model tiny-random" in line
    assert not (tmp_path / "x.db" / "collections").exists() or not any((tmp_path / "x.db" / "collections").iterdir())


@pytest.mark.slow
def test_readme_main_job_with_tiny_random(tiny_cache, tmp_path, capsys):
    db = str(tmp_path / "q.db")
    assert main(["index", str(MEDIA), "--db", db, "--model", "tiny-random", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "MEANINGLESS" in err
    assert out.startswith("indexed 13, unchanged 0, replaced 0, removed 0, duplicates 0, failed 0, skipped 0 (11 files")
    # search: the model (tiny-random) comes from the collection's record, reranked by tiny-random too
    assert main(["search", "a cat", "--db", db, "--top-k", "4"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["#", "score", "rerank", "type", "page", "source"] and len(lines) == 5
    assert "MEANINGLESS" in err
    assert main(["info", "--db", db, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["rows"] == 13 and info["recorded"]["model"] == "tiny-random" and info["dim"] == 64


@pytest.mark.slow
def test_json_outputs_parse(tiny_checkpoint, clean_env, capsys):
    db, model = str(clean_env / "j.db"), str(tiny_checkpoint)
    assert main(["index", str(MEDIA / "cats.md"), str(MEDIA / "field_report.pdf"), "--db", db, "--model", model,
                 "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["failed"], report["rows"], report["files"]) == (4, 0, 4, 2)
    assert main(["search", "cats", "--db", db, "--image", str(MEDIA / "cat_chelsea.jpg"), "--top-k", "3", "--json",
                 "--reranker-model", model]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reranked"] and len(result["results"]) == 3
    hit = result["results"][0]
    keys = ("rank", "id", "source", "modality", "page", "offset", "snippet", "score", "rerank_score", "vector_rank")
    for key in keys:
        assert key in hit
    assert {h["modality"] for h in result["results"]} <= {"text", "pdf_page"}
    assert main(["search", "cats", "--db", db, "--no-rerank", "--json", "--filter", 'modality == "pdf_page"']) == 0
    result = json.loads(capsys.readouterr().out)
    assert [h["page"] for h in result["results"]] and all(h["rerank_score"] is None for h in result["results"])
    assert main(["info", "--db", db, "--collection", "nothing-here"]) == 0
    assert "does not exist" in capsys.readouterr().out
    assert main(["search", "cats", "--db", db, "--collection", "nothing-here"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_partial_failure_exit_codes_and_dim_refusal(tiny_checkpoint, clean_env, capsys):
    folder = clean_env / "docs"
    folder.mkdir()
    shutil.copy(MEDIA / "coffee.txt", folder)
    shutil.copy(MEDIA / "coffee.jpg", folder)
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
    db, model = str(clean_env / "p.db"), str(tiny_checkpoint)
    assert main(["index", str(folder), "--db", db, "--model", model, "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("indexed 2, unchanged 0, replaced 0, removed 0, duplicates 0, failed 1")
    assert f"{folder / 'bad.png'}: media_decode:" in out
    assert main(["index", str(folder), "--db", db, "--model", model, "--allow-partial", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("indexed 0, unchanged 2, replaced 0, removed 0, duplicates 0, failed 1")
    assert main(["index", str(folder), "--db", db, "--model", model, "--dim", "32", "--no-progress"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "64-d" in err[0] and "32-d" in err[0]
    assert main(["info", "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2


def test_environment_variables_configure_the_command(tiny_checkpoint, clean_env, monkeypatch, capsys):
    monkeypatch.setenv("QWEN3VL_DB", str(clean_env / "env.db"))
    monkeypatch.setenv("QWEN3VL_COLLECTION", "from_env")
    monkeypatch.setenv("QWEN3VL_MODEL", str(tiny_checkpoint))
    assert main(["index", str(MEDIA / "coffee.txt"), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["collection"], report["db"], report["indexed"]) == ("from_env", str(clean_env / "env.db"), 1)
