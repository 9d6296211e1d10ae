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
