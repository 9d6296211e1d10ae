"""load_image: sources, parity with qwen-vl-utils, corrupt input, size limits (reliability cases 1-3, 10 of docs/robustness.md;
sizes, colour modes, EXIF and the rest are in test_media_image_modes.py)."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations.core.errors import (
    EmptyInputError,
    MediaDecodeError,
    MediaPolicyError,
    MediaTooLargeError,
)
from qwen3vl_integrations.media import MediaPolicy, load_image

from .conftest import _pattern, png_bytes


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def declared_png(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header declares width x height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")


def declared_jpeg(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to declare width x height."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 20, 30)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.fixture
def rgb_png(tmp_path) -> tuple[Path, np.ndarray]:
    pixels = _pattern()
    path = tmp_path / "pattern.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


# --------------------------------------------------------------------------- sources (case 10)


def test_every_source_form_gives_identical_pixels(rgb_png):
    path, pixels = rgb_png
    data = path.read_bytes()
    b64 = base64.b64encode(data).decode()
    sources = {
        "str path": str(path), "Path": path, "file uri": path.as_uri(), "data uri": f"data:image/png;base64,{b64}",
        "raw base64": b64, "mime-wrapped base64": "\n".join(textwrap.wrap(b64, 76)), "bytes": data,
        "bytearray": bytearray(data), "memoryview": memoryview(data), "BytesIO": io.BytesIO(data),
        "PIL": Image.open(io.BytesIO(data)), "numpy": pixels.copy(),
    }
    for name, source in sources.items():
        image = load_image(source)
        assert image.mode == "RGB", name
        assert np.array_equal(np.asarray(image), pixels), name


def test_file_uri_percent_encoding_is_decoded(tmp_path):
    path = tmp_path / "a b.png"
    Image.fromarray(_pattern()).save(path)
    assert load_image(path.as_uri()).size == (40, 30)  # file:///.../a%20b.png


def test_caller_pil_image_is_not_modified_or_returned():
    original = Image.fromarray(_pattern(channels=4))
    before = np.asarray(original).copy()
    out = load_image(original)
    assert out is not original and original.mode == "RGBA"
    assert np.array_equal(np.asarray(original), before)


def test_unloaded_pil_image_is_decoded_and_errors_are_typed(tmp_path):
    path = tmp_path / "t.png"
    path.write_bytes(png_bytes(Image.fromarray(_pattern()))[:200])
    with Image.open(path) as lazy:  # header only
        with pytest.raises(MediaDecodeError):
            load_image(lazy)


@pytest.mark.parametrize("source", ["", "   "])
def test_empty_string_source(source):
    with pytest.raises(EmptyInputError):
        load_image(source)


def test_unsupported_source_type():
    with pytest.raises(TypeError):
        load_image(12345)


# --------------------------------------------------------------------------- parity with qwen-vl-utils


@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("RGBA", 4), ("L", 1)])
def test_rgb_rgba_l_pixel_identical_to_qwen_vl_utils_to_rgb(tmp_path, mode, channels):
    from qwen_vl_utils.vision_process import to_rgb

    pixels = _pattern(57, 33, channels, seed=3)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    assert image.mode == mode
    path = tmp_path / f"{mode}.png"
    image.save(path)
    ours = load_image(path)
    with Image.open(path) as opened:
        reference = to_rgb(opened)
    assert np.array_equal(np.asarray(ours), np.asarray(reference))


# --------------------------------------------------------------------------- corrupt input (cases 1, 2)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_a_decode_error(tmp_path, fmt):
    buf = io.BytesIO()
    Image.fromarray(_pattern(200, 150, seed=1)).save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"half.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaDecodeError, match="truncated or corrupt"):
        load_image(path)
    with pytest.raises(MediaDecodeError):
        load_image(data[: len(data) // 2])


def test_non_image_bytes_with_image_extension(tmp_path):
    path = tmp_path / "fake.png"
    path.write_bytes(b"<html><body>not an image</body></html>")
    with pytest.raises(MediaDecodeError, match="not a recognised image"):
        load_image(path)


def test_excluded_pil_formats_are_refused(tmp_path):
    """EPS would run Ghostscript on .load(); it is not in the allowed formats."""
    path = tmp_path / "x.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(MediaDecodeError, match="not a recognised image"):
        load_image(path)
    png = png_bytes(Image.new("RGB", (8, 8)))
    with pytest.raises(MediaDecodeError):
        load_image(png, MediaPolicy(image_formats=("JPEG",)))


@pytest.mark.parametrize(
    "uri,error,match",
    [
        ("data:image/png;base64,@@@@notbase64", MediaDecodeError, "not valid base64"),
        ("data:image/png;base64,iVBORw0KGgo", MediaDecodeError, "not valid base64"),  # bad padding
        ("data:image/png;base64,", MediaDecodeError, "empty"),
        ("data:image/png,iVBORw0KGgoAAAANSUhEUg==", MediaDecodeError, "not base64-encoded"),
        ("data:image/png;base64", MediaDecodeError, "no ','"),
        ("data:text/html;base64,PGh0bWw+PC9odG1sPg==", MediaPolicyError, "text/html"),
        ("data:;base64,PGh0bWw+PC9odG1sPg==", MediaPolicyError, "text/plain"),
        ("data:image/png;base64,PGh0bWw+PC9odG1sPg==", MediaDecodeError, "not a recognised image"),
    ],
)
def test_malformed_data_uris(uri, error, match):
    with pytest.raises(error, match=match):
        load_image(uri)


def test_data_uri_urlsafe_alphabet_is_rejected(rgb_png):
    b64 = base64.urlsafe_b64encode(rgb_png[0].read_bytes()).decode()
    assert "-" in b64 or "_" in b64
    with pytest.raises(MediaDecodeError, match="not valid base64"):
        load_image(f"data:image/png;base64,{b64}")


def test_data_uris_can_be_disabled(rgb_png):
    b64 = base64.b64encode(rgb_png[0].read_bytes()).decode()
    with pytest.raises(MediaPolicyError):
        load_image(f"data:image/png;base64,{b64}", MediaPolicy(allow_data_uris=False))


# --------------------------------------------------------------------------- size limits (case 3)


@pytest.mark.parametrize("maker,side", [(declared_png, 30000), (declared_png, 20000), (declared_jpeg, 20000), (declared_png, 10000)])
def test_decompression_bombs_refused_from_the_header(maker, side):
    data = maker(side, side)
    assert len(data) < 2000
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        with pytest.raises(MediaTooLargeError, match="pixel"):
            load_image(data)
    assert time.monotonic() - start < 1.0


def test_pil_decompression_bomb_error_is_converted():
    """Even when the policy allows more than PIL does, PIL's own error surfaces as MediaTooLargeError."""
    with pytest.raises(MediaTooLargeError) as info:
        load_image(declared_png(30000, 30000), MediaPolicy(max_image_pixels=10**10))
    assert not isinstance(info.value, Image.DecompressionBombError)


