"""Reranker throughput: our engine vs a baseline that works like the official reranker script, and the
engine with its multimodal cache vs without it on a retrieval-driven workload.

Fixed workload. Baseline (official-like): one (query, document) pair per forward pass, the query's media
loaded and preprocessed again for every pair, no cache. Engine: Qwen3VLReranker.score (pairs batched by
token budget and, on a CPU, packed end to end; the query's media loaded, preprocessed and run through the
vision tower once per call; the shared prompt prefix run once; the two-row yes/no head), timed without
and with its cache of prepared media and vision features (core/cache.py), which carries the documents'
vision work from one query to the next. Workload: 20 queries (text, image, text+image) x 50 candidates
of mixed modality. Scores must agree (|difference| <= 1e-5).

Retrieval workload: a mixed corpus (texts, images, image+text, frame lists, mp4s; 120 items by
default) is embedded; 30 text queries each retrieve their top 20 by cosine, which are reranked by the
same reranker with the cache and with it disabled (cache_bytes=0), alternately. Prints pairs/s of both,
the cache's hit rates and peak bytes, and the sizes of the retrieved images; scores must be identical.

Both run on the `small` random checkpoint (CPU, float32) unless given one.

    python benchmarks/bench_rerank.py [--workload both|fixed|retrieval] [--queries 20] [--corpus 120]
                                      [--retrieval-queries 30] [--top-k 20] [--checkpoint DIR] [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import _image, _image_size, _mp4, _text, baseline_hidden, checkpoint, stock_model, time_methods, timed

from qwen3vl_integrations import Qwen3VLEmbedder, Qwen3VLReranker
from qwen3vl_integrations.core.processing import PreparedItem


def workload(folder: Path, n_queries: int, seed: int = 0):
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def image(name: str, low: int, high: int) -> str:
        side = rng.randint(low, high)
        path = folder / name
        _image(nrng, side, int(side * rng.choice((1.0, 4 / 3, 3 / 4)))).save(path)
        return str(path)

    docs = [_text(rng, rng.randint(20, 400)) for _ in range(32)]
    docs += [{"image": image(f"doc{i}.jpg", 64, 768)} for i in range(10)]
    docs += [{"image": image(f"docb{i}.jpg", 64, 512), "text": _text(rng, 20)} for i in range(4)]
    for v in range(2):
        frames = [folder / f"f{v}_{k}.jpg" for k in range(4)]
        for frame in frames:
            _image(nrng, 240, 320).save(frame)
        docs.append({"video": [str(f) for f in frames]})
    for v in range(2):
        _mp4(folder / f"c{v}.mp4", nrng, 2)
        docs.append({"video": str(folder / f"c{v}.mp4")})
    queries = []
    for q in range(n_queries):
        kind = ("text", "image", "text+image")[q % 3]
        if kind == "text":
            queries.append((kind, _text(rng, rng.randint(5, 30))))
        elif kind == "image":
            queries.append((kind, {"image": image(f"q{q}.jpg", 256, 768)}))
        else:
            queries.append((kind, {"image": image(f"q{q}.jpg", 256, 768), "text": _text(rng, 12)}))
    return queries, docs


def baseline_scores(plain: Qwen3VLReranker, stock, query, docs) -> list[float]:
    """One pair per forward of the stock model (``stock``); the query's media are loaded and
    preprocessed again for every pair (``plain`` has no cache)."""
    scores = []
    for doc in docs:
        prepared_query = plain._prepare_query(query)  # reload per pair, as the official script does
        item: PreparedItem = plain._prepare_pair(prepared_query, doc, None, None)
        hidden, _ = baseline_hidden(stock, [item], "left", plain.device)
        scores.append(float(torch.sigmoid(hidden[:, -1].float() @ plain.score_weight)))
    return scores


def uncached(rr: Qwen3VLReranker) -> Qwen3VLReranker:
    """The same weights and settings with the cache off."""
    return Qwen3VLReranker(rr.model, rr.processor, score_weight=rr.score_weight, config=rr.config.replace(cache_bytes=0))


def fixed_workload(args, ckpt: Path, tmp: Path) -> bool:
    queries, docs = workload(tmp / "media", args.queries)
    if args.quick:
        queries, docs = queries[:3], docs[:6] + docs[-4:]
    rr = Qwen3VLReranker.from_pretrained(ckpt, device="cpu", dtype="float32")
    plain, stock = uncached(rr), stock_model(ckpt)
    plain.score("warm-up", ["a", "b"])
    rr.score("warm-up", ["a", "b"])
    times, worst = defaultdict(lambda: [0.0, 0.0, 0.0, 0]), 0.0
    for kind, query in queries:
        base, t_base = timed(baseline_scores, plain, stock, query, docs)
        ours, t_plain = timed(plain.score, query, docs)
        cached, t_cached = timed(rr.score, query, docs)
        worst = max(worst, float(np.abs(np.array(base) - np.array(ours)).max()),
                    float(np.abs(np.array(base) - np.array(cached)).max()))
        for key in (kind, "all"):
            for k, t in enumerate((t_base, t_plain, t_cached)):
                times[key][k] += t
            times[key][3] += len(docs)
    print(f"{len(queries)} queries x {len(docs)} candidates; torch threads={torch.get_num_threads()} packing={rr.packing}")
    print(f"{'query':<11} {'pairs':>6} {'baseline/s':>11} {'engine/s':>10} {'+cache/s':>10} {'ratio':>7} {'+cache':>7}")
    for key in ("text", "image", "text+image", "all"):
        t_base, t_plain, t_cached, n = times[key]
        print(f"{key:<11} {n:>6} {n / t_base:>11.2f} {n / t_plain:>10.2f} {n / t_cached:>10.2f} "
              f"{t_base / t_plain:>6.2f}x {t_base / t_cached:>6.2f}x")
    ratio, plain_ratio = times["all"][0] / times["all"][2], times["all"][0] / times["all"][1]
    ok = ratio >= 3.0 and worst <= 1e-5
    print(f"RESULT rerank ratio={ratio:.2f}x with the cache, {plain_ratio:.2f}x without (target >= 3.0x) "
          f"max |score diff|={worst:.2e} -> {'PASS' if ok else 'FAIL'}")
    return ok


def retrieval_corpus(folder: Path, n: int, seed: int = 1) -> list:
    """``n`` mixed items: half texts (20-300 words), 35 % images (32x32 .. 2400x1600, log-uniform
    area), 5 % image+text, 6 % frame lists (4 frames of 240x320), 4 % mp4 files (2 s); shuffled."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {"frames": max(1, n * 6 // 100), "mp4": max(1, n * 4 // 100), "image+text": max(1, n * 5 // 100),
              "image": max(1, n * 35 // 100)}
    counts["text"] = n - sum(counts.values())

    def image(name: str) -> str:
        path = folder / name
        _image(nrng, *_image_size(rng)).save(path)
        return str(path)

    items: list = [_text(rng, rng.randint(20, 300)) for _ in range(counts["text"])]
    items += [{"image": image(f"r{i}.{'jpg' if i % 2 else 'png'}")} for i in range(counts["image"])]
    items += [{"image": image(f"rt{i}.jpg"), "text": _text(rng, 20)} for i in range(counts["image+text"])]
    for v in range(counts["frames"]):
        frames = [folder / f"rf{v}_{k}.jpg" for k in range(4)]
        for frame in frames:
            _image(nrng, 240, 320).save(frame)
        items.append({"video": [str(f) for f in frames]})
    for v in range(counts["mp4"]):
        _mp4(folder / f"rc{v}.mp4", nrng, 2)
        items.append({"video": str(folder / f"rc{v}.mp4")})
    rng.shuffle(items)
    return items


def image_side(item) -> int:
    """The longer side in pixels of an item's image (read from its header), 0 for other items."""
    if not isinstance(item, dict) or "image" not in item:
        return 0
    with Image.open(item["image"]) as image:
        return max(image.size)


def retrieval_workload(args, ckpt: Path, tmp: Path) -> bool:
    corpus = retrieval_corpus(tmp / "retrieval", args.corpus)
    rng = random.Random(2)
    queries = [_text(rng, rng.randint(4, 16)) for _ in range(args.retrieval_queries)]
    emb = Qwen3VLEmbedder.from_pretrained(ckpt, device="cpu", dtype="float32")
    (docs, t_docs), queries_vec = timed(emb.embed_documents, corpus), emb.embed_queries(queries)
    top = np.argsort(-(queries_vec @ docs.T), axis=1, kind="stable")[:, :args.top_k]
    del emb
    rr = Qwen3VLReranker.from_pretrained(ckpt, device="cpu", dtype="float32")
    plain = uncached(rr)
    plain.score("warm-up", ["a", "b"])
    rr.score("warm-up", ["a", "b"])
    spent = time_methods(rr, ("_pooled", "_prefix_state"))
    t_on = t_off = 0.0
    worst = 0.0
    for q, (query, rows) in enumerate(zip(queries, top)):
        candidates = [corpus[j] for j in rows]
        first, second = (plain, rr) if q % 2 == 0 else (rr, plain)  # alternate which one runs first
        a, t_a = timed(first.score, query, candidates)
        b, t_b = timed(second.score, query, candidates)
        t_off, t_on = (t_off + t_a, t_on + t_b) if first is plain else (t_off + t_b, t_on + t_a)
        worst = max(worst, float(np.abs(np.array(a) - np.array(b)).max()))
    pairs = len(queries) * top.shape[1]
    levels, stats = rr.cache.level_stats(), rr.cache.stats()

    def rate(level: str) -> float:
        counts = levels[level]
        return counts["hits"] / max(1, counts["hits"] + counts["misses"])

    candidates = {j for rows in top for j in rows}
    distinct = sum(not isinstance(corpus[j], str) for j in candidates)
    side_of = [image_side(item) for item in corpus]  # each image's header read once
    picked = sorted(side_of[j] for j in candidates if side_of[j])
    low, high = (picked[0], picked[-1]) if picked else (0, 0)
    sides = sorted(side for side in side_of if side)
    media_pairs = sum(not isinstance(corpus[j], str) for rows in top for j in rows)
    print(f"\nretrieval: corpus {len(corpus)} items (embedded in {t_docs:.1f} s), {len(queries)} text queries x "
          f"top {top.shape[1]}; {distinct} distinct media documents among the candidates, in {media_pairs} of "
          f"the {top.size} pairs (the cache can only shorten those)")
    print(f"the candidates' {len(picked)} images are {low}-{high} px "
          f"on their longer side, the corpus' {len(sides)} are {sides[0]}-{sides[-1]} px (median "
          f"{sides[len(sides) // 2]}): a random checkpoint ranks by length, not content (docs/performance.md)")
    print(f"{'reranker':<14} {'pairs':>6} {'seconds':>8} {'pairs/s':>8}")
    print(f"{'cache off':<14} {pairs:>6} {t_off:>8.2f} {pairs / t_off:>8.2f}")
    print(f"{'cache on':<14} {pairs:>6} {t_on:>8.2f} {pairs / t_on:>8.2f}")
    print(f"hit rate: vision features {rate('features'):.1%}, prepared media {rate('prepared'):.1%}; "
          f"peak bytes {stats['peak_bytes']:,} (cap {rr.cache.max_bytes:,}); entries {stats['entries']}; "
          f"evictions {stats['evictions']}")
    forward = spent["_pooled"] + spent["_prefix_state"]
    print(f"cache on: the pairs' forward passes took {spent['_pooled']:.2f} s and the shared prefixes "
          f"{spent['_prefix_state']:.2f} s of its {t_on:.2f} s; the cache saves {t_off - t_on:.2f} s, so even with "
          f"nothing else left the ratio could be at most {(forward + t_off - t_on) / forward:.2f}x")
    ratio = t_off / t_on
    ok = ratio >= 2.0 and worst == 0.0
    print(f"RESULT retrieval rerank cache ratio={ratio:.2f}x (target >= 2.0x) max |score diff|={worst:.2e} "
          f"(identical required) -> {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("both", "fixed", "retrieval"), default="both")
    parser.add_argument("--queries", type=int, default=20, help="fixed workload: queries")
    parser.add_argument("--corpus", type=int, default=120, help="retrieval workload: corpus items")
    parser.add_argument("--retrieval-queries", type=int, default=30)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--checkpoint", help="a checkpoint dir (default: build the `small` random one)")
    parser.add_argument("--quick", action="store_true", help="smoke run at a tiny scale (numbers mean nothing)")
    args = parser.parse_args()
    if args.quick:
        args.corpus, args.retrieval_queries, args.top_k = 12, 3, 4
    tmp = Path(tempfile.mkdtemp(prefix="qwen3vl-rerank-"))
    ckpt = checkpoint(args.checkpoint, tmp)
    ok = True
    if args.workload in ("both", "fixed"):
        ok &= fixed_workload(args, ckpt, tmp)
    if args.workload in ("both", "retrieval"):
        ok &= retrieval_workload(args, ckpt, tmp)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
