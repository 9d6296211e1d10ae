"""``weaviate://`` / ``weaviates://`` URIs of ``--db``: the address they name, and each malformed part refused."""

from __future__ import annotations

import pytest

from qwen3vl_integrations import InputError
from qwen3vl_integrations.weaviate.connect import WeaviateAddress, is_weaviate_uri, parse_uri


@pytest.mark.parametrize("uri, address", [
    ("weaviate://localhost", WeaviateAddress(False, "localhost", 8080, "localhost", 50051)),
    ("weaviate://10.0.0.5:9090?grpc_port=50052", WeaviateAddress(False, "10.0.0.5", 9090, "10.0.0.5", 50052)),
    ("WEAVIATES://abc.weaviate.cloud?grpc_host=grpc-abc.weaviate.cloud",
     WeaviateAddress(True, "abc.weaviate.cloud", 443, "grpc-abc.weaviate.cloud", 443)),
    ("weaviates://[::1]:8443/", WeaviateAddress(True, "::1", 8443, "::1", 443)),
])
def test_addresses(uri, address):
    assert is_weaviate_uri(uri)
    assert parse_uri(uri) == address


@pytest.mark.parametrize("uri, words", [
    ("weaviate://key:secret@host", "QWEN3VL_WEAVIATE_API_KEY"),
    ("weaviate://host/v1", "no path"),
    ("weaviate://host:0", "port"),
    ("weaviate://host:http", "port"),
    ("weaviate://host?grpc_port=70000", "grpc_port"),
    ("weaviate://host?grpc=1", "grpc"),
    ("weaviate://host?grpc_port=1&grpc_port=2", "repeated"),
    ("weaviate://host?grpc_host=", "grpc_host"),
    ("weaviate://", "no host"),
])
def test_malformed_parts_are_input_errors_naming_them(uri, words):
    with pytest.raises(InputError, match=words) as info:
        parse_uri(uri)
    assert "secret" not in str(info.value)


def test_other_stores_are_not_weaviate():
    for uri in ("./qwen3vl.db", "http://localhost:19530", "https://x.zillizcloud.com", "weaviate.db"):
        assert not is_weaviate_uri(uri)
