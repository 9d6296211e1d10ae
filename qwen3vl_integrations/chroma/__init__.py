"""Chroma embedding function backed by Qwen3-VL (extra ``chroma``).

::

    import chromadb
    from chromadb.utils.data_loaders import ImageLoader
    from qwen3vl_integrations.chroma import Qwen3VLEmbeddingFunction

    collection = chromadb.PersistentClient("./chroma").create_collection(
        "media", embedding_function=Qwen3VLEmbeddingFunction("Qwen/Qwen3-VL-Embedding-2B"),
        data_loader=ImageLoader())
    collection.add(ids=["t1"], documents=["a cat on a sofa"])
    collection.add(ids=["i1"], uris=["photos/cat.jpg"])
    collection.query(query_texts=["a cat"], n_results=2)

The function maps Chroma's inputs to calls of the core (:mod:`qwen3vl_integrations`); media
loading, batching and prompts all happen there.
"""

from .. import optional_import

optional_import("chromadb")

from .embedding_function import Qwen3VLEmbeddingFunction  # noqa: E402

__all__ = ["Qwen3VLEmbeddingFunction"]
