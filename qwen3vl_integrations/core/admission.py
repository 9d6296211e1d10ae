"""The bounded queue of one dispatcher: the items and tokens admitted and not finished yet, checked
against the engine's limits (``EngineConfig.max_queue_items`` / ``max_queue_tokens``). A call over the
limits is refused at once with :class:`ModelOverloadedError` and a retry-after estimate; it never
waits. Not thread-safe on its own: the dispatcher calls it under its lock."""

from __future__ import annotations

import logging

from ..errors import ModelOverloadedError, Qwen3VLError
from .jobs import Job

logger = logging.getLogger(__name__)

__all__ = ["Admission"]


class Admission:
    """Queued items and tokens against ``max_items`` / ``max_tokens`` (None: no bound)."""

    def __init__(self, max_items: int | None = None, max_tokens: int | None = None):
        self.max_items, self.max_tokens = max_items, max_tokens
        self.items = self.tokens = 0

    def clear(self) -> None:
        """Nothing queued (a forked child has none of its parent's calls)."""
        self.items = self.tokens = 0

    def admit(self, job: Job, tokens_per_second: float | None) -> None:
        """Count ``job``'s items and estimated tokens in, or raise :class:`ModelOverloadedError` when the
        queue is busy and they would pass a bound (an idle queue admits any call, so a call larger
        than the bounds still runs alone). Items that already failed count too; they are released at once."""
        items = sum(1 for it in job.items if not isinstance(it, Qwen3VLError))
        tokens = sum(e for it, e in zip(job.items, job.estimates) if not isinstance(it, Qwen3VLError))
        over_items = self.max_items is not None and self.items + items > self.max_items
        over_tokens = self.max_tokens is not None and self.tokens + tokens > self.max_tokens
        if self.items > 0 and (over_items or over_tokens):
            retry = self.retry_after(tokens_per_second)
            logger.debug("admission refused: %d items / %d tokens queued, call of %d items / %d tokens; retry after "
                         "%.2fs", self.items, self.tokens, items, tokens, retry)
            raise ModelOverloadedError(f"the engine is overloaded ({self.items} items, {self.tokens} tokens queued); "
                                       "retry later", retry_after=retry)
        self.items += len(job.items)
        self.tokens += sum(job.estimates)

    def release(self, job: Job, index: int) -> None:
        """Item ``index`` of ``job`` finished, failed or was dropped."""
        self.items -= 1
        self.tokens -= job.estimates[index]

    def retry_after(self, tokens_per_second: float | None) -> float:
        """Seconds until the queued tokens have run at the throughput seen so far (1 s before any)."""
        if not tokens_per_second or tokens_per_second <= 0:
            return 1.0
        return round(min(30.0, max(0.05, self.tokens / tokens_per_second)), 3)
