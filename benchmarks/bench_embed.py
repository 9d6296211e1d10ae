"""Embedder throughput: our engine vs a baseline that schedules work like the official scripts.

Baseline (official-like): consecutive chunks of 8 in input order, each chunk's media loaded and
preprocessed serially in the calling thread right before its padded forward pass.
Engine: Qwen3VLEmbedder.embed (length-sorted token-budget batches, media prepared in worker threads
one window ahead of the model, inference_mode).

Both run in this process on the same generated corpus and the `small` random checkpoint (CPU, float32);
outputs must agree (cosine >= 0.99999). Prints items/s and ratios, overall and per modality.

    python benchmarks/bench_embed.py [--scale 1] [--checkpoint DIR] [--sweep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import baseline_hidden, build_corpus, checkpoint, stock_model, timed

from qwen3vl_integrations import EngineConfig, Qwen3VLEmbedder


def baseline_embed(emb: Qwen3VLEmbedder, stock, inputs: list) -> np.ndarray:
    """Official-like: chunks of 8 in input order, serial media loading, right-padded forward of the
    stock model (``stock``)."""
    out = []
    for start in range(0, len(inputs), 8):
        chunk = inputs[start:start + 8]
        prepared = [emb.prepare(x) for x in chunk]
        hidden, mask = baseline_hidden(stock, prepared, "right", emb.device)
        last = mask.sum(1) - 1
        pooled = hidden[torch.arange(len(chunk)), last]
        out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).numpy())
    return np.concatenate(out)


def run(emb: Qwen3VLEmbedder, stock, items: list, label: str) -> tuple[float, float, float]:
    """Baseline and engine on ``items``; the engine's cache starts empty (the corpus has no duplicates, so
    it only costs hashing here) and the baseline has none."""
    inputs = [x for _, x in items]
    plain = Qwen3VLEmbedder(emb.model, emb.processor, config=emb.config.replace(cache_bytes=0))
    base, t_base = timed(baseline_embed, plain, stock, inputs)
    emb.cache.clear()
    ours, t_ours = timed(emb.embed, inputs)
    cos = float((base * ours).sum(1).min())
    n = len(inputs)
    print(f"{label:<10} {n:>6} {n / t_base:>12.2f} {n / t_ours:>12.2f} {t_base / t_ours:>7.2f}x {cos:>12.8f}", flush=True)
    return t_base, t_ours, cos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="corpus multiplier (1x = 465 items)")
    parser.add_argument("--checkpoint", help="a checkpoint dir (default: build the `small` random one)")
    parser.add_argument("--sweep", action="store_true", help="also sweep token_budget / max_batch_items (engine only)")
    parser.add_argument("--no-per-modality", action="store_true")
    parser.add_argument("--engine-only", action="store_true", help="time the engine alone (for corpus-size scaling)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qwen3vl-bench-"))
    ckpt = checkpoint(args.checkpoint, tmp)
    items = build_corpus(tmp / "media", scale=args.scale)
    emb = Qwen3VLEmbedder.from_pretrained(ckpt, device="cpu", dtype="float32")
    stock = stock_model(ckpt)
    emb.embed([x for _, x in items[:4]])  # warm-up
    emb.cache.clear()
    print(f"torch threads={torch.get_num_threads()} engine config: token_budget={emb.config.token_budget} "
          f"max_batch_items={emb.config.max_batch_items} packing={emb.packing} min_batch_fill={emb.min_batch_fill} "
          f"num_workers={emb._num_workers([x for _, x in items])}")
    if args.engine_only:
        inputs = [x for _, x in items]
        _, t = timed(emb.embed, inputs)
        print(f"RESULT engine-only scale={args.scale} items={len(inputs)} seconds={t:.1f} items/s={len(inputs) / t:.2f}")
        return 0
    print(f"{'modality':<10} {'items':>6} {'baseline/s':>12} {'engine/s':>12} {'ratio':>8} {'min cosine':>12}")
    t_base, t_ours, cos = run(emb, stock, items, "all")
    ok = t_base / t_ours >= 2.0 and cos >= 0.99999
    if not args.no_per_modality:
        groups = defaultdict(list)
        for kind, x in items:
            groups[kind].append((kind, x))
        for kind in ("text", "image", "frames", "mp4"):
            run(emb, stock, groups[kind], kind)
    if args.sweep:
        inputs = [x for _, x in items]
        print("\nengine sweep (all items): token_budget max_batch_items items/s")
        for budget in (4096, 8192, 16384, 32768):
            for max_items in (16, 64):
                cfg = EngineConfig(token_budget=budget, max_batch_items=max_items)
                variant = Qwen3VLEmbedder(emb.model, emb.processor, config=cfg)
                _, t = timed(variant.embed, inputs)
                print(f"  {budget:>6} {max_items:>4} {len(inputs) / t:>8.2f}", flush=True)
    print(f"RESULT embed ratio={t_base / t_ours:.2f}x (target >= 2.0x) min cosine={cos:.8f} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
