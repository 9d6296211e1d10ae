"""ServerSettings: every limit and option of ``qwen3vl serve`` in one frozen dataclass.

Each field is also a ``QWEN3VL_<FIELD>`` environment variable (``QWEN3VL_MAX_BODY_BYTES=...``) and a
command-line option (``--max-body-bytes``), except ``api_key``, which is never a command-line value
(``QWEN3VL_API_KEY`` or ``--api-key-file``). Engine settings (pixels, frames, token budget...) are
:class:`~qwen3vl_integrations.core.config.EngineConfig` fields, read by ``EngineConfig.from_env``.
This module imports no web framework, so the command line can build its options from it cheaply.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from ..core.config import env_value
from ..media import MediaPolicy

__all__ = ["ServerSettings", "MiB"]

MiB = 1024 * 1024


def _help(text: str, *, cli: bool = True) -> dict:
    return {"help": text, "cli": cli}


@dataclass(frozen=True)
class ServerSettings:
    """Settings of the HTTP server (defaults are safe for a network-facing deployment)."""

    host: str = field(default="127.0.0.1", metadata=_help("interface to bind (default 127.0.0.1: this machine only)"))
    port: int = field(default=8080, metadata=_help("TCP port (0: any free port, printed at start)"))
    #: bearer key every inference route requires (``None``: no key); never logged, never in /info
    api_key: str | None = field(default=None, repr=False, metadata=_help("bearer API key", cli=False))
    allow_paths: tuple[str, ...] = field(default=(), metadata=_help(
        "directory whose files requests may name as local paths (repeatable; default: no local files)"))
    max_body_bytes: int = field(default=16 * MiB, metadata=_help("largest request body in bytes (413 above)"))
    max_client_batch_size: int = field(default=256, metadata=_help("most inputs in one embedding request (422 above)"))
    max_rerank_documents: int = field(default=1000, metadata=_help("most documents in one rerank request (422 above)"))
    request_timeout: float = field(default=60.0, metadata=_help(
        "seconds a request may wait and run; items not started by then are dropped (504)"))
    max_queue_items: int = field(default=2048, metadata=_help(
        "items queued or running at once across all requests; a request beyond it gets 429 + Retry-After"))
    max_queue_tokens: int = field(default=1_048_576, metadata=_help(
        "estimated prompt tokens queued or running at once across all requests (429 + Retry-After beyond)"))
    cross_request_batching: bool = field(default=True, metadata=_help(
        "let the items of concurrent requests share forward passes (off: each forward pass holds one request's items)"))
    shutdown_grace: float = field(default=30.0, metadata=_help(
        "seconds SIGTERM waits for requests in flight before exiting (new requests get 503 meanwhile)"))
    query_prefix: str | None = field(default=None, metadata=_help(
        "TEI /embed: an input starting with this text (Milvus' search_prompt) is embedded as a query, prefix removed"))
    document_prefix: str | None = field(default=None, metadata=_help(
        "TEI /embed: an input starting with this text (Milvus' ingestion_prompt) is embedded as a document, prefix "
        "removed"))
    served_model_name: str | None = field(default=None, metadata=_help(
        "model name reported in responses and /v1/models (default: the embedding model id)"))
    vectorize_instruction: str | None = field(default=None, metadata=_help(
        "Weaviate /vectorize (multi2vec-clip, multi2vec-bind send no query/document flag): the instruction of every "
        "text, image and video, objects and queries alike (default: the embedder's document-side instruction)"))
    weaviate_open_routes: bool = field(default=False, metadata=_help(
        "answer Weaviate's module routes (/vectorize, /vectors, /rerank with Weaviate's body) without the API key: "
        "multi2vec-clip/-bind, text2vec-transformers and reranker-transformers send no Authorization header. Only "
        "behind a network boundary that admits nothing but Weaviate"))

    def __post_init__(self) -> None:
        if isinstance(self.allow_paths, (str, os.PathLike)):
            object.__setattr__(self, "allow_paths", (os.fspath(self.allow_paths),))
        object.__setattr__(self, "allow_paths", tuple(os.fspath(p) for p in self.allow_paths))
        for name in ("max_body_bytes", "max_client_batch_size", "max_rerank_documents", "max_queue_items",
                     "max_queue_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("request_timeout", "shutdown_grace"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be within [0, 65535], got {self.port}")
        for name in ("query_prefix", "document_prefix", "vectorize_instruction"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)
        if self.vectorize_instruction is not None and not self.vectorize_instruction.strip():
            raise ValueError("vectorize_instruction must not be blank (leave it unset for the document instruction)")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must not be blank (leave it unset to run without a key)")

    def replace(self, **changes) -> ServerSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> ServerSettings:
        """Read ``QWEN3VL_<FIELD>`` variables (an empty one counts as unset); ``overrides`` (e.g.
        command-line values) win.
        ``QWEN3VL_ALLOW_PATHS`` holds directories separated by ``os.pathsep``."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            kind = field_kind(f)
            raw = env_value(f.name.upper(), str, environ=environ)
            if raw is None or not raw.strip():  # unset or empty: the default
                continue
            if kind is tuple:
                values[f.name] = tuple(p for p in raw.split(os.pathsep) if p)
            else:
                values[f.name] = env_value(f.name.upper(), kind, environ=environ)
        values.update(overrides)
        return cls(**values)

    def media_policy(self) -> MediaPolicy:
        """The media policy of requests: https URLs and data URIs only (no plain base64, no http), public
        addresses only; local files only under ``allow_paths``."""
        return MediaPolicy.for_server(allowed_schemes=("https",), allow_base64=False,
                                      allow_local_paths=bool(self.allow_paths), local_roots=self.allow_paths)

    def limits(self) -> dict:
        """Every limit, as shown in ``/info`` (never the API key, never the allowed directories)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("api_key", "host", "port", "served_model_name", "allow_paths", "query_prefix",
                                 "document_prefix", "vectorize_instruction")}
        out["local_paths_allowed"] = bool(self.allow_paths)
        return out


def field_kind(f: dataclasses.Field) -> type:
    """The value type of a settings field: int, float, bool, str or tuple."""
    annotation = str(f.type)
    for name, kind in (("tuple", tuple), ("bool", bool), ("int", int), ("float", float)):
        if annotation.startswith(name):
            return kind
    return str
