"""TEMPORARY SHIM: the engine futures API of CONTRACT.md, over today's blocking engine.

LEAD: when ``core/dispatcher.py`` lands, replace this whole module with::

    from ..core import EmbedOutput, RequestTimeoutError, ScoreOutput

    def bridge(engine, *, max_queue_items: int, cross_request_batching: bool):
        return engine          # the engine itself has submit_embed/submit_score/stats/add_batch_listener

(and pass ``max_queue_items`` / batching to the engine's config instead). Nothing else in ``server/``
imports engine internals: routes call only ``submit_embed``, ``submit_score``, ``stats`` and
``add_batch_listener`` on what :func:`bridge` returns.

What the shim does meanwhile: one worker thread per engine runs calls one at a time; with
``cross_request_batching`` it joins the queued embedding requests (same ``truncate``) into one engine
call, each item keeping its own instruction, so their items share token-budget batches. Rerank calls
run one request per call. Admission counts the items queued or running; a listener sees one event
per engine call (``rows``, ``tokens``, ``seconds``, ``callers``). It uses the engines' private
preparation hooks (``_run``, ``_prepare_pair``...) to count each item's real prompt tokens without
preparing it twice.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..core.inputs import coerce_input, coerce_inputs
from ..core.outputs import PRECISIONS, check_dim, postprocess
from ..errors import InputError, ItemError, ModelError, ModelOverloadedError, NonFiniteOutputError, Qwen3VLError
from .errors import relabel

logger = logging.getLogger(__name__)

__all__ = ["EmbedOutput", "ScoreOutput", "RequestTimeoutError", "EngineBridge", "bridge"]

_MAX_JOINED_ITEMS = 1024


@dataclass(frozen=True)
class EmbedOutput:
    vector: np.ndarray
    tokens: int
    truncated: bool
    effective: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreOutput:
    score: float
    tokens: int
    truncated: bool


class RequestTimeoutError(ModelError):
    code = "timeout"
    retryable = True


@dataclass
class _Job:
    kind: str                      # "embed" or "score"
    items: list                    # MultimodalInput copies (fresh objects), or raw items that do not coerce
    options: dict
    future: Future
    deadline: float | None
    query: Any = None


class _Raw:
    """An item that does not coerce: preparing it raises the same typed error again, in its slot."""

    def __init__(self, value):
        self.value = value


def bridge(engine, *, max_queue_items: int, cross_request_batching: bool) -> EngineBridge:
    return EngineBridge(engine, max_queue_items=max_queue_items, cross_request_batching=cross_request_batching)


class EngineBridge:
    def __init__(self, engine, *, max_queue_items: int = 2048, cross_request_batching: bool = True):
        self.engine = engine
        self.max_queue_items = max_queue_items
        self.cross_request_batching = cross_request_batching
        self._cond = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._items = 0  # queued or running
        self._closed = False
        self._listeners: list[Callable[[int, int, float, int], None]] = []
        self._stats = {"forwards": 0, "forward_items": 0, "forward_tokens": 0, "forward_seconds": 0.0}
        self._thread = threading.Thread(target=self._work, name="qwen3vl-bridge", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str):
        """Everything else (``hidden_size``, ``dim``, ``model_id``, instructions...) is the engine's."""
        if name == "engine":
            raise AttributeError(name)
        return getattr(self.engine, name)

    # -- submission ------------------------------------------------------------------------------
    def submit_embed(self, inputs, *, instruction: str | None = None, dim: int | None = None,
                     precision: str = "float32", truncate: bool | None = None, timeout: float | None = None) -> Future:
        if precision not in PRECISIONS:
            raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}", param="precision")
        try:
            size = check_dim(dim, self.engine.hidden_size) if dim is not None else self.engine.dim
        except ValueError as exc:
            raise InputError(str(exc), param="dim") from exc
        if instruction is not None and not isinstance(instruction, str):
            raise InputError("instruction must be a str", param="instruction")
        items = [_with_instruction(x, instruction) for x in coerce_inputs(inputs)]
        return self._submit(_Job("embed", items, {"dim": size, "precision": precision, "truncate": truncate},
                                 Future(), _deadline(timeout)))

    def submit_score(self, query, documents, *, instruction: str | None = None, truncate: bool | None = None,
                     timeout: float | None = None) -> Future:
        if instruction is not None and not isinstance(instruction, str):
            raise InputError("instruction must be a str", param="instruction")
        items = [_with_instruction(x, None) for x in coerce_inputs(documents)]
        return self._submit(_Job("score", items, {"instruction": instruction, "truncate": truncate},
                                 Future(), _deadline(timeout), query=query))

    def _submit(self, job: _Job) -> Future:
        n = max(1, len(job.items))
        with self._cond:
            if self._closed:
                raise ModelError("the engine is closed")
            if self._items and self._items + n > self.max_queue_items:
                exc = ModelOverloadedError(f"the model queue is full ({self._items} items queued or running, "
                                           f"limit {self.max_queue_items}); retry later")
                exc.retry_after = self._retry_after()  # type: ignore[attr-defined]
                raise exc
            self._items += n
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def _retry_after(self) -> float:
        s = self._stats
        rate = s["forward_items"] / s["forward_seconds"] if s["forward_seconds"] > 0 else 0.0
        return max(1.0, self._items / rate) if rate > 0 else 1.0

    # -- introspection ---------------------------------------------------------------------------
    def stats(self) -> dict:
        with self._cond:
            queued = sum(max(1, len(j.items)) for j in self._queue)
            return {"queue_items": queued, "queue_tokens": None, **self._stats}

    def add_batch_listener(self, fn: Callable[[int, int, float, int], None]) -> None:
        self._listeners.append(fn)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the worker: queued calls fail, the running one finishes; True when the worker stopped."""
        with self._cond:
            self._closed = True
            while self._queue:
                job = self._queue.popleft()
                self._items -= max(1, len(job.items))
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(ModelError("the server is shutting down"))
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the worker ------------------------------------------------------------------------------
    def _take(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            jobs = [self._queue.popleft()]
            if jobs[0].kind == "embed" and self.cross_request_batching:
                total = len(jobs[0].items)
                while (self._queue and self._queue[0].kind == "embed" and total < _MAX_JOINED_ITEMS
                       and self._queue[0].options["truncate"] == jobs[0].options["truncate"]):
                    total += len(self._queue[0].items)
                    jobs.append(self._queue.popleft())
            return jobs

    def _work(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            live = [j for j in jobs if self._start(j)]
            try:
                if live:
                    self._run(live)
            except BaseException as exc:  # never let the worker die; fail only these calls
                logger.exception("engine call failed")
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(ModelError("the model failed on this request") if not
                                                 isinstance(exc, Qwen3VLError) else exc)
            finally:
                with self._cond:
                    self._items -= sum(max(1, len(j.items)) for j in jobs)

    def _start(self, job: _Job) -> bool:
        if not job.future.set_running_or_notify_cancel():
            return False  # cancelled (the client went away): its items are dropped
        if job.deadline is not None and time.monotonic() > job.deadline:
            job.future.set_exception(RequestTimeoutError("the request timed out before the model could run it"))
            return False
        return True

    def _run(self, jobs: list[_Job]) -> None:
        start = time.perf_counter()
        if jobs[0].kind == "embed":
            rows, tokens = self._run_embed(jobs)
        else:
            rows, tokens = self._run_score(jobs[0])
        seconds = time.perf_counter() - start
        with self._cond:
            s = self._stats
            s["forwards"] += 1
            s["forward_items"] += rows
            s["forward_tokens"] += tokens
            s["forward_seconds"] += seconds
        for fn in list(self._listeners):
            try:
                fn(rows, tokens, seconds, len(jobs))
            except Exception:
                logger.exception("batch listener failed")

    def _run_embed(self, jobs: list[_Job]) -> tuple[int, int]:
        engine = self.engine
        items = [x for j in jobs for x in j.items]
        counted: dict[int, tuple[int, bool]] = {}
        truncate = jobs[0].options["truncate"]

        def prepare(x):
            prepared = engine.prepare(x.value if isinstance(x, _Raw) else x, None, truncate)
            counted[id(x)] = (len(prepared), prepared.truncated)
            return prepared

        raw = engine._run(items, prepare, engine._pool, "return")
        offset = 0
        for job in jobs:
            out: list = []
            for k, x in enumerate(job.items):
                value = raw[offset + k]
                out.append(value if isinstance(value, ItemError) else _embed_output(value, k, job.options, counted[id(x)]))
            offset += len(job.items)
            job.future.set_result(_reindex(out))
        return len(items), sum(t for t, _ in counted.values())

    def _run_score(self, job: _Job) -> tuple[int, int]:
        engine = self.engine
        if not job.items:
            job.future.set_result([])
            return 0, 0
        try:
            prepared_query = engine._prepare_query(job.query)
        except Qwen3VLError as exc:
            job.future.set_exception(exc)
            return 0, 0
        counted: dict[int, tuple[int, bool]] = {}
        prefix: dict = {}
        options = job.options

        def prepare(x):
            prepared = engine._prepare_pair(prepared_query, x.value if isinstance(x, _Raw) else x,
                                            options["instruction"], options["truncate"])
            counted[id(x)] = (len(prepared), prepared.truncated)
            return prepared

        def on_window(items) -> None:
            nonlocal prefix
            prefix = engine._prefix_state(items, *prepared_query[1:], prefix)

        raw = engine._run(job.items, prepare, lambda items: engine._scores(items, prefix), "return", on_window=on_window)
        out: list = []
        for k, (x, value) in enumerate(zip(job.items, raw)):
            if isinstance(value, ItemError):
                out.append(value)
            elif not torch.isfinite(value):
                out.append(ItemError(k, NonFiniteOutputError("the model produced a non-finite score").at(k)))
            else:
                out.append(ScoreOutput(float(value), *counted[id(x)]))
        job.future.set_result(out)
        return len(job.items), sum(t for t, _ in counted.values())


def _embed_output(value: torch.Tensor, index: int, options: dict, counted: tuple[int, bool]):
    try:
        vector = postprocess(value.numpy()[None, :], options["dim"], options["precision"])[0]
    except NonFiniteOutputError as exc:
        return ItemError(index, exc.at(index))
    return EmbedOutput(vector, counted[0], counted[1])


def _reindex(out: list) -> list:
    """Item errors of a joined call carry their index in that call: give them their index in this request."""
    return [ItemError(k, relabel(v.error, f"input[{k}]", k)) if isinstance(v, ItemError) and v.index != k else v
            for k, v in enumerate(out)]


def _with_instruction(raw, instruction: str | None):
    """A fresh MultimodalInput for ``raw`` (its own instruction kept, else ``instruction``), or a _Raw wrapper
    when it does not coerce (the error then comes back in its slot)."""
    try:
        item = coerce_input(raw)
    except Qwen3VLError:
        return _Raw(raw)
    return dataclasses.replace(item, instruction=item.instruction or instruction)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
