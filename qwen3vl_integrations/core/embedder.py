"""Qwen3VLEmbedder: any mix of text, images and video -> one normalised vector."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from ..errors import ItemError, NonFiniteOutputError
from ..media import MediaPolicy
from .config import DEFAULT_EMBED_INSTRUCTION, EngineConfig
from .engine import Engine, check_errors_mode
from .inputs import coerce_input, coerce_inputs
from .outputs import PRECISIONS, check_dim, postprocess
from .processing import SUFFIX_LEN, PreparedItem
from .prompts import render_content, render_embedder_prompt

__all__ = ["Qwen3VLEmbedder", "DEFAULT_QUERY_INSTRUCTION"]

DEFAULT_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."


class Qwen3VLEmbedder(Engine):
    """Dual encoder over Qwen3-VL-Embedding checkpoints.

    >>> emb = Qwen3VLEmbedder.from_pretrained("Qwen/Qwen3-VL-Embedding-2B")   # doctest: +SKIP
    >>> emb.embed(["a cat", {"image": "cat.jpg"}]).shape                     # doctest: +SKIP
    (2, 2048)
    """

    default_max_length = 8192

    def __init__(self, model, processor, *, dim: int | None = None, query_instruction: str = DEFAULT_QUERY_INSTRUCTION,
                 document_instruction: str | None = None, default_instruction: str = DEFAULT_EMBED_INSTRUCTION, **kwargs):
        super().__init__(model, processor, **kwargs)
        self._dim = check_dim(dim, self.hidden_size)
        self.query_instruction = query_instruction
        self.document_instruction = document_instruction
        self.default_instruction = default_instruction

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike = "Qwen/Qwen3-VL-Embedding-2B", *, device=None, dtype=None,
                        attn_implementation: str | None = None, revision: str | None = None,
                        config: EngineConfig | None = None, policy: MediaPolicy | None = None, dim: int | None = None,
                        query_instruction: str = DEFAULT_QUERY_INSTRUCTION, document_instruction: str | None = None,
                        **config_overrides) -> Qwen3VLEmbedder:
        """Load a checkpoint (local directory or hub id). ``device=None`` picks CUDA/bf16 when present,
        else CPU/float32. Extra keyword arguments set EngineConfig fields (``max_frames=32``...)."""
        _, kwargs, backbone, processor = cls._load(
            model, device=device, dtype=dtype, attn_implementation=attn_implementation, revision=revision,
            config=config, policy=policy, **config_overrides)
        return cls(backbone, processor, dim=dim, query_instruction=query_instruction,
                   document_instruction=document_instruction, **kwargs)

    @property
    def dim(self) -> int:
        """Size of the vectors returned by default (the configured Matryoshka size, else hidden size)."""
        return self._dim

    def prepare(self, raw: Any, instruction: str | None = None, truncate: bool | None = None) -> PreparedItem:
        """Load, resize and tokenise one input (no forward pass)."""
        item = coerce_input(raw)
        item.check_not_empty()
        self.preprocessor.check_text(item)
        images, videos = self._visuals(item)
        content = render_content(item, [v.tokens for v in images], [v.tokens for v in videos])
        prompt = render_embedder_prompt(item, instruction, content, self.default_instruction)
        ids, truncated = self._tokenize(prompt, truncate, self.max_length - SUFFIX_LEN)
        return PreparedItem(ids, images, videos, truncated)

    def _pool(self, items) -> torch.Tensor:
        pooled = self._pooled(items).float()  # the last real token is the '\n' after 'assistant'
        return torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu()

    def embed(self, inputs, instruction: str | None = None, dim: int | None = None, precision: str = "float32",
              errors: str = "raise", truncate: bool | None = None, show_progress: bool = False):
        """Embed one input or a list of inputs.

        Returns an array ``(N, dim)`` (``errors="raise"``: the first bad item raises a typed error
        naming its index), or a list of N entries, each a vector or an :class:`ItemError`
        (``errors="return"``). Items with their own ``instruction`` keep it.
        """
        check_errors_mode(errors)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        size = check_dim(dim, self.hidden_size) if dim is not None else self._dim
        items = coerce_inputs(inputs)
        progress = _progress(len(items), show_progress)
        try:
            raw = self._run(items, lambda x: self.prepare(x, instruction, truncate), self._pool, errors, progress)
        finally:
            if progress is not None:
                progress.close()
        out = []
        for index, value in enumerate(raw):
            if isinstance(value, ItemError):
                out.append(value)
                continue
            try:
                out.append(postprocess(value.numpy()[None, :], size, precision)[0])
            except NonFiniteOutputError as exc:
                if errors == "raise":
                    raise exc.at(index) from None
                out.append(ItemError(index, exc.at(index)))
        if errors == "return":
            return out
        return np.stack(out) if out else postprocess(np.zeros((0, self.hidden_size), np.float32), size, precision)

    def embed_queries(self, inputs, instruction: str | None = None, **kwargs):
        """Query side: a task instruction (``instruction``, else the embedder's query instruction)."""
        return self.embed(inputs, instruction=instruction or self.query_instruction, **kwargs)

    def embed_documents(self, inputs, **kwargs):
        """Document side: the default instruction (or the configured document instruction)."""
        return self.embed(inputs, instruction=self.document_instruction, **kwargs)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="item", desc="embedding")
