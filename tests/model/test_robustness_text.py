"""Model-level robustness, cases 18-30 of docs/robustness.md: text, the reranker and numerics."""

from __future__ import annotations

import math
import shutil
import time

import numpy as np
import pytest
import torch

from qwen3vl_integrations import (
    EmptyInputError,
    InputError,
    InputTooLongError,
    ItemError,
    MediaDecodeError,
    NonFiniteOutputError,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
)
from tests.conftest import cosine, random_image
from tests.model.robustness_helpers import SAME, alone, assert_unit_and_finite, embedder_with, smooth_image
from tests.unit.conftest import png_bytes, write_video

SUFFIX_IDS = [151645, 198, 151644, 77091, 198]  # <|im_end|> \n <|im_start|> assistant \n
IMAGE_PAD_ID, VISION_START_ID, VISION_END_ID = 151655, 151652, 151653


# --------------------------------------------------------------------------- text (cases 18-22)


def test_empty_inputs(embedder):
    """Case 18: "", "   ", {"text": ""}, {} raise EmptyInputError; [] gives an empty array."""
    empty = embedder.embed([])
    assert isinstance(empty, np.ndarray) and empty.shape[0] == 0
    assert embedder.embed([], errors="return") == []
    for item in ["", "   ", "\n\t", {"text": ""}, {"text": ["", " "]}, {}]:
        with pytest.raises(EmptyInputError, match=r"input\[0\]"):
            embedder.embed(item)
    out = embedder.embed(["fine", "", {"text": " "}], errors="return")
    assert isinstance(out[0], np.ndarray)
    assert [o.code for o in out[1:]] == ["empty", "empty"] and [o.index for o in out[1:]] == [1, 2]


def test_long_text_truncation(embedder, rng):
    """Case 19: 10x max_length tokens: truncate=False -> InputTooLongError naming input[0];
    truncate=True -> a finite vector pooled at the template's final token, every image token kept."""
    short = embedder_with(embedder, max_length=256)
    text = " ".join(f"w{i % 97}" for i in range(2560))
    assert len(embedder.processor.tokenizer(text)["input_ids"]) >= 2560
    with pytest.raises(InputTooLongError, match=r"input\[0\]") as info:
        short.embed([text], truncate=False)
    assert info.value.index == 0
    out = short.embed(["fits", text], truncate=False, errors="return")
    assert isinstance(out[0], np.ndarray) and out[1].code == "too_long" and out[1].index == 1

    prepared = short.prepare(text, truncate=True)
    assert prepared.truncated and len(prepared) <= 256
    assert prepared.input_ids[-1] == 198 and prepared.input_ids[-5:] == SUFFIX_IDS
    assert_unit_and_finite(short.embed([text], truncate=True))
    assert_unit_and_finite(short.embed([text]))  # truncate defaults to the config's True

    img = random_image(rng, 448, 448)  # 14 x 14 = 196 image tokens
    item = {"text": text, "image": img}
    prepared = short.prepare(item)
    assert prepared.truncated and len(prepared) <= 256
    assert prepared.input_ids.count(IMAGE_PAD_ID) == 196
    start = prepared.input_ids.index(VISION_START_ID)
    assert prepared.input_ids[start + 1: start + 197] == [IMAGE_PAD_ID] * 196
    assert prepared.input_ids[start + 197] == VISION_END_ID
    assert prepared.input_ids[-5:] == SUFFIX_IDS
    assert_unit_and_finite(short.embed([item]))


