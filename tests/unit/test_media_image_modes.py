"""load_image: sizes, colour modes, EXIF, animated images, numpy arrays (reliability cases 4-9 of docs/robustness.md)."""

from __future__ import annotations

import base64
import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations.core.errors import (
    MediaDecodeError,
    MediaError,
    MediaFetchError,
    UnsupportedMediaError,
)
from qwen3vl_integrations.media import DEFAULT_POLICY, is_video_source, load_image

from .conftest import _pattern, png_bytes

# --------------------------------------------------------------------------- sizes (cases 4, 5, 6)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (27, 500), (500, 27), (31, 700)])
def test_tiny_and_thin_images_load_unchanged(size):
    image = load_image(Image.new("RGB", size, (1, 2, 3)))
    assert image.size == size and image.getpixel((0, 0)) == (1, 2, 3)


@pytest.mark.parametrize("size", [(1, 201), (201, 1), (10000, 40)])
def test_aspect_ratio_over_200_is_refused(size):
    with pytest.raises(UnsupportedMediaError, match=r"aspect ratio > 200"):
        load_image(Image.new("RGB", size))
    with pytest.raises(UnsupportedMediaError, match=r"aspect ratio > 200"):
        load_image(png_bytes(Image.new("RGB", size)))


def test_aspect_ratio_of_exactly_200_is_fine():
    assert load_image(Image.new("RGB", (1, 200))).size == (1, 200)


def test_zero_sized_arrays_are_refused():
    with pytest.raises(MediaDecodeError, match="zero dimension"):
        load_image(np.zeros((0, 10, 3), np.uint8))


# --------------------------------------------------------------------------- colour modes (case 7)


def _roundtrip(image: Image.Image, fmt: str = "PNG", **save) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, fmt, **save)
    return load_image(buf.getvalue())


def test_cmyk_jpeg_becomes_rgb():
    out = _roundtrip(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    r, g, b = out.getpixel((8, 8))
    assert out.mode == "RGB" and r > 240 and g < 15 and b < 15


def test_palette_png_with_trns_is_composited_on_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    image.putpixel((1, 1), 1)
    out = _roundtrip(image, transparency=0)
    assert out.getpixel((0, 0)) == (255, 255, 255)  # transparent black -> white
    assert out.getpixel((1, 1)) == (200, 10, 20)


def test_la_is_composited_on_white():
    image = Image.new("LA", (4, 4), (0, 0))
    image.putpixel((2, 2), (100, 255))
    out = _roundtrip(image)
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((2, 2)) == (100, 100, 100)


def test_rgba_half_transparent_blends_with_white():
    out = load_image(Image.new("RGBA", (2, 2), (0, 0, 0, 128)))
    assert out.getpixel((0, 0)) == (127, 127, 127)


def test_16bit_grey_png_is_scaled_not_clipped():
    values = np.array([[0, 128 * 257, 65535, 10 * 257]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    out = _roundtrip(image)
    assert np.asarray(out)[0, :, 0].tolist() == [0, 128, 255, 10]


def test_16bit_png_matches_its_8bit_version():
    eight = _pattern(20, 20, 1, seed=5)[..., 0]
    sixteen = eight.astype(np.uint16) * 257
    assert np.array_equal(np.asarray(_roundtrip(Image.fromarray(sixteen))), np.asarray(_roundtrip(Image.fromarray(eight))))


@pytest.mark.parametrize(
    "values,expected",
    [([0, 32896, 65535], [0, 128, 255]), ([0, 100, 255], [0, 100, 255]), ([-10, 0, 10], [0, 128, 255])],
)
def test_32bit_integer_tiff_scaled_by_range(values, expected):
    image = Image.fromarray(np.array([values], dtype=np.int32))
    assert image.mode == "I"
    out = _roundtrip(image, "TIFF")
    assert np.asarray(out)[0, :, 0].tolist() == expected


def test_float_tiff_in_unit_range_is_scaled():
    image = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert image.mode == "F"
    assert np.asarray(_roundtrip(image, "TIFF"))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("mode,color", [("1", 1), ("YCbCr", (76, 85, 255)), ("P", 3), ("I;16B", 257 * 9)])
def test_other_modes_become_rgb(mode, color):
    out = load_image(Image.new(mode, (3, 3), color))
    assert out.mode == "RGB" and out.size == (3, 3)


# --------------------------------------------------------------------------- EXIF and multi-frame (cases 8, 9)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_6_is_applied(fmt):
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:10, :15] = (255, 0, 0)  # top-left red block
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, exif=exif, **({"quality": 100} if fmt == "JPEG" else {}))
    out = load_image(buf.getvalue())
    assert out.size == (20, 30)
    raw = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(np.asarray(out), np.rot90(raw, k=-1))
    assert out.getpixel((15, 2))[0] > 200 and out.getpixel((2, 2))[0] < 60  # red now top-right


def test_exif_orientation_applies_to_pil_input_too():
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buf, "PNG", exif=exif)
    assert load_image(Image.open(io.BytesIO(buf.getvalue()))).size == (20, 30)


