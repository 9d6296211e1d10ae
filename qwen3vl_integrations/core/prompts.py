"""Rendering the embedder and reranker prompts exactly as docs/model-contract.md sections 3 and 4 say."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from .config import DEFAULT_EMBED_INSTRUCTION, DEFAULT_RERANK_INSTRUCTION
from .inputs import MultimodalInput

__all__ = [
    "IMAGE_PLACEHOLDER",
    "VIDEO_PLACEHOLDER",
    "CHAT_SUFFIX",
    "RERANK_SYSTEM",
    "embed_instruction",
    "render_content",
    "render_embedder_prompt",
    "render_reranker_prompt",
    "reranker_instruction",
    "expand_image",
    "expand_video",
]

VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"
IMAGE_PAD, VIDEO_PAD = "<|image_pad|>", "<|video_pad|>"
IMAGE_PLACEHOLDER = VISION_START + IMAGE_PAD + VISION_END
VIDEO_PLACEHOLDER = VISION_START + VIDEO_PAD + VISION_END
#: the 5 tokens every prompt ends with: <|im_end|> \n <|im_start|> assistant \n
CHAT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"
RERANK_SYSTEM = (
    'Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
    'Note that the answer can only be "yes" or "no".'
)


def embed_instruction(instruction: str | None, default: str = DEFAULT_EMBED_INSTRUCTION) -> str:
    """The embedder's system text: stripped, '.' appended unless it ends in Unicode punctuation."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    return instruction or default


def render_content(
    item: MultimodalInput,
    image_tokens: Sequence[str] | None = None,
    video_tokens: Sequence[str] | None = None,
) -> str:
    """Videos, then images, then texts, with no separators.

    ``image_tokens``/``video_tokens`` give the expanded token strings of each image/video;
    by default the one-pad placeholders the chat template renders are used.
    """
    videos = video_tokens if video_tokens is not None else [VIDEO_PLACEHOLDER] * len(item.videos)
    images = image_tokens if image_tokens is not None else [IMAGE_PLACEHOLDER] * len(item.images)
    if len(videos) != len(item.videos) or len(images) != len(item.images):
        raise ValueError("one expansion per image and per video is required")
    return "".join(videos) + "".join(images) + "".join(item.texts)


def render_embedder_prompt(item: MultimodalInput, instruction: str | None = None, content: str | None = None,
                           default_instruction: str = DEFAULT_EMBED_INSTRUCTION) -> str:
    """The embedder prompt; the item's own instruction wins over ``instruction``."""
    system = embed_instruction(item.instruction or instruction, default_instruction)
    body = render_content(item) if content is None else content
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{body}{CHAT_SUFFIX}"


def reranker_instruction(query: MultimodalInput, instruction: str | None, default_instruction: str) -> str:
    """The reranker prompt's instruction: the call's, else the query's own, else the default."""
    return instruction or query.instruction or default_instruction


def render_reranker_prompt(query: MultimodalInput, document: MultimodalInput, instruction: str | None = None,
                           query_content: str | None = None, document_content: str | None = None,
                           default_instruction: str = DEFAULT_RERANK_INSTRUCTION) -> str:
    """The reranker prompt (no punctuation rule for its instruction)."""
    instruct = reranker_instruction(query, instruction, default_instruction)
    q = render_content(query) if query_content is None else query_content
    d = render_content(document) if document_content is None else document_content
    return (
        f"<|im_start|>system\n{RERANK_SYSTEM}<|im_end|>\n<|im_start|>user\n"
        f"<Instruct>: {instruct}<Query>:{q}\n<Document>:{d}{CHAT_SUFFIX}"
    )


def expand_image(num_tokens: int) -> str:
    return VISION_START + IMAGE_PAD * num_tokens + VISION_END


def expand_video(timestamps: Sequence[float], tokens_per_group: int) -> str:
    """One ``<t seconds><|vision_start|>pads<|vision_end|>`` block per 2-frame group (4.57 layout)."""
    block = VISION_START + VIDEO_PAD * tokens_per_group + VISION_END
    return "".join(f"<{t:.1f} seconds>{block}" for t in timestamps)
