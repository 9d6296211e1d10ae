"""The row schema of the Ray stages: which columns hold an item, and which ones the stages add.

Input columns (every one optional; a row's values together make one item, like the core's dict
form). Each form of a medium has its own column, so that every column has one Arrow type (Arrow
turns a ``str`` among ``bytes`` into bytes, and refuses to merge blocks whose types differ):

==============  =========================  ==========================================================
column          Arrow type                 holds
==============  =========================  ==========================================================
``text``        string                     the text (or a list of texts)
``image``       binary                     encoded image bytes, e.g. ``read_binary_files``' ``bytes``
``image_uri``   string                     a path (local, or mounted on every worker), ``file://``,
                                           ``http(s)://`` or ``data:`` URI of an image
``video``       binary                     encoded video file bytes
``video_uri``   string                     a path or URL of a video file
``frames``      list of binary or string   one frame-list video (each frame as ``image`` or ``image_uri``)
``instruction`` string                     the row's own instruction (else the job's, else the default)
==============  =========================  ==========================================================

``image``, ``image_uri``, ``video`` and ``video_uri`` may also hold lists (several images or
videos in one item); an item's videos come first in the prompt, then its images, then its texts.

Every other column (ids, sources, metadata) is passed through unchanged. The stages add:

- ``error_code`` / ``error_message``: ``None`` for an embedded row; for a row that could not be
  embedded, the error's ``code`` attribute (``media_decode``, ``empty``, ``unsupported_input`` ...)
  and its message. Such a row keeps every input column and gets a null vector: no row is dropped.
- the vector column (``vector`` unless told otherwise): a fixed-size list of the precision's type
  (``float32`` ... ``int8``; ``ubinary`` / ``binary``: ``dim / 8`` packed bytes), null on error rows.

Between the CPU stage and the actors a row also carries ``_qwen3vl_prepared``: its item with the
media already decoded (pickled), dropped by the actors.

Rows of the ingestion runner (:mod:`.sync`) hold an ingest ``SourceItem`` instead of input
columns: ``id`` and ``_qwen3vl_item`` (the item, pickled: its ids, source, place and loader),
read by :func:`source_item_input`, which adds the item's ``snippet`` column.
"""

from __future__ import annotations

import pickle
from typing import Any

from qwen3vl_integrations import MultimodalInput
from qwen3vl_integrations.errors import UnsupportedInputError

__all__ = [
    "INPUT_COLUMNS", "ERROR_CODE", "ERROR_MESSAGE", "PREPARED", "DEFAULT_VECTOR_COLUMN", "ITEM", "SNIPPET",
    "row_input", "source_item_input", "error_detail",
]

INPUT_COLUMNS = ("text", "image", "image_uri", "video", "video_uri", "frames", "instruction")
ERROR_CODE, ERROR_MESSAGE = "error_code", "error_message"
PREPARED = "_qwen3vl_prepared"
DEFAULT_VECTOR_COLUMN = "vector"
ITEM, SNIPPET = "_qwen3vl_item", "snippet"


def row_input(row: dict) -> tuple[Any, dict]:
    """The item of one row, and no extra columns.

    A row reader maps a row to ``(item, extra_columns)``; readers of the ingestion sources (PDF
    pages rendered on the CPU stage, with the page's text as an extra ``snippet`` column) plug in
    in place of this one."""
    texts, instruction = _values(row.get("text")), row.get("instruction")
    for name, value in [*(("text", t) for t in texts), ("instruction", instruction)]:
        if value is not None and not isinstance(value, str):
            raise UnsupportedInputError(f"the {name} column must hold strings, got {type(value).__name__}")
    videos = [*_values(row.get("video")), *_values(row.get("video_uri"))]
    if row.get("frames") is not None:
        videos.append(list(row["frames"]))
    item = MultimodalInput(texts=tuple(texts), videos=tuple(videos),
                           images=(*_values(row.get("image")), *_values(row.get("image_uri"))), instruction=instruction)
    return item, {}


def source_item_input(row: dict) -> tuple[Any, dict]:
    """The embedder input of a row holding a pickled ingest ``SourceItem`` (``_qwen3vl_item``),
    loaded here (a PDF page is rendered, a text chunk read), and its ``snippet`` column."""
    payload, snippet = pickle.loads(row[ITEM]).load()
    return payload, {SNIPPET: snippet}


def _values(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def error_detail(error) -> str:
    """The message of a typed error without the ``input[k]: `` prefix of a position in one batch
    (a position inside a Ray batch means nothing to the caller; the row itself is the place)."""
    message, param = str(error), getattr(error, "param", None)
    prefix = f"{param}: " if param else ""
    return message[len(prefix):] if prefix and message.startswith(prefix) else message
