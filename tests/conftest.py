"""Shared fixtures: one tiny random checkpoint per test session, and models loaded from it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A random tiny Qwen3-VL checkpoint built by qwen3vl_integrations.testing (once per session).

    Set QWEN3VL_TEST_CHECKPOINT to reuse an existing one while developing.
    """
    existing = os.environ.get("QWEN3VL_TEST_CHECKPOINT")
    if existing and (Path(existing) / "config.json").is_file():
        return Path(existing)
    from qwen3vl_integrations.testing import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", size="tiny")


@pytest.fixture(scope="session")
def embedder(tiny_checkpoint):
    from qwen3vl_integrations import Qwen3VLEmbedder

    return Qwen3VLEmbedder.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def reranker(tiny_checkpoint):
    from qwen3vl_integrations import Qwen3VLReranker

    return Qwen3VLReranker.from_pretrained(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def hf_model(tiny_checkpoint):
    """The checkpoint loaded by transformers itself, for independent computations in tests."""
    from transformers import Qwen3VLForConditionalGeneration

    return Qwen3VLForConditionalGeneration.from_pretrained(tiny_checkpoint).eval()


@pytest.fixture(scope="session")
def hf_processor(tiny_checkpoint):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_checkpoint)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_image(rng, height: int, width: int):
    from PIL import Image

    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def run_example(script: str, checkpoint: Path, workdir: Path) -> str:
    """Run ``examples/<script>`` offline on a checkpoint, in ``workdir``; assert it exits 0 and return its stdout."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(repo)}
    proc = subprocess.run(
        [sys.executable, str(repo / "examples" / script), "--model", str(checkpoint), "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=240, env=env, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def wait_for(predicate, seconds=30.0):
    """Poll ``predicate`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def cosine(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def deep_folder(top: Path) -> bytes:
    """A real folder whose path is longer than PATH_MAX (os.scandir on it fails even as root)."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    parts = [os.fsencode(top)]
    try:
        for _ in range(18):
            name = b"d" * 250
            os.mkdir(name, dir_fd=fd)
            parts.append(name)
            fd, old = os.open(name, os.O_RDONLY, dir_fd=fd), fd
            os.close(old)
        with open(os.open(b"deep.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as handle:
            handle.write("too deep to reach")
    finally:
        os.close(fd)
    return b"/".join(parts)


_FORK_AND_WAIT = """
pid = os.fork()
if pid == 0:
    os._exit(child())
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print(f"child exited {os.waitstatus_to_exitcode(status)}")
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child hung")
"""


def fork_in_fresh_process(setup: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``setup`` (Python source that imports ``os`` and ``time`` and defines ``child()``, the forked
    child's exit code) in a fresh interpreter with ``args``, then fork; stdout says what the parent
    saw: ``child exited N``, or ``child hung`` when the child had not exited after 20 s."""
    return subprocess.run([sys.executable, "-c", setup + _FORK_AND_WAIT, *args], capture_output=True, text=True,
                          timeout=120)
