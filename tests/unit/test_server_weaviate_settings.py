"""Server pieces of the Weaviate module routes that need no model: the instruction and open-routes settings,
and the collapsing of doubled slashes Weaviate's URL joining produces."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from qwen3vl_integrations.server.middleware import collapse_slashes
from qwen3vl_integrations.server.settings import ServerSettings


def test_vectorize_instruction_and_open_routes_from_the_environment():
    settings = ServerSettings.from_env({"QWEN3VL_VECTORIZE_INSTRUCTION": "Represent it.",
                                        "QWEN3VL_WEAVIATE_OPEN_ROUTES": "1"})
    assert settings.vectorize_instruction == "Represent it." and settings.weaviate_open_routes is True
    assert ServerSettings.from_env({"QWEN3VL_VECTORIZE_INSTRUCTION": ""}).vectorize_instruction is None
    assert "vectorize_instruction" not in settings.limits() and settings.limits()["weaviate_open_routes"] is True
    with pytest.raises(ValueError, match="vectorize_instruction must not be blank"):
        ServerSettings(vectorize_instruction="   ")


def test_collapse_slashes_keeps_percent_escapes_and_leaves_clean_paths_alone():
    scope = {"type": "http", "path": "//vectorize", "raw_path": b"//vectorize"}
    assert collapse_slashes(scope) == {"type": "http", "path": "/vectorize", "raw_path": b"/vectorize"}
    escaped = {"path": "/v1///multimodal embeddings", "raw_path": b"/v1///multimodal%20embeddings"}
    assert collapse_slashes(escaped) == {"path": "/v1/multimodal embeddings", "raw_path": b"/v1/multimodal%20embeddings"}
    clean = {"path": "/vectors/", "raw_path": b"/vectors/"}
    assert collapse_slashes(clean) is clean
