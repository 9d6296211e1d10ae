"""The model name "tiny-random" works everywhere, and says where its checkpoint is."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.testing import TINY_RANDOM, tiny_random_checkpoint


def test_from_pretrained_resolves_tiny_random_from_the_cache(tiny_checkpoint, tmp_path, monkeypatch, caplog, embedder):
    # issue 16 item 7: Qwen3VLEmbedder.from_pretrained("tiny-random") tried the hub
    (tmp_path / TINY_RANDOM).symlink_to(tiny_checkpoint, target_is_directory=True)
    monkeypatch.setenv("QWEN3VL_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="qwen3vl_integrations"):
        loaded = Qwen3VLEmbedder.from_pretrained(TINY_RANDOM, device="cpu")
    assert loaded.model_id == TINY_RANDOM and str(tmp_path / TINY_RANDOM) in caplog.text
    np.testing.assert_allclose(loaded.embed(["a cat"]), embedder.embed(["a cat"]), atol=1e-6)
    assert Qwen3VLReranker.from_pretrained(TINY_RANDOM, device="cpu").model_id == TINY_RANDOM


@pytest.mark.slow
def test_building_it_names_the_final_path_not_the_staging_one(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("QWEN3VL_CACHE_DIR", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="qwen3vl_integrations"):
        path = tiny_random_checkpoint()
    assert path == tmp_path / TINY_RANDOM and (path / "config.json").is_file()
    assert str(path) in caplog.text and ".tiny-random-" not in caplog.text  # the staging dir is gone
    assert [p.name for p in tmp_path.iterdir()] == [TINY_RANDOM]
