"""Qwen3VLEmbeddingFunction (Chroma): texts and images (ImageLoader / uris) in a real chromadb EphemeralClient."""

from __future__ import annotations

import importlib
import sys
import uuid

import numpy as np
import pytest

chromadb = pytest.importorskip("chromadb")

from chromadb.utils.data_loaders import ImageLoader  # noqa: E402

from qwen3vl_integrations.chroma import Qwen3VLEmbeddingFunction  # noqa: E402
from tests.conftest import random_image, run_example  # noqa: E402


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    rng = np.random.default_rng(17)
    folder = tmp_path_factory.mktemp("chroma_images")
    paths = []
    for i in range(3):
        path = folder / f"pic{i}.png"
        random_image(rng, 64, 64 + 32 * i).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def ef(embedder):
    return Qwen3VLEmbeddingFunction(embedder=embedder)


@pytest.fixture
def collection(ef):
    client = chromadb.EphemeralClient()
    name = f"media-{uuid.uuid4().hex[:8]}"
    yield client.create_collection(name, embedding_function=ef, data_loader=ImageLoader())
    client.delete_collection(name)


def test_chroma_accepts_it_and_embeds_texts_and_images_in_one_space(collection, ef, embedder, pictures):
    # issue 16 item 8: chromadb rejected Qwen3VLEmbeddings ("Expected EmbeddingFunction.__call__ ...")
    collection.add(ids=["t1", "t2"], documents=["a red square", "quarterly revenue"])
    collection.add(ids=["i0", "i1", "i2"], uris=pictures)
    stored = collection.get(ids=["t1", "i1"], include=["embeddings"])
    np.testing.assert_allclose(stored["embeddings"][0], embedder.embed_documents(["a red square"])[0], atol=1e-5)
    from PIL import Image

    image_vector = embedder.embed_documents([{"image": np.array(Image.open(pictures[1]))}])[0]
    np.testing.assert_allclose(stored["embeddings"][1], image_vector, atol=1e-5)
    np.testing.assert_allclose(image_vector, embedder.embed_documents([{"image": pictures[1]}])[0], atol=1e-5)
    # queries: text and image (by uri), embedded on the query side
    hits = collection.query(query_texts=["a red square"], n_results=5, include=["embeddings", "distances"])
    assert sorted(hits["ids"][0]) == ["i0", "i1", "i2", "t1", "t2"]
    by_uri = collection.query(query_uris=[pictures[2]], n_results=1, include=["distances"])
    query_vector = embedder.embed_queries([{"image": np.array(Image.open(pictures[2]))}])[0]
    by_vector = collection.query(query_embeddings=[query_vector], n_results=1, include=["distances"])
    assert by_uri["ids"] == by_vector["ids"]
    assert by_uri["distances"][0][0] == pytest.approx(by_vector["distances"][0][0], abs=1e-5)


def test_query_side_uses_the_task_instruction(ef, embedder):
    (query,) = ef.embed_query(["a cat"])
    np.testing.assert_allclose(query, embedder.embed_queries(["a cat"])[0], atol=1e-6)
    assert not np.allclose(query, ef(["a cat"])[0], atol=1e-4)
    assert query.dtype == np.float32 and ef.default_space() == "cosine"


def test_config_round_trip_reopens_the_collection_with_the_shared_model(tiny_checkpoint):
    ef = Qwen3VLEmbeddingFunction(str(tiny_checkpoint), device="cpu", dim=32)
    client = chromadb.EphemeralClient()
    name = f"cfg-{uuid.uuid4().hex[:8]}"
    client.create_collection(name, embedding_function=ef).add(ids=["a"], documents=["a cat"])
    reopened = client.get_collection(name)  # no embedding function given: rebuilt from the stored config
    rebuilt = reopened.configuration["embedding_function"]
    assert isinstance(rebuilt, Qwen3VLEmbeddingFunction) and rebuilt.embedder is ef.embedder and rebuilt.dim == 32
    assert reopened.query(query_texts=["a cat"], n_results=1)["ids"] == [["a"]]
    assert Qwen3VLEmbeddingFunction.build_from_config(ef.get_config()).get_config() == ef.get_config()
    with pytest.raises(ValueError, match="dim"):
        ef.validate_config_update(ef.get_config(), {"dim": 64})
    client.delete_collection(name)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "chromadb", None)
    monkeypatch.delitem(sys.modules, "qwen3vl_integrations.chroma")
    with pytest.raises(ImportError, match=r"qwen3vl-integrations\[chroma\]"):
        importlib.import_module("qwen3vl_integrations.chroma")


def test_example_runs(tiny_checkpoint, tmp_path):
    out = run_example("chroma_multimodal_search.py", tiny_checkpoint, tmp_path)
    assert "indexed 9 items (6 photos, 3 notes)" in out and "text query" in out
    assert "image query: astronaut.jpg\n  1. astronaut.jpg" in out  # a photo finds itself first
