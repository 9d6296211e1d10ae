"""Live ``qwen3vl serve`` subprocesses on 127.0.0.1 (ephemeral ports) with the tiny checkpoint, and the
command-line fixtures: a clean environment and a ``tiny-random`` cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

API_KEY = "test-key-9f2c"


def embedding_metric(server, name: str) -> float:
    """The value of sample ``name`` for the embedding model on the server's /metrics (read with
    prometheus-client's own parser); fails when it is not there."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(httpx.get(server.url + "/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("model") == "embedding":
                return sample.value
    raise AssertionError(f"{name} is not on /metrics")


class LiveServer:
    """A running server (``qwen3vl_integrations.server.process.ServerProcess``) and the key it wants."""

    def __init__(self, process, api_key: str | None, allowed_dir: Path | None = None):
        self.proc = process
        self.allowed_dir = allowed_dir
        self.url: str = process.url
        self.process = process.process
        self.api_key = api_key

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log_tail(self, chars: int = 4000) -> str:
        return self.proc.log_tail(chars)

    def stop(self) -> None:
        self.proc.stop()


def start_server(checkpoint: Path, workdir: Path, *, api_key: str | None = API_KEY, env: dict | None = None,
                 args: tuple = (), reranker: bool = True, allowed_dir: Path | None = None) -> LiveServer:
    """``qwen3vl serve`` on the tiny checkpoint (CPU, 127.0.0.1, a free port), healthy when returned."""
    from qwen3vl_integrations.server.process import ServerProcess

    workdir.mkdir(parents=True, exist_ok=True)
    command = ["--model", str(checkpoint), "--device", "cpu", "--host", "127.0.0.1", "--port", "0", *args]
    if reranker:
        command += ["--reranker-model", str(checkpoint)]
    if allowed_dir is not None:
        command += ["--allow-path", str(allowed_dir)]
    full_env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "QWEN3VL_API_KEY": api_key or "",
                **(env or {})}
    try:
        process = ServerProcess.start(command, log=workdir / "server.log", env=full_env, cwd=workdir)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return LiveServer(process, api_key, allowed_dir)


@pytest.fixture(scope="session")
def live_server(tiny_checkpoint, tmp_path_factory):
    """One server with both models and an API key, shared by the modules that need default limits; TEI
    inputs starting with "query: " are queries (as Milvus' search_prompt sends them), and requests may
    name files under ``server.allowed_dir``."""
    pytest.importorskip("fastapi")
    server = start_server(tiny_checkpoint, tmp_path_factory.mktemp("live-server"), args=("--query-prefix", "query: "),
                          allowed_dir=tmp_path_factory.mktemp("allowed"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server_factory(tiny_checkpoint, tmp_path_factory):
    """Start servers with special settings for one module; they stop at the end of the module."""
    pytest.importorskip("fastapi")
    started: list[LiveServer] = []

    def start(**kwargs) -> LiveServer:
        server = start_server(tiny_checkpoint, tmp_path_factory.mktemp("server"), **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No QWEN3VL_* settings leak in; the tiny-random cache is a link to the test checkpoint."""
    for key in [k for k in os.environ if k.startswith("QWEN3VL_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def tiny_cache(clean_env, tiny_checkpoint, monkeypatch):
    cache = clean_env / "cache"
    cache.mkdir()
    (cache / "tiny-random").symlink_to(tiny_checkpoint, target_is_directory=True)
    monkeypatch.setenv("QWEN3VL_CACHE_DIR", str(cache))
    return cache
