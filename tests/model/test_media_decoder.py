"""MediaDecoder: media decoded apart from the model embed exactly like the raw inputs, and decoded
media made for other settings are refused, not silently used."""

from pathlib import Path

import numpy as np
import pytest

from qwen3vl_integrations import EngineConfig, InputError, MultimodalInput
from qwen3vl_integrations.core.decoding import DecodedImage, DecodedVideo, MediaDecoder
from tests.conftest import random_image

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"


def mixed_items(rng) -> list:
    image = (MEDIA / "coffee.jpg").read_bytes()
    frames = [random_image(rng, 96, 128) for _ in range(5)]
    return [
        {"image": image},
        {"image": str(MEDIA / "cat_chelsea.jpg"), "text": "a cat", "instruction": "Find cats."},
        {"video": str(MEDIA / "bouncing_ball.mp4")},
        {"video": frames, "text": "frames"},
        {"image": [image, random_image(rng, 40, 300)]},
    ]


def test_decoded_items_embed_exactly_like_raw_items(embedder, rng):
    items = mixed_items(rng)
    decoder = MediaDecoder(embedder.config, embedder.policy)
    decoded = [decoder.decode(item) for item in items]
    assert all(isinstance(i, DecodedImage) for d in decoded for i in d.images)
    assert all(isinstance(v, DecodedVideo) for d in decoded for v in d.videos)
    assert decoded[1].texts == ("a cat",) and decoded[1].instruction == "Find cats."
    np.testing.assert_allclose(embedder.embed(decoded), embedder.embed(items), rtol=0, atol=1e-6)


def test_decoded_image_is_resized_to_the_model_size(embedder):
    decoded = MediaDecoder(embedder.config).decode_image((MEDIA / "coffee.jpg").read_bytes())
    height, width = decoded.pixels.shape[:2]
    assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape[2] == 3
    assert height % 32 == 0 and width % 32 == 0 and height * width <= embedder.config.max_pixels
    item = embedder.prepare(MultimodalInput(images=(decoded,)))
    assert item.images[0].meta["size"] == (width, height)


def test_media_decoded_for_other_settings_are_refused(embedder):
    other = EngineConfig(max_pixels=64 * 64, total_pixels=embedder.config.total_pixels // 2)
    decoder = MediaDecoder(other)
    image = decoder.decode({"image": str(MEDIA / "coffee.jpg")})
    video = decoder.decode({"video": str(MEDIA / "bouncing_ball.mp4")})
    results = embedder.embed([image, video, "fine"], errors="return")
    assert [getattr(r, "code", None) for r in results[:2]] == ["invalid_input", "invalid_input"]
    assert "max_pixels" in results[0].message and "total_pixels" in results[1].message
    assert results[2].shape == (embedder.dim,)
    with pytest.raises(InputError, match="decoded image"):
        embedder.embed([image])


def test_decoded_media_bypass_the_cache_and_raw_media_still_use_it(embedder):
    """Decoded media were never read by the engine, so they cannot key its content-hash cache:
    they neither hit nor fill it (both levels), while the raw form still does."""
    assert embedder.cache.enabled
    image, video = (MEDIA / "coffee.jpg").read_bytes(), str(MEDIA / "bouncing_ball.mp4")
    decoded = MediaDecoder(embedder.config, embedder.policy).decode({"image": image, "video": video})
    before = embedder.cache.stats()
    first = embedder.embed([decoded, decoded])
    after_decoded = embedder.cache.stats()
    assert (after_decoded["hits"], after_decoded["misses"], after_decoded["entries"]) == (
        before["hits"], before["misses"], before["entries"])
    raw = embedder.embed([{"image": image, "video": video}])
    assert embedder.cache.stats()["misses"] > after_decoded["misses"] or embedder.cache.stats()["hits"] > before["hits"]
    np.testing.assert_allclose(first[0], raw[0], rtol=0, atol=1e-6)
