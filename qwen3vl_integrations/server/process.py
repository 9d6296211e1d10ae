"""``qwen3vl serve`` as a child process: start it, learn its URL, wait until it is healthy, stop it.

For tests, benchmarks and notebooks that need a real server beside them::

    with ServerProcess.start(["--model", "tiny-random", "--port", "0"], log=Path("serve.log")) as server:
        httpx.post(server.url + "/v1/embeddings", json={"input": "hi"})
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ServerProcess"]

_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, args: list[str], *, log: Path, env: dict | None = None, timeout: float = 300.0,
              cwd: Path | None = None) -> ServerProcess:
        """Run ``python -m qwen3vl_integrations.cli serve ARGS`` (output to ``log``) and return once
        ``/health`` answers 200, i.e. after its warm-up forward passes; RuntimeError (with the log's
        tail) if it exits or is not healthy within ``timeout`` seconds."""
        command = [sys.executable, "-m", "qwen3vl_integrations.cli", "serve", *args]
        with open(log, "wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd,
                                       env={**os.environ, **(env or {})})
        server = cls("", process, log)
        try:
            server._wait_healthy(time.monotonic() + timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_healthy(self, deadline: float) -> None:
        while True:
            if not self.url:
                found = _LISTENING.search(self.log_tail(100_000))
                self.url = found.group(1) if found else ""
            elif _status(self.url + "/health") == 200:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"qwen3vl serve exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"qwen3vl serve was not healthy in time:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a graceful drain), then SIGKILL after ``timeout``; the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _status(url: str) -> int | None:
    import httpx

    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
