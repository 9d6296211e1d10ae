"""The SSRF-safe HTTP fetch: refused addresses, DNS rebinding, redirects, TLS, hostile servers (cases 32-34, 37 of docs/robustness.md)."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from qwen3vl_integrations.core.errors import (
    MediaDecodeError,
    MediaFetchError,
    MediaPolicyError,
    MediaTimeoutError,
    MediaTooLargeError,
)
from qwen3vl_integrations.media import MediaPolicy, load_image, read_video

from .conftest import LOCAL_OK, PNG, _pixels

PUBLIC_IP = "93.184.216.34"  # a global address; the tests reroute it to the local server


# --------------------------------------------------------------------------- refused addresses (case 32)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "0x7f000001", "2130706433", "127.1", "0177.0.0.1", "[::1]", "[::ffff:127.0.0.1]",
     "0.0.0.0", "[::]"],
)
def test_loopback_in_any_spelling_is_refused_without_connecting(host, listener, connection_spy):
    with pytest.raises(MediaPolicyError, match="address"):
        load_image(f"http://{host}:{listener['port']}/x.png")
    assert connection_spy.calls == []
    assert listener["accepted"]() == 0


@pytest.mark.parametrize(
    "url,category",
    [
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
        ("http://10.0.0.5/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://100.64.0.1/", "non-public"),
        ("http://169.254.1.1/", "link-local"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[64:ff9b::a00:5]/", "private"),  # NAT64 of 10.0.0.5
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused(url, category, connection_spy):
    with pytest.raises(MediaPolicyError, match=category):
        load_image(url)
    assert connection_spy.calls == []


def test_metadata_address_refused_even_when_private_networks_are_allowed(connection_spy):
    with pytest.raises(MediaPolicyError, match="metadata"):
        load_image("http://169.254.169.254/latest/meta-data/", LOCAL_OK)
    assert connection_spy.calls == []


def test_hostname_resolving_to_loopback_is_refused(fake_dns, listener, connection_spy):
    fake_dns.set("localtest.me", ["127.0.0.1"])
    with pytest.raises(MediaPolicyError, match="loopback"):
        load_image(f"http://localtest.me:{listener['port']}/x.png")
    assert connection_spy.calls == [] and listener["accepted"]() == 0


def test_mixed_public_and_private_answers_are_refused(fake_dns, connection_spy):
    fake_dns.set("mixed.example", [PUBLIC_IP, "10.0.0.7"])
    with pytest.raises(MediaPolicyError, match="private"):
        load_image("http://mixed.example/x.png")
    assert connection_spy.calls == []


@pytest.mark.parametrize("url", ["http://[::1/x.png", "http://host:99999/x.png", "http://host:abc/x.png", "http:///x.png", "file://[x/y.png"])
def test_malformed_urls(url, connection_spy):
    with pytest.raises(MediaPolicyError):
        load_image(url)
    assert connection_spy.calls == []


def test_check_address_unwraps_embedded_ipv4():
    from ipaddress import ip_address

    from qwen3vl_integrations.media.http import check_address

    check_address(ip_address("64:ff9b::5db8:d822"), MediaPolicy())  # NAT64 of a public address: fine
    check_address(ip_address("::ffff:93.184.216.34"), MediaPolicy())
    with pytest.raises(MediaPolicyError, match="metadata"):
        check_address(ip_address("::ffff:169.254.169.254"), MediaPolicy(allow_private_networks=True))
    with pytest.raises(MediaPolicyError, match="private"):
        check_address(ip_address("::ffff:10.1.2.3"), MediaPolicy())


def test_invalid_numeric_host(connection_spy):
    with pytest.raises(MediaPolicyError, match="not a valid address"):
        load_image("http://1.2.3.999/x.png")
    assert connection_spy.calls == []


def test_unresolvable_host(fake_dns):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no such host")

    fake_dns.answers.clear()
    fake_dns.original = fail
    with pytest.raises(MediaFetchError, match="did not resolve"):
        load_image("http://no-such-host.invalid/x.png")


# --------------------------------------------------------------------------- DNS rebinding (case 34)


def test_dns_rebinding_connects_to_the_validated_address(media_server, fake_dns, connection_spy):
    """First answer public, second private: the host is resolved once and that IP is used."""
    media_server.add_body("/a.png", PNG)
    fake_dns.set("rebind.example", [PUBLIC_IP], ["127.0.0.1"])
    connection_spy.routes[(PUBLIC_IP, media_server.port)] = ("127.0.0.1", media_server.port)
    image = load_image(f"http://rebind.example:{media_server.port}/a.png")
    assert image.size == (12, 10)
    assert fake_dns.calls == ["rebind.example"]  # resolved exactly once
    assert connection_spy.calls == [(PUBLIC_IP, media_server.port)]  # never 127.0.0.1
    assert media_server.requests[-1][1]["Host"] == f"rebind.example:{media_server.port}"


def test_dns_rebinding_on_a_redirect_hop_is_checked_again(media_server, fake_dns, connection_spy):
    media_server.add_redirect("/start", f"http://rebind.example:{media_server.port}/a.png")
    media_server.add_body("/a.png", PNG)
    fake_dns.set("public.example", [PUBLIC_IP])
    fake_dns.set("rebind.example", ["127.0.0.1"])
    connection_spy.routes[(PUBLIC_IP, media_server.port)] = ("127.0.0.1", media_server.port)
    with pytest.raises(MediaPolicyError, match=r"redirect 1.*loopback"):
        load_image(f"http://public.example:{media_server.port}/start")
    assert connection_spy.calls == [(PUBLIC_IP, media_server.port)]


# --------------------------------------------------------------------------- redirects (case 33)


def test_redirect_to_loopback_is_refused_at_that_hop(media_server, fake_dns, connection_spy, listener):
    media_server.add_redirect("/r", f"http://127.0.0.1:{listener['port']}/secret")
    fake_dns.set("allowed.example", [PUBLIC_IP])
    connection_spy.routes[(PUBLIC_IP, media_server.port)] = ("127.0.0.1", media_server.port)
    with pytest.raises(MediaPolicyError, match="redirect 1"):
        load_image(f"http://allowed.example:{media_server.port}/r")
    assert connection_spy.calls == [(PUBLIC_IP, media_server.port)]
    assert listener["accepted"]() == 0


@pytest.mark.parametrize("hops,ok", [(5, True), (6, False), (10, False)])
def test_redirect_chains_are_capped(media_server, hops, ok):
    for i in range(hops):
        media_server.add_redirect(f"/r{i}", f"/r{i + 1}" if i + 1 < hops else "/a.png", status=(301, 302, 303, 307, 308)[i % 5])
    media_server.add_body("/a.png", PNG)
    if ok:
        assert load_image(media_server.url("/r0"), LOCAL_OK).size == (12, 10)
    else:
        with pytest.raises(MediaPolicyError, match="more than 5 redirects"):
            load_image(media_server.url("/r0"), LOCAL_OK)
        assert len(media_server.requests) == 6


def test_redirect_to_another_port_or_scheme_is_rechecked(media_server, connection_spy):
    media_server.add_redirect("/to-https", f"https://127.0.0.1:{media_server.port + 1}/a.png")
    media_server.add_redirect("/to-ftp", "ftp://127.0.0.1/a.png")
    policy = LOCAL_OK.replace(allowed_ports=(media_server.port,))
    with pytest.raises(MediaPolicyError, match=r"redirect 1.*port"):
        load_image(media_server.url("/to-https"), policy)
    with pytest.raises(MediaPolicyError, match=r"redirect 1.*scheme"):
        load_image(media_server.url("/to-ftp"), policy)
    assert len(connection_spy.calls) == 2


def test_redirect_without_location(media_server):
    def send(h):
        h.send_response(302)
        h.send_header("Content-Length", "0")
        h.end_headers()

    media_server.add("/r", send)
    with pytest.raises(MediaFetchError, match="Location"):
        load_image(media_server.url("/r"), LOCAL_OK)


# --------------------------------------------------------------------------- TLS


def test_https_uses_hostname_for_sni_and_verification(tls_server, tls_material, fake_dns, connection_spy):
    tls_server.add_body("/a.png", PNG)
    fake_dns.set("media.test", ["127.0.0.1"])
    policy = LOCAL_OK.replace(ca_file=str(tls_material / "ca.pem"))
    image = load_image(tls_server.url("/a.png", host="media.test", scheme="https"), policy)
    assert np.array_equal(_pixels(image), _pixels(load_image(PNG)))
    assert connection_spy.calls == [("127.0.0.1", tls_server.port)]
    assert tls_server.requests[-1][1]["Host"] == f"media.test:{tls_server.port}"
    with pytest.raises(MediaFetchError):  # the certificate does not name 127.0.0.1
        load_image(tls_server.url("/a.png", scheme="https"), policy)
    with pytest.raises(MediaFetchError):  # unknown CA
        load_image(tls_server.url("/a.png", host="media.test", scheme="https"), LOCAL_OK)


def test_https_to_http_downgrade_is_refused(tls_server, tls_material, fake_dns, media_server):
    media_server.add_body("/a.png", PNG)
    tls_server.add_redirect("/down", media_server.url("/a.png"))
    fake_dns.set("media.test", ["127.0.0.1"])
    policy = LOCAL_OK.replace(ca_file=str(tls_material / "ca.pem"))
    with pytest.raises(MediaPolicyError, match="https to http"):
        load_image(tls_server.url("/down", host="media.test", scheme="https"), policy)
    assert media_server.connections == 0


# --------------------------------------------------------------------------- hostile servers (case 37)


def test_slow_drip_body_fails_within_the_total_budget(media_server):
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(PNG)))
        h.end_headers()
        for byte in PNG:
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
            time.sleep(0.2)

    media_server.add("/drip.png", drip)
    start = time.monotonic()
    with pytest.raises(MediaTimeoutError, match="fetch_timeout"):
        load_image(media_server.url("/drip.png"), LOCAL_OK.replace(fetch_timeout=1.0, read_timeout=0.5))
    assert time.monotonic() - start < 1.8


def test_slow_drip_headers_fail_within_the_total_budget(media_server):
    def drip_headers(h):
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(100):
            h.wfile.write(b"X")
            h.wfile.flush()
            time.sleep(0.2)

    media_server.add("/slowhead.png", drip_headers)
    start = time.monotonic()
    with pytest.raises(MediaTimeoutError):
        load_image(media_server.url("/slowhead.png"), LOCAL_OK.replace(fetch_timeout=1.0, read_timeout=0.5))
    assert time.monotonic() - start < 1.8


def test_slow_tls_handshake_fails_within_the_total_budget(listener, fake_dns):
    """A server that accepts and then drips garbage instead of a TLS handshake."""
    import threading

    def drip():
        conn, _ = listener["sock"].accept()
        try:
            conn.sendall(b"\x16\x03\x03\x40\x00")  # a TLS handshake record of 16 KiB ...
            for _ in range(30):
                conn.sendall(b"\x00")  # ... that arrives one byte at a time
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    listener["sock"].settimeout(5)
    threading.Thread(target=drip, daemon=True).start()
    fake_dns.set("media.test", ["127.0.0.1"])
    start = time.monotonic()
    with pytest.raises((MediaTimeoutError, MediaFetchError)):
        load_image(f"https://media.test:{listener['port']}/a.png", LOCAL_OK.replace(fetch_timeout=1.0, read_timeout=0.5))
    assert time.monotonic() - start < 1.8


def test_silent_server_hits_the_read_timeout(media_server):
    media_server.add("/silent.png", lambda h: time.sleep(3))
    start = time.monotonic()
    with pytest.raises(MediaTimeoutError, match="read_timeout"):
        load_image(media_server.url("/silent.png"), LOCAL_OK.replace(read_timeout=0.3))
    assert time.monotonic() - start < 1.5


def _endless(h, content_length=None):
    h.send_response(200)
    h.send_header("Content-Type", "image/png")
    if content_length is not None:
        h.send_header("Content-Length", str(content_length))
    h.end_headers()
    block = b"\0" * 65536
    h.wfile.write(PNG[:100])
    for _ in range(16384):  # up to 1 GiB
        h.wfile.write(block)


def test_endless_body_is_cut_at_the_byte_cap(media_server):
    media_server.add("/endless.png", _endless)
    start = time.monotonic()
    with pytest.raises(MediaTooLargeError, match="over the 1000000-byte limit"):
        load_image(media_server.url("/endless.png"), LOCAL_OK.replace(max_image_bytes=1_000_000))
    assert time.monotonic() - start < 2.0


def test_content_length_lie_small(media_server):
    """Content-Length: 10 with a 1 GiB body: only 10 bytes are read, which are not an image."""
    media_server.add("/lie.png", lambda h: _endless(h, content_length=10))
    start = time.monotonic()
    with pytest.raises(MediaDecodeError):
        load_image(media_server.url("/lie.png"), LOCAL_OK)
    assert time.monotonic() - start < 2.0


def test_declared_oversize_refused_before_reading(media_server):
    media_server.add("/big.png", lambda h: _endless(h, content_length=10**12))
    with pytest.raises(MediaTooLargeError, match="Content-Length"):
        load_image(media_server.url("/big.png"), LOCAL_OK)


def test_oversize_video_download(media_server, make_video):
    data = make_video().read_bytes()
    media_server.add_body("/v.mp4", data, content_type="video/mp4")
    with pytest.raises(MediaTooLargeError):
        read_video(media_server.url("/v.mp4"), LOCAL_OK.replace(max_video_bytes=len(data) - 1), fps=2.0, max_frames=8)


def test_body_shorter_than_content_length(media_server):
    def short(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Content-Length", str(len(PNG) * 2))
        h.end_headers()
        h.wfile.write(PNG)
        h.wfile.flush()
        h.close_connection = True

    media_server.add("/short.png", short)
    with pytest.raises((MediaFetchError, MediaTimeoutError)):
        load_image(media_server.url("/short.png"), LOCAL_OK.replace(read_timeout=1.0))


def test_next_fetch_succeeds_after_a_hostile_one(media_server):
    media_server.add("/endless.png", _endless)
    media_server.add_body("/a.png", PNG)
    with pytest.raises(MediaTooLargeError):
        load_image(media_server.url("/endless.png"), LOCAL_OK.replace(max_image_bytes=100_000))
    assert load_image(media_server.url("/a.png"), LOCAL_OK).size == (12, 10)
