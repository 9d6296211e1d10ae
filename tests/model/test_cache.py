"""The engine's cache of prepared media and vision features (core/cache.py): same outputs, less work."""

from __future__ import annotations

import os
import threading
from collections import Counter

import numpy as np
import pytest

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.core.cache import MediaCache, default_cache_bytes
from tests.conftest import fork_in_fresh_process, random_image
from tests.unit.conftest import write_video


class TowerSpy:
    """Counts the visuals (grid rows) each vision-tower call of ``model`` encodes."""

    def __init__(self, model, monkeypatch):
        self.rows: list[tuple] = []
        self._inside = threading.local()
        for name in ("get_image_features", "get_video_features"):
            monkeypatch.setattr(model, name, self._wrap(getattr(model, name)))

    def _wrap(self, real):
        def spy(pixels, grid, **kwargs):
            outer = not getattr(self._inside, "active", False)  # get_video_features calls get_image_features
            if outer:
                self.rows.extend(tuple(int(x) for x in row) for row in grid.tolist())
                self._inside.active = True
            try:
                return real(pixels, grid, **kwargs)
            finally:
                if outer:
                    self._inside.active = False
        return spy

    @property
    def visuals(self) -> int:
        return len(self.rows)


def with_cache(engine, cache_bytes: int | None = 1 << 30):
    """An engine over the same weights with its own cache (``cache_bytes=0``: none)."""
    config = EngineConfig(cache_bytes=cache_bytes)
    if isinstance(engine, Qwen3VLReranker):
        return Qwen3VLReranker(engine.model, engine.processor, score_weight=engine.score_weight, config=config)
    return Qwen3VLEmbedder(engine.model, engine.processor, config=config)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Image files, frame files and two mp4s."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("media")
    images = []
    for k, (h, w) in enumerate([(120, 160), (64, 64), (200, 90), (96, 300)]):
        path = folder / f"img{k}.{'png' if k % 2 else 'jpg'}"
        random_image(rng, h, w).save(path)
        images.append(str(path))
    frames = []
    for k in range(5):
        path = folder / f"frame{k}.png"
        random_image(rng, 48, 64).save(path)
        frames.append(str(path))
    clips = [str(write_video(folder / f"clip{k}.mp4", frames=20 + 10 * k)) for k in range(2)]
    return {"images": images, "frames": frames, "clips": clips, "pil": random_image(rng, 80, 100)}


def documents(media) -> list:
    im, fr, clips = media["images"], media["frames"], media["clips"]
    return ["plain text", {"image": im[0]}, {"image": im[1], "text": "with caption"}, {"video": fr[:4]},
            {"video": clips[0]}, {"image": im[0]},  # a duplicate within the call
            {"image": media["pil"]}, {"video": fr[1:5], "text": "frames"}, {"image": [im[2], im[3]]}]


@pytest.mark.slow
def test_rerank_workload_is_identical_with_and_without_cache(reranker, media, monkeypatch):
    cached, plain = with_cache(reranker), with_cache(reranker, 0)
    queries = ["a query", {"image": media["images"][3]}, {"image": media["images"][1], "text": "what is this"},
               {"video": media["frames"][:2]}]
    docs = documents(media)
    spy = TowerSpy(reranker.model, monkeypatch)
    expected = [plain.score(q, docs) for q in queries]
    uncached_visuals = spy.visuals
    spy.rows.clear()
    for _ in range(2):  # cold, then warm
        assert [cached.score(q, docs) for q in queries] == expected  # bit-identical
    # every distinct visual of the workload went through the tower once, in both runs together
    distinct = {*media["images"], "frames0-4", "clip0", "pil", "frames1-5", "frames0-2"}
    assert spy.visuals == len(distinct) < uncached_visuals
    assert plain.cache.stats()["entries"] == 0 and cached.cache.stats()["hits"] > 0


