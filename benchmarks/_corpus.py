"""Generated benchmark corpus (shared by bench_embed.py and bench_rerank.py): files under a temp dir;
and the timing helpers the benchmarks share."""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

WORDS = ("the of and to in is was for on that with as by at from his an were are which this be or has had not "
         "but one their they all been its new more also after who first two can her into other some time when "
         "there would only over most state year she city may world made these people many could such school "
         "between both under three during used team known well them where then part water light house river "
         "music small large north south east west early later group family series life each found since").split()
ASPECTS = (1.0, 4 / 3, 3 / 4, 16 / 9, 9 / 16, 3 / 2, 2 / 3)


def baseline_hidden(model, items, padding_side: str, device) -> tuple:
    """A padded forward as the official scripts run it: pixel values in the batch (the vision tower
    runs on every image of every row), attention mask on, ``torch.no_grad``."""
    import torch

    from qwen3vl_integrations.core.batching import collate

    batch, images, videos = collate(items, 151643, padding_side, device)
    if images:
        batch["pixel_values"] = torch.cat([v.pixel_values for v in images])
    if videos:
        batch["pixel_values_videos"] = torch.cat([v.pixel_values for v in videos])
    with torch.no_grad():
        return model(**batch).last_hidden_state, batch["attention_mask"]


def stock_model(path: Path):
    """The backbone as the official scripts load it: stock transformers modules (no engine changes
    such as the linear patch embedding), CPU float32, SDPA attention."""
    import torch
    from transformers import Qwen3VLModel

    return Qwen3VLModel.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").eval()


def checkpoint(path_arg: str | None, tmp: Path) -> Path:
    """The checkpoint to benchmark: the given directory, else a freshly built `small` random one."""
    if path_arg:
        return Path(path_arg)
    from qwen3vl_integrations.testing import build_checkpoint

    return build_checkpoint(tmp / "small", size="small")


def _text(rng: random.Random, tokens: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(tokens))


def _image(rng: np.random.Generator, height: int, width: int) -> Image.Image:
    small = rng.integers(0, 256, (max(2, height // 32), max(2, width // 32), 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, (height, width, 3))
    base = np.asarray(Image.fromarray(small).resize((width, height), Image.BILINEAR), dtype=np.int64)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _image_size(rng: random.Random) -> tuple[int, int]:
    area = math.exp(rng.uniform(math.log(32 * 32), math.log(2400 * 1600)))
    aspect = rng.choice(ASPECTS)
    width = int(min(2400, max(32, round(math.sqrt(area * aspect)))))
    height = int(min(1600, max(32, round(area / width))))
    return height, width


def _mp4(path: Path, rng: np.random.Generator, seconds: int, fps: int = 10, size=(240, 320)) -> None:
    import av

    base = np.asarray(_image(rng, *size))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        for k in range(seconds * fps):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 4 * k, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def build_corpus(folder: Path, scale: int = 1, seed: int = 0) -> list[tuple[str, object]]:
    """(modality, input) pairs, shuffled: 300 texts (5-2000 tokens, log-uniform), 150 images
    (32x32 .. 2400x1600, log-uniform area, 7 aspect ratios, PNG/JPEG files), 10 frame-list videos
    (4-16 frames) and 5 mp4 files (2-6 s); ``scale`` multiplies every count."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, object]] = []
    for _ in range(300 * scale):
        items.append(("text", _text(rng, int(math.exp(rng.uniform(math.log(5), math.log(2000)))))))
    for i in range(150 * scale):
        path = folder / f"img_{i}.{'jpg' if i % 2 else 'png'}"
        _image(nrng, *_image_size(rng)).save(path)
        items.append(("image", {"image": str(path)}))
    for v in range(10 * scale):
        frames = []
        for f in range(rng.randint(4, 16)):
            path = folder / f"vid{v}_frame{f}.jpg"
            _image(nrng, 240, 320).save(path)
            frames.append(str(path))
        items.append(("frames", {"video": frames}))
    for v in range(5 * scale):
        path = folder / f"clip_{v}.mp4"
        _mp4(path, nrng, rng.randint(2, 6))
        items.append(("mp4", {"video": str(path)}))
    rng.shuffle(items)
    return items


def timed(fn, *args):
    """``fn(*args)`` and the seconds it took."""
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def time_methods(engine, names: tuple[str, ...]) -> dict[str, float]:
    """Make ``engine``'s methods ``names`` add their seconds to the returned dict (instrumentation only)."""
    spent = dict.fromkeys(names, 0.0)

    def timed_method(name: str):
        method = getattr(engine, name)

        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return run

    for name in names:
        setattr(engine, name, timed_method(name))
    return spent
