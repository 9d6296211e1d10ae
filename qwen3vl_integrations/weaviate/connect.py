"""``weaviate://`` and ``weaviates://`` URIs: where a Weaviate is, and a client connected to it.

    weaviate://HOST[:PORT][?grpc_port=P][&grpc_host=H]     plain HTTP (default port 8080, gRPC 50051)
    weaviates://HOST[:PORT][?grpc_port=P][&grpc_host=H]    TLS (default port 443, gRPC 443)

weaviate-client v4 talks REST (schema) and gRPC (objects, searches) to two ports; ``grpc_host``
defaults to ``HOST`` (Weaviate Cloud: ``grpc-HOST``). An API key never goes in the URI (a URI is
printed in reports and logs): pass it as ``api_key`` (the command line reads
``QWEN3VL_WEAVIATE_API_KEY`` or ``--token``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from qwen3vl_integrations import optional_import
from qwen3vl_integrations.errors import InputError, StoreError

__all__ = ["SCHEMES", "WeaviateAddress", "is_weaviate_uri", "parse_uri", "connect"]

#: scheme -> (TLS, default HTTP port, default gRPC port)
SCHEMES = {"weaviate": (False, 8080, 50051), "weaviates": (True, 443, 443)}
_QUERY_KEYS = ("grpc_port", "grpc_host")


@dataclass(frozen=True)
class WeaviateAddress:
    secure: bool
    host: str
    http_port: int
    grpc_host: str
    grpc_port: int


def is_weaviate_uri(uri: str) -> bool:
    return isinstance(uri, str) and urlsplit(uri).scheme.lower() in SCHEMES


def _port(text: str, what: str, uri: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise InputError(f"{uri}: {what} must be a port number (1 to 65535), got {text!r}", param="db")
    return port


def parse_uri(uri: str) -> WeaviateAddress:
    """The address in ``uri``; InputError (naming the part) for anything else in it."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InputError(f"{uri!r} is not a weaviate:// or weaviates:// URI", param="db")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{scheme}://...: put the API key in QWEN3VL_WEAVIATE_API_KEY or --token, not in the URI",
                         param="db")
    if not parts.hostname:
        raise InputError(f"{uri}: no host (weaviate://HOST[:PORT])", param="db")
    if parts.path not in ("", "/") or parts.fragment:
        raise InputError(f"{uri}: a Weaviate URI has no path (weaviate://HOST[:PORT][?grpc_port=P])", param="db")
    secure, http_default, grpc_default = SCHEMES[scheme]
    try:
        http_port = parts.port
    except ValueError:
        http_port = 0
    if http_port == 0:
        raise InputError(f"{uri}: the port must be a number from 1 to 65535", param="db")
    http_port = http_port or http_default
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise InputError(f"{uri}: the query must be grpc_port=P and/or grpc_host=H", param="db") from None
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    repeated = sorted(k for k, v in query.items() if len(v) > 1)
    if unknown or repeated:
        raise InputError(f"{uri}: unknown or repeated query parameter(s) {', '.join(unknown + repeated)} "
                         f"(known: {', '.join(_QUERY_KEYS)})", param="db")
    grpc_port = _port(query["grpc_port"][0], "grpc_port", uri) if "grpc_port" in query else grpc_default
    grpc_host = query["grpc_host"][0] if "grpc_host" in query else parts.hostname
    if not grpc_host:
        raise InputError(f"{uri}: grpc_host is empty", param="db")
    return WeaviateAddress(secure, parts.hostname, http_port, grpc_host, grpc_port)


def connect(uri: str, *, api_key: str | None = None):
    """A ``weaviate.WeaviateClient`` connected to ``uri`` (the caller closes it). StoreError when
    Weaviate cannot be reached or refuses the key; InputError for a malformed URI."""
    address = parse_uri(uri)
    weaviate = optional_import("weaviate")
    from weaviate.classes.init import Auth

    try:
        return weaviate.connect_to_custom(
            http_host=address.host, http_port=address.http_port, http_secure=address.secure,
            grpc_host=address.grpc_host, grpc_port=address.grpc_port, grpc_secure=address.secure,
            auth_credentials=Auth.api_key(api_key) if api_key else None,
            skip_init_checks=True)  # the checks also ask pypi.org for the client's latest version
    except weaviate.exceptions.WeaviateBaseError as exc:
        raise StoreError(f"cannot connect to Weaviate at {uri}: {exc}") from exc
