"""core/documents.py: one set of rules turning a document's text + metadata into a model input."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qwen3vl_integrations import InputError
from qwen3vl_integrations.core.documents import document_input, document_label, media_reference, names_media_file


def _png_b64() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_a_metadata_value_naming_another_file_type_is_not_media():
    # issue 16 item 3: image_metadata_keys=("source",) made .txt documents images
    assert document_input("notes", {"source": "notes.txt"}, image_keys=("source",)) == {"text": "notes"}
    assert document_input("x", {"source": "https://example.com/page.html"}, image_keys=("source",)) == {"text": "x"}
    assert document_input("x", {"image": "clip.mp4"}, image_keys=("image",)) == {"text": "x"}
    assert document_input("x", {"video": "cat.jpg"}, video_keys=("video",)) == {"text": "x"}
    assert document_input("x", {"source": "cat.PNG"}, image_keys=("source",)) == {"text": "x", "image": "cat.PNG"}
    assert document_input("x", {"v": "https://h/c.webm?t=1#a"}, video_keys=("v",)) == {
        "text": "x", "video": "https://h/c.webm?t=1#a"}


def test_first_key_holding_media_wins_and_blanks_are_skipped():
    meta = {"image": "", "image_path": None, "thumb": "notes.txt", "file": Path("/data/cat.jpg")}
    item = document_input("caption", meta, image_keys=("image", "image_path", "thumb", "file"))
    assert item == {"text": "caption", "image": Path("/data/cat.jpg")}


def test_extensionless_values_only_outside_strict_mode():
    assert media_reference("https://picsum.photos/200", "image") == "https://picsum.photos/200"
    assert media_reference("https://picsum.photos/200", "image", strict=True) is None
    assert media_reference("README", "image", strict=True) is None
    assert media_reference("cat.jpeg", "image", strict=True) == "cat.jpeg"


def test_data_uris_base64_bytes_and_objects_by_content():
    b64 = _png_b64()
    assert media_reference(b64, "image") == b64 and media_reference(b64, "video") is None
    assert media_reference(f"data:image/png;base64,{b64}", "image") is not None
    assert media_reference(f"data:image/png;base64,{b64}", "video") is None
    assert media_reference("data:text/plain;base64,aGVsbG8=", "image") is None
    raw = base64.b64decode(b64)
    assert media_reference(raw, "image") is raw and media_reference(raw, "video") is None
    pil = Image.new("RGB", (4, 4))
    array = np.zeros((4, 4, 3), np.uint8)
    assert media_reference(pil, "image") is pil and media_reference(array, "image") is array
    assert media_reference(pil, "video") is None
    assert media_reference([pil, pil], "video") == [pil, pil]
    assert media_reference(5, "image") is None and media_reference({"a": 1}, "image") is None


def test_base64_text_and_path_only_text():
    b64 = _png_b64() * 1
    assert document_input(b64, base64_text=True) == {"image": b64}
    assert document_input(b64, base64_text=False) == {"text": b64}
    assert document_input("/x/cat.png", {"image": "/x/cat.png"}, image_keys=("image",)) == {"image": "/x/cat.png"}
    for text in ["a" * 128, "Qk" + "a" * 126, "iVBORw0KGgo"]:
        assert document_input(text, base64_text=True) == {"text": text}


def test_a_lone_media_path_without_a_media_reference_is_refused():
    # issue 16 item 1: a store that dropped image_path left the path as the only content
    with pytest.raises(InputError, match=r"documents\[2\].*'/photos/cat\.png'.*\('image', 'image_path'\)"):
        document_input("/photos/cat.png", {}, image_keys=("image", "image_path"), label="documents[2]")
    with pytest.raises(InputError, match="declares an image"):
        document_input("a caption", {}, expect_image=True)
    # a sentence that mentions a file, or a document file name, stays text
    assert document_input("See chart.png for details", {}) == {"text": "See chart.png for details"}
    assert document_input("report.pdf", {}) == {"text": "report.pdf"}
    assert names_media_file("file:///x/clip.mp4") and not names_media_file("data:image/png;base64,AAAA")


def test_document_label_names_id_and_media():
    assert document_label(3, {"text": "x"}) == "documents[3]"
    label = document_label(1, {"image": "/x/cat.png", "text": "t"}, "doc-1")
    assert label == "documents[1] (id='doc-1', image='/x/cat.png')"
    assert len(document_label(0, {"image": "A" * 500})) < 120