@pytest.mark.slow
def test_embed_with_duplicates_is_identical_and_each_visual_is_encoded_once(embedder, media, monkeypatch):
    cached, plain = with_cache(embedder), with_cache(embedder, 0)
    items = documents(media) * 2
    spy = TowerSpy(embedder.model, monkeypatch)
    expected = plain.embed(items)
    assert spy.visuals == 2 * 9  # without the cache every visual of every item is encoded
    spy.rows.clear()
    first = cached.embed(items)
    assert np.array_equal(first, expected)
    assert spy.visuals == 8  # distinct visuals: 4 images, 1 PIL, 2 frame lists, 1 mp4
    assert np.array_equal(cached.embed(items), expected)
    assert spy.visuals == 8  # a later call encodes nothing
    stats = cached.cache.stats()
    assert stats["misses"] == 16 and stats["hits"] == 4 * 18 - 16  # 8 prepared + 8 features computed


def test_a_hit_returns_data_later_code_cannot_corrupt(embedder, media):
    pre = with_cache(embedder).preprocessor
    first = pre.image(media["images"][0])
    size = first.meta["size"]
    first.meta["size"] = "changed"
    first.features = ("not", "features")
    second = pre.image(media["images"][0])
    assert second is not first and second.features is None and second.meta["size"] == size
    assert second.cache_key == first.cache_key and pre.cache.stats()["hits"] == 1


def test_changed_file_bytes_under_the_same_path_miss(embedder, tmp_path, rng, monkeypatch):
    cached = with_cache(embedder)
    image, frame, clip = tmp_path / "same.png", tmp_path / "frame.png", tmp_path / "clip.mp4"
    items = [{"image": str(image)}, {"video": [str(frame), str(frame)]}, {"video": str(clip)}]

    def write(version: int) -> None:
        random_image(rng, 64, 96).save(image)
        random_image(rng, 48, 64).save(frame)
        write_video(clip, frames=20 + version)
        for path in (image, frame, clip):
            os.utime(path, ns=(10**18, 10**18))  # same path, same mtime: only the bytes differ

    write(0)
    before = cached.embed(items)
    write(1)
    spy = TowerSpy(embedder.model, monkeypatch)
    after = cached.embed(items)
    assert spy.visuals == 3  # nothing was served from the cache
    assert np.array_equal(after, with_cache(embedder, 0).embed(items))
    assert all(not np.array_equal(a, b) for a, b in zip(after, before))


def test_changed_max_pixels_fps_or_max_frames_miss(embedder, media):
    pre = with_cache(embedder).preprocessor
    image, clip, frames = media["images"][3], media["clips"][1], media["frames"]
    full = pre.image(image)
    small = pre.image(image, max_pixels=64 * 64)
    assert small.grid_thw != full.grid_thw and pre.cache.stats()["hits"] == 0
    one, two = pre.video(clip, fps=1.0), pre.video(clip, fps=2.0)
    assert one.meta["effective"]["fps"] == 1.0 and two.meta["effective"]["fps"] == 2.0
    assert one.grid_thw != two.grid_thw
    four, two_frames = pre.video(frames, max_frames=4), pre.video(frames, max_frames=2)
    assert four.grid_thw[0] == 2 and two_frames.grid_thw[0] == 1
    assert pre.cache.stats() | {"bytes": 0, "peak_bytes": 0} == {
        "hits": 0, "misses": 6, "evictions": 0, "bytes": 0, "peak_bytes": 0, "entries": 6}
    assert pre.image(image).cache_key == full.cache_key and pre.cache.stats()["hits"] == 1


def test_an_in_memory_image_is_keyed_by_its_pixels(embedder, rng):
    pre = with_cache(embedder).preprocessor
    pil = random_image(rng, 64, 64)
    first = pre.image(pil)
    pil.putpixel((3, 3), (1, 2, 3))  # the same object, other pixels
    assert pre.image(pil).cache_key != first.cache_key
    assert pre.image(np.asarray(pil)).cache_key == pre.image(pil).cache_key  # same RGB pixels, same key


