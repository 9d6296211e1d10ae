"""What a collection records about the vectors in it, and the refusal to mix incompatible ones.

A collection written by this package records, as JSON (``IndexSettings.to_json``), the model
(display id and a content fingerprint of the checkpoint), the vector dim and the preprocessing
settings that change the vectors. Where a sink keeps it is the sink's business (Milvus: the
collection property ``SETTINGS_KEY`` and the description); ``check_compatible`` is the one
refusal every sink applies before its first write.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qwen3vl_integrations.errors import CollectionMismatchError, DimensionMismatchError

logger = logging.getLogger(__name__)

__all__ = ["IndexSettings", "CollectionMismatchError", "model_fingerprint", "check_compatible", "FORMAT",
           "LEGACY_FORMATS", "SETTINGS_KEY"]

#: the record's format: version 2 rows have a per-path id and a ``content_id`` (see ``sources``)
FORMAT = "qwen3vl_integrations.ingest/2"
#: formats of older versions, recognised only to refuse them with a clear message
LEGACY_FORMATS = ("qwen3vl_integrations.milvus/1",)
#: the name under which sinks store the record (a Milvus collection property, a Weaviate class description...)
SETTINGS_KEY = "qwen3vl.settings"
_SAMPLE = 256 * 1024


@dataclass(frozen=True)
class IndexSettings:
    model: str  # display id: hub id, local path or "tiny-random"
    fingerprint: str  # content hash of the checkpoint (same weights at another path -> same value)
    dim: int
    preprocessing: dict = field(default_factory=dict)

    @property
    def settings_hash(self) -> str:
        """Hash of everything that changes a vector: the part of every primary key that is not content."""
        payload = json.dumps([self.fingerprint, self.dim, self.preprocessing], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self), "settings_hash": self.settings_hash}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexSettings | None:
        """The record in ``text``, or None when ``text`` is not one. A record of an older format
        raises CollectionMismatchError (its rows cannot be synced: re-index into a new collection)."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        if data.get("format") in LEGACY_FORMATS:
            raise CollectionMismatchError(
                f"the collection was written by an older version of qwen3vl_integrations (format {data['format']}, "
                "one row per content instead of one per path); index into a new collection, or drop this one")
        if data.get("format") != FORMAT:
            return None
        return cls(str(data["model"]), str(data["fingerprint"]), int(data["dim"]), dict(data.get("preprocessing", {})))

    @classmethod
    def for_embedder(cls, embedder, *, model_name: str | None = None, dim: int | None = None,
                     **ingest_settings) -> IndexSettings:
        """The settings of ``embedder`` at ``dim`` (default: its dim) plus the ingestion settings
        (chunk sizes, PDF dpi) that change which vectors are made."""
        config = embedder.config
        instruction = getattr(embedder, "document_instruction", None) or getattr(embedder, "default_instruction", "")
        preprocessing = {
            "min_pixels": config.min_pixels, "max_pixels": config.max_pixels, "total_pixels": config.total_pixels,
            "fps": config.fps, "max_frames": config.max_frames, "max_length": embedder.max_length,
            "truncate": config.truncate, "document_instruction": instruction, **ingest_settings,
        }
        return cls(model_name or str(embedder.model_id), model_fingerprint(embedder), int(dim or embedder.dim),
                   preprocessing)


def model_fingerprint(embedder) -> str:
    """sha256 over config.json and, for each safetensors file, its size, head and tail bytes
    (cheap on multi-GB checkpoints, and the same for the same weights wherever they live).
    Falls back to the model id when the checkpoint directory is unknown."""
    path = getattr(embedder, "model_path", None)
    if path is None or not Path(path).is_dir():
        return "id:" + str(embedder.model_id)
    digest = hashlib.sha256()
    config = Path(path, "config.json")
    if config.is_file():
        digest.update(config.read_bytes())
    for weights in sorted(Path(path).glob("*.safetensors")):
        size = weights.stat().st_size
        digest.update(str(size).encode())
        with open(weights, "rb") as handle:
            digest.update(handle.read(_SAMPLE))
            handle.seek(max(size - _SAMPLE, 0))
            digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:24]


def check_compatible(label: str, stored_dim: int, recorded: IndexSettings | None, current: IndexSettings,
                     *, check_preprocessing: bool = True, max_dim: int | None = None) -> None:
    """Raise before any write when ``current`` vectors do not belong in the collection named by
    ``label`` (``"collection 'qwen3vl' in ./qwen3vl.db"``). ``max_dim``: the largest vector the
    current model makes, to give the right advice. ``stored_dim`` 0: nothing tells the size (see
    ``sink``), so only the record decides."""
    if recorded is None and stored_dim in (0, current.dim):
        raise CollectionMismatchError(
            f"{label} was not written by qwen3vl_integrations (no settings record); use another collection name")
    if stored_dim != current.dim:
        advice = (f"the model's largest size is {max_dim}: use the model the collection was built with "
                  f"({recorded.model if recorded else 'unknown'}), or another collection"
                  if max_dim is not None and stored_dim > max_dim else
                  f"use another collection, or dim={stored_dim} if the model supports that Matryoshka size")
        raise DimensionMismatchError(
            f"{label} holds {stored_dim}-d vectors but {current.model} produces {current.dim}-d "
            f"vectors ({stored_dim} != {current.dim}); {advice}")
    assert recorded is not None  # a record-less collection of another dim got the DimensionMismatchError
    if recorded.fingerprint != current.fingerprint:
        raise CollectionMismatchError(
            f"{label} holds vectors of model {recorded.model!r} (fingerprint {recorded.fingerprint}); "
            f"refusing to mix in vectors of {current.model!r} (fingerprint {current.fingerprint}). "
            "Use the recorded model or another collection")
    if check_preprocessing and recorded.preprocessing != current.preprocessing:
        keys = sorted(set(recorded.preprocessing) | set(current.preprocessing))
        diffs = [f"{k}: {recorded.preprocessing.get(k)!r} -> {current.preprocessing.get(k)!r}"
                 for k in keys if recorded.preprocessing.get(k) != current.preprocessing.get(k)]
        raise CollectionMismatchError(
            f"{label} was indexed with other preprocessing settings ({'; '.join(diffs)}); "
            "refusing to mix vectors made differently. Use the recorded settings or another collection")
