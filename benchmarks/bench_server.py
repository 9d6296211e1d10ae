"""HTTP server throughput and back-pressure: cross-request batching on vs off, and an open loop at 2x capacity.

Runs ``qwen3vl serve`` twice on the same checkpoint (the `small` random one unless --checkpoint), once
with cross-request batching and once without (``--no-cross-request-batching``: each forward pass holds
one request's items), both with an admission limit of --queue-items items. The load comes from aiohttp
clients in this process (aiohttp costs about a tenth of httpx's CPU per request here, so the 2 cores go
to the server, not to the load generator).

1. Closed loop: --clients clients (default 32), each sending one request after the other, each request
   one text (then: one 224x224 PNG as a data URI, every image distinct, so the media cache never
   answers) to ``POST /v1/embeddings``. Prints requests/s, p50 and p99 latency per mode and modality,
   and the batching-on / batching-off throughput ratio.
2. Open loop (batching on): requests at a constant rate of twice the measured single-text capacity for
   --seconds seconds. Prints the share answered 429, the p99 latency of the 429s, the p99 of the
   admitted (200) requests, and the count of 5xx (target: none, 429s under 50 ms at p99).
3. The engine alone (after the servers stopped): the same images embedded in this process one per call
   and --clients per call, the bound on what batching can give the server's image requests; and the
   floor under a batched image: its linear layers at this machine's large-GEMM rate plus its preparation.

    python benchmarks/bench_server.py [--scale 1] [--checkpoint DIR] [--clients 32] [--seconds 10]
    python benchmarks/bench_server.py --quick        # smoke run: a few requests, a 2-second open loop
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import checkpoint, time_methods, timed

from qwen3vl_integrations.server.process import ServerProcess


def _texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    words = "the of and to in is was for on that with as by at from city river music light house".split()
    return [" ".join(rng.choice(words, size=int(rng.integers(12, 40)))) for _ in range(n)]


def _images(n: int) -> list[str]:
    from PIL import Image

    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(buffer, format="PNG")
        out.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return out


def _body(item: str, modality: str) -> dict:
    if modality == "text":
        return {"input": item, "model": "bench"}
    return {"input": [[{"type": "image_url", "image_url": {"url": item}}]], "model": "bench"}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


async def _post(http, url: str, body: dict) -> int:
    async with http.post(url, json=body) as answer:
        await answer.read()
        return answer.status


async def closed_loop(url: str, items: list[str], modality: str, clients: int) -> dict:
    """``clients`` coroutines share the items; each sends its next request when the last one answered."""
    import aiohttp

    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    latencies: list[float] = []
    statuses: list[int] = []

    async def client(http) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            start = time.perf_counter()
            statuses.append(await _post(http, url + "/v1/embeddings", _body(item, modality)))
            latencies.append(time.perf_counter() - start)

    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients), timeout=timeout) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    return {"rps": len(items) / wall, "p50": _pct(latencies, 50), "p99": _pct(latencies, 99),
            "errors": sum(s != 200 for s in statuses), "5xx": sum(s >= 500 for s in statuses)}


async def open_loop(url: str, items: list[str], rate: float, seconds: float) -> dict:
    """Requests at a constant ``rate`` per second for ``seconds``, whatever the answers take.
    A request that gets no HTTP answer at all (connection refused or reset, timeout) counts as 599."""
    import aiohttp

    results: list[tuple[int, float]] = []

    async def one(http, item: str) -> None:
        start = time.perf_counter()
        try:
            status = await _post(http, url + "/v1/embeddings", _body(item, "text"))
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status = 599
        results.append((status, time.perf_counter() - start))

    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
        tasks, start, k = [], time.perf_counter(), 0
        while (now := time.perf_counter() - start) < seconds:
            due = int(now * rate) + 1
            while k < due:
                tasks.append(asyncio.ensure_future(one(http, items[k % len(items)])))
                k += 1
            await asyncio.sleep(min(0.005, 1.0 / rate))
        await asyncio.gather(*tasks)
    refused = [s for code, s in results if code == 429]
    admitted = [s for code, s in results if code == 200]
    return {"sent": len(results), "rate": rate, "share_429": len(refused) / max(1, len(results)),
            "p99_429": _pct(refused, 99), "p99_admitted": _pct(admitted, 99),
            "5xx": sum(code >= 500 for code, _ in results)}


def engine_alone(ckpt: Path, images: list[str], batch: int) -> tuple[float, float]:
    """Seconds per image of ``Qwen3VLEmbedder.embed`` in this process (no server, cache off): one image
    per call, then ``batch`` images per call. The server adds the same HTTP work to both of its modes,
    so its batching ratio for images cannot exceed this one."""
    from qwen3vl_integrations import Qwen3VLEmbedder

    with Qwen3VLEmbedder.from_pretrained(ckpt, device="cpu", dtype="float32", cache_bytes=0) as embedder:
        embedder.embed([{"image": images[-1]}, {"image": images[-2]}])  # warm-up
        start = time.perf_counter()
        for uri in images:
            embedder.embed([{"image": uri}])
        single = (time.perf_counter() - start) / len(images)
        start = time.perf_counter()
        for k in range(0, len(images), batch):
            embedder.embed([{"image": uri} for uri in images[k:k + batch]])
        return single, (time.perf_counter() - start) / len(images)


def batched_floor(ckpt: Path, images: list[str], batch: int) -> dict:
    """Per image of calls of ``batch`` images: the multiply-adds of the model's linear layers and the
    seconds they took (forward hooks), and the seconds of its preparation (base64, PNG, resize,
    tokenising); and this machine's large-GEMM rate in FLOP/s. Linear layers plus preparation is a
    floor under a batched image's cost: attention, norms and everything else are left out."""
    import torch

    from qwen3vl_integrations import Qwen3VLEmbedder

    spent = {"macs": 0.0, "linear": 0.0}
    started: list[float] = []

    def begin(module, inputs) -> None:
        started.append(time.perf_counter())

    def end(module, inputs, output) -> None:
        spent["linear"] += time.perf_counter() - started.pop()
        weight = module.weight  # a Linear, or the patch embedding's Conv3d weight run as a matmul
        spent["macs"] += inputs[0].numel() // weight[0].numel() * weight.numel()

    with Qwen3VLEmbedder.from_pretrained(ckpt, device="cpu", dtype="float32", cache_bytes=0) as embedder:
        embedder.embed([{"image": images[-1]}, {"image": images[-2]}])  # warm-up
        layers = [m for m in embedder.model.modules() if isinstance(m, torch.nn.Linear)]
        hooks = [h for m in layers for h in (m.register_forward_pre_hook(begin), m.register_forward_hook(end))]
        embed = embedder.model.visual.patch_embed  # calls its proj's weight directly (core/forward.py)
        hooks += [embed.register_forward_pre_hook(begin), embed.register_forward_hook(
            lambda module, inputs, output: end(module.proj, inputs, output))]
        prepared = time_methods(embedder, ("prepare",))
        for k in range(0, len(images), batch):
            embedder.embed([{"image": uri} for uri in images[k:k + batch]])
        for hook in hooks:
            hook.remove()
    square = torch.randn(2048, 2048)
    best = min(timed(torch.mm, square, square)[1] for _ in range(5))
    per_image = {"macs": spent["macs"], "linear": spent["linear"], "prep": prepared["prepare"]}
    return {key: value / len(images) for key, value in per_image.items()} | {"rate": 2 * 2048 ** 3 / best}


