"""Peak memory of hostile or huge media (reliability cases 3, 14 and 16 of docs/robustness.md).

Each case runs in a fresh interpreter. The child imports (and, for model cases, loads) everything
first, records its RSS, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs the
case, and reports ``VmHWM - baseline``: the peak growth caused by the case alone.

Media cases (the loader alone):
  bomb_png    a 20000x20000 PNG (~100 bytes, 1.2 GB of pixels if decoded) through load_image
  bomb_jpeg   a 20000x20000 JPEG header through load_image
  long_video  an N-minute 1920x1080 H.264 MP4 through read_video(fps=1, max_frames=64) - the
              contract defaults - plus max_frames=32, and max_frames=768 (clamped by the policy)

Model cases (``embed`` on the tiny random checkpoint, issue 11 item 2: memory must be bounded by
the tensors computed, ``MediaPolicy.max_video_pixels``, not by what the request asks for):
  frame_list  2,000 frames of 160x120 as one frame list, max_frames 64, 256, 512 and 768
  mp4_30fps   a 3-minute 640x480 MP4 at 30 fps, with fps=30 and max_frames=768
The line "growth vs max_frames=64" prints each case's peak growth over the 64-frame case's, side
by side: bounded means it stays near 1 whatever max_frames asks for (before the pixel budget
the tiny model grew 1.66 -> 7.8 GB from 64 to 768 frames, and the MP4 peaked at 4.56 GB).

Usage: python benchmarks/bench_media_memory.py [--cases media,model] [--minutes 60] [--budget-mb 500]
       [--model-budget-mb 3000] [--workdir DIR] [--quick]
``--quick`` is a smoke run: 200 frames, max_frames 64 and 128, a 10-second MP4, a 1-minute 1080p video.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_CASES = ("frame_list", "mp4_30fps")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bomb(path: Path, side: int = 20000) -> Path:
    """A PNG declaring side x side RGB pixels whose IDAT holds the first rows only (~100 bytes)."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + _chunk(b"IEND", b""))
    return path


def write_jpeg_bomb(path: Path, side: int = 20000) -> Path:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 10, 200)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", side, side)
    path.write_bytes(bytes(data))
    return path


