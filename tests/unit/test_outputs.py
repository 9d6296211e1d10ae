"""Matryoshka truncation and output precisions (model contract, section 3)."""

import numpy as np
import pytest

from qwen3vl_integrations import NonFiniteOutputError
from qwen3vl_integrations.core.outputs import check_dim, postprocess, quantize, truncate_dim


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 64)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_truncate_renormalises_prefix(vectors):
    out = truncate_dim(vectors, 16)
    assert out.shape == (5, 16)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert np.allclose(out * np.linalg.norm(vectors[:, :16], axis=1, keepdims=True), vectors[:, :16], atol=1e-6)


def test_int8_is_clipped_rounded_scale(vectors):
    q = quantize(vectors, "int8")
    assert q.dtype == np.int8 and q.min() >= -127
    assert np.array_equal(q, np.clip(np.round(vectors * 127), -127, 127).astype(np.int8))


def test_binary_forms(vectors):
    ub = quantize(vectors, "ubinary")
    assert ub.dtype == np.uint8 and ub.shape == (5, 8)
    assert np.array_equal(np.unpackbits(ub, axis=1).astype(bool), vectors > 0)
    b = quantize(vectors, "binary")
    assert b.dtype == np.int8 and np.array_equal(b.astype(np.int16), ub.astype(np.int16) - 128)


def test_precision_is_per_vector(vectors):
    together = postprocess(vectors, 32, "int8")
    alone = np.stack([postprocess(v[None], 32, "int8")[0] for v in vectors])
    assert np.array_equal(together, alone)


def test_float16_and_errors(vectors):
    assert postprocess(vectors, 64, "float16").dtype == np.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        postprocess(vectors, 64, "int4")
    bad = vectors.copy()
    bad[0, 0] = np.nan
    with pytest.raises(NonFiniteOutputError):
        postprocess(bad, 64, "float32")


def test_check_dim():
    assert check_dim(None, 64) == 64
    with pytest.raises(ValueError, match="between 1 and 64"):
        check_dim(65, 64)
    with pytest.raises(ValueError):
        check_dim(0, 64)
    with pytest.warns(UserWarning, match="below 32"):
        check_dim(16, 64)
