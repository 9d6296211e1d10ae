"""Qwen3VLEmbeddings (LanceDB registry "qwen3vl"): a local table with a text and an image source field."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

lancedb = pytest.importorskip("lancedb")

from lancedb.embeddings import get_registry  # noqa: E402
from lancedb.pydantic import LanceModel, Vector  # noqa: E402
from PIL import Image  # noqa: E402

from qwen3vl_integrations import MediaFetchError  # noqa: E402
from qwen3vl_integrations.lancedb import Qwen3VLEmbeddings  # noqa: E402
from tests.conftest import random_image, run_example  # noqa: E402


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    rng = np.random.default_rng(23)
    folder = tmp_path_factory.mktemp("lancedb_images")
    paths = []
    for i in range(3):
        path = folder / f"pic{i}.png"
        random_image(rng, 64 + 16 * i, 64).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def functions(tiny_checkpoint):
    registry = get_registry()
    texts = registry.get("qwen3vl").create(name=str(tiny_checkpoint), device="cpu")
    images = registry.get("qwen3vl").create(name=str(tiny_checkpoint), device="cpu", source="image")
    return texts, images


@pytest.fixture(scope="module")
def table(functions, pictures, tmp_path_factory):
    texts, images = functions

    class Item(LanceModel):
        caption: str = texts.SourceField()
        caption_vector: Vector(texts.ndims()) = texts.VectorField()  # type: ignore[valid-type]
        image_uri: str = images.SourceField()
        image_vector: Vector(images.ndims()) = images.VectorField()  # type: ignore[valid-type]

    db = lancedb.connect(str(tmp_path_factory.mktemp("lancedb") / "db"))
    table = db.create_table("items", schema=Item)
    table.add([{"caption": f"picture number {i}", "image_uri": p} for i, p in enumerate(pictures)])
    return db, table


def test_registered_and_sharing_one_model(functions):
    texts, images = functions
    assert get_registry().get("qwen3vl") is Qwen3VLEmbeddings
    assert texts.embedder is images.embedder and texts.ndims() == texts.embedder.dim


def test_text_and_image_columns_are_embedded_on_the_document_side(table, pictures, embedder):
    _, tbl = table
    rows = tbl.to_arrow().to_pylist()
    assert [r["image_uri"] for r in rows] == pictures
    np.testing.assert_allclose([r["caption_vector"] for r in rows],
                               embedder.embed_documents([f"picture number {i}" for i in range(3)]), atol=1e-5)
    np.testing.assert_allclose([r["image_vector"] for r in rows],
                               embedder.embed_documents([{"image": p} for p in pictures]), atol=1e-5)


def test_text_and_image_queries(table, pictures, embedder):
    _, tbl = table
    by_text = tbl.search("a picture", vector_column_name="image_vector").limit(3).to_list()
    query = embedder.embed_queries(["a picture"])[0]
    by_vector = tbl.search(query, vector_column_name="image_vector").limit(3).to_list()
    assert [r["image_uri"] for r in by_text] == [r["image_uri"] for r in by_vector]
    by_image = tbl.search(Image.open(pictures[1]), vector_column_name="image_vector").limit(1).to_list()
    image_query = embedder.embed_queries([{"image": Image.open(pictures[1])}])[0]
    assert by_image[0]["_distance"] == pytest.approx(
        tbl.search(image_query, vector_column_name="image_vector").limit(1).to_list()[0]["_distance"], abs=1e-5)


def test_reopened_table_recreates_the_function_from_its_settings(table, pictures, functions):
    db, _ = table
    reopened = db.open_table("items")
    reopened.add([{"caption": "one more", "image_uri": pictures[0]}])
    assert reopened.count_rows() == 4
    rebuilt = next(iter(reopened.embedding_functions.values())).function
    assert isinstance(rebuilt, Qwen3VLEmbeddings) and rebuilt.embedder is functions[0].embedder


def test_a_bad_image_fails_the_add_with_the_typed_error_without_retries(table, tmp_path, caplog):
    _, tbl = table
    with pytest.raises(Exception) as info:  # LanceDB's writer re-raises it as a RuntimeError
        tbl.add([{"caption": "gone", "image_uri": str(tmp_path / "missing.png")}])
    chain, error = [], info.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, MediaFetchError) for e in chain) or "MediaFetchError: input[0]" in str(info.value)
    assert "Retrying" not in caplog.text


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "lancedb", None)
    monkeypatch.delitem(sys.modules, "qwen3vl_integrations.lancedb")
    with pytest.raises(ImportError, match=r"qwen3vl-integrations\[lancedb\]"):
        importlib.import_module("qwen3vl_integrations.lancedb")


def test_example_runs(tiny_checkpoint, tmp_path):
    out = run_example("lancedb_multimodal_search.py", tiny_checkpoint, tmp_path)
    assert "indexed 6 photos" in out and "text query on the image column" in out
    assert "image query: astronaut.jpg\n  1. astronaut.jpg" in out
