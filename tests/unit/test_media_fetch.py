"""Where media may come from: local-path policy, schemes and basic HTTP fetches (reliability cases
2, 10, 35, 36 of docs/robustness.md; the network defences are in test_media_fetch_network.py)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from qwen3vl_integrations.core.errors import (
    MediaDecodeError,
    MediaFetchError,
    MediaPolicyError,
)
from qwen3vl_integrations.media import MediaPolicy, load_image, read_video

from .conftest import LOCAL_OK, PNG, _pixels

# --------------------------------------------------------------------------- local paths (case 35)


@pytest.fixture
def rooted(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.png").write_bytes(PNG)
    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG)
    return root, outside, MediaPolicy(local_roots=(root,))


def test_local_paths_can_be_disabled(rooted):
    root, _, _ = rooted
    policy = MediaPolicy(allow_local_paths=False)
    for source in (str(root / "ok.png"), root / "ok.png", (root / "ok.png").as_uri(), "/etc/passwd"):
        with pytest.raises(MediaPolicyError, match="local file paths are not allowed"):
            load_image(source, policy)


def test_files_inside_roots_load(rooted):
    root, _, policy = rooted
    assert load_image(root / "ok.png", policy).size == (12, 10)
    assert load_image(f"{root}/sub/../ok.png", policy).size == (12, 10)


def test_outside_roots_gives_the_same_error_whether_or_not_the_file_exists(rooted, tmp_path):
    root, outside, policy = rooted
    messages = set()
    for source in (outside, tmp_path / "missing.png", f"{root}/../outside.png", f"{root}/../../../../etc/passwd",
                   "/etc/passwd", "file:///etc/passwd", "/etc/definitely-missing", "../../etc/passwd"):
        with pytest.raises(MediaPolicyError) as info:
            load_image(source, policy)
        messages.add(str(info.value))
    assert len(messages) == 1
    assert "outside" in messages.pop() and str(tmp_path) not in str(info.value)


def test_symlink_inside_root_pointing_outside_is_refused(rooted):
    root, outside, policy = rooted
    (root / "link.png").symlink_to(outside)
    (root / "dirlink").symlink_to(outside.parent)
    (root / "inner.png").symlink_to(root / "ok.png")
    for source in (root / "link.png", root / "dirlink" / "outside.png"):
        with pytest.raises(MediaPolicyError, match="outside"):
            load_image(source, policy)
    assert load_image(root / "inner.png", policy).size == (12, 10)


def test_tilde_is_never_expanded(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa.png").write_bytes(PNG)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MediaFetchError, match="not found"):
        load_image("~/.ssh/id_rsa.png")  # a relative path named '~', which does not exist
    with pytest.raises(MediaPolicyError, match="outside"):
        load_image("~/.ssh/id_rsa.png", MediaPolicy(local_roots=(tmp_path / "root",)))


@pytest.mark.parametrize("source", ["\\\\?\\C:\\Windows\\win.ini", "\\\\server\\share\\x.png", "//?/C:/x.png", "C:\\x.png"])
def test_windows_style_paths_are_refused(source):
    with pytest.raises(MediaPolicyError):
        load_image(source)


def test_special_files_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    for source in (fifo, "/dev/zero", "/dev/urandom", tmp_path):
        with pytest.raises(MediaPolicyError, match="not a regular file"):
            load_image(source)
    assert time.monotonic() - start < 2.0


def test_etc_passwd_with_default_policy_is_not_an_image():
    with pytest.raises(MediaDecodeError):
        load_image("/etc/passwd")


def test_missing_file_and_nul_byte(tmp_path):
    with pytest.raises(MediaFetchError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(MediaPolicyError, match="NUL"):
        load_image(str(tmp_path / "a\x00.png"))


def test_file_uri_with_remote_host_is_refused():
    with pytest.raises(MediaPolicyError):
        load_image("file://evil.example.com/etc/passwd")


# --------------------------------------------------------------------------- schemes (case 36)


@pytest.mark.parametrize(
    "source",
    ["ftp://example.com/a.png", "gopher://example.com/_x", "concat:/a.png|/b.png", "hls+http://example.com/a.m3u8",
     "javascript:alert(1)", "dict://127.0.0.1:11211/", "jar:file:///x!/a.png", "smb://host/share/a.png", "ws://host/x"],
)
def test_other_schemes_are_refused_without_connecting(source, connection_spy):
    with pytest.raises(MediaPolicyError):
        load_image(source)
    assert connection_spy.calls == []


def test_remote_can_be_disabled_and_schemes_narrowed(media_server, connection_spy):
    media_server.add_body("/a.png", PNG)
    with pytest.raises(MediaPolicyError, match="remote URLs are not allowed"):
        load_image(media_server.url("/a.png"), LOCAL_OK.replace(allow_remote=False))
    with pytest.raises(MediaPolicyError, match="scheme 'http'"):
        load_image(media_server.url("/a.png"), LOCAL_OK.replace(allowed_schemes=("https",)))
    assert connection_spy.calls == []
    with pytest.raises(ValueError):
        MediaPolicy(allowed_schemes=("ftp",))


# --------------------------------------------------------------------------- basic HTTP


def test_http_fetch_gives_the_same_pixels_as_bytes(media_server):
    media_server.add_body("/a.png", PNG)
    image = load_image(media_server.url("/a.png"), LOCAL_OK)
    assert np.array_equal(_pixels(image), _pixels(load_image(PNG)))
    path, headers = media_server.requests[-1]
    assert path == "/a.png" and headers["Host"] == f"127.0.0.1:{media_server.port}"
    assert headers["Accept-Encoding"] == "identity"


def test_chunked_body_without_content_length(media_server):
    def chunked(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(PNG), 50):
            part = PNG[i:i + 50]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    media_server.add("/c.png", chunked)
    assert load_image(media_server.url("/c.png"), LOCAL_OK).size == (12, 10)


@pytest.mark.parametrize("status", [404, 500, 204])
def test_http_errors(media_server, status):
    media_server.add_body("/x.png", PNG, status=status)
    with pytest.raises(MediaFetchError, match=str(status)):
        load_image(media_server.url("/x.png"), LOCAL_OK)


def test_connection_refused(listener):
    port = listener["port"]
    listener["sock"].close()
    with pytest.raises(MediaFetchError):
        load_image(f"http://127.0.0.1:{port}/a.png", LOCAL_OK)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json", "text/plain", "video/mp4"])
def test_wrong_content_type_for_an_image(media_server, content_type):
    media_server.add_body("/x.png", PNG, content_type=content_type)
    with pytest.raises(MediaDecodeError, match="Content-Type"):
        load_image(media_server.url("/x.png"), LOCAL_OK)


def test_html_served_as_image_png(media_server):
    media_server.add_body("/x.png", b"<!doctype html><html><body>login</body></html>", content_type="image/png")
    with pytest.raises(MediaDecodeError, match="not a recognised image"):
        load_image(media_server.url("/x.png"), LOCAL_OK)


def test_credentials_and_control_characters_in_urls(media_server, connection_spy):
    with pytest.raises(MediaPolicyError, match="credentials"):
        load_image(f"http://user:pw@127.0.0.1:{media_server.port}/a.png", LOCAL_OK)
    with pytest.raises(MediaPolicyError, match="control"):
        load_image(f"http://127.0.0.1:{media_server.port}/a.png\r\nX-Injected: 1", LOCAL_OK)
    assert connection_spy.calls == []


def test_allowed_hosts_and_ports(media_server, fake_dns, connection_spy):
    media_server.add_body("/a.png", PNG)
    fake_dns.set("media.test", ["127.0.0.1"])
    policy = LOCAL_OK.replace(allowed_hosts=(".test",), allowed_ports=(media_server.port,))
    assert load_image(media_server.url("/a.png", host="media.test"), policy).size == (12, 10)
    with pytest.raises(MediaPolicyError, match="allowed hosts"):
        load_image(media_server.url("/a.png"), policy)
    with pytest.raises(MediaPolicyError, match="port"):
        load_image(f"http://media.test:{media_server.port + 1}/a.png", policy)
    assert len(connection_spy.calls) == 1


def test_video_over_http(media_server, make_video):
    data = make_video().read_bytes()
    media_server.add_body("/v.mp4", data, content_type="video/mp4")
    media_server.add_body("/v.m3u8", b"#EXTM3U\n", content_type="application/vnd.apple.mpegurl")
    clip = read_video(media_server.url("/v.mp4"), LOCAL_OK, fps=2.0, max_frames=8)
    assert torch_equal(clip.frames, read_video(data, fps=2.0, max_frames=8).frames)
    with pytest.raises(MediaDecodeError, match="Content-Type"):
        read_video(media_server.url("/v.m3u8"), LOCAL_OK, fps=2.0, max_frames=8)


def torch_equal(a, b) -> bool:
    return bool((a == b).all()) and a.shape == b.shape

