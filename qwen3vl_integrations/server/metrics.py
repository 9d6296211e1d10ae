"""Prometheus metrics of one server (its own registry, so several apps can live in one process).

- ``qwen3vl_requests_total{route,status}`` and ``qwen3vl_request_seconds{route}`` (latency histogram);
- ``qwen3vl_queue_items{model}`` (queued or waiting items, read from the engine at scrape time);
- ``qwen3vl_cache_{hits,misses,evictions}_total{model}``, ``qwen3vl_cache_bytes{model}`` and
  ``qwen3vl_cache_peak_bytes{model}``: the engine's cache of prepared media and vision features
  (``engine.stats()["cache"]``, read at scrape time);
- per forward pass (from the engine's batch listener): ``qwen3vl_batch_rows{model}``,
  ``qwen3vl_batch_tokens{model}``, ``qwen3vl_batch_callers{model}`` (distinct requests whose items
  shared the call: above 1 means cross-request batching happened) and ``qwen3vl_forward_seconds{model}``
  (tokens/s over time: ``rate(qwen3vl_batch_tokens_sum[1m])``); the gauge
  ``qwen3vl_forward_tokens_per_second{model}`` is tokens per second of forward time since start.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

from ..core._optional import require

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TOKEN_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144)
_CALLER_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServerMetrics:
    """The metric families of one app, and the callbacks that feed them."""

    def __init__(self) -> None:
        prom = require("prometheus_client")
        self._prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = prom.Counter("qwen3vl_requests", "HTTP requests by route and status", ["route", "status"],
                                     registry=r)
        self.latency = prom.Histogram("qwen3vl_request_seconds", "HTTP request latency", ["route"],
                                      buckets=_LATENCY_BUCKETS, registry=r)
        self.rows = prom.Histogram("qwen3vl_batch_rows", "items per forward pass", ["model"], buckets=_ROW_BUCKETS,
                                   registry=r)
        self.tokens = prom.Histogram("qwen3vl_batch_tokens", "prompt tokens per forward pass", ["model"],
                                     buckets=_TOKEN_BUCKETS, registry=r)
        self.callers = prom.Histogram("qwen3vl_batch_callers", "requests whose items shared one forward pass",
                                      ["model"], buckets=_CALLER_BUCKETS, registry=r)
        self.forward_seconds = prom.Histogram("qwen3vl_forward_seconds", "seconds per forward pass", ["model"],
                                              buckets=_LATENCY_BUCKETS, registry=r)
        self._stats: dict[str, Callable[[], dict]] = {}
        r.register(_EngineCollector(prom, self._stats))

    def watch_engine(self, model: str, engine) -> None:
        """Feed the batch metrics from ``engine.add_batch_listener`` and the queue gauge from ``engine.stats``."""
        rows, tokens, callers = self.rows.labels(model), self.tokens.labels(model), self.callers.labels(model)
        seconds = self.forward_seconds.labels(model)

        def on_batch(n: int, t: int, s: float, c: int) -> None:
            rows.observe(n)
            tokens.observe(t)
            callers.observe(c)
            seconds.observe(s)

        engine.add_batch_listener(on_batch)
        self._stats[model] = engine.stats

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST


class _EngineCollector:
    """Gauges read from each engine's ``stats()`` at scrape time."""

    def __init__(self, prom, stats: dict[str, Callable[[], dict]]) -> None:
        self._core = importlib.import_module("prometheus_client.core")
        self._stats = stats

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator:
        core = self._core
        queue = core.GaugeMetricFamily("qwen3vl_queue_items", "items queued for the model", labels=["model"])
        speed = core.GaugeMetricFamily("qwen3vl_forward_tokens_per_second",
                                       "prompt tokens per second of forward time since start", labels=["model"])
        snapshots = {model: stats() for model, stats in self._stats.items()}  # one snapshot per model and scrape
        for model, s in snapshots.items():
            queue.add_metric([model], float(s.get("queue_items") or 0))
            busy = float(s.get("forward_seconds") or 0.0)
            speed.add_metric([model], float(s.get("forward_tokens") or 0) / busy if busy > 0 else 0.0)
        yield queue
        yield speed
        yield from self._cache_families(snapshots)

    def _cache_families(self, snapshots: dict[str, dict]) -> Iterator:
        core = self._core
        counters = {name: core.CounterMetricFamily(f"qwen3vl_cache_{name}", f"cache {name} (prepared media and "
                                                   "vision features)", labels=["model"])
                    for name in ("hits", "misses", "evictions")}
        gauges = {name: core.GaugeMetricFamily(f"qwen3vl_cache_{name}", f"cache {name.replace('_', ' ')}",
                                               labels=["model"]) for name in ("bytes", "peak_bytes")}
        for model, s in snapshots.items():
            cache = s.get("cache") or {}
            for name, family in (*counters.items(), *gauges.items()):
                family.add_metric([model], float(cache.get(name) or 0))
        yield from counters.values()
        yield from gauges.values()
