"""What an engine submits to its dispatcher (:class:`Job`) and the dispatcher's record of one
admitted call; the per-item error boundary (:func:`preparation_error`); one batch's forward pass
and finishing (:func:`run_entries`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, Qwen3VLError
from .batching import FIRST_WINDOW, run_with_split, window_bounds

logger = logging.getLogger(__name__)

__all__ = ["Job", "CallState", "Entry", "choose_batch", "preparation_error", "run_entries"]


def preparation_error(exc: BaseException, index: int | None = None, param: str | None = None) -> Qwen3VLError:
    """The typed error of an item (or of ``param``) whose preparation raised ``exc`` (cause chained)."""
    if not isinstance(exc, Qwen3VLError):
        err = InputError(f"could not prepare the input ({type(exc).__name__}: {exc})")
        err.__cause__ = exc
        exc = err
    if index is None and param is None:
        return exc
    return exc.at(index if index is not None else 0, param)


@dataclass(eq=False)
class Job:
    """One call: its items and how the engine prepares, runs and finishes them."""

    #: per item, its coerced input, or the typed error it already failed with
    items: list
    #: cheap token estimate per item, for admission
    estimates: list[int]
    #: ``prepare(item, context) -> PreparedItem``; may raise anything (typed by :func:`preparation_error`)
    prepare: Callable[[Any, dict], Any]
    #: ``forward(prepared_items, group_state, ready_items) -> one value per item`` (a sequence or a tensor)
    forward: Callable[[list, dict, list], Any]
    #: ``finish(index, value, prepared) -> output``; may raise a Qwen3VLError for that item
    finish: Callable[[int, Any, Any], Any]
    #: run before any item, in the pool or inline: returns ``(group, context)``; may raise (the call fails)
    setup: Callable[[], tuple[Hashable, dict]] | None = None
    #: items of one group may share a batch; ``context`` seeds the group's state on first use
    group: Hashable = "default"
    context: dict = field(default_factory=dict)
    #: fail the whole call with the first item error (``errors="raise"``) instead of an ItemError per item
    fail_fast: bool = False
    inline: bool = False
    window: int = 128
    timeout: float | None = None
    on_progress: Callable[[int], None] | None = None


class CallState:
    """Book-keeping of one admitted job (guarded by the dispatcher's lock)."""

    def __init__(self, job: Job, seq: int, future: Future):
        self.job, self.seq, self.future = job, seq, future
        n = len(job.items)
        self.results: list = [None] * n
        self.open = set(range(n))
        # a small first window lets the model start while the pool prepares the next ones; inline, nothing
        # is prepared while the model runs, so a small first window would only add a forward pass
        self.bounds = window_bounds(n, job.window, first=job.window if job.inline else FIRST_WINDOW)
        self.window_of = [k for k, (start, end) in enumerate(self.bounds) for _ in range(start, end)]
        self.next_window = 0
        self.active = 0  # windows admitted to preparation and not yet finished
        self.prep_left: dict[int, int] = {}
        self.run_left: dict[int, int] = {}
        self.prepared: dict[int, list] = {}
        self.group: Hashable = job.group
        self.context: dict = job.context
        self.done = False
        self.joined = False  # counted in its group's slot
        self.pool_futures: list[Future] = []
        self.deadline = time.monotonic() + job.timeout if job.timeout is not None else None


@dataclass(eq=False)
class Entry:
    call: CallState
    index: int
    item: Any


def choose_batch(ready: list[Entry], plan: Callable[[list[int]], list[list[int]]],
                 cross_caller: bool) -> tuple[list[Entry], list[Entry]]:
    """The planned token-budget batch that holds the oldest ready entry, planned among the ready
    entries of that entry's group (``cross_caller``: any call's) or of its call only; and those entries."""
    oldest = min(ready, key=lambda e: (e.call.seq, e.index))
    if cross_caller:
        members = [e for e in ready if e.call.group == oldest.call.group]
    else:
        members = [e for e in ready if e.call is oldest.call]
    position = members.index(oldest)
    plans = plan([len(e.item) for e in members])
    return [members[k] for k in next(p for p in plans if position in p)], members


def run_entries(entries: list[Entry], ready: list, state: dict,
                on_forward: Callable[[int, int, float, int], None]) -> list[tuple[Entry, Any, Qwen3VLError | None]]:
    """Run one batch (split on failure, see ``run_with_split``) and finish each item: per entry, its
    output or its typed error. ``on_forward(rows, tokens, seconds, callers)`` after every forward pass."""
    items = [e.item for e in entries]
    forward = entries[0].call.job.forward
    failed: dict[int, Qwen3VLError] = {}

    def run(sub: list[int]) -> list:
        start = time.perf_counter()
        out = list(forward([items[k] for k in sub], state, ready))
        on_forward(len(sub), sum(len(items[k]) for k in sub), time.perf_counter() - start,
                   len({entries[k].call.seq for k in sub}))
        return out

    try:
        values = run_with_split(list(range(len(entries))), run, failed.__setitem__)
    except Exception as exc:  # never let the worker die; every item gets its error
        logger.exception("unexpected failure on the forward thread")
        values, failed = {}, {k: preparation_error(exc) for k in range(len(entries))}
    outputs: list[tuple[Entry, Any, Qwen3VLError | None]] = []
    for k, entry in enumerate(entries):
        if k in failed:
            outputs.append((entry, None, failed[k].at(entry.index)))
            continue
        try:
            outputs.append((entry, entry.call.job.finish(entry.index, values[k], entry.item), None))
        except Qwen3VLError as exc:
            outputs.append((entry, None, exc.at(entry.index)))
    return outputs
