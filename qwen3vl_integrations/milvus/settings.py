"""What a collection records about the vectors in it, and the refusal to mix incompatible ones.

A collection written by this package records, as JSON, the model (display id and a content
fingerprint of the checkpoint), the vector dim and the preprocessing settings that change the
vectors. It is stored in the collection description (read by Milvus servers) and in the
collection property ``qwen3vl.settings`` (Milvus Lite 3.x does not keep descriptions).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qwen3vl_integrations import CollectionMismatchError, DimensionMismatchError

logger = logging.getLogger(__name__)

__all__ = ["IndexSettings", "CollectionMismatchError", "model_fingerprint", "check_compatible", "FORMAT"]

FORMAT = "qwen3vl_integrations.milvus/1"
PROPERTY_KEY = "qwen3vl.settings"
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
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
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


def check_compatible(collection: str, stored_dim: int, recorded: IndexSettings | None, current: IndexSettings,
                     *, check_preprocessing: bool = True) -> None:
    """Raise before any write when ``current`` vectors do not belong in the collection."""
    if stored_dim != current.dim:
        raise DimensionMismatchError(
            f"collection {collection!r} holds {stored_dim}-d vectors but {current.model} produces {current.dim}-d "
            f"vectors ({stored_dim} != {current.dim}); use another collection, or dim={stored_dim} if the model "
            "supports that Matryoshka size")
    if recorded is None:
        raise CollectionMismatchError(
            f"collection {collection!r} was not written by qwen3vl_integrations (no settings record); "
            "use another collection name")
    if recorded.fingerprint != current.fingerprint:
        raise CollectionMismatchError(
            f"collection {collection!r} holds vectors of model {recorded.model!r} "
            f"(fingerprint {recorded.fingerprint}); "
            f"refusing to mix in vectors of {current.model!r} (fingerprint {current.fingerprint}). "
            "Use the recorded model or another collection")
    if check_preprocessing and recorded.preprocessing != current.preprocessing:
        keys = sorted(set(recorded.preprocessing) | set(current.preprocessing))
        diffs = [f"{k}: {recorded.preprocessing.get(k)!r} -> {current.preprocessing.get(k)!r}"
                 for k in keys if recorded.preprocessing.get(k) != current.preprocessing.get(k)]
        raise CollectionMismatchError(
            f"collection {collection!r} was indexed with other preprocessing settings ({'; '.join(diffs)}); "
            "refusing to mix vectors made differently. Use the recorded settings or another collection")
