"""Haystack 2.x components backed by Qwen3-VL (extra ``haystack``).

- ``Qwen3VLTextEmbedder``: a query string -> ``embedding`` (query side, task instruction);
- ``Qwen3VLDocumentEmbedder``: documents -> copies with ``embedding``; a document whose
  ``meta["file_path"]`` (``file_path_meta_field``) names an image is embedded as that image
  (plus its content as caption), others as their text, all in one vector space;
- ``Qwen3VLRanker``: reranks documents (text and images, read the same way) against a query.

Each component maps Haystack types to calls of the core (:mod:`qwen3vl_integrations`); media
loading, batching and prompts all happen there.
"""

from .. import optional_import

optional_import("haystack")

from .components import Qwen3VLDocumentEmbedder, Qwen3VLRanker, Qwen3VLTextEmbedder  # noqa: E402

__all__ = ["Qwen3VLTextEmbedder", "Qwen3VLDocumentEmbedder", "Qwen3VLRanker"]
