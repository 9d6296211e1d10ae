"""What a source is, without decoding it (media.sniff), and the video-list rule of input coercion
that stands on it (docs/model-contract.md, section 2; issue 11 items 4 and 5)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations import MultimodalInput, UnsupportedInputError
from qwen3vl_integrations.core.inputs import coerce_input
from qwen3vl_integrations.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    is_base64_image,
    is_image_bytes,
    is_image_source,
    is_video_source,
)
from tests.unit.conftest import png_bytes, write_video

FRAME = Image.new("RGB", (8, 8), (10, 20, 30))


def encoded(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


# --------------------------------------------------------------------------- the video-list rule


@pytest.mark.parametrize("video,expected", [
    (["clip.mp4", [FRAME, FRAME]], ["clip.mp4", [FRAME, FRAME]]),  # the observed failure: a file, then a frame list
    ([[FRAME, FRAME], "clip.mp4"], [[FRAME, FRAME], "clip.mp4"]),
    (["a.png", "b.png"], [["a.png", "b.png"]]),  # one video of two frames
    (["https://x.test/f1.jpg?sig=1", "f2.jpg"], [["https://x.test/f1.jpg?sig=1", "f2.jpg"]]),
    ([FRAME, FRAME, FRAME], [[FRAME, FRAME, FRAME]]),
    ((FRAME, FRAME), [[FRAME, FRAME]]),
    (["a.mp4", "b.webm"], ["a.mp4", "b.webm"]),
    ([Path("a.m2ts"), Path("b.mkv")], [Path("a.m2ts"), Path("b.mkv")]),
    ([Path("f1.png"), Path("f2.png")], [[Path("f1.png"), Path("f2.png")]]),
    (["clip.mp4", ("f1.png", "f2.png")], ["clip.mp4", ["f1.png", "f2.png"]]),
    ("clip.mp4", ["clip.mp4"]),
    ([], []),
])
def test_a_video_list_is_one_frame_list_only_when_it_starts_with_an_image(video, expected):
    assert list(coerce_input({"video": video}).videos) == expected


def test_a_video_list_of_arrays_bytes_and_base64_follows_the_same_rule(tmp_path):
    array = np.zeros((8, 8, 3), np.uint8)
    png = png_bytes(FRAME)
    b64 = base64.b64encode(png).decode()
    mp4 = write_video(tmp_path / "clip.mp4", frames=4).read_bytes()
    assert coerce_input({"video": [array, array]}).videos == ([array, array],)
    assert coerce_input({"video": [png, png]}).videos == ([png, png],)
    assert coerce_input({"video": [b64, b64]}).videos == ([b64, b64],)
    assert coerce_input({"video": [f"data:image/png;base64,{b64}"] * 2}).videos == ([f"data:image/png;base64,{b64}"] * 2,)
    assert coerce_input({"video": [mp4, [png, png]]}).videos == (mp4, [png, png])
    assert MultimodalInput.of(video=["clip.mp4", [FRAME]]).videos == ("clip.mp4", [FRAME])


def test_an_image_inside_a_list_of_videos_is_a_typed_error():
    with pytest.raises(UnsupportedInputError, match="video 1 is an image"):
        coerce_input({"video": ["clip.mp4", FRAME]})
    with pytest.raises(UnsupportedInputError, match="unsupported video value"):
        coerce_input({"video": 5})


@pytest.mark.parametrize("extension", sorted(VIDEO_EXTENSIONS))
def test_every_video_extension_is_a_video_path(extension):
    assert coerce_input(Path(f"clip{extension}")).videos == (Path(f"clip{extension}"),)
    assert is_video_source(f"https://x.test/clip{extension.upper()}?a=b") and not is_image_source(f"clip{extension}")


@pytest.mark.parametrize("extension", sorted(IMAGE_EXTENSIONS))
def test_every_image_extension_is_an_image_path(extension):
    assert coerce_input(Path(f"pic{extension}")).images == (Path(f"pic{extension}"),)
    assert is_image_source(f"file:///x/pic{extension.upper()}#f") and not is_video_source(f"pic{extension}")


# --------------------------------------------------------------------------- the base64 sniffer


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_base64_images_are_recognised(fmt):
    data = encoded(FRAME, fmt)
    text = base64.b64encode(data).decode()
    assert is_image_bytes(data) and is_base64_image(text) and is_image_source(text)
    assert is_base64_image(f"  {text[:76]}\n{text[76:]}  ")  # MIME line breaks and surrounding space
    assert is_base64_image(f"data:image/{fmt.lower()};base64,{text}")


@pytest.mark.parametrize("text", [
    "hello world, this is a caption", "SGVsbG8gd29ybGQgaGVsbG8gd29ybGQh",  # valid base64 of text, not of an image
    "photos/2024/beach.jpg", "https://x.test/a.png", "data:text/plain;base64,aGk=", "", "iVBORw0KGgo",
])
def test_other_strings_are_not_base64_images(text):
    assert not is_base64_image(text)


def test_base64_video_is_not_an_image(tmp_path):
    mp4 = write_video(tmp_path / "clip.mp4", frames=4).read_bytes()
    assert not is_base64_image(base64.b64encode(mp4).decode())
    assert is_video_source(mp4) and not is_image_source(mp4)


# -- the base64 scans (C-speed replacements of two regexes, same answers) ---------------------------------------
def test_is_base64_text_agrees_with_the_alphabet_regex():
    import random
    import re

    from qwen3vl_integrations.media.sniff import is_base64_text

    reference = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
    rng = random.Random(0)
    alphabet = "ABCxyz019+/=-_ é\n"
    cases = ["", "=", "==", "a", "a=", "a==", "a===", "=a", "ab=c", "abcd\n", "ab/+", "abé", "ab-_"]
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    for text in cases:
        assert is_base64_text(text) == bool(reference.match(text) and not text.endswith("\n")), repr(text)


def test_strip_ascii_whitespace_removes_only_spaces_tabs_and_line_breaks():
    from qwen3vl_integrations.media.sniff import strip_ascii_whitespace

    text = "QUJD\r\nREVG \tR0g="
    assert strip_ascii_whitespace(text) == "QUJDREVGR0g="
    assert strip_ascii_whitespace("QUJD\x0bREVG\u2028") == "QUJD\x0bREVG\u2028"  # not ASCII line breaks: kept
    plain = "QUJDREVG" * 1000
    assert strip_ascii_whitespace(plain) is plain
