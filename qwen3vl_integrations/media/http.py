"""Bounded, SSRF-safe HTTP(S) download (stdlib only).

Every hop (the URL and each redirect target) is checked against the MediaPolicy *before* any
connection: scheme, no credentials in the URL, host allow-list, port allow-list, and the
address. Host names are resolved once; every address in the answer must be public (unless
``allow_private_networks``) and the connection is made to that validated address, sending the
original ``Host`` header and using the host name for TLS SNI and certificate checks, so a second
DNS answer (DNS rebinding) is never used. Numeric host spellings (``0x7f000001``,
``2130706433``, ``127.1``, ``0177.0.0.1``) are normalised like the C library would before the
check. Cloud metadata addresses are always refused.

Bounded: DNS resolution (``connect_timeout``), each connect (``connect_timeout``), each socket
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
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ..errors import MediaDecodeError, MediaFetchError, MediaPolicyError, MediaTimeoutError, MediaTooLargeError
from .policy import METADATA_ADDRESSES, MediaPolicy

__all__ = ["fetch_url", "check_url", "check_address", "parse_numeric_host"]

logger = logging.getLogger(__name__)

_REDIRECTS = (301, 302, 303, 307, 308)
_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(ipaddress.ip_address(a) for a in METADATA_ADDRESSES)
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
    """Download ``url`` into the writable binary ``sink``; returns ``(content_type, size)``."""
    if not policy.allow_remote:
        raise MediaPolicyError("remote URLs are not allowed by the media policy")
    deadline = time.monotonic() + policy.fetch_timeout
    current = url
    for hop in range(policy.max_redirects + 1):
        where = f"{kind} URL" if hop == 0 else f"{kind} URL (redirect {hop})"
        target = check_url(current, policy, deadline=deadline, where=where)
        redirected, value = _fetch_once(target, policy, sink, max_bytes, deadline, kind, where)
        if not redirected:
            return value, sink.tell()
        next_url = urljoin(current, value)
        if target.scheme == "https" and urlsplit(next_url).scheme.lower() == "http":
            raise MediaPolicyError(f"{where}: redirect from https to http is not allowed")
        current = next_url
    raise MediaPolicyError(f"{kind} URL: more than {policy.max_redirects} redirects")


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
    ip = _resolve_checked(host, port, policy, deadline, where)
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


def parse_numeric_host(host: str):
    """The IP address a numeric host spelling denotes (``127.1``, ``0x7f000001`` ...), else None.

    Raises MediaPolicyError for numeric-looking hosts that are not valid addresses.
    """
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    parts = host.split(".")
    if not all(_NUMERIC_PART.match(p) for p in parts) or len(parts) > 4:
        return None
    try:
        packed = socket.inet_aton(host)  # accepts the legacy forms exactly as the C library does
    except OSError:
        raise MediaPolicyError(f"numeric host '{host[:64]}' is not a valid address") from None
    return ipaddress.IPv4Address(packed)


def check_address(ip, policy: MediaPolicy, where: str = "URL") -> None:
    """Refuse metadata addresses always, and non-public addresses unless the policy allows them."""
    embedded = _embedded_ipv4(ip)
    if embedded is None:
        candidates = (ip,)
    elif ip.ipv4_mapped is not None or ip in _NAT64:
        candidates = (embedded,)  # only a carrier for the IPv4 address
    else:
        candidates = (ip, embedded)  # 6to4 / Teredo: both must pass
    for candidate in candidates:
        if candidate in _METADATA:
            raise MediaPolicyError(f"{where}: host resolves to a cloud metadata address")
        if policy.allow_private_networks:
            continue
        category = _non_public_category(candidate)
        if category:
            raise MediaPolicyError(f"{where}: host resolves to a {category} address, which the media policy refuses")


def _embedded_ipv4(ip):
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _non_public_category(ip) -> str | None:
    checks = (
        ("loopback", ip.is_loopback), ("unspecified", ip.is_unspecified), ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast), ("reserved", ip.is_reserved), ("private", ip.is_private),
        ("site-local", getattr(ip, "is_site_local", False)),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if ip.is_global else "non-public"


def _resolve_checked(host: str, port: int, policy: MediaPolicy, deadline: float | None, where: str) -> str:
    literal = parse_numeric_host(host)
    if literal is not None:
        check_address(literal, policy, where)
        return str(literal)
    timeout = policy.connect_timeout if deadline is None else max(0.05, min(policy.connect_timeout, deadline - time.monotonic()))
    infos = _getaddrinfo(host, port, timeout, where)
    addresses = []
    for info in infos:
        try:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise MediaFetchError(f"{where}: host '{host}' did not resolve")
    for addr in addresses:  # every answer must pass: no mixing a public and a private address
        check_address(addr, policy, where)
    return str(addresses[0])


def _getaddrinfo(host: str, port: int, timeout: float, where: str) -> list:
    result: dict = {}

    def work() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result["error"] = exc

    thread = threading.Thread(target=work, name="qwen3vl-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise MediaTimeoutError(f"{where}: resolving '{host}' timed out")
    if "error" in result:
        raise MediaFetchError(f"{where}: host '{host}' did not resolve")
    return result.get("infos", [])


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
        self._ip, self._connect_timeout = target.ip, connect_timeout

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), timeout=self._connect_timeout)
        sock.settimeout(self.timeout)
        self.raw_sock = sock  # reachable by the watchdog during the TLS handshake
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
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