def test_bomb_does_not_allocate_pixels(tmp_path):
    """Peak RSS of a fresh interpreter loading a 30000x30000 PNG stays far below its 2.7 GB of pixels."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(declared_png(30000, 30000))
    script = textwrap.dedent(f"""
        import resource
        from qwen3vl_integrations.media import load_image
        from qwen3vl_integrations.core.errors import MediaTooLargeError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_image({str(bomb)!r})
        except MediaTooLargeError:
            pass
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) < 50  # MB


def test_pixel_limit_is_the_policy_s(rgb_png):
    path, _ = rgb_png
    with pytest.raises(MediaTooLargeError):
        load_image(path, MediaPolicy(max_image_pixels=40 * 30 - 1))
    assert load_image(path, MediaPolicy(max_image_pixels=40 * 30)).size == (40, 30)


def test_byte_caps_for_every_source_form(rgb_png):
    path, pixels = rgb_png
    data = path.read_bytes()
    small = MediaPolicy(max_image_bytes=len(data) - 1)
    b64 = base64.b64encode(data).decode()
    for source in (path, str(path), data, io.BytesIO(data), f"data:image/png;base64,{b64}", b64):
        with pytest.raises(MediaTooLargeError):
            load_image(source, small)
    assert np.array_equal(np.asarray(load_image(path, MediaPolicy(max_image_bytes=len(data)))), pixels)