class TokenizerSpy:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_huge_text_precheck(embedder):
    """Case 20: 5 MB of text is refused by the character pre-check; the tokenizer never runs."""
    guarded = embedder_with(embedder)
    assert guarded.config.max_text_chars == 1_000_000
    spy = TokenizerSpy(guarded.preprocessor.tokenizer)
    guarded.preprocessor.tokenizer = spy
    huge = "lorem ipsum " * (5 * 1024 * 1024 // 12)
    assert len(huge) > 5_000_000
    start = time.monotonic()
    with pytest.raises(InputTooLongError, match=r"input\[0\].*max_text_chars") as info:
        guarded.embed([huge])
    assert time.monotonic() - start < 0.5
    assert spy.calls == 0
    out = guarded.embed([huge, {"text": huge[:10], "image": smooth_image(32, 32)}, {"text": [huge[:600_000]] * 2}],
                        errors="return")
    assert info.value.code == "too_long"
    assert out[0].code == "too_long" and out[2].code == "too_long"  # the limit is per item, over all its texts
    assert isinstance(out[1], np.ndarray)
    assert spy.calls == 1  # only the small good item was tokenised


@pytest.mark.parametrize("name,text", [
    ("NUL", "before\x00after"),
    ("RTL", "مرحبا بالعالم שלום עולם"),
    ("emoji ZWJ", "family 👨‍👩‍👧‍👦 and flag 🏳️‍🌈 and skin 👍🏽"),
    ("combining", "Z̸̢̛a̵͇̐l̴̰̈g̶̝̍o̷̟͝" * 50),
    ("BOM and controls", "\ufeff\u200b\u202e\x1b[31m\r\n\x7f"),
])
def test_unicode_edge_cases(embedder, name, text):
    """Case 21: NUL, RTL, emoji ZWJ sequences, combining marks and control characters embed."""
    assert_unit_and_finite(embedder.embed([text]))


def test_million_chars_without_spaces(embedder):
    """Case 21: 1,000,000 characters with no space (exactly max_text_chars) tokenise without a panic
    and are truncated (max_length 1024 keeps the forward pass short)."""
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    text = np.random.default_rng(0).choice(letters, 1_000_000).tobytes().decode()
    short = embedder_with(embedder, max_length=1024)
    prepared = short.prepare(text)
    assert prepared.truncated and prepared.input_ids[-5:] == SUFFIX_IDS
    assert_unit_and_finite(short.embed([text]))


def test_lone_surrogate_is_a_typed_error(embedder):
    """Case 21: a lone surrogate (legal in a Python str and in JSON "\\ud800", not valid Unicode) is
    a typed InputError for that item, never an untyped crash of the whole batch."""
    out = embedder.embed(["ok", "bad \ud800 text", "fine"], errors="return")
    assert len(out) == 3 and isinstance(out[0], np.ndarray) and isinstance(out[2], np.ndarray)
    assert isinstance(out[1], ItemError) and isinstance(out[1].error, InputError) and out[1].index == 1
    with pytest.raises(InputError, match=r"input\[0\]"):
        embedder.embed(["\udc00"])
    with pytest.raises(InputError, match=r"input\[0\]"):
        embedder.embed([{"text": "ok", "instruction": "bad \udc00"}])


def test_one_bad_item_in_batch(embedder, rng):
    """Case 22: one bad item (truncated PNG) among 31 good ones: 31 vectors equal to the items
    embedded alone, one typed error at its index; errors="raise" names input[k]."""
    good = []
    for i in range(31):
        kind = i % 3
        if kind == 0:
            good.append(f"document {i} " + "text " * i)
        elif kind == 1:
            good.append({"image": random_image(rng, 32 + 4 * i, 48)})
        else:
            good.append({"text": f"caption {i}", "image": random_image(rng, 40, 40 + 2 * i)})
    truncated_png = png_bytes(random_image(rng, 64, 64))[:200]
    k = 13
    items = good[:k] + [{"image": truncated_png}] + good[k:]
    out = embedder.embed(items, errors="return")
    assert len(out) == 32
    assert isinstance(out[k], ItemError) and out[k].index == k and out[k].code == "media_decode"
    assert sum(isinstance(o, ItemError) for o in out) == 1
    vectors = np.stack([o for i, o in enumerate(out) if i != k])
    assert cosine(vectors, alone(embedder, good)).min() >= SAME
    with pytest.raises(MediaDecodeError, match=rf"input\[{k}\]") as info:
        embedder.embed(items)
    assert info.value.index == k and info.value.param == f"input[{k}]"


# --------------------------------------------------------------------------- reranker (case 26)


def test_rerank_edge_cases(reranker, rng):
    """Case 26 (library side): [] -> []; one document; duplicates score equal; a text+image
    document works; exactly one finite score in [0, 1] per document, in order."""
    assert reranker.score("query", []) == []
    assert reranker.rerank("query", []) == []
    one = reranker.score("query", ["a single document"])
    assert len(one) == 1 and isinstance(one[0], float) and 0.0 <= one[0] <= 1.0
    img = random_image(rng, 80, 120)
    docs = ["dup", "something else", "dup", {"text": "caption", "image": img}, {"image": img}, "dup"]
    scores = reranker.score("query", docs)
    assert len(scores) == len(docs)
    assert all(isinstance(s, float) and math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)
    assert abs(scores[0] - scores[2]) <= 1e-6 and abs(scores[0] - scores[5]) <= 1e-6
    assert abs(scores[0] - reranker.score("query", ["dup"])[0]) <= 1e-5
    assert abs(scores[3] - reranker.score("query", [docs[3]])[0]) <= 1e-5
    results = reranker.rerank("query", docs)
    assert sorted(r.index for r in results) == list(range(len(docs)))
    assert [r.index for r in results if r.document == "dup"] == [0, 2, 5]  # ties keep input order


# --------------------------------------------------------------------------- numerics (cases 27-30)


def test_padding_side_invariance(embedder, reranker, rng, monkeypatch):
    """Cases 27/28: a short and a long input in one batch pool like each alone (the last real
    token; packed on a CPU, right-padded elsewhere: both paths are also checked in test_forward.py);
    the reranker batched equals one pair at a time; flipping the tokenizer's padding side changes
    nothing (the engines lay out batches themselves)."""
    items = ["hi", "a much longer input " * 60, {"text": "img", "image": random_image(rng, 96, 64)}, "mid " * 7]
    single = alone(embedder, items)
    batched = embedder.embed(items)
    assert cosine(batched, single).min() >= SAME
    docs = ["yes", "a long document " * 50, {"image": random_image(rng, 64, 64)}, "short"]
    one_at_a_time = [reranker.score("query", [d])[0] for d in docs]
    scores = reranker.score("query", docs)
    assert max(abs(a - b) for a, b in zip(scores, one_at_a_time)) <= 1e-5

    tokenizer = embedder.processor.tokenizer
    monkeypatch.setattr(tokenizer, "padding_side", "left" if tokenizer.padding_side == "right" else "right")
    assert cosine(embedder.embed(items), batched).min() >= SAME
    rr_tokenizer = reranker.processor.tokenizer
    monkeypatch.setattr(rr_tokenizer, "padding_side", "left" if rr_tokenizer.padding_side == "right" else "right")
    assert max(abs(a - b) for a, b in zip(reranker.score("query", docs), scores)) <= 1e-5


@pytest.fixture(scope="module")
def poisoned_checkpoint(tiny_checkpoint, tmp_path_factory):
    """A copy of the tiny checkpoint whose final RMSNorm has one NaN weight: a real model whose
    forward pass produces non-finite hidden states for every input."""
    from safetensors.torch import load_file, save_file

    out = tmp_path_factory.mktemp("poisoned") / "ckpt"
    shutil.copytree(tiny_checkpoint, out)
    weights = load_file(str(out / "model.safetensors"))
    norm = weights["model.language_model.norm.weight"].clone()
    norm[3] = float("nan")
    weights["model.language_model.norm.weight"] = norm
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def test_non_finite_guard(poisoned_checkpoint, rng):
    """Case 29: a model that really outputs NaN -> NonFiniteOutputError naming the item (raise) or
    an ItemError "non_finite_output" per item (return); no NaN is ever returned. Same for the reranker."""
    embedder = Qwen3VLEmbedder.from_pretrained(poisoned_checkpoint, device="cpu")
    assert torch.isnan(embedder.model.language_model.norm.weight).any()  # the poison was loaded
    items = ["the importance of trees in urban environments", {"image": random_image(rng, 64, 64)}]
    with pytest.raises(NonFiniteOutputError, match=r"input\[0\]") as info:
        embedder.embed(items)
    assert info.value.index == 0 and info.value.code == "non_finite_output"
    out = embedder.embed(items, errors="return")
    assert len(out) == 2
    assert all(isinstance(o, ItemError) and o.code == "non_finite_output" and o.index == i for i, o in enumerate(out))
    for precision in ("float16", "int8", "ubinary"):  # no precision launders NaN into numbers
        with pytest.raises(NonFiniteOutputError):
            embedder.embed(items[:1], precision=precision)

    reranker = Qwen3VLReranker.from_pretrained(poisoned_checkpoint, device="cpu")
    with pytest.raises(NonFiniteOutputError, match=r"input\[0\]"):
        reranker.score("query", ["a document", "another"])
    scores = reranker.score("query", ["a document", {"image": random_image(rng, 64, 64)}], errors="return")
    assert [(s.index, s.code) for s in scores] == [(0, "non_finite_output"), (1, "non_finite_output")]
    with pytest.raises(NonFiniteOutputError):
        reranker.rerank("query", ["a document"])


def test_determinism(embedder, reranker, rng, tmp_path):
    """Case 30: the same request twice gives bit-identical output in the same order."""
    video = write_video(tmp_path / "det.mp4", frames=8, fps=4)
    items = ["first", {"image": random_image(rng, 70, 50)}, {"video": video}, "second " * 30,
             {"text": "both", "image": random_image(rng, 40, 90)}, {"video": [random_image(rng, 32, 32)] * 3}]
    first = embedder.embed(items)
    second = embedder.embed(items)
    assert first.dtype == np.float32 and np.array_equal(first, second)
    assert cosine(first[:, None], first[None])[~np.eye(len(items), dtype=bool)].max() < 0.99  # distinct rows
    reversed_out = embedder.embed(items[::-1])
    assert cosine(reversed_out[::-1], first).min() >= SAME  # output order follows input order
    for precision in ("int8", "ubinary"):
        assert np.array_equal(embedder.embed(items, precision=precision), embedder.embed(items, precision=precision))
    docs = ["alpha", {"image": random_image(rng, 64, 64)}, "gamma delta"]
    assert reranker.score("query", docs) == reranker.score("query", docs)
