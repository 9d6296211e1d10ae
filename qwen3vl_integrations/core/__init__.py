"""The model core: inputs, media, prompts, batching, model, outputs (imports no framework)."""

from ..errors import *  # noqa: F403
from ..errors import __all__ as _errors_all
from ..media import DEFAULT_POLICY, MediaPolicy
from ._optional import require as optional_import
from .config import EngineConfig
from .embedder import DEFAULT_QUERY_INSTRUCTION, Qwen3VLEmbedder
from .inputs import MultimodalInput
from .outputs import PRECISIONS, EmbedOutput, RerankResult, ScoreOutput
from .reranker import Qwen3VLReranker

__all__ = [
    "EngineConfig", "Qwen3VLEmbedder", "Qwen3VLReranker", "MultimodalInput", "MediaPolicy", "DEFAULT_POLICY",
    "RerankResult", "EmbedOutput", "ScoreOutput", "PRECISIONS", "DEFAULT_QUERY_INSTRUCTION", "optional_import", *_errors_all,
]
