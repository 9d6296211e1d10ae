"""Fixtures of the command-line tests: a clean environment and a ``tiny-random`` cache."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No QWEN3VL_* settings leak in; the tiny-random cache is a link to the test checkpoint."""
    for key in [k for k in os.environ if k.startswith("QWEN3VL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def tiny_cache(clean_env, tiny_checkpoint, monkeypatch):
    cache = clean_env / "cache"
    cache.mkdir()
    (cache / "tiny-random").symlink_to(tiny_checkpoint, target_is_directory=True)
    monkeypatch.setenv("QWEN3VL_CACHE_DIR", str(cache))
    return cache
