"""Concurrent callers on one engine: cross-caller batching (the dispatcher) against one item per
forward pass, in one run.

``--clients`` threads each send ``--requests`` closed-loop calls of one item (a text, or an image
every ``--image-every``th call) to one Qwen3VLEmbedder. Batched: the default engine, whose dispatcher
puts the items of concurrent callers into shared token-budget batches. Unbatched: the same model with
``max_batch_items=1`` (each item its own forward pass, as when every caller ran alone). Both runs must
give the same vectors (cosine >= 0.99999). Prints items/s, the ratio, p50/p99 call latency and the
mean rows and callers per forward pass (from a batch listener).

First, engines side by side: the embedder's items/s on a list of texts before any other engine of
the process ran, then right after each of three reranker calls (best of three each). The engines of a
device take turns on one forward thread (core/runner.py); with a thread per engine, torch's thread
teams of the two threads made the embedder about 40 % slower here once the reranker had run.

    python benchmarks/bench_concurrency.py [--clients 32] [--requests 8] [--checkpoint DIR] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import _image, _text, checkpoint

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder, Qwen3VLReranker


def workload(clients: int, requests: int, image_every: int, seed: int = 0) -> list[list]:
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    calls = []
    for c in range(clients):
        mine = []
        for r in range(requests):
            if image_every and (c * requests + r) % image_every == 0:
                mine.append({"image": _image(nrng, rng.randint(64, 512), rng.randint(64, 512))})
            else:
                mine.append(_text(rng, rng.randint(8, 200)))
        calls.append(mine)
    return calls


def run(engine: Qwen3VLEmbedder, calls: list[list]) -> tuple[float, list[float], dict, list[np.ndarray]]:
    passes: list[tuple[int, int]] = []
    engine.add_batch_listener(lambda rows, tokens, seconds, callers: passes.append((rows, callers)))

    def client(items: list) -> tuple[list[float], list[np.ndarray]]:
        latencies, vectors = [], []
        for item in items:
            start = time.perf_counter()
            vectors.append(engine.embed([item])[0])
            latencies.append(time.perf_counter() - start)
        return latencies, vectors

    start = time.perf_counter()
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(client, calls))
    elapsed = time.perf_counter() - start
    latencies = [t for lat, _ in results for t in lat]
    shape = {"rows": statistics.mean(r for r, _ in passes), "callers": statistics.mean(c for _, c in passes)}
    return elapsed, latencies, shape, [v for _, vecs in results for v in vecs]


def beside_a_reranker(path: Path, embedder: Qwen3VLEmbedder, texts: list[str]) -> None:
    """Print items/s of ``embedder`` before any reranker call and after each, and their ratio."""
    def rate() -> float:
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            embedder.embed(texts)
            best = max(best, len(texts) / (time.perf_counter() - start))
        return best

    alone = rate()
    reranker = Qwen3VLReranker.from_pretrained(path)
    after = []
    for k in range(3):
        reranker.score(f"query {k}", texts[:8])
        after.append(rate())
    reranker.close()
    ratio = min(after) / alone
    print(f"engines side by side: embed {alone:.1f} items/s alone, {min(after):.1f} after a reranker call "
          f"(worst of 3); ratio={ratio:.2f} (1.00: the reranker costs the embedder nothing)")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=8, help="closed-loop calls per client")
    parser.add_argument("--image-every", type=int, default=4, help="every n-th call sends an image (0: texts only)")
    parser.add_argument("--checkpoint", help="a checkpoint dir (default: build the `small` random one)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny checkpoint, 4 clients x 2 calls")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            from qwen3vl_integrations.testing import build_checkpoint

            path = Path(args.checkpoint) if args.checkpoint else build_checkpoint(Path(tmp) / "tiny", size="tiny")
            args.clients, args.requests = 4, 2
        else:
            path = checkpoint(args.checkpoint, Path(tmp))
        base = Qwen3VLEmbedder.from_pretrained(path)
        calls = workload(args.clients, args.requests, args.image_every)
        base.embed([calls[0][0]])  # warm-up
        beside_a_reranker(path, base, [_text(random.Random(k), 40) for k in range(64)])
        unbatched = Qwen3VLEmbedder(base.model, base.processor, config=base.config.replace(max_batch_items=1))
        batched = Qwen3VLEmbedder(base.model, base.processor, config=EngineConfig.create(base.config))
        n = sum(len(c) for c in calls)
        print(f"clients={args.clients} requests/client={args.requests} items={n} device={base.device} "
              f"image every {args.image_every}")
        print(f"{'mode':<10} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'rows/pass':>10} {'callers/pass':>13}")
        timings = {}
        vectors = {}
        for label, engine in (("unbatched", unbatched), ("batched", batched)):
            elapsed, latencies, shape, vectors[label] = run(engine, calls)
            timings[label] = elapsed
            print(f"{label:<10} {n / elapsed:>9.2f} {1000 * percentile(latencies, 0.5):>8.1f} "
                  f"{1000 * percentile(latencies, 0.99):>8.1f} {shape['rows']:>10.2f} {shape['callers']:>13.2f}")
        cos = float(min((a * b).sum() for a, b in zip(vectors["unbatched"], vectors["batched"])))
        ratio = timings["unbatched"] / timings["batched"]
        print(f"RESULT cross-caller batching throughput ratio={ratio:.2f}x min cosine={cos:.8f}")
        return 0 if cos >= 0.99999 else 1


if __name__ == "__main__":
    raise SystemExit(main())
