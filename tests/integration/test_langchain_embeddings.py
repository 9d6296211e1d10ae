"""Qwen3VLEmbeddings: LangChain's standard embedding suites, plus images, video, options and async."""

from __future__ import annotations

import asyncio
import base64
import copy
import importlib
import inspect
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import ValidationError

from qwen3vl_integrations.langchain import Qwen3VLEmbeddings
from tests.conftest import cosine, random_image
from tests.unit.conftest import write_video


# -- LangChain's standard suites (subclassed, not reimplemented) --------------------------------------
class _SharedEmbedder:
    """Every standard test builds the class from ``embedding_model_params``; share one loaded model."""

    _embedder = None

    @pytest.fixture(autouse=True)
    def _share_embedder(self, embedder):
        type(self)._embedder = embedder

    @property
    def embeddings_class(self) -> type[Qwen3VLEmbeddings]:
        return Qwen3VLEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"embedder": self._embedder}


# The standard async tests are plain ``async def`` (LangChain runs them with asyncio_mode=auto): mark
# the classes for pytest-asyncio's strict mode and silence its note about the sync tests in them.
_run_async_standard_tests = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .* is marked with '@pytest.mark.asyncio'"),
]


class TestQwen3VLEmbeddingsStandardUnit(_SharedEmbedder, EmbeddingsUnitTests):
    pytestmark = _run_async_standard_tests


class TestQwen3VLEmbeddingsStandardIntegration(_SharedEmbedder, EmbeddingsIntegrationTests):
    pytestmark = _run_async_standard_tests


# -- our own behaviour ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Two different PNG files and a byte-identical copy of the first, written with PIL."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("lc_images")
    first, second = folder / "first.png", folder / "second.png"
    random_image(rng, 96, 128).save(first)
    random_image(rng, 80, 80).save(second)
    copy = folder / "copy_of_first.png"
    copy.write_bytes(first.read_bytes())
    return first, second, copy


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """An 8-frame MP4 written with PyAV."""
    return write_video(tmp_path_factory.mktemp("lc_video") / "clip.mp4", frames=8, fps=4, width=64, height=64,
                       codec="mpeg4")


@pytest.fixture
def embeddings(embedder):
    return Qwen3VLEmbeddings(embedder=embedder)


def _is_plain_floats(vectors) -> bool:
    return all(type(v) is list and all(type(x) is float for x in v) for v in vectors)


def test_documents_and_query_follow_the_core_conventions(embeddings, embedder):
    texts = ["a red square", "a blue circle"]
    docs = embeddings.embed_documents(texts)
    query = embeddings.embed_query("a red square")
    assert _is_plain_floats(docs) and _is_plain_floats([query])
    np.testing.assert_allclose(docs, embedder.embed_documents(texts), rtol=0, atol=1e-6)
    np.testing.assert_allclose(query, embedder.embed_queries(["a red square"])[0], rtol=0, atol=1e-6)
    # the query side carries the task instruction: same text, different vector
    assert cosine(query, docs[0]) < 0.99999


def test_query_and_document_instructions_are_configurable(embedder):
    custom = Qwen3VLEmbeddings(embedder=embedder, query_instruction="Find the matching picture",
                               document_instruction="Describe the item")
    np.testing.assert_allclose(custom.embed_query("cat"),
                               embedder.embed(["cat"], instruction="Find the matching picture")[0], atol=1e-6)
    np.testing.assert_allclose(custom.embed_documents(["cat"])[0],
                               embedder.embed(["cat"], instruction="Describe the item")[0], atol=1e-6)


def test_embed_image_takes_uris_in_every_form(embeddings, image_files):
    first, second, copy = image_files
    assert list(inspect.signature(embeddings.embed_image).parameters) == ["uris"]
    b64 = base64.b64encode(first.read_bytes()).decode()
    forms = [str(first), first.as_uri(), f"data:image/png;base64,{b64}", b64, str(copy)]
    vectors = embeddings.embed_image(uris=forms)
    assert _is_plain_floats(vectors) and len(vectors) == len(forms)
    for vector in vectors[1:]:
        assert cosine(vectors[0], vector) == pytest.approx(1.0, abs=1e-6)
    other = embeddings.embed_image(uris=[str(second)])[0]
    assert cosine(vectors[0], other) < 0.9999


def test_embed_video_file_and_frame_list(embeddings, embedder, video_file):
    rng = np.random.default_rng(11)
    frames = [random_image(rng, 64, 64) for _ in range(4)]
    vectors = embeddings.embed_video([str(video_file), frames])
    assert _is_plain_floats(vectors) and len(vectors) == 2
    np.testing.assert_allclose(vectors[0], embedder.embed_documents([{"video": str(video_file)}])[0], atol=1e-6)
    np.testing.assert_allclose(vectors[1], embedder.embed_documents([{"video": frames}])[0], atol=1e-6)


def test_embed_multimodal_mixed_items(embeddings, embedder, image_files):
    first = str(image_files[0])
    items = ["a caption", {"image": first, "text": "a caption"}, {"image": first}]
    vectors = embeddings.embed_multimodal(items)
    np.testing.assert_allclose(vectors, embedder.embed_documents(items), atol=1e-6)
    np.testing.assert_allclose(vectors[2], embeddings.embed_image(uris=[first])[0], atol=1e-6)
    as_query = embeddings.embed_multimodal(items, is_query=True)
    np.testing.assert_allclose(as_query, embedder.embed_queries(items), atol=1e-6)


