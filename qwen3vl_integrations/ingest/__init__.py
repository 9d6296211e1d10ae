"""Store-agnostic ingestion: files to rows, a resumable sync pipeline, and the sink a store implements.

This package knows no database. A store adapter (``qwen3vl_integrations.milvus``, and any other)
implements ``Sink`` and reuses everything else; a runner (local loop, Ray) drives the same steps.

- ``walk``: ``iter_files(paths, exclude=, follow_symlinks=)`` -> ``FileRef`` | ``SourceProblem``,
  a walk that no folder stops or hangs (regular files only, symlink policy, walk errors reported).
- ``sources``: ``expand_file(ref, settings_hash, options)`` -> ``FileItems`` (``SourceItem``s with
  ``id`` = one row per path, ``content_id`` = identical content) | ``SourceProblem``; hashing
  bounded by the byte caps. ``chunks.chunk_text``, ``pdf.render_pdf_page``.
- ``settings``: ``IndexSettings`` (what a collection records: model fingerprint, dim,
  preprocessing) and ``check_compatible``.
- ``sink``: ``Sink`` (the protocol), ``Row``, ``StoredVector``.
- ``pipeline``: ``sync(paths, sink, embedder, settings=, options=)``, and its steps for other
  runners: ``prepare_sink``, ``iter_entries``, ``SyncRun`` (``note`` / ``plan`` / ``commit`` /
  ``finish``), ``embed_items``, ``run_batches``; ``ingest`` (items, no pruning); ``remove_paths``.
- ``report``: ``IndexReport`` (``indexed``, ``unchanged``, ``replaced``, ``removed``,
  ``duplicates``, ``failed``, ``skipped``) and ``Failure``.
- ``search``: ``SearchHit``, ``query_input``, ``rerank_hits`` (reranking stored rows, no silent
  substitution).
- ``index``: ``SinkIndex``, the facade a store adapter subclasses (``milvus.MultimodalIndex``,
  ``weaviate.Qwen3VLWeaviate``): ``add`` / ``remove`` / ``search`` / ``check`` over one sink.

Sync semantics (what ``qwen3vl index`` promises): after ``sync(paths, ...)`` the rows whose source
lies under ``paths`` are exactly the items of the files there now, one row per (path, place in the
file), each with the vector of its current content. Rows under other paths are untouched.
"""

from .chunks import chunk_text
from .index import SinkIndex
from .pdf import render_pdf_page
from .pipeline import (
    Embedded,
    Plan,
    SyncRun,
    embed_items,
    ingest,
    iter_entries,
    prepare_sink,
    remove_paths,
    run_batches,
    sync,
)
from .report import COUNTS, Failure, IndexReport
from .search import MAX_SEARCH_LIMIT, SearchHit, query_input, rerank_hits
from .settings import SETTINGS_KEY, CollectionMismatchError, IndexSettings, check_compatible, model_fingerprint
from .sink import MODALITIES, ROW_FIELDS, Row, Sink, StoredVector
from .sources import FileItems, SourceItem, SourceOptions, expand_file, file_digest, item_id, row_id
from .walk import (
    PDF_EXTENSIONS,
    TEXT_EXTENSIONS,
    FileRef,
    SourceProblem,
    absolute,
    count_entries,
    is_under,
    iter_files,
    kind_of,
)

__all__ = [
    "Sink", "Row", "StoredVector", "ROW_FIELDS", "MODALITIES", "SinkIndex",
    "sync", "prepare_sink", "iter_entries", "SyncRun", "Plan", "Embedded", "embed_items", "run_batches", "ingest",
    "remove_paths",
    "IndexReport", "Failure", "COUNTS",
    "IndexSettings", "CollectionMismatchError", "check_compatible", "model_fingerprint", "SETTINGS_KEY",
    "iter_files", "count_entries", "kind_of", "absolute", "is_under", "FileRef", "SourceProblem", "TEXT_EXTENSIONS", "PDF_EXTENSIONS",
    "expand_file", "SourceItem", "FileItems", "SourceOptions", "item_id", "row_id", "file_digest",
    "chunk_text", "render_pdf_page",
    "SearchHit", "query_input", "rerank_hits", "MAX_SEARCH_LIMIT",
]
