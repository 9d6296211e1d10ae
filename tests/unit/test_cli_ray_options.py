"""The ``--ray`` options of ``qwen3vl index``: their forms, and bad values as usage errors (no Ray needed)."""

import pytest

from qwen3vl_integrations.cli import build_parser, main


def test_ray_option_forms():
    parser = build_parser()
    assert parser.parse_args(["index", "docs"]).ray is None
    assert parser.parse_args(["index", "docs", "--ray"]).ray == ""
    assert parser.parse_args(["index", "docs", "--ray", "auto"]).ray == "auto"
    args = parser.parse_args(["index", "docs", "--ray=ray://head:10001", "--ray-actors", "3",
                              "--ray-gpus-per-actor", "0.5"])
    assert (args.paths, args.ray, args.ray_actors, args.ray_gpus_per_actor) == (["docs"], "ray://head:10001", 3, 0.5)


@pytest.mark.parametrize("argv", [["--ray-actors", "0"], ["--ray-gpus-per-actor", "-1"],
                                  ["--ray-gpus-per-actor", "many"]])
def test_bad_ray_values_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(["index", "docs", "--ray", *argv])
    assert info.value.code == 2 and "usage: qwen3vl" in capsys.readouterr().err


def test_who_writes_follows_the_store(monkeypatch):
    """Milvus Lite: this process (one process per database); Milvus servers and Weaviate: the workers."""
    for name in ("QWEN3VL_TOKEN", "QWEN3VL_WEAVIATE_API_KEY", "QWEN3VL_DB", "QWEN3VL_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    from qwen3vl_integrations.cli.ray_index import _writer
    from qwen3vl_integrations.ray import MilvusUpserts, WeaviateUpserts

    parser = build_parser()

    def writer(*store):
        return _writer(parser.parse_args(["index", "docs", "--ray", *store]))

    assert writer("--db", "./qwen3vl.db") is None
    assert writer("--db", "http://milvus:19530", "--collection", "c", "--token", "u:p") == MilvusUpserts(
        "http://milvus:19530", "c", "u:p")
    assert writer("--db", "weaviate://127.0.0.1:8080", "--collection", "c") == WeaviateUpserts(
        "weaviate://127.0.0.1:8080", "c", None)
