"""The engine's dispatcher: admission (:mod:`.admission`), deadlines (:mod:`.deadlines`), one bounded
preparation pool, cross-caller token-budget batches and a forward thread shared with the other
engines on the device.

Every ``embed`` / ``score`` call is a :class:`Job` submitted here. Its items are prepared (media
loaded, preprocessed, tokenised) window by window: in the pool 8 items, then doubling up to
``Job.window``, at most two windows ahead of the model; or ``Job.window`` items at a time on the
forward thread itself when the call prepares inline (``num_workers=0``, where overlapping would only
compete with the forward pass). Prepared items of every call wait in one ready list; the device's
forward thread (:mod:`.runner`) repeatedly takes the token-budget batch that holds the oldest ready
item of its group (:func:`.jobs.choose_batch`), runs it, and hands each caller its own results,
giving a turn to each other engine with work on that device in between. A batch that fails is
retried in halves down to single items, so one call's bad item never fails another call's items.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from typing import Any

from ..errors import EngineClosedError, ItemError, Qwen3VLError, RequestTimeoutError
from .admission import Admission
from .deadlines import DeadlineWatch
from .jobs import CallState, Entry, Job, choose_batch, preparation_error, run_entries
from .runner import device_key, runner_for, stop_runners

logger = logging.getLogger(__name__)

__all__ = ["Dispatcher", "Job", "preparation_error"]

BatchListener = Callable[[int, int, float, int], None]

#: every dispatcher, so that a forked child starts with fresh threads and locks
_DISPATCHERS: weakref.WeakSet[Dispatcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for dispatcher in list(_DISPATCHERS):
        dispatcher._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_all_at_exit() -> None:
    """Stop every worker before the interpreter finalises: a daemon worker still inside torch while
    the runtime tears down can abort the process ("terminate called without an active exception")."""
    for dispatcher in list(_DISPATCHERS):
        dispatcher.close()
    stop_runners()


class Dispatcher:
    """Admission, preparation and the forward turns of one engine (thread-safe); its turns run on the
    forward thread of ``device``, shared with the other engines on it."""

    def __init__(self, plan: Callable[[list[int]], list[list[int]]], pool_size: int, *,
                 max_items: int | None = None, max_tokens: int | None = None, cross_caller: bool = True,
                 name: str = "qwen3vl", device: str = "cpu"):
        self._plan, self._pool_size, self._name = plan, max(1, pool_size), name
        self._runner = runner_for(device_key(device))
        self._admission, self._cross_caller = Admission(max_items, max_tokens), cross_caller
        self._listeners: list[BatchListener] = []
        self._closed = False
        self._seq = 0
        self._forwards = self._forward_items = self._forward_tokens = 0
        self._forward_seconds = 0.0
        self._reset()
        _DISPATCHERS.add(self)

    def _reset(self) -> None:
        """Fresh lock, queues and threads (at start, and in a forked child, which has none of the parent's threads)."""
        self._cond = threading.Condition(threading.RLock())
        self._ready: list[Entry] = []
        self._inline: list[Callable[[], None]] = []
        self._groups: dict[Hashable, list] = {}  # group -> [calls using it, state dict]
        self._deadlines = DeadlineWatch(self._cond, self._name, self._time_out)
        self._pool: ThreadPoolExecutor | None = None
        self._turns = 0  # turns running now (0 or 1: one forward thread per device)
        self._prepared_last = False
        self._live: dict[int, CallState] = {}
        self._admission.clear()

    # -- public ----------------------------------------------------------------------------------
    def submit(self, job: Job) -> Future:
        """Admit ``job`` (or raise :class:`ModelOverloadedError` at once) and return its future: a list
        of one output or :class:`ItemError` per item, in order."""
        future: Future = Future()
        done: list = []
        with self._cond:
            if self._closed:
                raise EngineClosedError("the engine is closed")
            self._admission.admit(job, self._tokens_per_second())
            self._seq += 1
            call = CallState(job, self._seq, future)
            self._live[call.seq] = call
            logger.debug("call %d admitted: %d items, about %d tokens, prepared %s", call.seq, len(job.items),
                         sum(job.estimates), "inline" if job.inline else "in the pool")
            for index, item in enumerate(job.items):
                if isinstance(item, Qwen3VLError):
                    self._item_failed(call, index, item, done)
            if not call.done:
                self._start(call, done)
        future.add_done_callback(functools.partial(self._on_future_done, call.seq))
        self._complete(done)
        return future

    def set_limits(self, *, max_items: int | None, max_tokens: int | None, cross_caller: bool) -> None:
        """Change the admission bounds and whether calls share batches (applies to calls admitted from now)."""
        with self._cond:
            self._admission.max_items, self._admission.max_tokens = max_items, max_tokens
            self._cross_caller = cross_caller

    def add_batch_listener(self, fn: BatchListener) -> None:
        """``fn(rows, tokens, seconds, callers)`` after every forward pass (on the worker thread)."""
        with self._cond:
            self._listeners.append(fn)

    def stats(self) -> dict:
        with self._cond:
            return {"queue_items": self._admission.items, "queue_tokens": self._admission.tokens, "forwards": self._forwards,
                    "forward_items": self._forward_items, "forward_tokens": self._forward_tokens,
                    "forward_seconds": self._forward_seconds, "ready_items": len(self._ready), "calls": len(self._live)}

    def close(self) -> None:
        """Fail queued calls with :class:`EngineClosedError`, stop the pool and wait for a running turn (idempotent)."""
        done: list = []
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._deadlines.close()
            for call in list(self._live.values()):
                self._end(call, EngineClosedError("the engine was closed before the call finished"), done)
            self._inline.clear()
            pool = self._pool
            self._cond.notify_all()
        self._complete(done)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if not self._runner.is_current():
            with self._cond:
                self._cond.wait_for(lambda: self._turns == 0, timeout=10)

    # -- admission and preparation (under the lock) -----------------------------------------------
    def _tokens_per_second(self) -> float | None:
        """The forward passes' throughput so far (None before the first one)."""
        if self._forward_seconds <= 0 or self._forward_tokens <= 0:
            return None
        return self._forward_tokens / self._forward_seconds

    def _start(self, call: CallState, done: list) -> None:
        if call.deadline is not None:
            self._deadlines.add(call)
        if call.job.setup is not None:
            self._schedule(call, lambda: self._run_setup(call))
        else:
            self._join_group(call)
            self._fill_windows(call, done)
        if not call.open and not call.done:
            self._end(call, None, done)

    def _join_group(self, call: CallState) -> None:
        slot = self._groups.setdefault(call.group, [0, dict(call.context)])
        slot[0] += 1
        call.joined = True

    def _schedule(self, call: CallState, task: Callable[[], None]) -> None:
        if call.job.inline:
            self._inline.append(task)
            self._wake()
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._pool_size, thread_name_prefix=f"{self._name}-prep")
        call.pool_futures.append(self._pool.submit(task))

    def _fill_windows(self, call: CallState, done: list) -> None:
        """Admit windows to preparation: two ahead of the model in the pool, one at a time inline."""
        limit = 1 if call.job.inline else 2
        while not call.done and call.active < limit and call.next_window < len(call.bounds):
            k = call.next_window
            call.next_window += 1
            indices = [i for i in range(*call.bounds[k]) if i in call.open]
            if not indices:
                continue
            call.active += 1
            call.prep_left[k] = call.run_left[k] = len(indices)
            call.prepared[k] = []
            if call.job.inline:
                self._schedule(call, functools.partial(self._prepare_all, call, k, indices))
            else:
                for i in indices:
                    self._schedule(call, functools.partial(self._prepare, call, k, i))

    # -- preparation (pool threads or the worker) -------------------------------------------------
    def _run_setup(self, call: CallState) -> None:
        if call.done:
            return
        done: list = []
        try:
            assert call.job.setup is not None
            group, context = call.job.setup()
        except Exception as exc:  # any failure of the call's setup fails the call, typed
            with self._cond:
                self._end(call, preparation_error(exc, param="query"), done)
        else:
            with self._cond:
                if not call.done:
                    call.group, call.context = group, context
                    self._join_group(call)
                    self._fill_windows(call, done)
        self._complete(done)

    def _prepare_all(self, call: CallState, k: int, indices: list[int]) -> None:
        for index in indices:
            self._prepare(call, k, index)

    def _prepare(self, call: CallState, k: int, index: int) -> None:
        if call.done:
            return
        done: list = []
        try:
            prepared, error = call.job.prepare(call.job.items[index], call.context), None
        except Exception as exc:  # the per-item error boundary
            prepared, error = None, preparation_error(exc, index)
        with self._cond:
            if call.done:
                return
            call.prep_left[k] -= 1
            if error is not None:
                self._item_failed(call, index, error, done)
            else:
                call.prepared[k].append((index, prepared))
            if not call.done and call.prep_left[k] == 0:
                self._ready.extend(Entry(call, i, p) for i, p in sorted(call.prepared.pop(k)))
                if self._ready:
                    self._wake()
        self._complete(done)

    # -- results (under the lock) -----------------------------------------------------------------
    def _item_failed(self, call: CallState, index: int, error: Qwen3VLError, done: list) -> None:
        if call.job.fail_fast:
            self._end(call, error, done)
        else:
            self._record(call, index, ItemError(index, error), done)

    def _record(self, call: CallState, index: int, value: Any, done: list) -> None:
        if call.done or index not in call.open:
            return
        call.results[index] = value
        call.open.discard(index)
        self._admission.release(call.job, index)
        k = call.window_of[index]
        if k in call.run_left:
            call.run_left[k] -= 1
            if call.run_left[k] == 0:
                del call.run_left[k]
                call.active -= 1
                self._fill_windows(call, done)
        if not call.open:
            self._end(call, None, done)

    def _end(self, call: CallState, error: BaseException | None, done: list) -> None:
        """Finish ``call``: its result (``error`` None) or failure; queued items are dropped."""
        if call.done:
            return
        call.done = True
        self._live.pop(call.seq, None)
        for index in call.open:
            self._admission.release(call.job, index)
        if call.open:
            self._ready = [e for e in self._ready if e.call is not call]
            for fut in call.pool_futures:
                fut.cancel()
        call.pool_futures = []
        slot = self._groups.get(call.group) if call.joined else None
        if slot is not None:
            slot[0] -= 1
            if slot[0] <= 0:
                del self._groups[call.group]
        done.append((call, error))

    @staticmethod
    def _complete(done: list) -> None:
        """Resolve futures outside the lock (their callbacks may call back in)."""
        for call, error in done:
            try:
                if error is None:
                    call.future.set_result(call.results)
                else:
                    call.future.set_exception(error)
            except InvalidStateError:  # cancelled meanwhile
                pass

    def _on_future_done(self, seq: int, future: Future) -> None:
        """A cancelled future drops its call's queued items. The callback names the call by ``seq``: a
        callback holding the call itself would make call and future a reference cycle, which only a
        full garbage collection frees (a long pause on a process holding a model)."""
        if future.cancelled():
            done: list = []
            with self._cond:
                call = self._live.get(seq)
                if call is not None and not call.done:
                    logger.debug("call %d cancelled: %d queued items dropped", call.seq, len(call.open))
                    self._end(call, None, done)

    # -- threads ----------------------------------------------------------------------------------
    def _wake(self) -> None:
        self._runner.wake(self)

    def run_turn(self) -> bool:
        """One turn on the device's forward thread: the inline preparation queued at this moment, or
        one batch (in alternation while both wait, so neither starves the other). True while work is left."""
        with self._cond:
            if self._closed or not (self._inline or self._ready):
                return False
            tasks: list = []
            if self._inline and not (self._prepared_last and self._ready):
                tasks, self._inline = self._inline, []
            batch = None if tasks else self._take_batch()
            self._prepared_last = bool(tasks)
            self._turns += 1
        try:
            self._run_turn(tasks, batch)
        except Exception:  # a progress callback or plan that raised: the calls' other items still run
            logger.exception("a forward turn failed")
        finally:
            del tasks, batch  # the thread holds no finished call (its inputs and outputs) after the turn
            with self._cond:
                self._turns -= 1
                self._cond.notify_all()
                more = not self._closed and bool(self._inline or self._ready)
        return more

    def _run_turn(self, tasks: list, batch: tuple | None) -> None:
        for task in tasks:
            task()
        if batch is not None:
            self._run_batch(*batch)

    def _take_batch(self) -> tuple[list[Entry], list, dict]:
        """The next batch (:func:`.jobs.choose_batch`), taken off the ready list, with the items it was
        planned among and its group's state."""
        chosen, members = choose_batch(self._ready, self._plan, self._cross_caller)
        taken = {id(e) for e in chosen}
        self._ready = [e for e in self._ready if id(e) not in taken]
        logger.debug("batch plan: %d of %d ready items of the group; running %d rows", len(members),
                     len(self._ready) + len(chosen), len(chosen))
        return chosen, [e.item for e in members], self._groups[chosen[0].call.group][1]

    def _run_batch(self, entries: list[Entry], ready: list, state: dict) -> None:
        entries = [e for e in entries if not e.call.done]
        if not entries:
            return
        outputs = run_entries(entries, ready, state, self._forwarded)
        done: list = []
        with self._cond:
            for entry, output, error in outputs:
                if error is not None:
                    self._item_failed(entry.call, entry.index, error, done)
                else:
                    self._record(entry.call, entry.index, output, done)
        self._complete(done)
        for entry in entries:
            if entry.call.job.on_progress is not None:
                entry.call.job.on_progress(1)

    def _forwarded(self, rows: int, tokens: int, seconds: float, callers: int) -> None:
        with self._cond:
            self._forwards += 1
            self._forward_items += rows
            self._forward_tokens += tokens
            self._forward_seconds += seconds
            listeners = list(self._listeners)
        logger.debug("forward pass: %d rows, %d tokens, %d callers, %.3f s", rows, tokens, callers, seconds)
        for fn in listeners:
            try:
                fn(rows, tokens, seconds, callers)
            except Exception:
                logger.exception("a batch listener failed")

    def _time_out(self, calls: list[CallState]) -> None:
        """Fail ``calls``, whose deadline passed (their items not run yet are dropped)."""
        done: list = []
        with self._cond:
            for call in calls:
                if not call.done:
                    logger.debug("call %d timed out: %d items not run were dropped", call.seq, len(call.open))
                    self._end(call, RequestTimeoutError(
                        f"the call did not finish within its timeout ({call.job.timeout} s)"), done)
        self._complete(done)
