"""``qwen3vl --db weaviate://127.0.0.1:PORT?grpc_port=P``: index, search, remove and info end to end,
with the report and exit codes of the Milvus path, through the real weaviate-client against the
in-memory Weaviate of ``weaviate_fake``."""

from __future__ import annotations

import dataclasses
import json

import pytest

weaviate = pytest.importorskip("weaviate")

from qwen3vl_integrations.cli import main  # noqa: E402
from qwen3vl_integrations.ingest import SearchHit  # noqa: E402

from .folders import folder_of  # noqa: E402
from .weaviate_fake import FakeWeaviate, running  # noqa: E402


@pytest.fixture
def served():
    """A running in-memory Weaviate and its URI."""
    fake = FakeWeaviate()
    with running(fake) as (http_port, grpc_port):
        yield fake, f"weaviate://127.0.0.1:{http_port}?grpc_port={grpc_port}"


@pytest.mark.slow
def test_index_search_remove_info_end_to_end(served, clean_env, tiny_checkpoint, capsys):
    fake, db = served
    model = str(tiny_checkpoint)
    folder = folder_of(clean_env, "coffee.txt", "coffee.jpg", "cats.md")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png at all")
    assert main(["index", str(folder), "--db", db, "--model", model, "--no-progress"]) == 1  # a failed item
    out = capsys.readouterr().out
    assert out.startswith("indexed 3, unchanged 0, replaced 0, removed 0, duplicates 0, failed 1")
    assert f"collection 'Qwen3vl' at {db} has 3 rows" in out and f"{folder / 'bad.png'}: media_decode:" in out
    assert main(["index", str(folder), "--db", db, "--model", model, "--allow-partial", "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["indexed"], report["unchanged"], report["failed"], report["rows"]) == (0, 3, 1, 3)
    assert main(["search", "coffee", "--db", db, "--reranker-model", model, "--top-k", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reranked"] and len(result["results"]) == 2
    fields = {f.name for f in dataclasses.fields(SearchHit)}
    assert all(set(hit) == fields and hit["rerank_score"] is not None for hit in result["results"])
    assert main(["remove", str(folder / "cats.md"), str(folder / "gone.txt"), "--db", db, "--json"]) == 0
    assert (json.loads(capsys.readouterr().out)["removed"], len(fake.objects["Qwen3vl"])) == (1, 2)
    assert main(["info", "--db", db, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["rows"], info["dim"], info["modalities"]["image"], info["recorded"]["model"]) == (2, 64, 1, model)
    assert main(["info", "--db", db]) == 0
    assert capsys.readouterr().out.startswith(f"collection:  'Qwen3vl' in {db}\nrows:        2")


def test_exit_codes_of_the_weaviate_path(served, clean_env, tiny_checkpoint, capsys):
    fake, db = served
    model = str(tiny_checkpoint)
    folder = folder_of(clean_env, "coffee.txt")
    assert main(["index", str(folder), "--db", db, "--model", model, "-q"]) == 0
    assert main(["index", str(folder), "--db", db, "--model", model, "--dim", "32", "-q"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "64-d" in err[0] and "32-d" in err[0]
    assert main(["search", "x", "--db", db, "--collection", "nothing-here", "--no-rerank"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["info", "--db", db, "--collection", "nothing-here"]) == 0
    assert "does not exist" in capsys.readouterr().out
    for option, value in (("--filter", 'modality == "image"'), ("--top-k", "10001")):
        with pytest.raises(SystemExit) as usage:
            main(["search", "x", "--db", db, option, value])
        assert usage.value.code == 2 and option in capsys.readouterr().err
    for bad in ("weaviate://user:secret@127.0.0.1", "weaviate://127.0.0.1:8080/v1", "weaviate://127.0.0.1?grpc=1",
                "weaviates://host:99999"):
        assert main(["info", "--db", bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("qwen3vl: error: ") and "secret" not in err
    fake.stop()
    assert main(["info", "--db", db]) == 1
    assert "cannot connect to Weaviate" in capsys.readouterr().err


def test_api_key_from_token_or_the_weaviate_variable(clean_env, tiny_checkpoint, monkeypatch, capsys):
    fake = FakeWeaviate(api_key="s3cret")
    folder = folder_of(clean_env, "coffee.txt")
    with running(fake) as (http_port, grpc_port):
        db = f"weaviate://127.0.0.1:{http_port}?grpc_port={grpc_port}"
        index = ["index", str(folder), "--db", db, "--model", str(tiny_checkpoint), "-q"]
        assert main(index) == 1
        assert "401" in capsys.readouterr().err
        assert main([*index, "--token", "s3cret"]) == 0
        monkeypatch.setenv("QWEN3VL_TOKEN", "a-milvus-token")
        monkeypatch.setenv("QWEN3VL_WEAVIATE_API_KEY", "s3cret")  # wins over QWEN3VL_TOKEN
        assert main(["info", "--db", db, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"] == 1
        assert main(["info", "--db", db, "--token", "wrong"]) == 1  # the command line wins over both
        monkeypatch.delenv("QWEN3VL_WEAVIATE_API_KEY")
        monkeypatch.setenv("QWEN3VL_TOKEN", "s3cret")
        assert main(["remove", str(folder), "--db", db, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rows"] == 0
