"""Bounded, SSRF-safe HTTP(S) download (stdlib only).

Every hop (the URL and each redirect target) is checked against the MediaPolicy *before* any
connection: scheme, no credentials in the URL, host allow-list, port allow-list, and the
address. Host names are resolved once (``addresses``: numeric spellings normalised, every address
in the answer checked, cloud metadata addresses always refused) and the connection is made to that
validated address, sending the original ``Host`` header and using the host name for TLS SNI and
certificate checks, so a second DNS answer (DNS rebinding) is never used.

Bounded: DNS resolution (``connect_timeout``, in at most ``DNS_LOOKUP_THREADS`` threads), each connect (``connect_timeout``), each socket
read (``read_timeout``), and the whole download including redirects (``fetch_timeout``: a
watchdog shuts the socket down when it expires, so a 1-byte-per-second server cannot stretch
it). The byte cap is enforced while streaming, whatever ``Content-Length`` says. Environment
proxies are ignored (a proxy would defeat address pinning).

Errors: ``MediaPolicyError`` (refused URL/address/redirect), ``MediaTimeoutError``,
``MediaTooLargeError``, ``MediaDecodeError`` (a Content-Type that is clearly not media, e.g.
``text/html``), ``MediaFetchError`` (DNS failure, refused connection, HTTP status, TLS error).
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ..errors import MediaDecodeError, MediaError, MediaFetchError, MediaPolicyError, MediaTimeoutError, MediaTooLargeError
from .addresses import DNS_LOOKUP_THREADS, ResolverPool, check_address, parse_numeric_host, resolve_checked
from .policy import MediaPolicy

__all__ = ["fetch_url", "check_url", "check_address", "parse_numeric_host", "redact_url", "ResolverPool", "DNS_LOOKUP_THREADS"]

logger = logging.getLogger(__name__)

_REDIRECTS = (301, 302, 303, 307, 308)
_BAD_SUBTYPES = ("html", "xml", "json", "javascript", "mpegurl", "dash", "pdf")
_BAD_MAIN_TYPES = ("text", "multipart", "message", "font", "model", "audio")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    ip: str
    path: str


def fetch_url(url: str, policy: MediaPolicy, *, sink, max_bytes: int, kind: str = "image") -> tuple[str | None, int]:
    """Download ``url`` into the writable binary ``sink``; returns ``(content_type, size)``.

    Logs each hop, redirect and refusal at DEBUG, naming URLs by :func:`redact_url` only."""
    if not policy.allow_remote:
        raise MediaPolicyError("remote URLs are not allowed by the media policy")
    start = time.monotonic()
    deadline = start + policy.fetch_timeout
    current = url
    for hop in range(policy.max_redirects + 1):
        where = f"{kind} URL" if hop == 0 else f"{kind} URL (redirect {hop})"
        try:
            target = check_url(current, policy, deadline=deadline, where=where)
            redirected, value = _fetch_once(target, policy, sink, max_bytes, deadline, kind, where)
        except MediaError as exc:
            logger.debug("fetch of %s refused or failed (%s): %s", redact_url(current), exc.code, exc)
            raise
        if not redirected:
            logger.debug("fetched %s: %d bytes in %.2fs after %d redirect(s)", redact_url(current), sink.tell(),
                         time.monotonic() - start, hop)
            return value, sink.tell()
        next_url = urljoin(current, value)
        logger.debug("%s redirects to %s", redact_url(current), redact_url(next_url))
        if target.scheme == "https" and urlsplit(next_url).scheme.lower() == "http":
            logger.debug("redirect from https to http refused")
            raise MediaPolicyError(f"{where}: redirect from https to http is not allowed")
        current = next_url
    logger.debug("fetch of %s refused: more than %d redirects", redact_url(url), policy.max_redirects)
    raise MediaPolicyError(f"{kind} URL: more than {policy.max_redirects} redirects")


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for logs: no credentials, path, query or fragment
    (any of which may carry a token); ``"<malformed URL>"`` when it cannot be parsed."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return "<malformed URL>"
    if not parts.scheme or not host:
        return "<malformed URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}{f':{port}' if port else ''}"


def check_url(url: str, policy: MediaPolicy, *, deadline: float | None = None, where: str = "URL") -> Target:
    """Check ``url`` against ``policy`` and resolve its host once; raises MediaPolicyError."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise MediaPolicyError(f"{where} contains spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port syntax now
    except ValueError:
        raise MediaPolicyError(f"{where} is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in policy.allowed_schemes:
        raise MediaPolicyError(f"{where}: scheme '{scheme}' is not allowed (allowed: {', '.join(policy.allowed_schemes)})")
    if parts.username is not None or parts.password is not None:
        raise MediaPolicyError(f"{where}: credentials in URLs are not allowed")
    host = _normalise_host(parts.hostname or "", where)
    port = parts.port or (443 if scheme == "https" else 80)
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        raise MediaPolicyError(f"{where}: port {port} is not allowed")
    if policy.allowed_hosts and not _host_listed(host, policy.allowed_hosts):
        raise MediaPolicyError(f"{where}: host '{host}' is not in the allowed hosts")
    ip = resolve_checked(host, port, policy, deadline, where)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port, ip=ip, path=path)