def test_dim_and_precision_reach_the_core(embedder):
    small = Qwen3VLEmbeddings(embedder=embedder, dim=32)
    vector = small.embed_query("hello")
    assert len(vector) == 32 and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    quantised = Qwen3VLEmbeddings(embedder=embedder, precision="int8").embed_documents(["hello"])[0]
    assert _is_plain_floats([quantised]) and len(quantised) == embedder.dim
    assert all(x == int(x) and -127 <= x <= 127 for x in quantised)
    with pytest.raises(ValidationError, match="float32"):
        Qwen3VLEmbeddings(embedder=embedder, precision="float8")


def test_construction_rules(embedder, tiny_checkpoint):
    with pytest.raises(ValidationError, match="Extra inputs"):
        Qwen3VLEmbeddings(embedder=embedder, batch_size=8)
    with pytest.raises(ValidationError, match="model="):
        Qwen3VLEmbeddings()
    shared = Qwen3VLEmbeddings(embedder=embedder)
    assert shared.embedder is embedder and shared.model == embedder.model_id
    loaded = Qwen3VLEmbeddings(model=str(tiny_checkpoint), model_kwargs={"device": "cpu"})
    np.testing.assert_allclose(loaded.embed_query("x"), shared.embed_query("x"), atol=1e-6)
    assert shared.embed_documents([]) == []


async def _embed_while_the_loop_turns(embeddings, monkeypatch, call):
    """Await ``call`` while the core's embed waits, in whatever thread runs it, for the event loop to turn.

    If the adapter ran the model on the loop's own thread, the loop could not turn during the wait,
    which then times out: the test does not depend on how long the model takes."""
    loop_turned = threading.Event()
    waits: list[bool] = []
    original = embeddings.embedder.embed_documents

    def embed_once_the_loop_turns(*args, **kwargs):
        waits.append(loop_turned.wait(timeout=10))
        return original(*args, **kwargs)

    async def turn():
        await asyncio.sleep(0)
        loop_turned.set()

    monkeypatch.setattr(embeddings.embedder, "embed_documents", embed_once_the_loop_turns)
    task = asyncio.create_task(turn())
    try:
        result = await call
    finally:
        loop_turned.set()
        await task
        monkeypatch.undo()
    return result, waits


@pytest.mark.asyncio
async def test_async_methods_match_sync_and_leave_the_loop_free(embeddings, image_files, monkeypatch):
    first = str(image_files[0])
    texts = [f"document number {i} " * 20 for i in range(8)]
    vectors, waits = await _embed_while_the_loop_turns(embeddings, monkeypatch, embeddings.aembed_documents(texts))
    assert waits == [True]  # the event loop kept running while the model worked
    np.testing.assert_allclose(vectors, embeddings.embed_documents(texts), atol=1e-6)
    np.testing.assert_allclose(await embeddings.aembed_query("q"), embeddings.embed_query("q"), atol=1e-6)
    np.testing.assert_allclose(await embeddings.aembed_image(uris=[first]), embeddings.embed_image(uris=[first]),
                               atol=1e-6)
    frames = [random_image(np.random.default_rng(0), 64, 64)] * 2
    np.testing.assert_allclose(await embeddings.aembed_video([frames]), embeddings.embed_video([frames]), atol=1e-6)
    np.testing.assert_allclose(await embeddings.aembed_multimodal([{"image": first}], is_query=True),
                               embeddings.embed_multimodal([{"image": first}], is_query=True), atol=1e-6)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.delitem(sys.modules, "qwen3vl_integrations.langchain")
    with pytest.raises(ImportError, match=r"qwen3vl-integrations\[langchain\]"):
        importlib.import_module("qwen3vl_integrations.langchain")


_UNPICKLE_TWICE = """
import json, pickle, sys
data = open(sys.argv[1], "rb").read()
first, second = pickle.loads(data), pickle.loads(data)
print(json.dumps({"shared": first.embedder is second.embedder, "vector": first.embed_query("a cat")}))
"""


def test_copies_share_the_model_and_pickles_reload_it_once_per_process(tiny_checkpoint, tmp_path):
    # issue 16 item 6: deepcopy copied the model; a pickle carried the weights (56 MB for a 40 MB checkpoint)
    embeddings = Qwen3VLEmbeddings(model=str(tiny_checkpoint), model_kwargs={"device": "cpu"}, dim=32)
    assert copy.deepcopy(embeddings).embedder is embeddings.embedder
    data = pickle.dumps(embeddings)
    assert len(data) < 100_000
    assert pickle.loads(data).embedder is embeddings.embedder  # this process: the loaded model itself
    (tmp_path / "embeddings.pkl").write_bytes(data)
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _UNPICKLE_TWICE, str(tmp_path / "embeddings.pkl")],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["shared"] is True  # two unpickles, one load
    np.testing.assert_allclose(result["vector"], embeddings.embed_query("a cat"), atol=1e-6)
