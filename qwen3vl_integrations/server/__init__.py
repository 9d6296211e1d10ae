"""``qwen3vl serve``: one HTTP server for Milvus, Weaviate and every OpenAI / Cohere / TEI client.

    from qwen3vl_integrations.server import ServerSettings, create_app, serve

``create_app(embedder=None, reranker=None, settings=ServerSettings(...))`` builds the FastAPI app (to
mount in your own ASGI stack); ``serve(...)`` runs it under uvicorn with a graceful SIGTERM. Both need
the ``server`` extra (``pip install "qwen3vl-integrations[server]"``) and are imported on first use, so
``ServerSettings`` (and the command line that builds its options from it) needs no web framework.
See docs/server.md.
"""

from __future__ import annotations

from .settings import ServerSettings

__all__ = ["create_app", "serve", "bind", "ServerSettings"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("serve", "bind"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
