"""Model-level robustness: reliability cases 4-17 (images and videos; listed in docs/robustness.md) that
need the embedder. Every fixture is generated in tmp_path; docs/robustness.md maps each case to the
tests here and records what they observed (cases 18-30 are in test_robustness_text.py)."""

from __future__ import annotations

import base64
import re
import time

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations import (
    EngineConfig,
    InputError,
    ItemError,
    MediaDecodeError,
    Qwen3VLError,
    UnsupportedInputError,
    UnsupportedMediaError,
)
from qwen3vl_integrations.media.policy import DEFAULT_POLICY, MediaPolicy
from tests.conftest import cosine, random_image
from tests.model.robustness_helpers import SAME, alone, assert_unit_and_finite, embedder_with, smooth_image
from tests.unit.conftest import MediaServer, png_bytes, write_audio_only, write_video

# --------------------------------------------------------------------------- images (cases 4-11)


@pytest.mark.parametrize("height,width", [(1, 1), (2, 2), (27, 500), (500, 27)])
def test_tiny_images_embed_finite(embedder, rng, height, width):
    """Case 4: images below the 32-pixel factor are upscaled (smart_resize) and embed normally."""
    img = random_image(rng, height, width)
    (visual,) = embedder.prepare({"image": img}).images
    t, gh, gw = visual.grid_thw
    assert t == 1 and gh >= 2 and gw >= 2  # at least one 32x32 token per side
    assert_unit_and_finite(embedder.embed([img]))


def test_extreme_aspect_ratio_is_an_item_error(embedder, rng):
    """Case 5: 1x201, 201x1 and 10000x40 -> UnsupportedMediaError "aspect ratio > 200" at their
    index; the other items of the batch are unaffected."""
    good = [random_image(rng, 40, 60), "a caption", {"text": "x", "image": random_image(rng, 64, 32)}]
    bad = {1: random_image(rng, 201, 1), 3: random_image(rng, 1, 201), 5: random_image(rng, 40, 10000)}
    items = [good[0], bad[1], good[1], bad[3], good[2], bad[5]]
    out = embedder.embed(items, errors="return")
    assert len(out) == len(items)
    for k in bad:
        assert isinstance(out[k], ItemError) and out[k].index == k
        assert out[k].code == "unsupported_media" and isinstance(out[k].error, UnsupportedMediaError)
        assert "aspect ratio > 200" in out[k].message and f"input[{k}]" in out[k].message
    vectors = np.stack([out[0], out[2], out[4]])
    assert cosine(vectors, alone(embedder, good)).min() >= SAME
    with pytest.raises(UnsupportedMediaError, match=r"input\[1\].*aspect ratio > 200"):
        embedder.embed(items)
    # the same refusal for an encoded file (header check)
    with pytest.raises(UnsupportedMediaError, match="aspect ratio > 200"):
        embedder.embed([{"image": png_bytes(random_image(rng, 40, 10000))}])


def test_thin_image_lowered_max_pixels(embedder, rng):
    """Case 6: 31x700 with max_pixels=20*32^2 (and min_pixels=1024): qwen-vl-utils' smart_resize
    floors the thin side to 0 here (its max(factor, .) only guards the rounding step); the core
    clamps each side to at least one factor, so the image is never resized to a zero side."""
    low = embedder_with(embedder, max_pixels=20 * 32 * 32, min_pixels=1024)
    img = random_image(rng, 31, 700)
    (visual,) = low.prepare({"image": img}).images
    w, h = visual.meta["size"]
    assert h >= 32 and w >= 32 and h % 32 == 0 and w % 32 == 0
    assert all(g > 0 for g in visual.grid_thw) and visual.grid_thw[0] == 1
    assert (h, w) == (32, 672)  # upstream gives (0, 672); the 0 is clamped to one factor (32)
    assert_unit_and_finite(low.embed([img]))


