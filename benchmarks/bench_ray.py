"""The ingestion pipeline on Ray: a local ``ingest.sync`` vs ``sync_on_ray`` with 1 and 2 actors.

One run, one generated folder (texts of 5-2000 tokens, images of 32x32..2400x1600, mp4 clips of
2-6 s, PDFs of 3 pages; every file distinct), one checkpoint and device, each run into a fresh
Milvus Lite database. Prints items/s of:

- local: ``ingest.sync`` in this process (model loaded before timing), and its stages timed apart
  on the same items: decode (``item.load()`` + ``MediaDecoder.decode``, serial, one CPU), forward
  (``embed_documents`` of the decoded items: HF processor calls, tokenising, forward passes) and
  write (``MilvusStore.write`` of the vectors);
- ray-1 / ray-2: ``sync_on_ray`` on a local Ray of ``--cpus`` CPUs with 1 and 2 actors: wall time
  including planning (the expansion tasks) and the actors' start-up (model load), and per stage the
  worker-seconds Ray Data records (decode tasks, actor calls) plus the driver's write seconds
  (Milvus Lite is written from the driver). A small warm-up job runs first so task workers have
  imported the package; actors are new processes in every job.

The stored rows of every Ray run must equal the local run's (ids, and vectors to cosine >= 0.99999).
The closing lines give the measured per-item costs and the scaling model
``items/s(N GPUs) ~= min(N x g, decode_cpus / decode_s, 1 / write_s)`` where ``g`` (items/s per GPU)
is a PAPER ESTIMATE from FLOPs (``2 x parameters x tokens`` of Qwen3-VL-Embedding-2B at an assumed
utilisation of an assumed accelerator, both printed) until a GPU is measured.

    python benchmarks/bench_ray.py [--items 120] [--cpus 2] [--checkpoint DIR | --size small] [--device cpu] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import _image, _image_size, _mp4, _text

from qwen3vl_integrations import Qwen3VLEmbedder
from qwen3vl_integrations.core.decoding import MediaDecoder
from qwen3vl_integrations.ingest import IndexSettings, Row, SourceOptions, iter_entries, sync
from qwen3vl_integrations.milvus import MilvusStore

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_OPERATOR = re.compile(r"^Operator \d+ (?P<name>.+?):")
_REMOTE = re.compile(r"Remote wall time:.*?(?P<value>[\d.]+)(?P<unit>us|ms|s) total")
_STAGES = {"prepare_batch": "decode", "EmbedActor": "forward", "WriteStage": "write"}
MEDIA = Path(__file__).resolve().parents[1] / "examples" / "media"
#: paper figures of Qwen3-VL-Embedding-2B (config: 28 decoder layers of width 2048; a 24-layer vision
#: tower of width 1024): parameters in the language model and in the vision tower
LM_PARAMS, VISION_PARAMS = 1.7e9, 0.4e9
#: an H100/H200-class accelerator: bf16 dense matmul throughput, and the share a batched
#: embedding forward is assumed to reach (both assumptions, not measurements of this code)
GPU_FLOPS, GPU_UTILISATION = 790e12, 0.35
DECODE_CPUS_PER_GPU = 8


def build_folder(folder: Path, count: int, seed: int = 0) -> None:
    """``count`` files: 60 % texts, 30 % images (PNG/JPEG), 5 % mp4 clips, 5 % 3-page PDFs."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pdf = (MEDIA / "field_report.pdf").read_bytes()
    for k in range(count):
        draw = rng.random()
        if draw < 0.60:
            (folder / f"note_{k}.txt").write_text(_text(rng, int(math.exp(rng.uniform(math.log(5), math.log(2000))))))
        elif draw < 0.90:
            _image(nrng, *_image_size(rng)).save(folder / f"img_{k}.{'jpg' if k % 2 else 'png'}")
        elif draw < 0.95:
            _mp4(folder / f"clip_{k}.mp4", nrng, rng.randint(2, 6))
        else:  # the same pages, distinct bytes (a trailing comment after %%EOF)
            (folder / f"report_{k}.pdf").write_bytes(pdf + f"\n% copy {k}\n".encode())


class TimedSink:
    """A MilvusStore whose ``write`` time is added up (the driver's write stage)."""

    def __init__(self, store: MilvusStore):
        self.store, self.label, self.seconds = store, store.label, 0.0

    def write(self, rows):
        start = time.perf_counter()
        try:
            return self.store.write(rows)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name):
        return getattr(self.store, name)