def test_byte_cap_holds_for_a_stream_of_images_and_eviction_is_lru(embedder, rng):
    pre = with_cache(embedder).preprocessor
    images = [random_image(rng, 256, 256) for _ in range(8)]
    entry = pre.image(images[0]).pixel_values.untyped_storage().nbytes()
    pre.cache = cache = MediaCache(int(3.5 * entry))
    for img in images[:3]:
        pre.image(img)
    pre.image(images[0])  # 0 is now the most recently used; 1 is the least
    pre.image(images[3])  # evicts 1
    hits = cache.stats()["hits"]
    pre.image(images[0])
    pre.image(images[2])
    assert cache.stats()["hits"] == hits + 2
    pre.image(images[1])
    assert cache.stats()["hits"] == hits + 2  # 1 was evicted
    for img in images[4:] * 2:
        pre.image(img)
        stats = cache.stats()
        assert stats["bytes"] <= cache.max_bytes and stats["entries"] <= 3
    assert stats["peak_bytes"] <= cache.max_bytes and stats["evictions"] >= 9


def test_concurrent_calls_sharing_visuals_encode_each_at_most_twice(embedder, media, monkeypatch):
    cached = with_cache(embedder)
    items = [{"image": path} for path in media["images"]] + [{"video": media["frames"]}]
    expected = with_cache(embedder, 0).embed(items)
    spy = TowerSpy(embedder.model, monkeypatch)
    calls, start, results = 6, threading.Barrier(6), []

    def call():
        start.wait()
        results.append(cached.embed(items))

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # concurrent calls share forward passes (cross-caller batches), so rows meet other rows' GEMM shapes:
    # equal to float32 rounding, not bit for bit (the sequential tests above check bit identity)
    assert len(results) == calls and all(np.allclose(r, expected, rtol=0, atol=1e-6) for r in results)
    per_visual = Counter(spy.rows)
    assert len(per_visual) == len(items) and max(per_visual.values()) <= 2  # never once per call


def test_cache_off_and_config(embedder, media, monkeypatch):
    off = with_cache(embedder, 0)
    assert not off.cache.enabled
    off.embed([{"image": media["images"][0]}] * 2)
    assert off.cache.stats() == {"hits": 0, "misses": 0, "evictions": 0, "bytes": 0, "peak_bytes": 0, "entries": 0}
    assert 0 < with_cache(embedder, None).cache.max_bytes == default_cache_bytes(embedder.device) <= 8 * 1024 ** 3
    assert EngineConfig.from_env({"QWEN3VL_CACHE_BYTES": "0"}).cache_bytes == 0
    assert EngineConfig.from_env({"QWEN3VL_CACHE_BYTES": "auto"}).cache_bytes is None
    with pytest.raises(ValueError, match="cache_bytes"):
        EngineConfig(cache_bytes=-1)


ENCODING_ON_A_THREAD = """
import os, threading, time
import torch
from qwen3vl_integrations.core.cache import MediaCache
from qwen3vl_integrations.core.processing import VisualInput

def visual():
    return VisualInput(torch.zeros(4, 8), (1, 2, 2), "<img>", cache_key="the same media")

def run(todo):
    for v in todo:
        v.features = (torch.ones(1, 4), (torch.ones(1, 4),))

cache = MediaCache(1 << 20)
started = threading.Event()

def never_finishes(todo):
    started.set()
    threading.Event().wait()

threading.Thread(target=cache.encode, args=([visual()], "cpu", never_finishes), daemon=True).start()
started.wait()  # that thread is encoding the visual: it is in flight at the fork

def child():
    mine = visual()
    cache.encode([mine], "cpu", run)
    return 0 if mine.features is not None else 3
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_visual_is_encoded_encodes_it_itself():
    """A visual another thread was encoding at the fork is computed in the child, not waited for:
    that thread does not exist there, so before the at-fork reset the child waited forever."""
    out = fork_in_fresh_process(ENCODING_ON_A_THREAD)
    assert out.stdout.strip() == "child exited 0", out.stderr[-2000:]