def _image_mode_files(tmp_path):
    """Files of every awkward mode (case 7) plus the 8-bit twin of the 16-bit image."""
    files = {}
    rgb = smooth_image(48, 64)
    cmyk = rgb.convert("CMYK")
    assert cmyk.mode == "CMYK"
    cmyk.save(tmp_path / "cmyk.jpg", "JPEG", quality=95)
    files["CMYK JPEG"] = tmp_path / "cmyk.jpg"

    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p_trns.png", transparency=0)
    with Image.open(tmp_path / "p_trns.png") as check:
        assert check.mode == "P" and "transparency" in check.info
    files["P+tRNS PNG"] = tmp_path / "p_trns.png"

    grey = np.asarray(rgb.convert("L"))
    alpha = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (48, 1))
    Image.fromarray(np.stack([grey, alpha], -1), "LA").save(tmp_path / "la.png")
    files["LA PNG"] = tmp_path / "la.png"
    Image.fromarray(np.dstack([np.asarray(rgb), alpha]), "RGBA").save(tmp_path / "rgba.png")
    files["RGBA PNG"] = tmp_path / "rgba.png"

    grey16 = grey.astype(np.uint16) * 257  # exact 8 -> 16 bit scaling
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as check:
        assert check.mode.startswith("I")  # 16-bit greyscale PNG (I;16 or I, depending on Pillow)
    files["I;16 PNG"] = tmp_path / "grey16.png"
    Image.fromarray(grey16.astype(np.int32), "I").save(tmp_path / "int32.tif")
    with Image.open(tmp_path / "int32.tif") as check:
        assert check.mode == "I"
    files["32-bit I TIFF"] = tmp_path / "int32.tif"

    Image.fromarray(grey, "L").save(tmp_path / "grey8.png")
    return files, tmp_path / "grey8.png"


def test_image_modes_embed(embedder, tmp_path):
    """Case 7: CMYK, P+tRNS, LA, RGBA, I;16 and 32-bit I all embed; the 16-bit image embeds like
    its correctly scaled 8-bit version (not clipped to white)."""
    files, grey8 = _image_mode_files(tmp_path)
    names = list(files)
    vectors = embedder.embed([{"image": files[n]} for n in names] + [{"image": grey8}])
    assert_unit_and_finite(vectors)
    by_name = dict(zip(names + ["8-bit"], vectors))
    assert cosine(by_name["I;16 PNG"], by_name["8-bit"]) >= 0.99
    assert cosine(by_name["32-bit I TIFF"], by_name["8-bit"]) >= 0.99  # 0..65535 range: / 257 too
    white = embedder.embed([Image.new("RGB", (64, 48), "white")])[0]
    assert cosine(by_name["I;16 PNG"], white) < 0.99  # the check above can tell clipping apart


def test_exif_rotation_embedding(embedder, tmp_path):
    """Case 8: an EXIF Orientation=6 JPEG embeds like its pixels rotated 90 degrees clockwise."""
    raw = smooth_image(96, 160)
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = tmp_path / "oriented.jpg"
    raw.save(jpeg, "JPEG", quality=98, exif=exif.tobytes())
    with Image.open(jpeg) as stored:  # the same decoded JPEG pixels, rotated by hand, saved lossless
        assert stored.getexif().get(0x0112) == 6
        decoded = stored.convert("RGB")
    rotated = Image.fromarray(np.rot90(np.asarray(decoded), -1).copy())
    assert rotated.size == (96, 160)
    rotated.save(tmp_path / "rotated.png")
    unrotated = Image.fromarray(np.asarray(decoded))  # same pixels, no EXIF block
    v_jpeg, v_rotated, v_unrotated = embedder.embed([jpeg, tmp_path / "rotated.png", unrotated])
    assert cosine(v_jpeg, v_rotated) >= 0.999
    assert cosine(v_jpeg, v_unrotated) < 0.99  # ignoring the tag would be caught


def test_animated_gif_is_frame_0(embedder, tmp_path):
    """Case 9: an animated GIF embeds as its first frame (documented behaviour)."""
    colours = [(250, 10, 10), (10, 250, 10), (10, 10, 250)]
    frames = []
    for i, colour in enumerate(colours):
        arr = np.zeros((64, 96, 3), np.uint8)
        arr[:] = colour
        arr[:, : 20 * (i + 1)] = 255 - np.array(colour, np.uint8)
        frames.append(Image.fromarray(arr))
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(gif) as check:
        assert check.n_frames == 3 and check.is_animated
        check.seek(0)
        frame0 = check.convert("RGB")
        check.seek(1)
        frame1 = check.convert("RGB")
    v_gif, v0, v1 = embedder.embed([gif, frame0, frame1])
    assert cosine(v_gif, v0) >= SAME
    assert cosine(v_gif, v1) < 0.99


@pytest.fixture
def http_server():
    server = MediaServer()
    yield server
    server.close()


