"""The deadlines of one dispatcher's calls: a thread that hands over each call whose deadline passed
(its owner fails it with ``RequestTimeoutError`` and drops its items not run yet). The thread starts
with the first deadline and exits once none is left for ``IDLE_SECONDS``."""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from .jobs import CallState
from .runner import IDLE_SECONDS

__all__ = ["DeadlineWatch"]


class DeadlineWatch:
    """Shares its owner's condition: :meth:`add` and :meth:`close` are called under it, and ``expire``
    (the calls whose deadline passed) outside it."""

    def __init__(self, cond: threading.Condition, name: str, expire: Callable[[list[CallState]], None]):
        self._cond, self._name, self._expire = cond, name, expire
        self._heap: list[tuple[float, int, CallState]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, call: CallState) -> None:
        assert call.deadline is not None
        heapq.heappush(self._heap, (call.deadline, call.seq, call))
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name=f"{self._name}-deadlines", daemon=True)
            self._thread.start()
        self._cond.notify_all()

    def close(self) -> None:
        self._closed = True
        self._cond.notify_all()

    def _due(self, now: float) -> list[CallState]:
        due = []
        while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
            call = heapq.heappop(self._heap)[2]
            if not call.done:
                due.append(call)
        return due

    def _watch(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                due = self._due(now)
                if not due:
                    if self._heap:
                        self._cond.wait(self._heap[0][0] - now)
                        continue
                    self._cond.wait(IDLE_SECONDS)
                    if not self._heap:
                        self._thread = None
                        return
                    continue
            self._expire(due)
