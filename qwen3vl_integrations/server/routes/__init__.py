"""The route families of the server, one module each; a new protocol is one module plus one line here.

Order matters only where two families would serve the same path (none do).
"""

from __future__ import annotations

from . import cohere, health, openai, rerank, tei, voyage, weaviate

__all__ = ["FAMILIES"]

FAMILIES = (
    health.FAMILY,
    openai.FAMILY,
    cohere.FAMILY,
    rerank.FAMILY,
    tei.FAMILY,
    weaviate.FAMILY,
    voyage.FAMILY,
)