def test_same_image_all_sources(embedder, tmp_path, rng, http_server):
    """Case 10: path, pathlib.Path, file:// URI, http URL (127.0.0.1), data URI, bare base64, bytes
    and a PIL object give one embedding."""
    img = random_image(rng, 90, 130)
    data = png_bytes(img)
    path = tmp_path / "same.png"
    path.write_bytes(data)
    http_server.add_body("/same.png", data)
    b64 = base64.b64encode(data).decode()
    sources = {
        "path str": str(path),
        "pathlib.Path": path,
        "file URI": path.as_uri(),
        "http URL": http_server.url("/same.png"),
        "data URI": "data:image/png;base64," + b64,
        "bare base64": b64,
        "bytes": data,
        "PIL": img,
    }
    local = embedder_with(embedder, policy=MediaPolicy(allow_private_networks=True))
    vectors = local.embed([{"image": s} for s in sources.values()])
    assert len(http_server.requests) == 1
    assert_unit_and_finite(vectors)
    assert cosine(vectors[:, None], vectors[None]).min() >= 0.9999
    # the default policy refuses the loopback URL (the test above needed allow_private_networks)
    out = embedder.embed([{"image": sources["http URL"]}], errors="return")
    assert isinstance(out[0], ItemError) and out[0].code == "media_policy"


def test_distinct_images_distinct_vectors(embedder, rng):
    """Case 11: N different images in one call -> N distinct vectors, none the "NULL" vector."""
    images = [random_image(rng, 64 + 16 * i, 80 + 8 * (i % 3)) for i in range(6)]
    vectors = embedder.embed(images)
    assert vectors.shape == (6, embedder.dim)
    sims = cosine(vectors[:, None], vectors[None])
    assert sims[~np.eye(6, dtype=bool)].max() < 0.99
    null = embedder.embed(["NULL"])[0]
    assert cosine(vectors, null).max() < 0.99
    assert cosine(vectors, alone(embedder, images)).min() >= SAME  # each in its own row


# --------------------------------------------------------------------------- videos (cases 12-17)