def write_long_video(path: Path, minutes: float, fps: int = 1) -> Path:
    """1920x1080 H.264 (ultrafast, 10 s keyframe interval), ``fps`` frames per second.

    Frames cycle through 32 pre-converted YUV images (a box moving over a gradient), so that
    generation costs only the encoder: about 25 s for 60 minutes at 1 fps on two cores.
    """
    import av
    import numpy as np

    base = np.zeros((1080, 1920, 3), np.uint8)
    base[..., 0] = np.linspace(0, 255, 1920, dtype=np.uint8)[None, :]
    base[..., 1] = np.linspace(0, 255, 1080, dtype=np.uint8)[:, None]
    variants = []
    for k in range(32):
        image = base.copy()
        image[400:520, k * 56:k * 56 + 120] = 255
        variants.append(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p"))
    return _encode_h264(path, variants, fps, int(minutes * 60 * fps), keyframe_seconds=10)


def _encode_h264(path: Path, variants: list, fps: int, count: int, keyframe_seconds: int) -> Path:
    """``count`` frames cycling through ``variants`` (pre-converted YUV frames, all one size) as
    H.264 at ``fps`` (ultrafast, crf 35, a keyframe every ``keyframe_seconds``)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = variants[0].width, variants[0].height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35", "g": str(keyframe_seconds * fps)}
        for i in range(count):
            frame = variants[i % len(variants)]
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --------------------------------------------------------------------------- child side


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def _media_case(case: str, path: str, max_frames: int) -> str:
    from qwen3vl_integrations.media import load_image, read_video

    if case.startswith("bomb"):
        load_image(path)
        return "ok"
    clip = read_video(path, fps=1.0, max_frames=max_frames)
    return f"ok: {tuple(clip.frames.shape)} of {clip.total_frames} frames, effective max_frames {clip.effective_max_frames}"


def _model_item(case: str, path: str, max_frames: int, frames: int) -> dict:
    if case == "mp4_30fps":
        return {"video": path, "fps": 30, "max_frames": max_frames}
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return {"video": [Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)) for _ in range(frames)],
            "max_frames": max_frames}


def _run_child(case: str, path: str, max_frames: int, extra: str = "") -> dict:
    import qwen_vl_utils.vision_process  # noqa: F401 - imported before measuring
    import torch  # noqa: F401

    from qwen3vl_integrations.core.errors import MediaError

    model = None
    if case in MODEL_CASES:
        from qwen3vl_integrations import Qwen3VLEmbedder

        checkpoint, frames = extra.split(",")
        model = Qwen3VLEmbedder.from_pretrained(checkpoint, device="cpu")
        item = _model_item(case, path, max_frames, int(frames))
    baseline = _status_kb("VmRSS")
    reset = _reset_peak()
    start = time.monotonic()
    try:
        if model is None:
            outcome = _media_case(case, path, max_frames)
        else:
            model.embed([item])
            outcome = "ok"
    except MediaError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    elapsed = time.monotonic() - start
    peak = _status_kb("VmHWM")
    if model is not None and outcome == "ok":  # after the measurement: what was computed
        e = model.prepare(item).videos[0].meta["effective"]
        outcome = f"ok: {e['frames']} frames of {e['size'][0]}x{e['size'][1]} = {e['pixels']} px, clamped_by {e['clamped_by']}"
    return {"case": case, "growth_mb": (peak - baseline) / 1024, "seconds": elapsed, "outcome": outcome, "hwm_reset": reset}


def _measure(case: str, path: Path, max_frames: int = 64, extra: str = "") -> dict:
    cmd = [sys.executable, __file__, "--child", case, str(path), str(max_frames), extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    if out.returncode != 0:
        return {"case": case, "growth_mb": float("nan"), "seconds": 0.0, "outcome": f"child failed: {out.stderr[-500:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_vga_video(path: Path, seconds: float, fps: int = 30) -> Path:
    """640x480 H.264 at ``fps`` (ultrafast), frames cycling through 16 pre-converted images."""
    import av
    import numpy as np

    variants = []
    for k in range(16):
        image = np.zeros((480, 640, 3), np.uint8)
        image[..., 0] = np.linspace(0, 255, 640, dtype=np.uint8)[None, :]
        image[100:200, k * 36:k * 36 + 80] = 255
        variants.append(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p"))
    return _encode_h264(path, variants, fps, int(seconds * fps), keyframe_seconds=2)


def _generated(path: Path, write) -> Path:
    if not path.exists():
        start = time.monotonic()
        write(path)
        print(f"generated {path.name} in {time.monotonic() - start:.1f}s")
    return path


def _media_cases(args, workdir: Path) -> list:
    minutes = 1.0 if args.quick else args.minutes
    video = _generated(workdir / f"long_{minutes:g}min_1080p.mp4", lambda p: write_long_video(p, minutes))
    return [
        ("bomb_png", write_png_bomb(workdir / "bomb_20000.png"), 64, ""),
        ("bomb_jpeg", write_jpeg_bomb(workdir / "bomb_20000.jpg"), 64, ""),
        ("long_video", video, 64, ""),
        ("long_video", video, 32, ""),
        ("long_video", video, 768, ""),  # beyond the policy: clamped to what max_video_output_bytes allows
    ]


def _model_cases(args, workdir: Path) -> list:
    from qwen3vl_integrations.testing import build_checkpoint

    checkpoint = workdir / "tiny"
    if not (checkpoint / "config.json").is_file():
        build_checkpoint(checkpoint, size="tiny")
    frames, seconds = (200, 10.0) if args.quick else (2000, 180.0)
    mp4 = _generated(workdir / f"vga_{seconds:g}s_30fps.mp4", lambda p: write_vga_video(p, seconds))
    extra = f"{checkpoint},{frames}"
    counts = (64, 128) if args.quick else (64, 256, 512, 768)
    return [("frame_list", Path("-"), n, extra) for n in counts] + [("mp4_30fps", mp4, 768, extra)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="media,model", help="comma-separated: media, model (default both)")
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the 1080p video (default 60)")
    parser.add_argument("--budget-mb", type=float, default=500.0, help="peak growth allowed per media case")
    parser.add_argument("--model-budget-mb", type=float, default=3000.0, help="peak growth allowed per model case")
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated files here (reused if present)")
    parser.add_argument("--quick", action="store_true", help="smoke run at a small scale")
    parser.add_argument("--child", nargs=4, metavar=("CASE", "PATH", "MAX_FRAMES", "EXTRA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    if args.child:
        print(json.dumps(_run_child(args.child[0], args.child[1], int(args.child[2]), args.child[3])))
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_media_"))
    workdir.mkdir(parents=True, exist_ok=True)
    chosen = set(args.cases.split(","))
    cases = (_media_cases(args, workdir) if "media" in chosen else []) + (_model_cases(args, workdir) if "model" in chosen else [])
    failed, reference = False, None
    print(f"{'case':<30}{'RSS growth MB':>15}{'vs 64':>7}{'seconds':>9}  verdict  outcome")
    for case, path, max_frames, extra in cases:
        result = _measure(case, path, max_frames, extra)
        label = case if case.startswith("bomb") else f"{case} (max_frames={max_frames})"
        if case == "frame_list" and max_frames == 64:
            reference = result["growth_mb"]
        ratio = f"{result['growth_mb'] / reference:>7.2f}" if case in MODEL_CASES and reference else f"{'':>7}"
        ok = result["growth_mb"] <= (args.model_budget_mb if case in MODEL_CASES else args.budget_mb)
        failed |= not ok
        print(f"{label:<30}{result['growth_mb']:>15.1f}{ratio}{result['seconds']:>9.2f}  {'PASS' if ok else 'FAIL':<7}  "
              f"{result['outcome'][:110]}")
    print(f"budget: {args.budget_mb:g} MB per media case, {args.model_budget_mb:g} MB per model case; "
          "'vs 64' = growth / growth of frame_list (max_frames=64)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
