"""Host lookups are bounded in threads as well as time; logs name URLs without secrets; the pinned
connections use only public http.client / ssl API (issue 11 items 8 and the logging habit)."""

from __future__ import annotations

import ast
import inspect
import logging
import socket
import threading
import time

import pytest
from PIL import Image

from qwen3vl_integrations import MediaFetchError, MediaPolicyError, MediaTimeoutError
from qwen3vl_integrations.media import MediaPolicy, http, load_image, redact_url
from qwen3vl_integrations.media.addresses import DNS_LOOKUP_THREADS, ResolverPool
from qwen3vl_integrations.media.http import check_url
from tests.unit.conftest import png_bytes

POLICY = MediaPolicy(connect_timeout=0.05)


def dns_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "qwen3vl-dns" and t.is_alive())


@pytest.fixture
def hanging_dns(monkeypatch):
    """getaddrinfo that blocks (as a dead resolver does) until released."""
    release = threading.Event()
    original = socket.getaddrinfo

    def hang(host, port, *args, **kwargs):
        if host.endswith(".hang.test"):
            release.wait(10)
            raise socket.gaierror("released")
        return original(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    yield release
    release.set()
    deadline = time.monotonic() + 5
    while dns_threads() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_hung_lookups_never_hold_more_than_the_pool_size_of_threads(hanging_dns):
    """The old code started one thread per lookup and abandoned it at the timeout: N hung lookups
    left N threads behind. Now at most DNS_LOOKUP_THREADS exist; later lookups fail fast."""
    before = dns_threads()
    for k in range(DNS_LOOKUP_THREADS + 4):
        start = time.monotonic()
        with pytest.raises(MediaTimeoutError, match="timed out"):
            check_url(f"http://h{k}.hang.test/a.png", POLICY)
        assert time.monotonic() - start < 1.0
    assert dns_threads() - before <= DNS_LOOKUP_THREADS
    with pytest.raises(MediaTimeoutError, match="resolver threads are busy"):
        check_url("http://more.hang.test/a.png", POLICY)
    hanging_dns.set()  # the resolver recovers: slots come back as the stuck lookups return
    deadline = time.monotonic() + 5
    while dns_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert dns_threads() == 0
    with pytest.raises(MediaPolicyError, match="loopback"):  # a real lookup runs again
        check_url("http://localhost/a.png", MediaPolicy())


def test_resolver_pool_reports_lookup_failures_and_size(fake_dns):
    def fail(host, port, *args, **kwargs):
        raise socket.gaierror("no such name")

    pool = ResolverPool(size=1)
    assert pool.resolve("localhost", 80, 5.0)
    fake_dns.original = fail
    with pytest.raises(MediaFetchError, match="did not resolve"):
        pool.resolve("name.invalid", 80, 5.0)
    with pytest.raises(ValueError):
        ResolverPool(size=0)


@pytest.mark.parametrize("url,expected", [
    ("https://user:secret@media.test:8443/p/a.png?token=abc#frag", "https://media.test:8443"),
    ("HTTP://Media.Test/a.png?X-Amz-Signature=1", "http://media.test"),
    ("http://[::1]:8080/x", "http://[::1]:8080"),
    ("not a url", "<malformed URL>"),
    ("http://[::1/x", "<malformed URL>"),
])
def test_redact_url_keeps_only_scheme_host_and_port(url, expected):
    assert redact_url(url) == expected


def test_fetch_logs_hops_and_refusals_without_secrets(media_server, caplog):
    media_server.add_body("/a.png", png_bytes(Image.new("RGB", (4, 4))))
    media_server.add_redirect("/r", "/a.png?sig=second-secret")
    caplog.set_level(logging.DEBUG, logger="qwen3vl_integrations.media")
    load_image(media_server.url("/r?token=first-secret"), MediaPolicy(allow_private_networks=True))
    with pytest.raises(MediaPolicyError):
        load_image(media_server.url("/a.png?token=third-secret"), MediaPolicy())
    text = caplog.text
    assert f"redirects to http://127.0.0.1:{media_server.port}" in text and "fetched http://127.0.0.1" in text
    assert "image refused (media_policy)" in text
    for secret in ("first-secret", "second-secret", "third-secret", "/a.png", "/r"):
        assert secret not in text


def test_pinned_connections_use_no_private_attribute_of_http_client():
    """Every ``self._name`` the pinned connections read is one they set themselves (the old code
    read http.client's private ``self._context``)."""
    tree = ast.parse(inspect.getsource(http))
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("_Pinned")):
        attrs = [n for n in ast.walk(cls) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                 and n.value.id == "self" and n.attr.startswith("_")]
        assigned = {a.attr for a in attrs if isinstance(a.ctx, ast.Store)}
        read = {a.attr for a in attrs if isinstance(a.ctx, ast.Load)}
        assert read <= assigned, f"{cls.name} reads {sorted(read - assigned)}"