def stored(db: str) -> dict[str, np.ndarray]:
    with MilvusStore(db) as store:
        store.ensure_loaded()
        return {r["id"]: np.asarray(r["vector"]) for r in store._query("", ["id", "vector"], limit=16384)}


def run_local(emb, folder: Path, db: Path, settings: IndexSettings, options: SourceOptions) -> dict:
    with MilvusStore(str(db)) as store:
        start = time.perf_counter()
        report = sync([folder], store, emb, settings=settings, options=options)
        wall = time.perf_counter() - start
    items = [item for entry in iter_entries([folder], settings.settings_hash, options) for item in entry.items]
    decoder = MediaDecoder(emb.config, emb.policy)
    loaded, decoded, per_item = [], [], []
    for item in items:
        start = time.perf_counter()
        loaded.append(item.load())
        decoded.append(decoder.decode(loaded[-1][0]))
        per_item.append(time.perf_counter() - start)
    decode = sum(per_item)
    start = time.perf_counter()
    vectors = emb.embed_documents(decoded, dim=settings.dim)
    forward = time.perf_counter() - start
    prepared = [emb.prepare(payload) for payload, _ in loaded]
    flops = [2 * LM_PARAMS * len(p) + 2 * VISION_PARAMS * sum(math.prod(v.grid_thw) for v in (*p.images, *p.videos))
             for p in prepared]
    rows = [Row(i.id, i.content_id, v, i.source, i.modality, i.page, i.offset, s, i.metadata)
            for i, v, (_, s) in zip(items, vectors, loaded)]
    with MilvusStore(str(db.with_name("write-only.db"))) as store:
        store.create(settings)
        start = time.perf_counter()
        for k in range(0, len(rows), 32):
            store.write(rows[k:k + 32])
        write = time.perf_counter() - start
    return {"items": report.indexed, "wall": wall, "decode": decode, "forward": forward, "write": write,
            "flops": flops, "decode_each": per_item, "modalities": [item.modality for item in items],
            "rows": stored(str(db))}


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
            stage = next((s for key, s in _STAGES.items() if key in name), None)
            if stage:
                out[stage] = out.get(stage, 0.0) + float(match.group("value")) * _UNITS[match.group("unit")]
            name = None
    return out


