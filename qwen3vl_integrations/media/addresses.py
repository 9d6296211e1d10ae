"""Host names to checked addresses: the address policy and a bounded resolver (stdlib only).

``resolve_checked`` resolves a host once (numeric spellings such as ``0x7f000001``, ``2130706433``,
``127.1`` and ``0177.0.0.1`` are normalised like the C library would, without a lookup) and
requires *every* address in the answer to pass :func:`check_address`: cloud metadata addresses are
always refused, non-public ones (loopback, private, link-local, CGNAT, multicast, reserved,
unspecified, unique-local; IPv4 embedded in IPv6 is unwrapped) unless ``allow_private_networks``.
Lookups run in a :class:`ResolverPool`, which bounds both their time and their threads.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time

from ..errors import MediaFetchError, MediaPolicyError, MediaTimeoutError
from .policy import METADATA_ADDRESSES, MediaPolicy

__all__ = ["parse_numeric_host", "check_address", "resolve_checked", "ResolverPool", "RESOLVER", "DNS_LOOKUP_THREADS"]

logger = logging.getLogger(__name__)

_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = frozenset(ipaddress.ip_address(a) for a in METADATA_ADDRESSES)
#: most host lookups running at once (see ResolverPool)
DNS_LOOKUP_THREADS = 8


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
    candidates: tuple
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


def resolve_checked(host: str, port: int, policy: MediaPolicy, deadline: float | None, where: str) -> str:
    literal = parse_numeric_host(host)
    if literal is not None:
        check_address(literal, policy, where)
        return str(literal)
    timeout = policy.connect_timeout if deadline is None else max(0.05, min(policy.connect_timeout, deadline - time.monotonic()))
    infos = RESOLVER.resolve(host, port, timeout, where)
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


class ResolverPool:
    """Host lookups with a timeout, in at most ``size`` threads at a time.

    ``socket.getaddrinfo`` cannot be interrupted, so a lookup that outlives its caller's timeout
    keeps running in its (daemon) thread and keeps its slot until the C library returns. While
    every slot is held by such a lookup, new lookups wait for a slot within their own timeout and
    then fail with ``MediaTimeoutError``: stuck lookups never pile up more than ``size`` threads.
    """

    def __init__(self, size: int = DNS_LOOKUP_THREADS) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self._slots = threading.BoundedSemaphore(size)

    def resolve(self, host: str, port: int, timeout: float, where: str = "URL") -> list:
        """``getaddrinfo(host, port, type=SOCK_STREAM)`` within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            logger.debug("lookup of %r not started: all %d resolver threads are busy", host, self.size)
            raise MediaTimeoutError(f"{where}: resolving '{host}' timed out (all {self.size} resolver threads are busy)")
        result: dict = {}
        done = threading.Event()

        def work() -> None:
            try:
                result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                result["error"] = exc
            finally:
                self._slots.release()
                done.set()

        try:
            threading.Thread(target=work, name="qwen3vl-dns", daemon=True).start()
        except BaseException:
            self._slots.release()
            raise
        if not done.wait(max(0.0, deadline - time.monotonic())):
            logger.debug("lookup of %r timed out after %.2fs; its thread keeps a resolver slot until it returns", host, timeout)
            raise MediaTimeoutError(f"{where}: resolving '{host}' timed out")
        if "error" in result:
            raise MediaFetchError(f"{where}: host '{host}' did not resolve")
        return result.get("infos", [])


#: the resolver every fetch uses
RESOLVER = ResolverPool()
