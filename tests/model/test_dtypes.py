"""The GPU-ready path checked for shape and dtype on CPU: bfloat16 weights, float32 outputs."""

import numpy as np
import torch

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker
from tests.conftest import cosine, random_image


def test_bfloat16_embedder_outputs_float32_unit_vectors(tiny_checkpoint, embedder, rng):
    bf16 = Qwen3VLEmbedder.from_pretrained(tiny_checkpoint, device="cpu", dtype="bfloat16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    items = ["a text", {"image": random_image(rng, 96, 64), "text": "mixed"}, {"video": [random_image(rng, 64, 64)] * 2}]
    low, full = bf16.embed(items), embedder.embed(items)
    assert low.dtype == np.float32 and low.shape == full.shape
    assert np.allclose(np.linalg.norm(low, axis=1), 1.0, atol=1e-5)
    assert cosine(low, full).min() > 0.98


def test_bfloat16_reranker_scores_are_float_probabilities(tiny_checkpoint, reranker):
    bf16 = Qwen3VLReranker.from_pretrained(tiny_checkpoint, device="cpu", dtype="bfloat16")
    assert bf16.score_weight.dtype == torch.float32
    low = bf16.score("query", ["doc one", "doc two"])
    full = reranker.score("query", ["doc one", "doc two"])
    assert all(isinstance(s, float) and 0 <= s <= 1 for s in low)
    assert max(abs(a - b) for a, b in zip(low, full)) < 0.05
