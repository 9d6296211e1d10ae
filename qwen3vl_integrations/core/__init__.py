"""The model core: inputs, prompts, processing, batching, forward, embedder, reranker, outputs.

It imports no framework, database client or web framework (docs/architecture.md); media loading
is ``qwen3vl_integrations.media``, the errors are ``qwen3vl_integrations.errors`` (both re-exported
here for the historical import paths).
"""

from ..errors import (
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
from ..media import DEFAULT_POLICY, MediaPolicy
from ._optional import require as optional_import
from .config import EngineConfig
from .embedder import DEFAULT_QUERY_INSTRUCTION, Qwen3VLEmbedder
from .inputs import MultimodalInput
from .outputs import PRECISIONS, EmbedOutput, RerankResult, ScoreOutput
from .reranker import Qwen3VLReranker

__all__ = [
    "EngineConfig", "Qwen3VLEmbedder", "Qwen3VLReranker", "MultimodalInput", "MediaPolicy", "DEFAULT_POLICY",
    "RerankResult", "EmbedOutput", "ScoreOutput", "PRECISIONS", "DEFAULT_QUERY_INSTRUCTION", "optional_import",
    "Qwen3VLError", "InputError", "EmptyInputError", "InputTooLongError", "UnsupportedInputError", "MediaError",
    "MediaDecodeError", "MediaTooLargeError", "MediaPolicyError", "MediaFetchError", "MediaTimeoutError",
    "UnsupportedMediaError", "ModelError", "ModelLoadError", "BackendError", "NonFiniteOutputError",
    "ModelOverloadedError", "DimensionMismatchError", "StoreLockedError", "StoreError", "CollectionMismatchError",
    "TooLargeForDeviceError", "RequestTimeoutError", "EngineClosedError", "ConfigError", "ItemError",
]