@pytest.fixture
def bad_videos(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    write_video(tmp_path / "one.mp4", frames=1)
    full = write_video(tmp_path / "full.mp4", frames=40).read_bytes()
    assert full.rfind(b"moov") > len(full) // 2  # moov at the end: the first half has none
    (tmp_path / "no_moov.mp4").write_bytes(full[: len(full) // 2])
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    try:
        write_audio_only(tmp_path / "audio.mp4")
    except Exception as exc:
        pytest.skip(f"PyAV cannot write an audio-only file here: {exc}")
    return {name: tmp_path / f"{name}.mp4" for name in ("empty", "one", "no_moov", "noise", "audio")}


def test_bad_videos_are_typed_item_errors(embedder, tmp_path, rng, bad_videos):
    """Cases 12/13: zero-byte, 1-frame, moov-less, random-bytes and audio-only files -> a
    MediaDecodeError at their index; a 3-frame clip is clamped to 2 frames; good items are fine."""
    short = write_video(tmp_path / "short.mp4", frames=3, fps=15)  # 0.2 s: fewer frames than nframes' minimum
    good_video = write_video(tmp_path / "good.mp4", frames=12, fps=6)
    items = ["some text", {"video": bad_videos["empty"]}, {"video": good_video}, bad_videos["one"],
             {"video": bad_videos["no_moov"]}, {"image": random_image(rng, 50, 70)}, {"video": bad_videos["noise"]},
             {"video": short}, {"video": str(bad_videos["audio"])}]
    bad = {1: "empty", 3: "too short", 4: "moov|readable", 6: "not a readable video", 8: "no video stream"}
    start = time.monotonic()
    out = embedder.embed(items, errors="return")
    assert time.monotonic() - start < 20
    assert len(out) == len(items)
    for k, pattern in bad.items():
        assert isinstance(out[k], ItemError) and out[k].index == k, k
        assert type(out[k].error) is MediaDecodeError and out[k].code == "media_decode", (k, out[k].message)
        assert f"input[{k}]" in out[k].message
        assert re.search(pattern, out[k].message), (k, out[k].message)
    good = [i for i in range(len(items)) if i not in bad]
    assert_unit_and_finite(np.stack([out[i] for i in good]))
    assert cosine(np.stack([out[i] for i in good]), alone(embedder, [items[i] for i in good])).min() >= SAME
    assert embedder.prepare({"video": short}).videos[0].grid_thw[0] == 1  # 2 sampled frames
    for k in bad:  # errors="raise": the same typed error, naming the item; never a bare ValueError
        with pytest.raises(Qwen3VLError) as info:
            embedder.embed(["ok", items[k]])
        assert type(info.value) is MediaDecodeError and info.value.index == 1
        assert info.value.param == "input[1]" and str(info.value).startswith("input[1]")


def test_video_request_clamped(embedder, tmp_path):
    """Case 16: fps=1000 and max_frames=100000 in the request are clamped to the policy's ceilings
    (reported in the prepared video's meta); min_pixels=10**9 is refused at construction."""
    path = write_video(tmp_path / "clip.mp4", frames=40, fps=10)
    request = {"video": path, "fps": 1000, "max_frames": 100000}
    (video,) = embedder.prepare(request).videos
    effective = video.meta["effective"]
    assert effective["fps"] <= DEFAULT_POLICY.max_sample_fps == 30
    assert effective["max_frames"] <= DEFAULT_POLICY.max_video_frames == 768
    assert effective["total_frames"] == 40
    assert video.meta["frames"] <= 40 and video.grid_thw[0] == 20  # every source frame, never more

    tight = MediaPolicy(max_sample_fps=5, max_video_frames=8)
    strict = embedder_with(embedder, policy=tight)
    (video,) = strict.prepare(request).videos
    assert video.meta["effective"] == {"fps": 5.0, "max_frames": 8, "total_frames": 40, "frames": 8, "size": (448, 320),
                                       "pixels": 8 * 448 * 320, "clamped_by": ("max_video_frames", "max_sample_fps")}
    assert video.meta["frames"] == 8 and video.grid_thw[0] == 4
    assert_unit_and_finite(strict.embed([request]))
    # a frame-list video obeys the same ceiling (40 frames, max_frames=100000 -> 8); kept small so
    # that a regression fails here instead of exhausting memory (10,000 frames would need ~15 GB)
    frames = [smooth_image(16, 16)] * 40
    (video,) = strict.prepare({"video": frames, "max_frames": 100000}).videos
    assert video.meta["effective"] == {"max_frames": 8, "total_frames": 40, "frames": 8, "size": (384, 384),
                                       "pixels": 8 * 384 * 384, "clamped_by": ("max_video_frames",)}
    assert video.meta["frames"] == 8 and video.grid_thw[0] == 4

    with pytest.raises(ValueError, match=r"min_pixels .* exceeds max_pixels"):
        EngineConfig(min_pixels=10**9)
    with pytest.raises(UnsupportedInputError, match="unknown key"):  # no per-request pixel knobs
        embedder.embed([{"image": smooth_image(32, 32), "min_pixels": 10**9}])


@pytest.mark.parametrize("kind,request_values", [
    ("frames", {"max_frames": -5}), ("frames", {"max_frames": "many"}),
    ("file", {"max_frames": "many"}), ("file", {"fps": "fast"}),
])
def test_invalid_video_request_values_are_typed(embedder, tmp_path, kind, request_values):
    """Cases 16/25: invalid per-request fps / max_frames are a typed InputError naming the item
    (a file with max_frames=-5 or fps=-1 already is: read_video validates numbers)."""
    video = [smooth_image(32, 32)] * 20 if kind == "frames" else write_video(tmp_path / "clip.mp4", frames=8, fps=4)
    with pytest.raises(InputError, match=r"input\[0\]"):
        embedder.embed([{"video": video, **request_values}])


def test_frame_list_limits(embedder, rng):
    """Case 17: a 10,000-frame list is sampled to max_frames (64 -> grid t = 32); frames of
    different sizes are a typed error."""
    frame = random_image(rng, 16, 16)
    start = time.monotonic()
    prepared = embedder.prepare({"video": [frame] * 10_000})
    assert time.monotonic() - start < 10
    (video,) = prepared.videos
    assert embedder.config.max_frames == 64
    assert video.meta["frames"] == 64 and video.grid_thw[0] == 32
    small = {"video": [frame] * 10_000, "max_frames": 8}
    assert embedder.prepare(small).videos[0].grid_thw[0] == 4
    assert_unit_and_finite(embedder.embed([small]))

    mixed = [random_image(rng, 64, 64), random_image(rng, 64, 64), random_image(rng, 128, 64)]
    out = embedder.embed(["ok", {"video": mixed}], errors="return")
    assert isinstance(out[1], ItemError) and out[1].code == "media_decode" and "one size" in out[1].message
    assert isinstance(out[0], np.ndarray)
    with pytest.raises(MediaDecodeError, match=r"input\[0\]"):
        embedder.embed({"video": mixed})
    # every frame is validated like an image
    with pytest.raises(UnsupportedMediaError, match=r"frame 1: .*aspect ratio > 200"):
        embedder.embed({"video": [frame, random_image(rng, 1, 300)]})

