"""Ray Data embedding throughput: the local embedder vs ``embed_dataset`` with 1 and 2 actors.

One run, one generated mixed corpus (texts, images of 32x32..2400x1600, frame-list videos, mp4
files; every item distinct), one checkpoint, CPU float32. Prints items/s of:

- local: ``Qwen3VLEmbedder.embed`` in this process (model loaded before timing), and its two
  stages timed apart: decode (``MediaDecoder.decode`` of every item, serial) and forward
  (``embed`` of the decoded items: HF processor calls, tokenising, forward passes);
- ray-1 / ray-2: ``embed_dataset`` on a local Ray of ``--cpus`` CPUs with 1 and 2 actors; wall
  time including the actors' start-up (model load), time to the first rows, the steady rate after
  them, and the per-stage worker-seconds Ray Data records (decode tasks, actor calls). A 2-row
  warm-up job runs first, so decode task workers have imported the package; actors are new
  processes in every job, and "first s" includes their model load. Ray's stage seconds include
  what a worker spends on its first call (importing the package when it had not yet): an upper
  bound at small corpora; the local decode / forward split is the per-item cost the model uses.

Vectors must agree with the local ones (cosine >= 0.99999). The closing lines give per-item costs
and the scaling model ``items/s ~= min(actors / forward_s_per_item, decode_cpus / decode_s_per_item)``
evaluated for N actors: a paper estimate for GPUs until measured on one. No write stage yet (the
Milvus sink comes with the ingestion runner).

    python benchmarks/bench_ray.py [--items 120] [--cpus 2] [--checkpoint DIR | --size small] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import _image, _image_size, _mp4, _text

from qwen3vl_integrations import Qwen3VLEmbedder
from qwen3vl_integrations.core.decoding import MediaDecoder

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_OPERATOR = re.compile(r"^Operator \d+ (?P<name>.+?):")
_REMOTE = re.compile(r"Remote wall time:.*?(?P<value>[\d.]+)(?P<unit>us|ms|s) total")


def build_rows(folder: Path, count: int, seed: int = 0) -> list[dict]:
    """``count`` rows (ids 0..count-1): 60 % texts (5-2000 tokens, log-uniform), 30 % images (PNG/JPEG
    files), 5 % frame lists (4-16 frames), 5 % mp4 files (2-6 s)."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for k in range(count):
        draw = rng.random()
        if draw < 0.60:
            rows.append({"text": _text(rng, int(math.exp(rng.uniform(math.log(5), math.log(2000)))))})
        elif draw < 0.90:
            path = folder / f"img_{k}.{'jpg' if k % 2 else 'png'}"
            _image(nrng, *_image_size(rng)).save(path)
            rows.append({"image_uri": str(path)})
        elif draw < 0.95:
            frames = []
            for f in range(rng.randint(4, 16)):
                frames.append(str(folder / f"vid{k}_frame{f}.jpg"))
                _image(nrng, 240, 320).save(frames[-1])
            rows.append({"frames": frames})
        else:
            path = folder / f"clip_{k}.mp4"
            _mp4(path, nrng, rng.randint(2, 6))
            rows.append({"video_uri": str(path)})
    keys = ("text", "image_uri", "frames", "video_uri")
    return [{"id": k, **{key: row.get(key) for key in keys}} for k, row in enumerate(rows)]


def as_input(row: dict):
    if row["text"] is not None:
        return row["text"]
    if row["image_uri"] is not None:
        return {"image": row["image_uri"]}
    return {"video": row["frames"] if row["frames"] is not None else row["video_uri"]}


def run_local(emb: Qwen3VLEmbedder, rows: list[dict]) -> dict:
    inputs = [as_input(row) for row in rows]
    start = time.perf_counter()
    vectors = emb.embed(inputs)
    total = time.perf_counter() - start
    decoder = MediaDecoder(emb.config, emb.policy)
    start = time.perf_counter()
    decoded = [decoder.decode(x) for x in inputs]
    decode = time.perf_counter() - start
    start = time.perf_counter()
    emb.embed(decoded)
    forward = time.perf_counter() - start
    return {"vectors": vectors, "wall": total, "decode": decode, "forward": forward}


def stage_seconds(stats: str) -> dict:
    """Total remote wall seconds per stage, from ``Dataset.stats()``."""
    out: dict[str, float] = {}
    name = None
    for line in stats.splitlines():
        match = _OPERATOR.match(line)
        if match:
            name = match.group("name")
            continue
        match = _REMOTE.search(line)
        if match and name:
            stage = "decode" if "prepare_batch" in name else "forward" if "EmbedActor" in name else None
            if stage:
                out[stage] = out.get(stage, 0.0) + float(match.group("value")) * _UNITS[match.group("unit")]
            name = None
    return out


