"""What a vector store must implement to be a sink of the ingestion pipeline.

A sink is one collection (Milvus), class (Weaviate) or table of rows, each row a ``Row``. The
pipeline (``pipeline.SyncRun``) calls only the methods of ``Sink`` below, always from one thread,
and relies on these guarantees:

- **Read-after-write.** ``existing_ids``, ``vectors_for``, ``rows_under`` and ``count`` see every
  row a previous ``write`` reported as written, and not the rows ``delete`` removed (Milvus:
  Strong consistency).
- **Upsert by id.** Writing a row whose ``id`` is stored replaces it; ids repeated inside one
  ``write`` keep the last row.
- **Per-row failures.** ``write`` never raises for a bad row: it returns ``(row, reason)`` for
  every row it could not store (checked by reading the ids back), and stores the others. It
  raises ``StoreError`` only when the store itself is unusable (unreachable, disk full).
- **Nothing is mixed.** ``describe`` reports the dim and the recorded ``IndexSettings``; the
  pipeline refuses to write (``check_compatible``) before any ``write`` when they differ. A store
  whose vectors have no declared size (Weaviate) reports the size of a stored vector, else the
  recorded one, else 0 (nothing tells it: an empty collection without a record).

``Row.id`` and ``Row.content_id`` are 32 hex characters (``uuid.UUID(hex=row.id)`` is a valid
UUID for stores that key objects by UUID). ``Row.vector`` is a finite float32 vector of the
collection's dim, L2-normalised. ``Row.source`` is a UTF-8 absolute path; a sink that cannot store
a value (too long...) reports that row as failed, it never truncates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .settings import IndexSettings

__all__ = ["Row", "StoredVector", "Sink", "ROW_FIELDS", "MODALITIES"]

#: the stored fields of a row besides ``id`` and ``vector`` (what a search returns)
ROW_FIELDS = ("content_id", "source", "modality", "page", "offset", "snippet", "metadata")
#: the values of ``Row.modality``
MODALITIES = ("text", "image", "pdf_page", "video")


@dataclass(frozen=True)
class Row:
    """One stored item."""

    id: str
    content_id: str
    vector: np.ndarray
    source: str
    modality: str  # "text" | "image" | "video" | "pdf_page"
    page: int = 0
    offset: int = 0
    snippet: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StoredVector:
    """A stored vector and snippet of some content, reused for the same content at another path."""

    vector: np.ndarray
    snippet: str


@runtime_checkable
class Sink(Protocol):
    """The store side of the pipeline. ``label`` names it in messages (``"collection 'x' in ./qwen3vl.db"``)."""

    label: str

    def exists(self) -> bool:
        """Whether the collection exists."""
        ...

    def describe(self) -> tuple[int, IndexSettings | None]:
        """(vector dim, recorded settings or None when the collection was not written by this package)."""
        ...

    def create(self, settings: IndexSettings) -> None:
        """Create the collection for ``settings.dim`` vectors, recording ``settings``, with its vector index."""
        ...

    def ensure_index(self) -> bool:
        """Create the vector index if it is missing (a run killed after creating the collection) and
        make the collection searchable; True when something was repaired."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` that is stored."""
        ...

    def vectors_for(self, content_ids: Sequence[str]) -> dict[str, StoredVector]:
        """A stored vector (and its snippet) for each of ``content_ids`` that any row holds."""
        ...

    def write(self, rows: Sequence[Row]) -> list[tuple[Row, str]]:
        """Upsert ``rows``; ``(row, reason)`` for each row not stored (see the module docstring)."""
        ...

    def rows_under(self, roots: Sequence[str]) -> Iterator[tuple[str, str]]:
        """``(id, source)`` of every row whose source is one of ``roots`` or lies under one (absolute
        paths). Extra rows are allowed (callers re-check the source); missing ones are not."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete the rows of ``ids`` (unknown ids are ignored); returns how many were asked for."""
        ...

    def count(self) -> int:
        """Rows in the collection (an exact count, not statistics)."""
        ...
