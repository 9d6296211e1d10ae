"""Helpers shared by the model robustness tests (test_robustness.py, test_robustness_text.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder
from qwen3vl_integrations.media.policy import MediaPolicy

SAME = 0.99999  # "equal" for two computations of one vector (float32, CPU)


def embedder_with(embedder, policy: MediaPolicy | None = None, **config) -> Qwen3VLEmbedder:
    """Another embedder on the already loaded model, with its own config and media policy."""
    return Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(**config), policy=policy)


def alone(embedder, items) -> np.ndarray:
    return np.stack([embedder.embed([x])[0] for x in items])


def assert_unit_and_finite(vectors) -> None:
    vectors = np.atleast_2d(np.asarray(vectors))
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)


def smooth_image(height: int, width: int) -> Image.Image:
    """A smooth, asymmetric RGB image (JPEG-friendly; any rotation or flip changes it)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 255 * x / max(width - 1, 1)
    g = 255 * y / max(height - 1, 1)
    b = 127 + 100 * np.sin(x / 9.0) * np.cos(y / 13.0)
    return Image.fromarray(np.stack([r, g, b], -1).round().clip(0, 255).astype(np.uint8))
