"""Resizing, video sampling, the 4.57 video layout and M-RoPE positions (docs/model-contract.md, section 6), and the
pixel budget of one video."""

import math

import numpy as np
import pytest
import torch
from qwen_vl_utils.vision_process import smart_resize

from tests.conftest import random_image
from tests.unit.conftest import write_video

VIDEO_MIN = 128 * 32 * 32
TOTAL_PIXELS = 7_864_320


def frame_ceiling(nframes: int) -> float:
    return max(min(786432, TOTAL_PIXELS / nframes * 2), int(VIDEO_MIN * 1.05))


@pytest.mark.parametrize("height,width", [(64, 64), (17, 900), (1000, 120), (640, 480), (3000, 2000), (1, 1), (27, 500)])
def test_image_grid_equals_smart_resize(embedder, rng, height, width):
    item = embedder.prepare({"image": random_image(rng, height, width)})
    h, w = smart_resize(height, width, factor=32, min_pixels=4096, max_pixels=1843200)
    (visual,) = item.images
    assert visual.grid_thw == (1, h // 16, w // 16)
    assert item.input_ids.count(151655) == (h // 32) * (w // 32)


def test_video_prompt_layout_is_the_transformers_457_layout(embedder, rng):
    frames = [random_image(rng, 320, 448) for _ in range(5)]
    ids = embedder.prepare({"video": frames}).input_ids
    text = embedder.processor.tokenizer.decode(ids)
    block = "<|vision_start|>" + "<|video_pad|>" * 140 + "<|vision_end|>"
    content = "<0.2 seconds>" + block + "<1.2 seconds>" + block + "<2.2 seconds>" + block
    assert text == ("<|im_start|>system\nRepresent the user's input.<|im_end|>\n<|im_start|>user\n" + content
                    + "<|im_end|>\n<|im_start|>assistant\n")
    assert ids.count(151652) == 3 and ids.count(151653) == 3  # no extra outer vision pair


def test_installed_processor_layout_differs_only_by_the_outer_pair(embedder, hf_processor, rng):
    """Pins why the project expands videos itself: transformers 5.x keeps an extra outer pair."""
    frames = [random_image(rng, 320, 448) for _ in range(4)]
    ours = embedder.processor.tokenizer.decode(embedder.prepare({"video": frames}).input_ids)
    prompt = ("<|im_start|>system\nRepresent the user's input.<|im_end|>\n<|im_start|>user\n"
              "<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n<|im_start|>assistant\n")
    video = torch.from_numpy(np.stack([np.asarray(f) for f in frames]).transpose(0, 3, 1, 2).copy()).float()
    out = hf_processor(text=[prompt], videos=[video], do_resize=False, do_sample_frames=False,
                       video_metadata=[{"fps": 2.0, "frames_indices": [0, 1, 2, 3], "total_num_frames": 4}])
    theirs = hf_processor.tokenizer.decode(out["input_ids"][0])
    outer = theirs.replace("user\n<|vision_start|><0.2", "user\n<0.2", 1).replace(
        "<|vision_end|><|vision_end|><|im_end|>", "<|vision_end|><|im_end|>", 1)
    assert outer == ours
    if theirs != ours:
        assert len(theirs) - len(ours) == len("<|vision_start|><|vision_end|>")


@pytest.mark.parametrize("count", [1, 5, 7, 64, 100])
def test_frame_list_counts(embedder, rng, count):
    frames = [random_image(rng, 48, 80) for _ in range(count)]
    (visual,) = embedder.prepare({"video": frames}).videos
    sampled = min(count, 64)
    nframes = sampled + sampled % 2
    # frames are pre-resized to multiples of 64, then to multiples of 32 within the per-frame ceiling
    h0, w0 = smart_resize(48, 80, factor=64, min_pixels=4 * 64 * 64, max_pixels=16384 * 64 * 64)
    h, w = smart_resize(h0, w0, factor=32, min_pixels=VIDEO_MIN, max_pixels=frame_ceiling(nframes))
    assert visual.grid_thw == (nframes // 2, h // 16, w // 16)
    assert visual.tokens.count("<|video_pad|>") == nframes // 2 * (h // 32) * (w // 32)
    assert visual.tokens.count("seconds>") == nframes // 2


@pytest.mark.parametrize("frames,fps", [(30, 10), (90, 30), (200, 2)])
def test_mp4_frame_and_token_counts(embedder, tmp_path, frames, fps):
    path = tmp_path / "clip.mp4"
    write_video(path, frames=frames, fps=fps, width=320, height=240, codec="mpeg4")
    (visual,) = embedder.prepare({"video": str(path)}).videos
    nframes = min(max(frames / fps * 1.0, 4), 64, frames)
    nframes = int(nframes // 2 * 2)
    h, w = smart_resize(240, 320, factor=32, min_pixels=VIDEO_MIN, max_pixels=frame_ceiling(nframes))
    assert visual.grid_thw == (nframes // 2, h // 16, w // 16)
    assert visual.tokens.count("<|video_pad|>") == nframes // 2 * (h // 32) * (w // 32)
    indices = np.round(np.linspace(0, frames - 1, nframes)).astype(int)
    expected = [(indices[i] + indices[i + 1]) / 2 / fps for i in range(0, nframes, 2)]
    assert visual.meta["timestamps"] == pytest.approx(expected)
    assert all(f"<{t:.1f} seconds>" in visual.tokens for t in expected)


def test_rope_positions_equal_transformers(embedder, hf_model, rng):
    from qwen3vl_integrations.core.processing import rope_positions

    item = embedder.prepare({"text": "hello", "image": [random_image(rng, 64, 128), random_image(rng, 96, 32)],
                             "video": [random_image(rng, 64, 64)] * 4})
    ids = torch.tensor([item.input_ids])
    types = torch.zeros_like(ids, dtype=torch.int32)
    types[ids == 151655], types[ids == 151656] = 1, 2
    images = torch.tensor([v.grid_thw for v in item.images])
    videos = torch.tensor([v.grid_thw for v in item.videos])
    expected, _ = hf_model.model.get_rope_index(ids, types, image_grid_thw=images, video_grid_thw=videos)
    ours = rope_positions(item.input_ids, [v.grid_thw for v in item.images], [v.grid_thw for v in item.videos])
    assert torch.equal(ours, expected[:, 0])


def test_thin_image_with_lowered_max_pixels_never_gets_a_zero_side(embedder, rng):
    from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder

    low = Qwen3VLEmbedder(embedder.model, embedder.processor, config=EngineConfig(min_pixels=1024, max_pixels=20 * 32 * 32))
    (visual,) = low.prepare({"image": random_image(rng, 31, 700)}).images
    assert visual.grid_thw[1] > 0 and visual.grid_thw[2] > 0
    assert math.isfinite(float(low.embed([{"image": random_image(rng, 31, 700)}])[0][0]))


# --------------------------------------------------------------------------- the pixel budget of one video


def assert_within_budget(visual, policy) -> dict:
    """The video's effective values agree with the tensors built, and those fit the policy's budget."""
    effective = visual.meta["effective"]
    t, gh, gw = visual.grid_thw
    width, height = effective["size"]
    assert effective["frames"] == 2 * t and (width, height) == (gw * 16, gh * 16)
    assert effective["pixels"] == effective["frames"] * width * height == int(visual.pixel_values.shape[0]) * 256 * 2
    assert effective["pixels"] <= policy.max_video_pixels
    return effective


def budgeted(embedder, **policy):
    from qwen3vl_integrations import MediaPolicy, Qwen3VLEmbedder

    return Qwen3VLEmbedder(embedder.model, embedder.processor, config=embedder.config, policy=MediaPolicy(**policy))


@pytest.mark.parametrize("height,width", [(720, 1280), (1080, 1920), (48, 64), (64, 64), (30, 4000), (2160, 3840)])
def test_the_default_budget_holds_the_contract_default(embedder, height, width):
    """64 frames at the contract's per-frame ceiling fit DEFAULT_POLICY.max_video_pixels unchanged."""
    assert embedder.preprocessor.frames_within_budget(height, width, 64) == 64


def test_frame_list_is_clamped_to_the_pixel_budget(embedder, rng):
    """Issue 11 item 2: listed 16x16 frames are upscaled to >= 131,072 pixels each; max_frames is
    lowered (from the first frame's size, before the others load) so that the computed pixels fit."""
    small = budgeted(embedder, max_video_pixels=1_500_000)
    (visual,) = small.prepare({"video": [random_image(rng, 16, 16)] * 40}).videos
    effective = assert_within_budget(visual, small.policy)
    assert effective["clamped_by"] == ("max_video_pixels",) and effective["total_frames"] == 40
    assert 2 <= effective["frames"] <= effective["max_frames"] < 40


def test_video_file_is_clamped_to_the_pixel_budget(embedder, tmp_path):
    path = write_video(tmp_path / "clip.mp4", frames=60, fps=30, width=64, height=48)
    small = budgeted(embedder, max_video_pixels=1_500_000)
    (visual,) = small.prepare({"video": str(path), "fps": 30, "max_frames": 768}).videos
    effective = assert_within_budget(visual, small.policy)
    assert effective["clamped_by"] == ("max_video_pixels",) and effective["total_frames"] == 60
    assert effective["frames"] <= effective["max_frames"] < 60 and effective["fps"] == 30.0


@pytest.mark.slow
def test_many_small_frames_fit_the_default_budget(embedder, rng):
    """Issue 11 item 2 as observed: 200 listed 16x16 frames at max_frames=200 were 29M computed
    pixels (memory grew with max_frames); under DEFAULT_POLICY they are clamped to its budget."""
    from qwen3vl_integrations.media import DEFAULT_POLICY

    (visual,) = embedder.prepare({"video": [random_image(rng, 16, 16)] * 200, "max_frames": 200}).videos
    effective = assert_within_budget(visual, DEFAULT_POLICY)
    assert effective["clamped_by"] == ("max_video_pixels",)
    assert 100 <= effective["max_frames"] < 200


def test_a_video_whose_two_frames_exceed_the_budget_is_refused(embedder, rng, tmp_path):
    from qwen3vl_integrations import ItemError, MediaTooLargeError

    tight = budgeted(embedder, max_video_pixels=200_000)
    path = write_video(tmp_path / "clip.mp4", frames=8, fps=4)
    out = tight.embed(["ok", {"video": [random_image(rng, 32, 32)] * 4}, {"video": str(path)}], errors="return")
    assert not isinstance(out[0], ItemError)
    for index in (1, 2):
        assert isinstance(out[index], ItemError) and out[index].code == "media_too_large"
        assert out[index].message.startswith(f"input[{index}]: ") and "max_video_pixels=200000" in out[index].message
    with pytest.raises(MediaTooLargeError, match="max_video_pixels"):
        tight.preprocessor.frames_within_budget(48, 64, 64)


def test_a_video_list_mixing_a_file_and_a_frame_list_is_two_videos(embedder, rng, tmp_path):
    """Issue 11 item 4: ``{"video": ["clip.mp4", [f1, f2]]}`` failed with "frame 0: local image
    file is not a recognised image"; it is two videos, each prepared as it would be alone."""
    path = str(write_video(tmp_path / "clip.mp4", frames=20, fps=10, width=64, height=48))
    frames = [random_image(rng, 64, 96) for _ in range(4)]
    both = embedder.prepare({"video": [path, frames]})
    alone = [embedder.prepare({"video": path}).videos[0], embedder.prepare({"video": frames}).videos[0]]
    assert len(both.videos) == 2
    for ours, single in zip(both.videos, alone):
        assert ours.grid_thw == single.grid_thw and ours.tokens == single.tokens
        assert torch.equal(ours.pixel_values, single.pixel_values)
    vectors = embedder.embed([{"video": [path, frames]}, {"video": [frames, path]}])
    assert np.isfinite(vectors).all() and vectors.shape[0] == 2
