"""The state of one server app: its engines, readiness (a real warm-up forward pass), draining, metrics."""

from __future__ import annotations

import gc
import logging
import os
import threading
from pathlib import PurePath

from ..errors import ItemError
from .errors import ApiError
from .metrics import ServerMetrics
from .settings import ServerSettings

logger = logging.getLogger(__name__)

__all__ = ["ServerState", "public_model_id"]


def public_model_id(model_id: str) -> str:
    """A model id fit for responses: a hub id as is, a local directory by its name only (no server path)."""
    if os.path.isabs(model_id) or model_id.startswith((".", "~")) or "\\" in model_id:
        return PurePath(model_id.replace("\\", "/")).name or "model"
    return model_id


class ServerState:
    """Engines (behind the futures API), health, draining and metrics of one app."""

    def __init__(self, settings: ServerSettings, embedder=None, reranker=None):
        if embedder is None and reranker is None:
            raise ValueError("create_app needs an embedder, a reranker, or both")
        self.settings = settings
        self.embed_engine = self._apply_admission(embedder)
        self.rerank_engine = self._apply_admission(reranker)
        first = embedder if embedder is not None else reranker
        self.model_name = settings.served_model_name or public_model_id(str(first.model_id))
        #: the reranker's name in rerank answers (the served name when the server only reranks)
        self.rerank_model_name = self.model_name
        if reranker is not None and embedder is not None:
            self.rerank_model_name = public_model_id(str(reranker.model_id))
        self.metrics = ServerMetrics()
        for role, engine in (("embedding", self.embed_engine), ("reranker", self.rerank_engine)):
            if engine is not None:
                self.metrics.watch_engine(role, engine)
        self.ready = False
        self.health_detail = "warming up"
        self.draining = False
        self.inflight = 0
        #: request path -> error body style of its family (see errors.ERROR_STYLES)
        self.error_styles: dict[str, str] = {}
        #: "METHOD /path" of the routes open without the API key
        self.public_routes: set[str] = set()
        #: "METHOD /path" of the routes ``weaviate_open_routes`` lets through without the key
        self.keyless_routes: set[str] = set()
        #: every route path (metrics label requests by these; other paths count as "unmatched")
        self.route_paths: set[str] = set()
        self._warm = threading.Event()

    def _apply_admission(self, engine):
        """The engine itself (its futures API), with the server's admission bounds and batching applied."""
        if engine is None:
            return None
        engine.set_admission(max_queue_items=self.settings.max_queue_items,
                             max_queue_tokens=self.settings.max_queue_tokens,
                             cross_caller_batching=self.settings.cross_request_batching)
        return engine

    # -- engines -----------------------------------------------------------------------------------
    def embedding_engine(self):
        if self.embed_engine is None:
            raise ApiError(404, "this server has no embedding model (start it with --model)", code="not_loaded")
        return self.embed_engine

    def reranking_engine(self):
        if self.rerank_engine is None:
            raise ApiError(404, "this server has no reranker model (start it with --reranker-model)",
                           code="not_loaded")
        return self.rerank_engine

    # -- health ------------------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Run real forward passes (text, image and video through the embedder; text and image pairs
        through the reranker); health turns 200 only when they all succeed."""
        from PIL import Image

        image = Image.new("RGB", (64, 64), (200, 120, 40))
        try:
            if self.embed_engine is not None:
                inputs = ["warm-up", {"image": image}, {"video": [image, image]}]
                _check(self.embed_engine.submit_embed(inputs, timeout=None).result(), "embedding")
            if self.rerank_engine is not None:
                docs = ["warm-up document", {"image": image}]
                _check(self.rerank_engine.submit_score("warm-up query", docs, timeout=None).result(), "reranker")
        except Exception as exc:
            self.health_detail = f"warm-up failed: {type(exc).__name__}"
            logger.error("warm-up forward pass failed; /health stays 503: %s", exc)
        else:
            _freeze_heap()
            self.ready, self.health_detail = True, "ok"
            logger.info("warm-up forward passes succeeded; the server is ready")
        finally:
            self._warm.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the warm-up finished (success or not); True when the server is healthy."""
        self._warm.wait(timeout)
        return self.healthy

    @property
    def healthy(self) -> bool:
        return self.ready and not self.draining

    def health_problem(self) -> str:
        return "shutting down" if self.draining else self.health_detail

    def begin_drain(self) -> None:
        """Stop admitting requests (they get 503); requests in flight finish."""
        if not self.draining:
            logger.info("draining: %d request(s) in flight; new requests get 503", self.inflight)
        self.draining = True

    # -- routing -----------------------------------------------------------------------------------
    def error_style(self, scope) -> str:
        """The error body style of a request: its route family's (a family may set it per request,
        e.g. /rerank by body shape), else by path: /v1/* and /v2/* OpenAI-style, the rest TEI-style."""
        chosen = (scope.get("state") or {}).get("error_style")
        if chosen:
            return chosen
        path = scope.get("path", "")
        if path in self.error_styles:
            return self.error_styles[path]
        return "openai" if path.startswith(("/v1/", "/v2/")) else "tei"


def _check(results: list, role: str) -> None:
    for value in results:
        if isinstance(value, ItemError):
            raise RuntimeError(f"{role} warm-up item failed: {value.code}: {value.message}")


def _freeze_heap() -> None:
    """Move the objects alive after warm-up (models, tokenizers, routes) out of the cyclic collector's
    reach: a full collection then scans only what requests allocated. Without it, each gen-2 collection
    walked the whole loaded heap and stalled the event loop for 300-450 ms on the `small` checkpoint,
    which delayed every request arriving meanwhile, 429s included."""
    gc.collect()
    gc.freeze()