def run_ray(ray, ckpt: Path, rows: list[dict], actors: int, cpus: int, batch_size: int) -> dict:
    from qwen3vl_integrations.ray import embed_dataset

    decode_cpus = 0.5
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // 8))
    out = embed_dataset(ds, str(ckpt), concurrency=actors, num_gpus_per_actor=0,
                        num_cpus_per_actor=(cpus - decode_cpus) / actors, batch_size=batch_size,
                        decode_batch_size=8, decode_num_cpus=decode_cpus)
    start, first, got = time.perf_counter(), None, []
    for batch in out.iter_batches(batch_size=None, prefetch_batches=0, batch_format="pyarrow"):
        first = first or time.perf_counter()
        got.extend(batch.select(["id", "vector", "error_code", "error_message"]).to_pylist())
    end = time.perf_counter()
    errors = [r for r in got if r["error_code"] is not None]
    if errors or len(got) != len(rows):
        raise SystemExit(f"ray-{actors}: {len(got)} rows back of {len(rows)}, errors: {errors[:3]}")
    vectors = np.array([r["vector"] for r in sorted(got, key=lambda r: r["id"])], dtype=np.float32)
    return {"vectors": vectors, "wall": end - start, "first": (first or end) - start,
            **stage_seconds(out.stats())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=120, help="corpus rows (default 120)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    parser.add_argument("--checkpoint", help="checkpoint dir (default: build a random one of --size)")
    parser.add_argument("--size", default="small", choices=("tiny", "small"), help="random checkpoint size")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per actor call (default 16)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 items, tiny checkpoint")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.size = 12, "tiny"
    logging.basicConfig(level=logging.WARNING)
    import ray

    from qwen3vl_integrations.testing import build_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="qwen3vl-bench-ray-"))
    ckpt = Path(args.checkpoint) if args.checkpoint else build_checkpoint(tmp / args.size, size=args.size)
    rows = build_rows(tmp / "media", args.items)
    emb = Qwen3VLEmbedder.from_pretrained(ckpt, device="cpu", dtype="float32")
    emb.embed([as_input(r) for r in rows[:2]])  # warm-up
    local = run_local(emb, rows)
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, object_store_memory=512 * 2**20)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        run_ray(ray, ckpt, rows[:2], 1, args.cpus, args.batch_size)  # warm-up: task workers import the package
        results = {f"ray-{n}": run_ray(ray, ckpt, rows, n, args.cpus, args.batch_size) for n in (1, 2)}
    finally:
        ray.shutdown()
    report(args, rows, local, results)
    return 0


def report(args, rows: list[dict], local: dict, results: dict) -> None:
    n = len(rows)
    print(f"corpus: {n} items, checkpoint {args.checkpoint or args.size}, local Ray of {args.cpus} CPUs, CPU float32")
    print(f"{'run':<8} {'items/s':>9} {'wall s':>8} {'first s':>8} {'steady/s':>9} {'decode s':>9} {'forward s':>10}"
          f" {'min cos':>10}")
    print(f"{'local':<8} {n / local['wall']:>9.2f} {local['wall']:>8.2f} {'-':>8} {'-':>9} {local['decode']:>9.2f}"
          f" {local['forward']:>10.2f} {'-':>10}")
    for name, r in results.items():
        cos = float((r["vectors"] * local["vectors"]).sum(1).min())
        steady = r["wall"] - r["first"]
        print(f"{name:<8} {n / r['wall']:>9.2f} {r['wall']:>8.2f} {r['first']:>8.2f} "
              f"{(n / steady if steady > 0 else float('nan')):>9.2f} {r.get('decode', float('nan')):>9.2f} "
              f"{r.get('forward', float('nan')):>10.2f} {cos:>10.7f}")
    decode, forward = local["decode"] / n, local["forward"] / n
    print(f"per item (local, measured): decode {decode * 1e3:.1f} ms on one CPU, forward {forward * 1e3:.1f} ms")
    print("scaling model: items/s ~= min(actors / forward_s, decode_cpus / decode_s); with decode CPUs = 4 x actors:")
    for actors in (1, 2, 4, 8, 16):
        print(f"  {actors:>2} actors: {min(actors / forward, 4 * actors / decode):>9.1f} items/s "
              "(CPU forward cost; a GPU's is a paper estimate until measured)")


if __name__ == "__main__":
    raise SystemExit(main())
