"""Multimodal recall and reranking with Qwen3-VL-Embedding and Qwen3-VL-Reranker for RAG stacks."""

from .core import *  # noqa: F403
from .core import __all__ as _core_all

__version__ = "0.1.0"
__all__ = ["__version__", *_core_all]
