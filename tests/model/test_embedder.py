"""Embedder outputs against an independent computation, batch invariance, errors, loading."""

import numpy as np
import pytest
import torch
from qwen_vl_utils.vision_process import smart_resize
from safetensors.torch import load_file

from qwen3vl_integrations import EmptyInputError, EngineConfig, ItemError, Qwen3VLEmbedder, UnsupportedInputError
from tests.conftest import cosine, random_image

SUFFIX_IDS = [151645, 198, 151644, 77091, 198]  # <|im_end|> \n <|im_start|> assistant \n


def reference_vector(hf_model, hf_processor, prompt: str, images=None) -> np.ndarray:
    """Backbone forward via transformers' own processor and M-RoPE, gather at the last token, normalise."""
    inputs = hf_processor(text=[prompt], images=images, do_resize=False, return_tensors="pt")
    with torch.no_grad():
        hidden = hf_model.model(**inputs).last_hidden_state
    vec = hidden[0, -1]
    return torch.nn.functional.normalize(vec, dim=-1).numpy()


def resized(img, min_pixels=4096, max_pixels=1843200):
    h, w = smart_resize(img.height, img.width, factor=32, min_pixels=min_pixels, max_pixels=max_pixels)
    return img.resize((w, h), 3)


def test_text_vector_equals_independent_computation(embedder, hf_model, hf_processor):
    text = "A woman playing with her dog on a beach at sunset."
    prompt = ("<|im_start|>system\nRepresent the user's input.<|im_end|>\n<|im_start|>user\n" + text
              + "<|im_end|>\n<|im_start|>assistant\n")
    ours = embedder.embed([text])[0]
    assert ours.dtype == np.float32 and ours.shape == (embedder.dim,)
    assert cosine(ours, reference_vector(hf_model, hf_processor, prompt)) >= 0.99999


def test_image_text_vector_equals_independent_computation(embedder, hf_model, hf_processor, rng):
    img = random_image(rng, 300, 457)
    prompt = ("<|im_start|>system\nFind the photo.<|im_end|>\n<|im_start|>user\n"
              "<|vision_start|><|image_pad|><|vision_end|>a photo<|im_end|>\n<|im_start|>assistant\n")
    ours = embedder.embed([{"text": "a photo", "image": img}], instruction="Find the photo")[0]
    ref = reference_vector(hf_model, hf_processor, prompt, images=[resized(img)])
    assert cosine(ours, ref) >= 0.99999


def test_token_ids_end_with_the_chat_suffix(embedder, rng):
    for item in ["text", {"image": random_image(rng, 64, 64)}, {"video": [random_image(rng, 64, 64)] * 3}]:
        assert embedder.prepare(item).input_ids[-5:] == SUFFIX_IDS


def _mixed_inputs(rng, n=32):
    items = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            items.append("word " * int(rng.integers(1, 300)))
        elif kind == 1:
            items.append({"image": random_image(rng, int(rng.integers(20, 400)), int(rng.integers(20, 400)))})
        elif kind == 2:
            items.append({"text": f"caption {i}", "image": random_image(rng, 128, 96), "instruction": "Find it"})
        else:
            items.append({"video": [random_image(rng, 64, 96) for _ in range(int(rng.integers(1, 6)))]})
    return items


@pytest.mark.parametrize("packing", [True, False], ids=["packed", "padded"])
def test_batch_invariance_and_order(embedder, rng, packing):
    items = _mixed_inputs(rng)
    # each item alone through the other forward path (packed rows vs right-padded batches)
    other = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(packing=not packing))
    alone = np.stack([other.embed([x])[0] for x in items])
    for size in (2, 8, 32):
        config = EngineConfig(max_batch_items=size, token_budget=10**9, num_workers=2, packing=packing)
        batched = Qwen3VLEmbedder(embedder.model, embedder.processor, config=config).embed(items)
        assert batched.shape == alone.shape
        assert cosine(batched, alone).min() >= 0.99999, size
    # order: distinct inputs give distinct vectors, each in its own row
    assert cosine(alone[0], alone[4]) < 0.9999


def test_equal_length_batches_are_invariant(embedder):
    items = [f"token{i} token{i}" for i in range(8)]
    alone = np.stack([embedder.embed([x])[0] for x in items])
    assert cosine(embedder.embed(items), alone).min() >= 0.99999


def test_bad_item_raises_with_its_index(embedder):
    with pytest.raises(EmptyInputError, match=r"input\[2\]") as info:
        embedder.embed(["a", "b", "   ", "c"])
    assert info.value.index == 2
    with pytest.raises(UnsupportedInputError, match=r"input\[1\]"):
        embedder.embed(["a", 5])


def test_errors_return_keeps_good_vectors(embedder, rng):
    items = [f"text number {i}" for i in range(31)]
    items.insert(17, {"text": ""})
    out = embedder.embed(items, errors="return")
    assert len(out) == 32
    assert isinstance(out[17], ItemError) and out[17].index == 17 and out[17].code == "empty"
    good = [v for i, v in enumerate(out) if i != 17]
    alone = np.stack([embedder.embed([x])[0] for i, x in enumerate(items) if i != 17])
    assert cosine(np.stack(good), alone).min() >= 0.99999


def test_empty_list_gives_empty_array(embedder):
    assert embedder.embed([]).shape[0] == 0


def test_loaded_weights_equal_saved_ones(embedder, tiny_checkpoint):
    saved = load_file(str(tiny_checkpoint / "model.safetensors"))
    state = embedder.model.state_dict()
    backbone = {k[len("model."):]: v for k, v in saved.items() if k.startswith("model.")}
    assert set(backbone) == set(state)
    assert all(torch.equal(state[k], v) for k, v in backbone.items())


def test_query_and_document_sides_use_their_instructions(embedder):
    q = embedder.embed_queries(["cats"])[0]
    d = embedder.embed_documents(["cats"])[0]
    assert np.allclose(q, embedder.embed(["cats"], instruction=embedder.query_instruction)[0])
    assert np.allclose(d, embedder.embed(["cats"])[0])
    assert cosine(q, d) < 0.99999


def test_truncation_keeps_suffix_and_vision_tokens(embedder, rng):
    short = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(max_length=200))
    item = {"text": "long " * 2000, "image": random_image(rng, 64, 64)}
    prepared = short.prepare(item)
    assert prepared.truncated and len(prepared) <= 200
    assert prepared.input_ids[-5:] == SUFFIX_IDS
    assert prepared.input_ids.count(151655) == 4  # 64x64 image: all 4 image tokens kept
    assert np.isfinite(short.embed([item])).all()
    from qwen3vl_integrations import InputTooLongError

    with pytest.raises(InputTooLongError, match=r"input\[0\]"):
        short.embed([item], truncate=False)


def test_auto_workers_and_batch_fill_follow_the_device(embedder, monkeypatch):
    import os

    assert embedder.min_batch_fill == 0.95  # CPU: padding is pure waste
    assert Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(min_batch_fill=0.5)).min_batch_fill == 0.5
    local, remote = ["text", {"image": "/tmp/x.png"}], [{"image": "https://example.com/x.png"}]
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert embedder._num_workers(local) == 0  # torch has every core: preparing ahead only competes
    assert embedder._num_workers(remote) == 2  # network latency is worth hiding
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert embedder._num_workers(local) == 2
    fixed = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(num_workers=3))
    assert fixed._num_workers(remote) == 3
