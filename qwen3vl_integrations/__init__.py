"""Multimodal recall and reranking with Qwen3-VL-Embedding and Qwen3-VL-Reranker for RAG stacks.

The public API: the embedder and reranker, their input and result types, settings, the media
policy and every typed error. Framework and store adapters live in subpackages
(``qwen3vl_integrations.langchain`` ...), imported on demand; docs/architecture.md shows the layers.
"""

from .core import (
    DEFAULT_QUERY_INSTRUCTION,
    PRECISIONS,
    EmbedOutput,
    EngineConfig,
    MultimodalInput,
    Qwen3VLEmbedder,
    Qwen3VLReranker,
    RerankResult,
    ScoreOutput,
    optional_import,
)
from .errors import (
    BackendError,
    CollectionMismatchError,
    ConfigError,
    DimensionMismatchError,
    EmptyInputError,
    EngineClosedError,
    InputError,
    InputTooLongError,
    ItemError,
    MediaDecodeError,
    MediaError,
    MediaFetchError,
    MediaPolicyError,
    MediaTimeoutError,
    MediaTooLargeError,
    ModelError,
    ModelLoadError,
    ModelOverloadedError,
    NonFiniteOutputError,
    Qwen3VLError,
    RequestTimeoutError,
    StoreError,
    StoreLockedError,
    TooLargeForDeviceError,
    UnsupportedInputError,
    UnsupportedMediaError,
)
from .media import DEFAULT_POLICY, MediaPolicy

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "EngineConfig", "Qwen3VLEmbedder", "Qwen3VLReranker", "MultimodalInput", "MediaPolicy", "DEFAULT_POLICY",
    "RerankResult", "EmbedOutput", "ScoreOutput", "PRECISIONS", "DEFAULT_QUERY_INSTRUCTION", "optional_import",
    "Qwen3VLError", "InputError", "EmptyInputError", "InputTooLongError", "UnsupportedInputError", "MediaError",
    "MediaDecodeError", "MediaTooLargeError", "MediaPolicyError", "MediaFetchError", "MediaTimeoutError",
    "UnsupportedMediaError", "ModelError", "ModelLoadError", "BackendError", "NonFiniteOutputError",
    "ModelOverloadedError", "DimensionMismatchError", "StoreLockedError", "StoreError", "CollectionMismatchError",
    "TooLargeForDeviceError", "RequestTimeoutError", "EngineClosedError", "ConfigError", "ItemError",
]
