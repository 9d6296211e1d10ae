"""LangChain components backed by Qwen3-VL (extra ``langchain``).

Swap one import to gain image, screenshot and video recall and multimodal reranking::

    from qwen3vl_integrations.langchain import Qwen3VLEmbeddings, Qwen3VLRerank

    embeddings = Qwen3VLEmbeddings(model="Qwen/Qwen3-VL-Embedding-2B")
    compressor = Qwen3VLRerank(model="Qwen/Qwen3-VL-Reranker-2B", top_n=3)

Every class maps LangChain types to calls of the core (:mod:`qwen3vl_integrations`); media
loading, batching and prompts all happen there.
"""

from .. import optional_import

optional_import("langchain_core")

from .embeddings import Qwen3VLEmbeddings  # noqa: E402
from .rerank import Qwen3VLRerank  # noqa: E402
from .retrievers import Qwen3VLMediaRetriever  # noqa: E402

__all__ = ["Qwen3VLEmbeddings", "Qwen3VLRerank", "Qwen3VLMediaRetriever"]
