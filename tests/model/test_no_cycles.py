"""A finished call leaves no reference cycle behind, and the server freezes its loaded heap.

A call whose future and state referenced each other stayed in memory (its inputs and vectors
included) until a full collection; a full collection walked the whole loaded model and stalled
the server's event loop for 300-450 ms, so every request arriving meanwhile, 429s included, waited
(bench_server's p99 of 429s was 370 ms). These tests run with the cycle collector off: what is freed
is freed by reference counting alone.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import weakref
from concurrent.futures import Future

import pytest


@pytest.fixture
def no_cycle_collector():
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _freed(ref: weakref.ref, seconds: float = 5.0) -> bool:
    """Whether ``ref`` dies within ``seconds`` (a worker thread may still hold the call for a moment)."""
    deadline = time.monotonic() + seconds
    while ref() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return ref() is None


def test_a_finished_call_is_freed_by_reference_counting(embedder, no_cycle_collector):
    future = embedder.submit_embed(["a finished call", "leaves nothing behind"])
    assert len(future.result(timeout=60)) == 2
    ref = weakref.ref(future)
    del future
    assert _freed(ref), "the call's future is only reachable through a reference cycle"


def test_a_cancelled_call_is_freed_by_reference_counting(embedder, no_cycle_collector):
    gate, holds = threading.Event(), []
    embedder.dispatcher.add_batch_listener(lambda *a: holds.append(1) or gate.wait(10))
    try:
        first = embedder.submit_embed(["holds the worker"])
        queued = embedder.submit_embed(["queued, then cancelled"])
        assert queued.cancel()
        ref = weakref.ref(queued)
        del queued
    finally:
        gate.set()
    first.result(timeout=60)
    assert _freed(ref)


def test_the_servers_waiter_and_the_engine_future_do_not_reference_each_other(no_cycle_collector):
    from qwen3vl_integrations.server.running import _awaitable

    async def main() -> weakref.ref:
        future: Future = Future()
        waiter = _awaitable(future)
        threading.Thread(target=future.set_result, args=(["vectors"],)).start()
        assert await waiter == ["vectors"]
        return weakref.ref(future)

    ref = asyncio.run(main())
    assert _freed(ref)


def test_the_warm_up_freezes_the_loaded_heap(embedder):
    from qwen3vl_integrations.server import ServerSettings, create_app

    app = create_app(embedder, settings=ServerSettings(api_key="k"))
    gc.unfreeze()
    try:
        app.state.qwen3vl.warm_up()
        assert app.state.qwen3vl.healthy
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_workers_are_stopped_before_the_interpreter_exits(tiny_checkpoint, tmp_path):
    """An exit handler registered before the package runs after the package's own: by then no
    dispatcher thread may be left running."""
    import subprocess
    import sys

    script = tmp_path / "exit.py"
    script.write_text(
        "import atexit, threading\n"
        "def check():\n"
        "    alive = [t.name for t in threading.enumerate() if t.name.startswith('qwen3vl') and t.is_alive()]\n"
        "    print('ALIVE', alive)\n"
        "atexit.register(check)\n"
        "from qwen3vl_integrations import Qwen3VLEmbedder\n"
        f"emb = Qwen3VLEmbedder.from_pretrained({str(tiny_checkpoint)!r}, device='cpu')\n"
        "emb.embed(['one', 'two'])\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ALIVE []" in done.stdout, done.stdout