def _frames():
    return [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "TIFF", "WEBP"])
def test_animated_and_multipage_images_use_frame_0(fmt):
    first, *rest = _frames()
    buf = io.BytesIO()
    first.save(buf, fmt, save_all=True, append_images=rest, **({"lossless": True} if fmt == "WEBP" else {}))
    assert getattr(Image.open(io.BytesIO(buf.getvalue())), "n_frames", 1) == 3
    out = load_image(buf.getvalue())
    r, g, b = out.getpixel((4, 4))
    assert r > 240 and g < 15 and b < 15


# --------------------------------------------------------------------------- numpy arrays


@pytest.mark.parametrize(
    "array,expected",
    [
        (np.full((2, 3), 7, np.uint8), (7, 7, 7)),
        (np.full((2, 3, 1), 9, np.uint8), (9, 9, 9)),
        (np.full((2, 3), 65535, np.uint16), (255, 255, 255)),
        (np.full((2, 3, 3), 257 * 40, np.uint16), (40, 40, 40)),
        (np.ones((2, 3), bool), (255, 255, 255)),
        (np.full((2, 3, 3), 0.5, np.float32), (128, 128, 128)),
        (np.full((2, 3, 4), [0, 0, 0, 0], np.uint8), (255, 255, 255)),
        (np.full((2, 3), 200, np.int64), (200, 200, 200)),
    ],
)
def test_numpy_dtypes_and_shapes(array, expected):
    out = load_image(array)
    assert out.mode == "RGB" and out.size == (3, 2)
    assert out.getpixel((0, 0)) == expected


@pytest.mark.parametrize(
    "array,match",
    [
        (np.full((2, 3), 1.5, np.float32), r"\[0, 1\]"),
        (np.full((2, 3), np.nan, np.float32), "NaN"),
        (np.zeros((2, 3, 2), np.uint8), "HxW"),
        (np.zeros((2, 3, 3, 1), np.uint8), "HxW"),
        (np.full((2, 3), 300, np.int32), "uint16"),
        (np.zeros((2, 3), np.complex64), "dtype"),
    ],
)
def test_bad_numpy_images(array, match):
    with pytest.raises(MediaError, match=match):
        load_image(array)


# --------------------------------------------------------------------------- misc


def test_raw_base64_string_versus_paths(tmp_path, monkeypatch):
    """Documented rule: base64 alphabet + valid length, and no '/' or a known media magic."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    Image.new("RGB", (5, 4)).save(tmp_path / "sub" / "abcdefghijkl", "PNG")  # a base64-looking path
    assert load_image("sub/abcdefghijkl").size == (5, 4)  # has '/', decodes to no known magic -> path
    assert load_image("./sub/abcdefghijkl").size == (5, 4)
    with pytest.raises(MediaDecodeError, match="base64 is not a recognised image"):
        load_image("abcdefghijklmnop")  # no '/': taken as base64
    png_b64 = base64.b64encode(png_bytes(Image.new("RGB", (3, 2)))).decode()
    assert load_image(png_b64).size == (3, 2)
    with pytest.raises(MediaFetchError, match="not found"):
        load_image("iVBORw0KGgo-not-base64_")


def test_errors_never_leak_untyped_exceptions(tmp_path):
    bad = [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\xff" * 20, b"\xff\xd8\xff" + b"\x00" * 10, b"BM" + b"\x00" * 60,
           b"II*\x00" + b"\xff" * 50, b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20]
    for data in bad:
        with pytest.raises(MediaError):
            load_image(data)


def test_default_policy_is_shared_and_frozen():
    assert load_image.__defaults__[0] is DEFAULT_POLICY
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.allow_local_paths = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "source,expected",
    [
        ("clip.mp4", True), ("a/b/c.MOV", True), (Path("x.webm"), True), ("x.mkv", True), ("x.avi", True),
        ("x.mpeg", True), ("x.mpg", True), ("x.wmv", True), ("x.flv", True), ("x.3gp", True), ("x.ts", True),
        ("x.m4v", True), ("https://h/v.mp4?sig=1#t=3", True), ("data:video/mp4;base64,AAAA", True),
        ("x.png", False), ("https://h/v.png?x=.mp4", False), ("data:image/png;base64,AAAA", False), ("mp4", False),
        (Image.new("RGB", (1, 1)), False), (b"\x00\x00\x00\x18ftypisom", True), (b"\x00\x00\x00\x18ftypavif", False),
        (b"\x89PNG\r\n\x1a\n", False),
    ],
)
def test_is_video_source(source, expected):
    assert is_video_source(source) is expected
