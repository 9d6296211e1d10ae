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
    from qwen3vl_integrations import InputError

    with pytest.raises(InputError, match="dim must be an int") as info:
        check_dim("x", 64)
    assert info.value.param == "dim" and info.value.code == "invalid_input"
    with pytest.warns(UserWarning, match="below 32"):
        check_dim(16, 64)


def _sentence_transformers_int8(embeddings, calibration):
    """sentence-transformers' ``quantize_embeddings(..., "int8", calibration_embeddings=...)`` as its
    documentation states it: 255 steps between each dimension's calibration min and max, minus 128,
    cast to int8 (truncation towards zero)."""
    ranges = np.vstack((calibration.min(axis=0), calibration.max(axis=0)))
    steps = (ranges[1] - ranges[0]) / 255
    return ((embeddings - ranges[0]) / steps - 128).astype(np.int8)


def test_calibrated_int8_gives_the_sentence_transformers_codes(vectors):
    rng = np.random.default_rng(1)
    calibration = rng.normal(size=(200, 64)).astype(np.float32)
    calibration /= np.linalg.norm(calibration, axis=1, keepdims=True)
    inside = np.clip(vectors, calibration.min(axis=0), calibration.max(axis=0))  # within the calibration ranges
    ours = quantize(inside, "int8", calibration)
    assert ours.dtype == np.int8
    assert np.array_equal(ours, _sentence_transformers_int8(inside, calibration))
    assert not np.array_equal(ours, quantize(inside, "int8"))  # not the fixed-scale codes
    # per vector: the same codes alone as in a batch
    assert np.array_equal(np.stack([quantize(v[None], "int8", calibration)[0] for v in inside]), ours)


def test_calibrated_int8_clips_outside_the_ranges_and_handles_flat_dimensions():
    calibration = np.array([[0.0, 0.5], [0.1, 0.5]], dtype=np.float32)  # dimension 1 has one value
    out = quantize(np.array([[-1.0, 0.9], [1.0, 0.5]], dtype=np.float32), "int8", calibration)
    assert out.tolist() == [[-128, -128], [127, -128]]


def test_calibration_is_checked():
    from qwen3vl_integrations import InputError

    vectors = np.ones((2, 8), dtype=np.float32) / np.sqrt(8)
    with pytest.raises(InputError, match="precision='int8' only") as info:
        quantize(vectors, "binary", np.ones((3, 8), np.float32))
    assert info.value.param == "calibration_embeddings"
    with pytest.raises(InputError, match=r"shape \(N, 8\)"):
        quantize(vectors, "int8", np.ones((3, 4), np.float32))
    with pytest.raises(InputError, match="non-finite"):
        quantize(vectors, "int8", np.full((3, 8), np.nan, np.float32))


def test_result_types_are_exported_once():
    import qwen3vl_integrations
    from qwen3vl_integrations.core import outputs

    assert qwen3vl_integrations.EmbedOutput is outputs.EmbedOutput
    assert qwen3vl_integrations.ScoreOutput is outputs.ScoreOutput
    assert qwen3vl_integrations.RerankResult is outputs.RerankResult
