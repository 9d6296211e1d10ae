"""One forward thread per device, shared by the dispatchers of every engine on that device.

torch runs the parallel parts of a CPU operation on a team of threads that belongs to the calling
thread (OpenMP). Engines with a forward thread each (an embedder and a reranker in one server, or
two engines in one application) make one team per engine on the same cores: once both had run,
each one's forward passes ran about 40 % slower, even while the other sat idle
(``benchmarks/bench_concurrency.py`` measures it). Passes of engines on one device contend for the
same cores (or GPU) anyway, so they take turns on one thread instead: each dispatcher with work runs
one turn (the inline preparation queued at that moment, or one batch), then the next dispatcher's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Protocol

logger = logging.getLogger(__name__)

__all__ = ["DeviceRunner", "device_key", "runner_for", "on_forward_thread", "stop_runners", "IDLE_SECONDS"]

#: seconds an idle forward thread waits before exiting (the next turn starts a new one)
IDLE_SECONDS = 10.0


class TurnTaker(Protocol):
    def run_turn(self) -> bool: ...


class DeviceRunner:
    """The forward thread of one device: runs the turns of the dispatchers that woke it, in turn."""

    def __init__(self, key: str):
        self.key = key
        self.name = f"qwen3vl-{key}-forward"
        self._reset()

    def _reset(self) -> None:
        """Fresh lock, queue and no thread (at start, and in a forked child, which has none of the parent's)."""
        self._cond = threading.Condition()
        self._waiting: deque[TurnTaker] = deque()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def wake(self, dispatcher: TurnTaker) -> None:
        """Queue ``dispatcher`` for a turn (once) and make sure the thread runs."""
        with self._cond:
            if dispatcher not in self._waiting:
                self._waiting.append(dispatcher)
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                thread.start()  # set below only once started, so a failed start leaves no dead thread behind
                self._thread = thread
            self._cond.notify()

    def is_current(self) -> bool:
        """Whether the calling thread is this device's forward thread."""
        return self._thread is threading.current_thread()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the thread finish its current turn and exit; waits for it unless called from it."""
        with self._cond:
            self._stopping = True
            self._waiting.clear()
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _next(self) -> TurnTaker | None:
        with self._cond:
            idle_since = time.monotonic()
            while not self._waiting:
                if self._stopping or time.monotonic() - idle_since > IDLE_SECONDS:
                    self._thread = None  # under the lock that wake() checks it with
                    return None
                self._cond.wait(IDLE_SECONDS)
            return self._waiting.popleft()

    def _loop(self) -> None:
        try:
            while True:
                dispatcher = self._next()
                if dispatcher is None:
                    return
                try:
                    more = dispatcher.run_turn()
                except Exception:  # run_turn resolves its own calls' failures; this keeps the thread alive
                    logger.exception("a forward turn failed")
                    more = True  # its queued work still needs turns
                if more:
                    with self._cond:
                        if not self._stopping and dispatcher not in self._waiting:
                            self._waiting.append(dispatcher)
                dispatcher = None  # an idle thread holds no dispatcher
        finally:  # a thread killed by a BaseException (SystemExit in a listener...): the next wake starts a new one
            with self._cond:
                if self._thread is threading.current_thread():
                    self._thread = None


_RUNNERS: dict[str, DeviceRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def device_key(device) -> str:
    """One name per device: ``"cuda"`` and ``"cuda:0"`` (when 0 is the current device) are one GPU."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return str(device)


def on_forward_thread() -> bool:
    """Whether the calling thread is a forward thread (a batch listener or a done-callback running
    there must not wait for an engine's results: the wait would hold the thread the work needs)."""
    with _RUNNERS_LOCK:
        return any(runner.is_current() for runner in _RUNNERS.values())


def runner_for(device: str) -> DeviceRunner:
    """The process's forward thread for ``device`` (a :func:`device_key`: ``"cpu"``, ``"cuda:0"``...)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(device)
        if runner is None:
            runner = _RUNNERS[device] = DeviceRunner(device)
        return runner


def stop_runners() -> None:
    """Stop every forward thread (at interpreter exit, after the dispatchers closed)."""
    with _RUNNERS_LOCK:
        runners = list(_RUNNERS.values())
    for runner in runners:
        runner.stop()


def _after_fork_in_child() -> None:
    global _RUNNERS_LOCK
    _RUNNERS_LOCK = threading.Lock()
    for runner in _RUNNERS.values():
        runner._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
