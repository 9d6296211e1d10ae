"""LlamaIndex components backed by Qwen3-VL (extra ``llamaindex``).

Swap one import to gain image, screenshot and video recall and multimodal reranking::

    from qwen3vl_integrations.llama_index import Qwen3VLEmbedding, Qwen3VLRerank

    embed_model = Qwen3VLEmbedding(model_name="Qwen/Qwen3-VL-Embedding-2B")
    index = MultiModalVectorStoreIndex.from_documents(docs, embed_model=embed_model,
                                                      image_embed_model=embed_model)
    reranker = Qwen3VLRerank(model="Qwen/Qwen3-VL-Reranker-2B", top_n=3)

Every class maps LlamaIndex types to calls of the core (:mod:`qwen3vl_integrations`); media
loading, batching and prompts all happen there.
"""

from .. import optional_import

optional_import("llama_index.core")

from .embeddings import Qwen3VLEmbedding  # noqa: E402
from .rerank import Qwen3VLRerank  # noqa: E402

__all__ = ["Qwen3VLEmbedding", "Qwen3VLRerank"]
