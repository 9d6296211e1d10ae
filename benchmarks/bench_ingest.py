"""Ingestion throughput and memory: 20,000 small files through the real pipeline into Milvus Lite.

Writes 20,000 small files (90 % short texts, 10 % tiny PNG images) to a temporary folder, indexes
the folder with ``MultimodalIndex.add`` (tiny random checkpoint, CPU unless told otherwise) and
prints items/s and RSS at 2,000 and at 20,000 files. Memory must not grow with the corpus (the
pipeline streams files and holds one batch of vectors at a time; the sync keeps the run's ids,
about 100 bytes per item): PASS when peak RSS, less what the engine's media cache took meanwhile,
grows by less than 100 MB between the two points. The cache (``EngineConfig.cache_bytes``, by default
10 % of memory; it dedupes identical media within a run) fills up to its cap and is printed apart:
here about 100 kB per distinct 32x32 image (prepared patches and features), until the cap.
Then it times a re-run (nothing embedded) and a sync after editing and deleting 1 % of the files
(exactly those rows replaced and removed). Milvus Lite runs in this process, so its own memtable
and index (64-d vectors here) are included in the figures.

    python benchmarks/bench_ingest.py [--items 20000] [--checkpoint DIR] [--batch-size 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LIMIT_MB = 100.0
WORDS = ("cat rocket coffee astronaut chart camera video page report note sky grass ball red blue green small large "
         "quick slow bright dark morning evening launch orbit espresso latte tabby stripes").split()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_corpus(folder: Path, count: int, image_share: float = 0.1) -> None:
    """``count`` files in subfolders of 1,000, every one with distinct content."""
    from PIL import Image

    rng = np.random.default_rng(0)
    every = max(int(round(1 / image_share)), 1) if image_share > 0 else 0
    for i in range(count):
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        if every and i % every == every - 1:
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(sub / f"{i:06d}.png")
        else:
            words = " ".join(rng.choice(WORDS, size=12))
            (sub / f"{i:06d}.txt").write_text(f"item {i}: {words}.")


class Probe:
    """A tqdm-like progress sink that records time, memory and the media cache's bytes when given item
    counts are reached."""

    def __init__(self, marks: list[int], cache):
        self.total, self.n, self.marks, self.cache = 0, 0, sorted(marks), cache
        self.points: dict[int, tuple] = {}
        self.start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        while self.marks and self.n >= self.marks[0]:
            mark = self.marks.pop(0)
            self.points[mark] = (self.n, time.perf_counter() - self.start, peak_rss_mb(), current_rss_mb(),
                                 self.cache.stats()["bytes"] / 2**20)
            print(f"  reached {self.n} items after {self.points[mark][1]:.1f} s", file=sys.stderr, flush=True)

    def set_postfix(self, **kwargs) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--early", type=int, default=2000, help="the first measuring point")
    parser.add_argument("--checkpoint", default=os.environ.get("QWEN3VL_TEST_CHECKPOINT"),
                        help="tiny checkpoint directory (default: build one in a temporary folder)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)

    from qwen3vl_integrations import Qwen3VLEmbedder
    from qwen3vl_integrations.milvus import MultimodalIndex

    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        tmp_path = Path(tmp)
        checkpoint = args.checkpoint
        if not checkpoint or not Path(checkpoint, "config.json").is_file():
            from qwen3vl_integrations.testing import build_checkpoint

            checkpoint = str(build_checkpoint(tmp_path / "ckpt", size="tiny"))
        started = time.perf_counter()
        write_corpus(tmp_path / "corpus", args.items)
        print(f"wrote {args.items} files in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        embedder = Qwen3VLEmbedder.from_pretrained(checkpoint, device=args.device)
        probe = Probe([args.early, args.items], embedder.cache)
        with MultimodalIndex(embedder, str(tmp_path / "bench.db"), batch_size=args.batch_size) as index:
            base_peak = peak_rss_mb()
            report = index.add([tmp_path / "corpus"], progress=probe)
            rows = index.store.count()
            started = time.perf_counter()
            rerun = index.add([tmp_path / "corpus"])
            rerun_seconds = time.perf_counter() - started
            changed = change_corpus(tmp_path / "corpus", args.items)
            started = time.perf_counter()
            synced = index.add([tmp_path / "corpus"])
            sync_seconds = time.perf_counter() - started
            synced_rows = index.store.count()
    code = print_result(args, report, rows, probe, base_peak, embedder.cache.max_bytes / 2**20)
    print(f"  re-run over the same folder: indexed {rerun.indexed}, unchanged {rerun.unchanged} "
          f"({rerun.unchanged / rerun_seconds:.0f} items/s, nothing embedded)")
    print(f"  sync after changing {changed} and deleting {changed} files: indexed {synced.indexed}, replaced "
          f"{synced.replaced}, removed {synced.removed}, unchanged {synced.unchanged} in {sync_seconds:.1f} s; "
          f"rows {synced_rows}")
    sync_ok = (synced.indexed, synced.replaced, synced.removed, synced_rows) == (changed, changed, changed,
                                                                               args.items - changed)
    return code if rerun.indexed == 0 and rerun.unchanged == args.items and sync_ok else 1


def change_corpus(folder: Path, count: int) -> int:
    """Rewrite and delete 1 % of the text files each (at least one): the rows a sync must replace and remove."""
    texts = sorted(folder.rglob("*.txt"))
    share = max(count // 100, 1)
    for path in texts[:share]:
        path.write_text(path.read_text() + " (edited)")
    for path in texts[share:2 * share]:
        path.unlink()
    return share


def print_result(args, report, rows: int, probe: Probe, base_peak: float, cache_cap: float) -> int:
    print(f"bench_ingest: {args.items} files (10 % tiny PNG, 90 % short text), tiny checkpoint, device "
          f"{args.device}, batch {args.batch_size}, Milvus Lite")
    print(f"  peak RSS before indexing: {base_peak:.0f} MB")
    for mark in sorted(probe.points):
        n, seconds, peak, current, cached = probe.points[mark]
        print(f"  at {n:>6} items: {n / seconds:7.1f} items/s overall, peak RSS {peak:7.1f} MB, current RSS "
              f"{current:7.1f} MB, media cache {cached:6.1f} MB ({seconds:.1f} s)")
    (n1, s1, p1, _, c1), (n2, s2, p2, _, c2) = probe.points[args.early], probe.points[args.items]
    growth, cache_growth = p2 - p1, c2 - c1
    print(f"  items/s between the points: {(n2 - n1) / (s2 - s1):.1f}")
    print(f"  report: indexed {report.indexed}, unchanged {report.unchanged}, failed {report.failed}; rows {rows}")
    verdict = growth - cache_growth < LIMIT_MB and c2 <= cache_cap and report.ok and rows == args.items
    print(f"  peak RSS growth {args.early} -> {args.items} items: {growth:.1f} MB, of which the engine's media "
          f"cache {cache_growth:.1f} MB (bounded by cache_bytes = {cache_cap:.0f} MB; 0 turns it off); the rest "
          f"{growth - cache_growth:.1f} MB (limit {LIMIT_MB:.0f} MB): {'PASS' if verdict else 'FAIL'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
