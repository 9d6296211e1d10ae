"""read_video: contract frame indices, seeking decode, limits, corrupt input (docs/robustness.md cases 12-17, 36)."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
import torch

from qwen3vl_integrations.core.errors import (
    InputError,
    MediaDecodeError,
    MediaError,
    MediaPolicyError,
    MediaTimeoutError,
    MediaTooLargeError,
)
from qwen3vl_integrations.media import MediaPolicy, VideoClip, read_video
from tests.conftest import fork_in_fresh_process

from .conftest import decode_all_frames, write_audio_only, write_video


def contract_indices(total: int, video_fps: float, fps: float, max_frames: int) -> list[int]:
    from qwen_vl_utils.vision_process import smart_nframes

    nframes = smart_nframes({"fps": fps, "max_frames": max_frames}, total_frames=total, video_fps=video_fps)
    return torch.linspace(0, total - 1, nframes).round().long().tolist()


# --------------------------------------------------------------------------- correctness


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("h264.mp4", {}),
        ("bframes.mp4", {"frames": 120, "options": {"g": "25", "bf": "3"}}),
        ("h264.mkv", {"frames": 45}),
        ("mpeg4.avi", {"codec": "mpeg4", "frames": 40}),
        ("vp9.webm", {"codec": "libvpx-vp9", "frames": 20, "options": {"deadline": "realtime", "cpu-used": "8"}}),
    ],
)
def test_frames_are_the_contract_frames(make_video, name, kwargs):
    path = make_video(name, **kwargs)
    reference = decode_all_frames(path)
    clip = read_video(path, fps=2.0, max_frames=64)
    assert isinstance(clip, VideoClip)
    assert clip.total_frames == len(reference)
    assert clip.fps == 10.0
    assert clip.frame_indices == contract_indices(len(reference), 10.0, 2.0, 64)
    assert clip.frames.dtype == torch.uint8 and clip.frames.shape == (len(clip.frame_indices), 3, 48, 64)
    assert np.array_equal(clip.frames.numpy(), reference[clip.frame_indices])
    assert clip.sample_fps == pytest.approx(len(clip.frame_indices) / clip.total_frames * clip.fps)
    assert clip.metadata["strategy"] == ("sequential" if name.endswith(".avi") else "seek")  # MP4/MKV/WebM seek


@pytest.mark.parametrize(
    "name,codec,options",
    [
        ("h264.ts", "libx264", {"g": "12"}),
        ("mpeg2.mpg", "mpeg2video", {"g": "12", "bf": "2"}),
        ("wmv2.wmv", "wmv2", {"g": "12"}),
        ("flv1.flv", "flv", {"g": "12"}),
        ("bframes.avi", "libx264", {"g": "12", "bf": "2"}),
        ("bframes.mov", "libx264", {"g": "12", "bf": "2"}),
        ("ffv1.nut", "ffv1", {}),
    ],
)
def test_other_containers_match_full_decode(make_video, name, codec, options):
    """Containers without reliable timestamps are decoded sequentially; the frames are the same."""
    path = make_video(name, frames=75, fps=25, codec=codec, options=options)
    reference = decode_all_frames(path)
    clip = read_video(path, fps=5.0, max_frames=32)
    assert clip.total_frames == len(reference) == 75
    assert clip.frame_indices == contract_indices(75, 25.0, 5.0, 32)
    assert np.array_equal(clip.frames.numpy(), reference[clip.frame_indices])
    assert clip.metadata["strategy"] == ("seek" if name.endswith(".mov") else "sequential")


def test_seeking_decodes_only_the_needed_gops(make_video, monkeypatch):
    from qwen3vl_integrations.media import video_decode

    path = make_video("sparse.mp4", frames=400, fps=25, options={"g": "25", "keyint_min": "25", "sc_threshold": "0"})
    ticks = []
    original = video_decode.Budget.tick
    monkeypatch.setattr(video_decode.Budget, "tick", lambda self: (ticks.append(1), original(self))[1])
    clip = read_video(path, fps=0.25, max_frames=64)  # 16 s at 0.25 fps -> 4 frames
    assert len(clip.frame_indices) == 4
    assert np.array_equal(clip.frames.numpy(), decode_all_frames(path)[clip.frame_indices])
    assert len(ticks) < 4 * 25 + 10  # at most one GOP per sampled frame, not all 400 frames


def test_long_gop_seeking_matches_full_decode(make_video):
    """Many targets inside long GOPs with B-frames: seeking must land on the exact frames."""
    path = make_video("gop.mp4", frames=300, fps=30, options={"g": "120", "bf": "2", "keyint_min": "120", "sc_threshold": "0"})
    reference = decode_all_frames(path)
    clip = read_video(path, fps=7.0, max_frames=64)
    assert len(clip.frame_indices) == 64
    assert np.array_equal(clip.frames.numpy(), reference[clip.frame_indices])


def test_max_frames_and_fps_shape_the_sample(make_video):
    path = make_video(frames=100, fps=25)
    assert len(read_video(path, fps=1.0, max_frames=64).frame_indices) == 4  # 4 s at 1 fps
    assert len(read_video(path, fps=25.0, max_frames=16).frame_indices) == 16
    assert len(read_video(path, fps=25.0, max_frames=15).frame_indices) == 14  # floored to even


def test_sources_are_equivalent(make_video):
    path = make_video()
    data = path.read_bytes()
    expected = read_video(path, fps=2.0, max_frames=8).frames
    for source in (str(path), path.as_uri(), data, io.BytesIO(data), f"data:video/mp4;base64,{base64.b64encode(data).decode()}"):
        assert torch.equal(read_video(source, fps=2.0, max_frames=8).frames, expected)


def test_1080p_is_within_default_limits(make_video):
    path = make_video("hd.mp4", frames=4, width=1920, height=1080, options={"preset": "ultrafast"})
    clip = read_video(path, fps=2.0, max_frames=4)
    assert clip.frames.shape[1:] == (3, 1080, 1920)
    assert (clip.width, clip.height) == (1920, 1080)


# --------------------------------------------------------------------------- too short (case 12)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaDecodeError, match="empty"):
        read_video(path, fps=2.0, max_frames=8)


def test_one_frame_video_is_too_short_not_value_error(make_video):
    path = make_video("one.mp4", frames=1)
    with pytest.raises(MediaDecodeError, match="video too short") as info:
        read_video(path, fps=2.0, max_frames=8)
    assert type(info.value) is MediaDecodeError


def test_short_clip_with_fewer_frames_than_min_is_clamped(make_video):
    """0.2 s at 15 fps = 3 frames < the 4-frame minimum: documented clamp to 2 frames."""
    path = make_video("short.mp4", frames=3, fps=15)
    clip = read_video(path, fps=2.0, max_frames=64)
    assert clip.frame_indices == [0, 2]
    assert np.array_equal(clip.frames.numpy(), decode_all_frames(path)[[0, 2]])


# --------------------------------------------------------------------------- corrupt (case 13)


def test_truncated_mp4_without_moov(make_video, tmp_path):
    data = make_video("full.mp4", frames=60).read_bytes()
    assert data.rfind(b"moov") > len(data) // 2  # moov is written at the end
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaDecodeError, match="moov|readable"):
        read_video(path, fps=2.0, max_frames=8)


def test_random_bytes_named_mp4(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaDecodeError):
        read_video(path, fps=2.0, max_frames=8)


def test_audio_only_file(tmp_path):
    path = write_audio_only(tmp_path / "audio.mp4")
    with pytest.raises(MediaDecodeError, match="no video stream.*audio"):
        read_video(path, fps=2.0, max_frames=8)


def test_unsupported_codec(make_video, tmp_path):
    data = make_video("h264.mkv").read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path = tmp_path / "unknown.mkv"
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_QWEN3/ISO/AVC"))
    with pytest.raises(MediaDecodeError, match="codec"):
        read_video(path, fps=2.0, max_frames=8)


def test_corrupt_packets_inside_a_valid_container(make_video, tmp_path):
    data = bytearray(make_video("c.mkv", frames=60).read_bytes())
    rng = np.random.default_rng(1)
    for pos in rng.integers(400, len(data) - 100, 200):
        data[pos] ^= 0xFF
    path = tmp_path / "damaged.mkv"
    path.write_bytes(bytes(data))
    try:
        clip = read_video(path, fps=2.0, max_frames=8)  # FFmpeg may conceal the damage ...
        assert clip.frames.shape[0] == len(clip.frame_indices)
    except MediaError:  # ... or report it; never an untyped error
        pass


# --------------------------------------------------------------------------- nested opens (case 36)


def test_hls_playlist_cannot_make_ffmpeg_open_urls(tmp_path, listener):
    playlist = (f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:{listener['port']}/seg.ts\n"
                "#EXT-X-ENDLIST\n").encode()
    for name in ("list.m3u8", "list.mp4"):
        path = tmp_path / name
        path.write_bytes(playlist)
        with pytest.raises(MediaDecodeError):
            read_video(path, fps=2.0, max_frames=8)
    with pytest.raises(MediaDecodeError):
        read_video(playlist, fps=2.0, max_frames=8)
    assert listener["accepted"]() == 0


def test_concat_list_cannot_read_other_files(tmp_path, make_video):
    secret = make_video("secret.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    with pytest.raises(MediaDecodeError):
        read_video(listing, fps=2.0, max_frames=8)


@pytest.mark.parametrize("source", ["concat:/tmp/a.mp4|/tmp/b.mp4", "hls+http://example.com/x.m3u8", "subfile:x", "pipe:0", "rtmp://x/y"])
def test_ffmpeg_protocols_are_refused(source):
    with pytest.raises(MediaPolicyError):
        read_video(source, fps=2.0, max_frames=8)


# --------------------------------------------------------------------------- limits (cases 14, 16)


def test_request_beyond_ceilings_is_clamped_and_reported(make_video):
    path = make_video(frames=60, fps=10)
    policy = MediaPolicy(max_sample_fps=5.0, max_video_frames=8)
    clip = read_video(path, policy, fps=1000.0, max_frames=100_000)
    assert clip.effective_fps == 5.0 and clip.effective_max_frames == 8
    assert clip.frame_indices == contract_indices(60, 10.0, 5.0, 8)
    default = read_video(path, fps=1000.0, max_frames=100_000)
    assert default.effective_fps == MediaPolicy().max_sample_fps
    assert default.effective_max_frames == MediaPolicy().max_video_frames
    assert len(default.frame_indices) == 60


def test_frame_memory_budget_lowers_max_frames(make_video):
    path = make_video(frames=60, fps=10)
    frame_bytes = 3 * 64 * 48
    clip = read_video(path, MediaPolicy(max_video_output_bytes=frame_bytes * 7), fps=10.0, max_frames=64)
    assert clip.effective_max_frames == 7 and len(clip.frame_indices) == 6
    assert clip.frames.numel() <= frame_bytes * 7
    with pytest.raises(MediaTooLargeError):
        read_video(path, MediaPolicy(max_video_output_bytes=frame_bytes), fps=10.0, max_frames=64)


def test_a_caller_frame_limit_lowers_max_frames_from_the_header(make_video):
    """read_video asks ``frame_limit(width, height)`` (the core's pixel budget) before decoding."""
    path = make_video(frames=60, fps=10)
    seen = []

    def limit(width, height):
        seen.append((width, height))
        return 6

    clip = read_video(path, fps=10.0, max_frames=64, frame_limit=limit)
    assert seen == [(64, 48)] and clip.effective_max_frames == 6 and len(clip.frame_indices) == 6
    assert clip.metadata["clamped_by"] == ["frame_limit"] and clip.metadata["decoded_frames"] <= 60
    assert read_video(path, fps=10.0, max_frames=64).metadata["clamped_by"] == []
    with pytest.raises(MediaTooLargeError, match="frame budget"):
        read_video(path, fps=10.0, max_frames=64, frame_limit=lambda w, h: 1)


@pytest.mark.parametrize(
    "policy,match",
    [
        (MediaPolicy(max_frame_pixels=64 * 48 - 1), "pixel"),
        (MediaPolicy(max_video_duration=2.0), "lasts"),
        (MediaPolicy(max_video_total_frames=20), "frames"),
        (MediaPolicy(max_decoded_frames=5), "decoded frames"),
        (MediaPolicy(max_video_bytes=1000), "byte"),
    ],
)
def test_policy_ceilings(make_video, policy, match):
    path = make_video(frames=30, fps=10)
    with pytest.raises(MediaTooLargeError, match=match):
        read_video(path, policy, fps=2.0, max_frames=8)


def test_8k_by_8k_frames_refused_before_decoding(tmp_path):
    """A rawvideo MKV whose header declares 8192x8192 frames (patched from 256x256 to stay fast)."""
    data = write_video(tmp_path / "raw.mkv", frames=2, width=256, height=256, codec="rawvideo").read_bytes()
    assert data.count(b"\xb0\x82\x01\x00") == 1 and data.count(b"\xba\x82\x01\x00") == 1
    data = data.replace(b"\xb0\x82\x01\x00", b"\xb0\x82\x20\x00").replace(b"\xba\x82\x01\x00", b"\xba\x82\x20\x00")
    path = tmp_path / "huge.mkv"
    path.write_bytes(data)
    with pytest.raises(MediaTooLargeError, match="8192x8192"):
        read_video(path, fps=2.0, max_frames=8)
    with pytest.raises(MediaTooLargeError, match="frame budget"):  # next line of defence: output memory
        read_video(path, MediaPolicy(max_frame_pixels=8192 * 8192, max_video_output_bytes=256 * 2**20), fps=2.0, max_frames=8)


def test_decode_timeout_is_enforced(make_video):
    path = make_video(frames=200, fps=25, width=320, height=240)
    with pytest.raises(MediaTimeoutError, match="timeout"):
        read_video(path, MediaPolicy(video_decode_timeout=0.001), fps=25.0, max_frames=64)


@pytest.mark.parametrize("fps,max_frames", [(0, 8), (-1, 8), (float("nan"), 8), (float("inf"), 8), (2.0, 1), (2.0, 0), (2.0, 2.5), ("2", 8), (True, 8)])
def test_invalid_request_parameters(make_video, fps, max_frames):
    path = make_video()
    with pytest.raises(InputError):
        read_video(path, fps=fps, max_frames=max_frames)


def test_numpy_scalars_are_accepted(make_video):
    clip = read_video(make_video(), fps=np.float32(2.0), max_frames=np.int64(8))
    assert len(clip.frame_indices) == 6


def test_local_paths_policy_applies_to_videos(make_video, tmp_path):
    path = make_video()
    with pytest.raises(MediaPolicyError):
        read_video(path, MediaPolicy(allow_local_paths=False), fps=2.0, max_frames=8)
    with pytest.raises(MediaPolicyError):
        read_video(path, MediaPolicy(local_roots=(tmp_path / "elsewhere",)), fps=2.0, max_frames=8)
    assert read_video(path, MediaPolicy(local_roots=(tmp_path,)), fps=2.0, max_frames=8).total_frames == 30


DECODE_ON_A_THREAD = """
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
from qwen3vl_integrations.media import read_video

pool = ThreadPoolExecutor(1)  # the decoding thread outlives the decode, as the engine's threads do
clip = pool.submit(read_video, sys.argv[1], fps=2.0, max_frames=4).result()

def child():
    return 0
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_that_decoded_video_on_a_thread_can_fork(make_video):
    """A forked child frees the converters that other threads' videos left behind (PyAV keeps one per
    thread); one with worker threads of its own hung the child (``ray.init`` after video ingestion)."""
    out = fork_in_fresh_process(DECODE_ON_A_THREAD, str(make_video()))
    assert out.stdout.strip() == "child exited 0", out.stderr[-2000:]
