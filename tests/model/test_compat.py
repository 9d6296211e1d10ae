"""transformers forward compatibility, silent loading, and no hidden environment input (issue 11,
items 3 and 7)."""

import warnings

import numpy as np
import pytest

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder, Qwen3VLReranker
from tests.conftest import random_image


def _deprecations(caught) -> list[str]:
    return [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
            if issubclass(w.category, (FutureWarning, DeprecationWarning))
            and ("past_key_values" in str(w.message) or "qwen3vl_integrations" in w.filename)]


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_forward_paths_use_the_current_cache_api(reranker, embedder, rng, packing):
    # the padded path runs transformers' decoder layers and causal mask; the reranker's prefix cache
    # runs them on every call: none may hit a deprecated argument (transformers 5.24 warned on each)
    rr = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight,
                         config=EngineConfig(packing=packing))
    emb = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(packing=packing))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rr.score({"text": "q", "image": random_image(rng, 64, 64)}, ["doc one", "doc two, longer"])
        emb.embed(["a text", {"image": random_image(rng, 64, 96), "text": "x"}])
    assert _deprecations(caught) == []


def test_loading_is_silent_unless_progress_is_asked_for(tiny_checkpoint, capfd):
    from transformers.utils import logging as hf_logging

    if not hf_logging.is_progress_bar_enabled():  # the setting is process-wide; an in-process CLI run turns it off
        hf_logging.enable_progress_bar()
        restore = hf_logging.disable_progress_bar
    else:
        restore = None
    try:
        _check_loading_output(tiny_checkpoint, capfd, hf_logging)
    finally:
        if restore is not None:
            restore()


def _check_loading_output(tiny_checkpoint, capfd, hf_logging) -> None:
    capfd.readouterr()
    Qwen3VLEmbedder.from_pretrained(tiny_checkpoint, device="cpu")
    quiet = capfd.readouterr()
    assert "Loading weights" not in quiet.err + quiet.out
    Qwen3VLReranker.from_pretrained(tiny_checkpoint, device="cpu", show_progress=True)
    shown = capfd.readouterr()
    assert "Loading weights" in shown.err
    assert hf_logging.is_progress_bar_enabled()  # the global setting is restored after a quiet load


def test_from_pretrained_does_not_read_the_environment(tiny_checkpoint, embedder, monkeypatch):
    monkeypatch.setenv("QWEN3VL_MAX_PIXELS", "8192")
    monkeypatch.setenv("QWEN3VL_MAX_FRAMES", "not a number")  # would fail if it were read
    loaded = Qwen3VLEmbedder.from_pretrained(tiny_checkpoint, device="cpu")
    assert loaded.config == EngineConfig()
    item = {"image": random_image(np.random.default_rng(0), 300, 400)}
    assert np.array_equal(loaded.embed([item]), embedder.embed([item]))
    monkeypatch.delenv("QWEN3VL_MAX_FRAMES")
    assert EngineConfig.from_env().max_pixels == 8192  # the explicit way (CLI, server)
    assert Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig.from_env()).config.max_pixels == 8192


def test_special_token_ids_are_read_from_the_checkpoint_and_checked(embedder, reranker, hf_processor):
    import copy

    from qwen3vl_integrations import ModelLoadError
    from qwen3vl_integrations.core.tokens import CONTRACT_TOKENS, read_special_tokens

    assert embedder.tokens == reranker.tokens == CONTRACT_TOKENS
    config = copy.deepcopy(embedder.model.config)
    config.image_token_id = 5
    with pytest.raises(ModelLoadError, match="image_token_id is 5"):
        read_special_tokens(hf_processor.tokenizer, config)
    tokenizer = copy.deepcopy(hf_processor.tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|new_special|>"]})
    with pytest.raises(ModelLoadError, match="special ids"):
        read_special_tokens(tokenizer)
