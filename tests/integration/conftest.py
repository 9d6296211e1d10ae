"""Live ``qwen3vl serve`` subprocesses on 127.0.0.1 (ephemeral ports) with the tiny checkpoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

API_KEY = "test-key-9f2c"
_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    api_key: str | None
    log: Path

    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_server(checkpoint: Path, workdir: Path, *, api_key: str | None = API_KEY, env: dict | None = None,
                 args: tuple = (), reranker: bool = True, timeout: float = 300.0) -> LiveServer:
    """Start ``qwen3vl serve`` and wait until ``/health`` is 200 (after its warm-up forward passes)."""
    import httpx

    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    command = [sys.executable, "-m", "qwen3vl_integrations.cli", "serve", "--model", str(checkpoint),
               "--device", "cpu", "--host", "127.0.0.1", "--port", "0", *args]
    if reranker:
        command += ["--reranker-model", str(checkpoint)]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    full_env.pop("QWEN3VL_API_KEY", None)
    if api_key:
        full_env["QWEN3VL_API_KEY"] = api_key
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=full_env, cwd=workdir)
    server = LiveServer("", process, api_key, log)
    deadline = time.monotonic() + timeout
    while not server.url:
        found = _LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))
        if found:
            server.url = found.group(1)
        elif process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"qwen3vl serve did not start (exit {process.poll()}):\n{server.log_tail()}")
        else:
            time.sleep(0.2)
    while True:
        try:
            if httpx.get(server.url + "/health", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"qwen3vl serve never became healthy:\n{server.log_tail()}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def live_server(tiny_checkpoint, tmp_path_factory):
    """One server with both models and an API key, shared by the modules that need default limits."""
    pytest.importorskip("fastapi")
    server = start_server(tiny_checkpoint, tmp_path_factory.mktemp("live-server"))
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