def _serve(ckpt: Path, work: Path, batching: bool, queue_items: int) -> ServerProcess:
    flag = "--cross-request-batching" if batching else "--no-cross-request-batching"
    args = ["--model", str(ckpt), "--device", "cpu", "--port", "0", flag, "--max-queue-items", str(queue_items)]
    return ServerProcess.start(args, log=work / f"serve-{'on' if batching else 'off'}.log", env={"QWEN3VL_API_KEY": ""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="checkpoint directory (default: a fresh `small` random one)")
    parser.add_argument("--scale", type=float, default=1.0, help="requests per client per modality = 16 x scale")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the open-loop run")
    parser.add_argument("--queue-items", type=int, default=64, help="admission limit (QWEN3VL_MAX_QUEUE_ITEMS)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 requests per client, 2-second open loop")
    args = parser.parse_args()
    per_client = 2 if args.quick else max(1, int(16 * args.scale))
    seconds = 2.0 if args.quick else args.seconds
    n = per_client * args.clients
    work = Path(tempfile.mkdtemp(prefix="bench-server-"))
    ckpt = checkpoint(args.checkpoint, work)
    corpus = {"text": _texts(n), "image": _images(n)}  # all distinct: the media cache never answers
    gc.collect()
    gc.freeze()  # the load generator's own full collections (torch is imported here) would show as latency
    measured: dict = {}
    for batching in (True, False):
        with _serve(ckpt, work, batching, args.queue_items) as server:
            for modality, items in corpus.items():
                measured[batching, modality] = asyncio.run(closed_loop(server.url, items, modality, args.clients))
            if batching:
                rate = 2.0 * measured[True, "text"]["rps"]
                overload = asyncio.run(open_loop(server.url, corpus["text"], rate, seconds))
    print(f"checkpoint {ckpt}, {args.clients} closed-loop clients, {n} requests per modality, "
          f"admission limit {args.queue_items} items")
    print(f"{'modality':8} {'batching':9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8} {'5xx':>4}")
    for modality in corpus:
        for batching in (True, False):
            m = measured[batching, modality]
            print(f"{modality:8} {'on' if batching else 'off':9} {m['rps']:8.1f} {m['p50']:8.1f} {m['p99']:8.1f} "
                  f"{m['errors']:8d} {m['5xx']:4d}")
        ratio = measured[True, modality]["rps"] / measured[False, modality]["rps"]
        print(f"{modality:8} throughput ratio batching on/off: {ratio:.2f}x (target >= 3x)")
    single, batched = engine_alone(ckpt, corpus["image"][:64], args.clients)
    print(f"engine alone, in this process: {single * 1000:.1f} ms per image one per call, {batched * 1000:.1f} ms in "
          f"calls of {args.clients} -> {single / batched:.2f}x, the most batching can give the server's images")
    floor = batched_floor(ckpt, corpus["image"][:64], args.clients)
    peak = 2 * floor["macs"] / floor["rate"]
    print(f"floor under a batched image: its linear layers are {floor['macs'] / 1e6:.0f} M multiply-adds and took "
          f"{floor['linear'] * 1000:.1f} ms ({2 * floor['macs'] / floor['linear'] / 1e9:.0f} GFLOP/s; one large product "
          f"runs at {floor['rate'] / 1e9:.0f} here), its preparation {floor['prep'] * 1000:.1f} ms: with everything else "
          f"free, batching could give at most {single / (floor['linear'] + floor['prep']):.2f}x "
          f"({single / (peak + floor['prep']):.2f}x with the linear layers at the large-product rate)")
    o = overload
    print(f"open loop at {o['rate']:.1f} req/s (2x capacity) for {seconds:.0f} s: {o['sent']} sent, "
          f"429 share {o['share_429']:.1%}, p99 of 429s {o['p99_429']:.1f} ms (target < 50), "
          f"p99 of admitted {o['p99_admitted']:.1f} ms, 5xx {o['5xx']} (target 0)")


if __name__ == "__main__":
    main()
