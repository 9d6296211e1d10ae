"""Ray Data runner (extra ``ray``): the embedder and the ingestion pipeline on a cluster, one model per actor.

- :func:`embed_dataset`: a Dataset of rows (``text`` / ``image`` / ``video`` / ``instruction``
  columns, see :mod:`.rows`) in, the same rows with a vector column and error fields out.
- :func:`prepare_dataset`: its CPU stage on its own (media read and decoded on Ray tasks).
- :func:`sync_on_ray`: ``ingest.sync`` (what ``qwen3vl index --ray`` runs) with the expansion
  (:func:`iter_entries`), decoding, embedding and optionally the writes (:class:`MilvusUpserts`,
  :class:`WeaviateUpserts`, :mod:`.bulk`) on Ray; :func:`describe_model` gives it the model's settings.

Ray and pyarrow are imported when a job runs, not when this package is imported.
"""

from .embed import EmbedActor, embed_dataset
from .prepare import DECODE_MEMORY, prepare_batch, prepare_dataset
from .rows import DEFAULT_VECTOR_COLUMN, ERROR_CODE, ERROR_MESSAGE, INPUT_COLUMNS, row_input, source_item_input
from .sources import iter_entries
from .sync import ModelFacts, describe_model, sync_on_ray
from .write import MilvusUpserts, PrewrittenSink, WeaviateUpserts, WorkerWriter, WriteStage

__all__ = [
    "embed_dataset", "EmbedActor", "prepare_dataset", "prepare_batch", "DECODE_MEMORY", "row_input", "source_item_input",
    "INPUT_COLUMNS", "ERROR_CODE", "ERROR_MESSAGE", "DEFAULT_VECTOR_COLUMN",
    "sync_on_ray", "describe_model", "ModelFacts", "iter_entries",
    "WorkerWriter", "MilvusUpserts", "WeaviateUpserts", "WriteStage", "PrewrittenSink",
]
