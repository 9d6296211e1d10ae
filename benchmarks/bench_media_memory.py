"""Peak memory of hostile or huge media through the media-intake layer (reliability cases 3 and 14).

Each case runs in a fresh interpreter. The child imports everything first, records its RSS,
resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs the case, and reports
``VmHWM - baseline``: the peak growth caused by the case alone.

Cases:
  bomb_png    a 20000x20000 PNG (~100 bytes, 1.2 GB of pixels if decoded) through load_image
  bomb_jpeg   a 20000x20000 JPEG header through load_image
  long_video  an N-minute 1920x1080 H.264 MP4 through read_video(fps=1, max_frames=64) - the
              contract defaults - plus max_frames=32, and max_frames=768 (clamped by the policy)

Usage: python benchmarks/bench_media_memory.py [--minutes 60] [--budget-mb 500] [--workdir DIR]
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
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "35", "g": str(10 * fps)}
        for i in range(int(minutes * 60 * fps)):
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


def _run_child(case: str, path: str, max_frames: int) -> dict:
    import qwen_vl_utils.vision_process  # noqa: F401 - imported before measuring
    import torch  # noqa: F401

    from qwen3vl_integrations.core.errors import MediaError
    from qwen3vl_integrations.media import load_image, read_video

    baseline = _status_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    start = time.monotonic()
    outcome = "ok"
    try:
        if case.startswith("bomb"):
            load_image(path)
        else:
            clip = read_video(path, fps=1.0, max_frames=max_frames)
            outcome = (f"ok: {tuple(clip.frames.shape)} of {clip.total_frames} frames, "
                       f"effective max_frames {clip.effective_max_frames}")
    except MediaError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    elapsed = time.monotonic() - start
    peak = _status_kb("VmHWM")
    return {"case": case, "growth_mb": (peak - baseline) / 1024, "seconds": elapsed, "outcome": outcome, "hwm_reset": reset}


def _measure(case: str, path: Path, max_frames: int = 64) -> dict:
    cmd = [sys.executable, __file__, "--child", case, str(path), str(max_frames)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=900)
    if out.returncode != 0:
        return {"case": case, "growth_mb": float("nan"), "seconds": 0.0, "outcome": f"child failed: {out.stderr[-500:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the 1080p video (default 60)")
    parser.add_argument("--budget-mb", type=float, default=500.0)
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated files here (reused if present)")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "PATH", "MAX_FRAMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_run_child(args.child[0], args.child[1], int(args.child[2]))))
        return 0

    sys.path.insert(0, str(REPO))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_media_"))
    workdir.mkdir(parents=True, exist_ok=True)
    video = workdir / f"long_{args.minutes:g}min_1080p.mp4"
    if not video.exists():
        start = time.monotonic()
        write_long_video(video, args.minutes)
        print(f"generated {video.name}: {video.stat().st_size / 2**20:.1f} MB in {time.monotonic() - start:.1f}s")
    cases = [
        ("bomb_png", write_png_bomb(workdir / "bomb_20000.png"), 64),
        ("bomb_jpeg", write_jpeg_bomb(workdir / "bomb_20000.jpg"), 64),
        ("long_video", video, 64),
        ("long_video", video, 32),
        ("long_video", video, 768),  # beyond the policy: clamped to what max_video_output_bytes allows
    ]
    failed = False
    print(f"{'case':<28}{'RSS growth MB':>15}{'seconds':>10}  verdict  outcome")
    for case, path, max_frames in cases:
        result = _measure(case, path, max_frames)
        label = case if case.startswith("bomb") else f"{case} (max_frames={max_frames})"
        ok = result["growth_mb"] <= args.budget_mb
        failed |= not ok
        print(f"{label:<28}{result['growth_mb']:>15.1f}{result['seconds']:>10.2f}  {'PASS' if ok else 'FAIL':<7}  {result['outcome'][:100]}")
    print(f"budget: {args.budget_mb:g} MB per case")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