def run_ray(ckpt: Path, folder: Path, db: Path, settings, options, actors: int, cpus: int, batch: int,
            device: str = "cpu") -> dict:
    from qwen3vl_integrations.ray import sync_on_ray

    decode_cpus = 0.5
    captured: list[str] = []
    with MilvusStore(str(db)) as store:
        sink = TimedSink(store)
        start = time.perf_counter()
        report = sync_on_ray([folder], sink, str(ckpt), settings=settings, options=options, concurrency=actors,
                             num_gpus_per_actor=1 / actors if device == "cuda" else 0, device=device,
                             num_cpus_per_actor=(cpus - decode_cpus) / actors, batch_size=batch,
                             decode_batch_size=8, decode_num_cpus=decode_cpus, stats=captured.append)
        wall = time.perf_counter() - start
    if report.failed:
        raise SystemExit(f"ray-{actors}: {report.failed} items failed: {report.failures[:3]}")
    return {"items": report.indexed, "wall": wall, **stage_seconds("".join(captured)), "write": sink.seconds,
            "rows": stored(str(db))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=120, help="files in the corpus (default 120)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    parser.add_argument("--checkpoint", help="checkpoint dir (default: build a random one of --size)")
    parser.add_argument("--size", default="small", choices=("tiny", "small"), help="random checkpoint size")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per actor call (default 16)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="cpu (float32), or cuda: the local run and the actors (sharing one GPU) on it")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 files, tiny checkpoint")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.size = 12, "tiny"
    logging.basicConfig(level=logging.WARNING)
    import ray

    from qwen3vl_integrations.testing import build_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="qwen3vl-bench-ray-"))
    try:
        ckpt = Path(args.checkpoint) if args.checkpoint else build_checkpoint(tmp / args.size, size=args.size)
        build_folder(tmp / "corpus", args.items)
        emb = Qwen3VLEmbedder.from_pretrained(ckpt, device=args.device, dtype="float32" if args.device == "cpu" else None)
        settings = IndexSettings.for_embedder(emb, chunk_chars=2000, chunk_overlap=200, pdf_dpi=150.0)
        options = SourceOptions.for_embedder(emb)
        emb.embed_documents(["warm-up", {"image": str(MEDIA / "coffee.jpg")}])
        local = run_local(emb, tmp / "corpus", tmp / "local.db", settings, options)
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, object_store_memory=512 * 2**20)
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            warm = tmp / "warm"
            warm.mkdir()
            shutil.copy(MEDIA / "coffee.txt", warm)
            run_ray(ckpt, warm, tmp / "warm.db", settings, options, 1, args.cpus, args.batch_size, args.device)
            results = {f"ray-{n}": run_ray(ckpt, tmp / "corpus", tmp / f"ray{n}.db", settings, options, n, args.cpus,
                                           args.batch_size, args.device) for n in (1, 2)}
        finally:
            ray.shutdown()
        report(args, local, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def min_cosine(rows: dict, reference: dict) -> float:
    if sorted(rows) != sorted(reference):
        raise SystemExit(f"the Ray run stored {len(rows)} rows, other ids than the local run's {len(reference)}")
    return min(float(rows[k] @ reference[k] / (np.linalg.norm(rows[k]) * np.linalg.norm(reference[k])))
               for k in reference)


def report(args, local: dict, results: dict) -> None:
    n = local["items"]
    print(f"corpus: {args.items} files, {n} items; checkpoint {args.checkpoint or args.size}; local Ray of "
          f"{args.cpus} CPUs; device {args.device}; Milvus Lite (written from the driver)")
    print(f"{'run':<7} {'items/s':>8} {'wall s':>7} {'decode s':>9} {'forward s':>10} {'write s':>8} {'min cos':>10}")
    print(f"{'local':<7} {n / local['wall']:>8.2f} {local['wall']:>7.2f} {local['decode']:>9.2f} "
          f"{local['forward']:>10.2f} {local['write']:>8.2f} {'-':>10}")
    for name, r in results.items():
        print(f"{name:<7} {n / r['wall']:>8.2f} {r['wall']:>7.2f} {r.get('decode', float('nan')):>9.2f} "
              f"{r.get('forward', float('nan')):>10.2f} {r['write']:>8.2f} {min_cosine(r['rows'], local['rows']):>10.7f}")
    scaling(local)


def scaling(local: dict) -> None:
    """The closing note: measured per-item costs, paper GPU estimates, the scaling model for N GPUs."""
    n = local["items"]
    decode, forward, write = (local[k] / n for k in ("decode", "forward", "write"))
    flops = float(np.mean(local["flops"]))
    gpu = GPU_FLOPS * GPU_UTILISATION / flops
    print(f"per item, measured here: decode {decode * 1e3:.1f} ms (one CPU), forward {forward * 1e3:.1f} ms "
          f"(this checkpoint on CPU), write {write * 1e3:.2f} ms (Milvus Lite, batches of 32)")
    print(f"per item, PAPER ESTIMATE for Qwen3-VL-Embedding-2B: {flops / 1e12:.2f} TFLOP (2 x parameters x tokens of "
          f"this corpus's prompts) -> {gpu:.0f} items/s per GPU at {GPU_UTILISATION:.0%} of {GPU_FLOPS / 1e12:.0f} "
          "TFLOP/s (not measured: no GPU run yet)")
    print(f"scaling model: items/s(N) ~= min(N x {gpu:.0f}, {DECODE_CPUS_PER_GPU} N CPUs / {decode * 1e3:.1f} ms, "
          f"writes); driver writes (Milvus Lite) cap at {1 / write:.0f} items/s, worker upserts (servers) scale "
          "with the writer actors")
    print("per modality (decode measured here; TFLOP and GPU items/s PAPER ESTIMATES; CPUs a GPU needs to keep up):")
    for modality in sorted(set(local["modalities"])):
        picks = [k for k, m in enumerate(local["modalities"]) if m == modality]
        dec = float(np.mean([local["decode_each"][k] for k in picks]))
        per_gpu = GPU_FLOPS * GPU_UTILISATION / float(np.mean([local["flops"][k] for k in picks]))
        print(f"  {modality:<9} {len(picks):>4} items  decode {dec * 1e3:>7.1f} ms  "
              f"{np.mean([local['flops'][k] for k in picks]) / 1e12:>6.2f} TFLOP  {per_gpu:>7.0f} items/s per GPU  "
              f"{per_gpu * dec:>5.1f} CPUs")
    for gpus in (1, 2, 4, 8, 16, 32):
        cpu_bound = DECODE_CPUS_PER_GPU * gpus / decode
        print(f"  {gpus:>2} GPUs: {min(gpus * gpu, cpu_bound):>8.0f} items/s with worker writes, "
              f"{min(gpus * gpu, cpu_bound, 1 / write):>8.0f} with driver writes (decode bound {cpu_bound:.0f})")


if __name__ == "__main__":
    raise SystemExit(main())