def _normalise_host(host: str, where: str) -> str:
    host = host.strip().rstrip(".").lower()
    if not host:
        raise MediaPolicyError(f"{where} has no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise MediaPolicyError(f"{where}: invalid host name") from None
    return host


def _host_listed(host: str, allowed: tuple) -> bool:
    return any(host == a or (a.startswith(".") and (host.endswith(a) or host == a[1:])) for a in allowed)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP connection to a pre-validated IP; ``host`` is only used for the Host header."""

    def __init__(self, target: Target, connect_timeout: float, read_timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=read_timeout)
        self._ip, self._connect_timeout = target.ip, connect_timeout

    def connect(self) -> None:
        self.raw_sock = socket.create_connection((self._ip, self.port), timeout=self._connect_timeout)
        self.raw_sock.settimeout(self.timeout)
        self.sock = self.raw_sock


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS connection to a pre-validated IP; SNI and certificate checks use the host name."""

    def __init__(self, target: Target, connect_timeout: float, read_timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=read_timeout, context=context)
        self._ip, self._connect_timeout, self._tls = target.ip, connect_timeout, context

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), timeout=self._connect_timeout)
        sock.settimeout(self.timeout)
        self.raw_sock = sock  # reachable by the watchdog during the TLS handshake
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _ssl_context(policy: MediaPolicy) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=policy.ca_file) if policy.ca_file else ssl.create_default_context()


def _connection(target: Target, policy: MediaPolicy, deadline: float):
    remaining = max(0.05, deadline - time.monotonic())
    connect_timeout = min(policy.connect_timeout, remaining)
    read_timeout = min(policy.read_timeout, remaining)
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, connect_timeout, read_timeout, _ssl_context(policy))
    return _PinnedHTTPConnection(target, connect_timeout, read_timeout)


class _Watchdog:
    """Shuts the connection's socket down when the fetch deadline passes."""

    def __init__(self, conn, deadline: float) -> None:
        self.conn, self.fired = conn, False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "sock", None) or getattr(self.conn, "raw_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self.timer.cancel()


def _fetch_once(target: Target, policy: MediaPolicy, sink, max_bytes: int, deadline: float, kind: str, where: str) -> tuple[bool, str | None]:
    """One request: ``(True, location)`` for a redirect, else ``(False, content_type)`` after
    writing the body to ``sink``."""
    conn = _connection(target, policy, deadline)
    watchdog = _Watchdog(conn, deadline)
    try:
        conn.request("GET", target.path, headers=_request_headers(policy, kind))
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise MediaFetchError(f"{where}: HTTP {response.status} redirect without a Location")
            return True, location.strip()
        if response.status != 200:
            raise MediaFetchError(f"{where}: HTTP {response.status} {response.reason[:60]}")
        content_type = _check_content_type(response.getheader("Content-Type"), kind, where)
        _check_declared_length(response.getheader("Content-Length"), max_bytes, where)
        sink.seek(0)
        sink.truncate()
        _stream_body(conn, response, sink, max_bytes, policy, deadline, where)
        return False, content_type
    except (MediaPolicyError, MediaFetchError, MediaTooLargeError, MediaDecodeError, MediaTimeoutError):
        raise
    except Exception as exc:
        if watchdog.fired or time.monotonic() >= deadline or isinstance(exc, TimeoutError):
            budget = "fetch_timeout" if watchdog.fired or time.monotonic() >= deadline else "read_timeout"
            raise MediaTimeoutError(f"{where}: download exceeded the {budget}") from None
        raise MediaFetchError(f"{where}: download failed ({type(exc).__name__})") from None
    finally:
        watchdog.cancel()
        conn.close()


def _request_headers(policy: MediaPolicy, kind: str) -> dict:
    accept = "video/*,application/octet-stream;q=0.5" if kind == "video" else "image/*,application/octet-stream;q=0.5"
    return {"User-Agent": policy.user_agent, "Accept": accept, "Accept-Encoding": "identity", "Connection": "close"}


def _check_content_type(value: str | None, kind: str, where: str) -> str | None:
    if not value:
        return None
    mime = value.split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    wrong = main in _BAD_MAIN_TYPES or any(bad in sub for bad in _BAD_SUBTYPES)
    wrong = wrong or (kind == "image" and main == "video")
    if wrong:
        raise MediaDecodeError(f"{where}: server sent Content-Type '{mime[:64]}', which is not {'a video' if kind == 'video' else 'an image'}")
    return mime


def _check_declared_length(value: str | None, max_bytes: int, where: str) -> None:
    if value is None:
        return
    try:
        declared = int(value.strip())
    except ValueError:
        return  # http.client rejects or ignores it; the streaming cap still holds
    if declared > max_bytes:
        raise MediaTooLargeError(f"{where}: Content-Length {declared} is over the {max_bytes}-byte limit")


def _stream_body(conn, response, sink, max_bytes: int, policy: MediaPolicy, deadline: float, where: str) -> None:
    total = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MediaTimeoutError(f"{where}: download exceeded the fetch_timeout")
        if conn.sock is not None:
            conn.sock.settimeout(min(policy.read_timeout, remaining))
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise MediaTooLargeError(f"{where}: body is over the {max_bytes}-byte limit")
        sink.write(chunk)
    if time.monotonic() >= deadline:  # the watchdog shut the socket down: that is a timeout
        raise MediaTimeoutError(f"{where}: download exceeded the fetch_timeout")
    if getattr(response, "length", None):  # read1() does not raise IncompleteRead
        raise MediaFetchError(f"{where}: connection closed {response.length} bytes before the declared Content-Length")
