"""Collection configurations and objects, checked through weaviate-client's own serialisation.

The expected JSON is the schema Weaviate decodes (read at weaviate/weaviate adcffc5432aa,
2026-08-20): ``entities/models/{class,property,vector_config}.go`` for the envelope, and the module
class settings for the keys inside each vectoriser: ``modules/multi2vec-clip/vectorizer/
class_settings.go`` (``inferenceUrl``), ``usecases/modulecomponents/settings/
base_class_multimodal_settings.go`` (``textFields``, ``imageFields``, ``videoFields``),
``modules/text2vec-transformers/vectorizer/class_settings.go`` (``poolingStrategy``,
``inferenceUrl``, ``passageInferenceUrl``, ``queryInferenceUrl``, ``dimensions``),
``usecases/modulecomponents/settings/base_class_settings.go`` (``vectorizeClassName``,
``properties``), ``modules/multi2vec-voyageai/ent/class_settings.go`` (``baseURL``, ``model``).
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

weaviate = pytest.importorskip("weaviate")

from weaviate.classes.data import DataObject  # noqa: E402
from weaviate.collections.classes.config import _CollectionConfigCreate  # noqa: E402

from qwen3vl_integrations import InputError, UnsupportedInputError  # noqa: E402
from qwen3vl_integrations import weaviate as qw  # noqa: E402

# json tags of the Go structs Weaviate decodes a collection into (anything else is ignored by it)
CLASS_KEYS = {"class", "description", "invertedIndexConfig", "moduleConfig", "multiTenancyConfig", "objectTtlConfig",
              "properties", "replicationConfig", "shardingConfig", "vectorConfig", "vectorIndexConfig",
              "vectorIndexType", "vectorizer"}
PROPERTY_KEYS = {"bucketGeneration", "dataType", "description", "disableDuplicatedReferences", "indexFilterable",
                 "indexInverted", "indexRangeFilters", "indexSearchable", "moduleConfig", "name", "nestedProperties",
                 "searchableBlockmax", "textAnalyzer", "tokenization"}
VECTOR_CONFIG_KEYS = {"vectorIndexConfig", "vectorIndexType", "vectorizer"}
# models.Property has no such fields: weaviate-client writes them when vector_config is used, Weaviate drops them
CLIENT_ONLY_PROPERTY_KEYS = {"skip_vectorization", "vectorize_property_name"}
BLOB_RE = re.compile(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")  # blobVal


def schema(**kwargs) -> dict:
    """What ``client.collections.create(**kwargs)`` POSTs, projected onto what Weaviate decodes."""
    sent = _CollectionConfigCreate(**kwargs)._to_dict()
    assert set(sent) <= CLASS_KEYS, set(sent) - CLASS_KEYS
    for prop in sent.get("properties", []):
        assert set(prop) <= PROPERTY_KEYS | CLIENT_ONLY_PROPERTY_KEYS, set(prop) - PROPERTY_KEYS
        for key in CLIENT_ONLY_PROPERTY_KEYS:
            prop.pop(key, None)
    for vector in sent.get("vectorConfig", {}).values():
        assert set(vector) <= VECTOR_CONFIG_KEYS, set(vector) - VECTOR_CONFIG_KEYS
    return sent


def vectorizer(config) -> dict:
    return config._to_dict()["vectorizer"]


def test_multimodal_collection_serialises_to_weaviate_schema():
    got = schema(**qw.multimodal_collection("docs", description="Qwen3-VL items"))
    assert got == {
        "class": "Docs",
        "description": "Qwen3-VL items",
        "properties": [
            {"name": "text", "dataType": ["text"]},
            {"name": "image", "dataType": ["blob"]},
            {"name": "source", "dataType": ["text"], "tokenization": "field"},
            {"name": "modality", "dataType": ["text"], "tokenization": "field"},
            {"name": "page", "dataType": ["int"]},
            {"name": "offset", "dataType": ["int"]},
            {"name": "item_id", "dataType": ["text"], "tokenization": "field"},
            {"name": "content_id", "dataType": ["text"], "tokenization": "field"},
            {"name": "metadata", "dataType": ["text"], "indexFilterable": False, "indexSearchable": False},
        ],
        "vectorConfig": {"qwen3vl": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                                     "vectorIndexConfig": {"distance": "cosine"}}},
    }
    assert [p["name"] for p in got["properties"]] == list(qw.PROPERTIES)


def test_module_backed_vectors_and_reranker_in_one_collection():
    extra = [qw.clip_vector("http://qwen3vl:8000/"), qw.transformers_vector("http://qwen3vl:8000")]
    got = schema(**qw.multimodal_collection(extra_vectors=extra, with_reranker=True))
    assert set(got["vectorConfig"]) == {"qwen3vl", "clip", "text"}
    assert got["vectorConfig"]["clip"]["vectorizer"] == {
        "multi2vec-clip": {"inferenceUrl": "http://qwen3vl:8000", "textFields": ["text"], "imageFields": ["image"]}}
    assert got["vectorConfig"]["text"]["vectorizer"] == {"text2vec-transformers": {
        "inferenceUrl": "http://qwen3vl:8000", "poolingStrategy": "masked_mean", "vectorizeClassName": False,
        "properties": ["text"]}}
    assert got["moduleConfig"] == {"reranker-transformers": {}}


def test_transformers_passage_query_urls_and_dimensions():
    got = vectorizer(qw.transformers_vector(passage_inference_url="http://p:8000/", query_inference_url="http://q:8000",
                                            dimensions=256))
    assert got == {"text2vec-transformers": {"passageInferenceUrl": "http://p:8000", "queryInferenceUrl": "http://q:8000",
                                             "poolingStrategy": "masked_mean", "vectorizeClassName": False,
                                             "dimensions": 256, "properties": ["text"]}}
    with pytest.raises(ValueError, match="not both"):
        qw.transformers_vector("http://a", passage_inference_url="http://p", query_inference_url="http://q")
    with pytest.raises(ValueError, match="go together"):
        qw.transformers_vector(passage_inference_url="http://p")


def test_voyage_base_url_never_ends_in_a_slash():
    # weaviate-client stores "http://host:8000" as "http://host:8000/"; Weaviate appends "/multimodalembeddings"
    for given in ("http://qwen3vl:8000", "http://qwen3vl:8000/", "http://qwen3vl:8000/v1/"):
        got = vectorizer(qw.voyage_vector(given))["multi2vec-voyageai"]
        assert got["baseURL"] == "http://qwen3vl:8000/v1", given
        assert got["model"] == "qwen3-vl"
    assert vectorizer(qw.voyage_vector("http://h/api"))["multi2vec-voyageai"]["baseURL"] == "http://h/api"


def test_bind_vector_fields():
    got = vectorizer(qw.bind_vector(video_fields=["clip"]))
    assert got == {"multi2vec-bind": {"textFields": ["text"], "imageFields": ["image"], "videoFields": ["clip"]}}


# -- objects -----------------------------------------------------------------------------------
def test_namespace_is_the_documented_derivation():
    assert qw.OBJECT_NAMESPACE == uuid.uuid5(uuid.NAMESPACE_URL,
                                             "https://pypi.org/project/qwen3vl-integrations/#weaviate-objects")
    assert qw.object_uuid("abc") == uuid.uuid5(qw.OBJECT_NAMESPACE, "abc")


def test_rerun_in_a_new_process_builds_the_same_uuids():
    ids = ["0f" * 16, "a1" * 16, "item-3"]
    code = ("import sys; from qwen3vl_integrations.weaviate import object_uuid; "
            "print(' '.join(str(object_uuid(i)) for i in sys.argv[1:]))")
    runs = [subprocess.run([sys.executable, "-c", code, *ids], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(2)]
    assert runs[0] == runs[1] == [str(qw.object_uuid(i)) for i in ids]
    assert len(set(runs[0])) == 3


def test_data_object_is_the_clients_own_class_with_named_float_vector():
    props = qw.object_properties(item_id="id1", source="/a/b.txt", modality="text", text="hello", offset=7)
    obj = qw.data_object("id1", np.array([0.6, 0.8], dtype=np.float32), props)
    assert isinstance(obj, DataObject)
    assert obj.uuid == qw.object_uuid("id1")
    assert obj.properties == {"item_id": "id1", "source": "/a/b.txt", "modality": "text", "page": 0, "offset": 7,
                              "text": "hello"}
    assert list(obj.vector) == ["qwen3vl"]
    vec = obj.vector["qwen3vl"]
    assert type(vec) is list and all(type(x) is float for x in vec)
    assert vec == pytest.approx([0.6, 0.8])
    assert qw.data_object("id1", [1.0, 0.0], props, vector_name="v").vector == {"v": [1.0, 0.0]}


@pytest.mark.parametrize("bad, message", [
    (np.array([1, 2], dtype=np.int8), "float vectors"),
    (np.array([[0.1, 0.2]]), "one-dimensional"),
    (np.array([]), "one-dimensional"),
    (np.array([np.nan, 1.0]), "non-finite"),
])
def test_bad_vectors_are_refused(bad, message):
    with pytest.raises(InputError, match=message):
        qw.vector_list(bad)


def test_blank_text_and_missing_image_are_left_out():
    props = qw.object_properties(item_id="i", source="s.png", modality="image", text="  ", image=None)
    assert "text" not in props and "image" not in props
    with pytest.raises(InputError, match="modality"):
        qw.object_properties(item_id="i", source="s", modality="audio")
    with pytest.raises(InputError, match="item_id"):
        qw.object_uuid("")


def test_image_blob_is_weaviate_base64_without_prefix(tmp_path: Path):
    from PIL import Image

    image = Image.new("RGB", (5, 3), (200, 10, 10))
    blob = qw.image_blob(image)
    assert BLOB_RE.match(blob) and not blob.startswith("data:")
    assert Image.open(__import__("io").BytesIO(base64.b64decode(blob))).size == (5, 3)
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x89PNG-bytes")
    assert base64.b64decode(qw.image_blob(path)) == b"\x89PNG-bytes" == base64.b64decode(qw.image_blob(b"\x89PNG-bytes"))
    with pytest.raises(InputError, match="empty"):
        qw.image_blob(b"")
    with pytest.raises(UnsupportedInputError, match="str"):
        qw.image_blob("x.png")
