"""The per-item error boundary and typed argument errors (issue 11, item 1)."""

import numpy as np
import pytest
import torch

from qwen3vl_integrations import (
    BackendError,
    EngineConfig,
    InputError,
    ItemError,
    Qwen3VLEmbedder,
    Qwen3VLError,
    Qwen3VLReranker,
)


def test_an_items_bad_instruction_is_an_item_error(embedder, reranker):
    out = embedder.embed(["a", {"text": "ok", "instruction": 5}], errors="return")  # was a bare TypeError
    assert isinstance(out[0], np.ndarray)
    assert isinstance(out[1], ItemError) and out[1].index == 1 and isinstance(out[1].error, InputError)
    assert str(out[1].error).startswith("input[1]: instruction must be a str")
    with pytest.raises(InputError, match=r"input\[1\]"):
        embedder.embed(["a", {"text": "ok", "instruction": 5}])
    scores = reranker.score("q", ["a", {"text": "ok", "instruction": 5}], errors="return")
    assert isinstance(scores[0], float) and isinstance(scores[1], ItemError) and scores[1].index == 1


@pytest.mark.parametrize("kwargs,param", [
    ({"instruction": 5}, "instruction"),  # was AttributeError
    ({"dim": "x"}, "dim"),
    ({"dim": 10**6}, "dim"),
    ({"precision": "int4"}, "precision"),
    ({"precision": None}, "precision"),
    ({"errors": "ignore"}, "errors"),
    ({"truncate": "yes"}, "truncate"),
    ({"show_progress": "no"}, "show_progress"),
    ({"inputs": 5}, "inputs"),
    ({"precision": "binary", "calibration_embeddings": np.zeros((2, 64), np.float32)}, "calibration_embeddings"),
])
def test_bad_embed_arguments_are_typed_and_named(embedder, kwargs, param):
    kwargs = {"inputs": ["a"], **kwargs}
    with pytest.raises(InputError) as info:
        embedder.embed(**kwargs)
    assert info.value.param == param and info.value.code in ("invalid_input", "unsupported_input")


@pytest.mark.parametrize("call,param", [
    (lambda rr: rr.score("q", ["a"], instruction=5), "instruction"),
    (lambda rr: rr.score("q", ["a"], errors=True), "errors"),
    (lambda rr: rr.score("q", ["a"], truncate=1), "truncate"),
    (lambda rr: rr.score({"text": "q", "instruction": 5}, ["a"]), "query"),
    (lambda rr: rr.score(5, ["a"]), "query"),
    (lambda rr: rr.score("q", 5), "documents"),
    (lambda rr: rr.rerank("q", ["a"], top_k="3"), "top_k"),
    (lambda rr: rr.rerank("q", ["a"], top_k=-1), "top_k"),
    (lambda rr: rr.submit_score("q", ["a"], timeout=0), "timeout"),
])
def test_bad_rerank_arguments_are_typed_and_named(reranker, call, param):
    with pytest.raises(InputError) as info:
        call(reranker)
    assert info.value.param == param


def test_submit_raises_argument_errors_at_once_and_never_item_errors(embedder):
    with pytest.raises(InputError) as info:
        embedder.submit_embed(["a"], timeout=-1)
    assert info.value.param == "timeout"
    out = embedder.submit_embed(["a", "", 5]).result(60)
    assert [type(o).__name__ for o in out] == ["EmbedOutput", "ItemError", "ItemError"]
    assert out[2].code == "unsupported_input" and out[2].error.param == "input[2]"


def _causes(exc) -> list[type]:
    chain = []
    while exc is not None:
        chain.append(type(exc))
        exc = exc.__cause__
    return chain


def test_any_preparation_failure_becomes_a_typed_error_naming_the_item(embedder, monkeypatch):
    engine = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(num_workers=2))
    real = engine.preprocessor.tokenize

    def tokenize(prompt, *args):  # the tokenizer (or the HF processor) raising something untyped
        if "poison" in prompt:
            raise RuntimeError("tokenizer exploded")
        return real(prompt, *args)

    monkeypatch.setattr(engine.preprocessor, "tokenize", tokenize)
    out = engine.embed(["fine", "poison", "also fine"], errors="return")
    assert isinstance(out[0], np.ndarray) and isinstance(out[2], np.ndarray)
    err = out[1].error
    assert isinstance(err, InputError) and err.index == 1 and "RuntimeError: tokenizer exploded" in str(err)
    assert RuntimeError in _causes(err)
    with pytest.raises(InputError, match=r"input\[1\]") as info:
        engine.embed(["fine", "poison"])
    assert RuntimeError in _causes(info.value)  # the cause is kept


def test_a_forward_failure_is_the_failing_items_backend_error(reranker, monkeypatch):
    engine = Qwen3VLReranker(reranker.model, reranker.processor, score_weight=reranker.score_weight)
    real = engine._scores

    def scores(items, prefix):  # e.g. a ValueError from forward.py on one pair's tensors
        if any(len(it) > 200 for it in items):
            raise ValueError("visual tokens do not match")
        return real(items, prefix)

    monkeypatch.setattr(engine, "_scores", scores)
    out = engine.score("q", ["short", "long " * 300, "short too"], errors="return")
    assert isinstance(out[0], float) and isinstance(out[2], float)
    assert isinstance(out[1], ItemError) and type(out[1].error) is BackendError and out[1].code == "backend"
    assert isinstance(out[1].error.__cause__, ValueError)
    with pytest.raises(BackendError, match=r"input\[1\]"):
        engine.score("q", ["short", "long " * 300])


def test_error_codes_are_attributes_not_message_prefixes():
    from qwen3vl_integrations.core.batching import forward_error

    err = forward_error(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert err.code == "too_large_for_device" and isinstance(err, BackendError) and isinstance(err, Qwen3VLError)
    assert "too_large_for_device" not in str(err)
