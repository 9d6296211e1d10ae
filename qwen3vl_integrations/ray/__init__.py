"""Ray Data runner (extra ``ray``): embed Datasets of items on a cluster, one model per actor.

- :func:`embed_dataset`: a Dataset of rows (``text`` / ``image`` / ``video`` / ``instruction``
  columns, see :mod:`.rows`) in, the same rows with a vector column and error fields out.
- :func:`prepare_dataset`: its CPU stage on its own (media read and decoded on Ray tasks).

Ray and pyarrow are imported when a Dataset is transformed, not when this package is imported.
"""

from .embed import EmbedActor, embed_dataset
from .prepare import DECODE_MEMORY, prepare_batch, prepare_dataset
from .rows import DEFAULT_VECTOR_COLUMN, ERROR_CODE, ERROR_MESSAGE, INPUT_COLUMNS, row_input

__all__ = [
    "embed_dataset", "EmbedActor", "prepare_dataset", "prepare_batch", "DECODE_MEMORY", "row_input", "INPUT_COLUMNS",
    "ERROR_CODE", "ERROR_MESSAGE", "DEFAULT_VECTOR_COLUMN",
]
