"""Qwen3VLEmbedder: any mix of text, images and video -> one normalised vector."""

from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any, Literal, overload

import numpy as np
import torch

from ..errors import ItemError
from ..media import MediaPolicy
from .arguments import check_errors_mode, check_flag, check_instruction, check_timeout, item_list
from .config import DEFAULT_EMBED_INSTRUCTION, EngineConfig
from .engine import Engine, wait
from .inputs import MultimodalInput, coerce_input
from .outputs import EmbedOutput, check_calibration, check_dim, check_precision, postprocess
from .processing import SUFFIX_LEN, PreparedItem
from .prompts import render_content, render_embedder_prompt

__all__ = ["Qwen3VLEmbedder", "DEFAULT_QUERY_INSTRUCTION"]

DEFAULT_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."


class Qwen3VLEmbedder(Engine):
    """Dual encoder over Qwen3-VL-Embedding checkpoints.

    Every call goes through the engine's dispatcher, so concurrent callers (threads, async
    adapters) share forward passes; :meth:`submit_embed` is the non-blocking form.

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
                        show_progress: bool = False, **config_overrides) -> Qwen3VLEmbedder:
        """Load a checkpoint (local directory or hub id). ``device=None`` picks CUDA/bf16 when present,
        else CPU/float32. Extra keyword arguments set EngineConfig fields (``max_frames=32``...); the
        environment is not read (use ``config=EngineConfig.from_env()`` for that). Loading is silent
        unless ``show_progress``."""
        _, kwargs, backbone, processor = cls._load(
            model, device=device, dtype=dtype, attn_implementation=attn_implementation, revision=revision,
            config=config, policy=policy, show_progress=show_progress, **config_overrides)
        return cls(backbone, processor, dim=dim, query_instruction=query_instruction,
                   document_instruction=document_instruction, **kwargs)

    @property
    def dim(self) -> int:
        """Size of the vectors returned by default (the configured Matryoshka size, else hidden size)."""
        return self._dim

    def prepare(self, raw: Any, instruction: str | None = None, truncate: bool | None = None) -> PreparedItem:
        """Load, resize and tokenise one input (no forward pass)."""
        item = self._checked(coerce_input(raw))
        images, videos = self._visuals(item)
        content = render_content(item, [v.tokens for v in images], [v.tokens for v in videos])
        prompt = render_embedder_prompt(item, instruction, content, self.default_instruction)
        ids, truncated = self._tokenize(prompt, truncate, self.max_length - SUFFIX_LEN)
        return PreparedItem(ids, images, videos, truncated)

    def _pool(self, items) -> torch.Tensor:
        pooled = self._pooled(items).float()  # the last real token is the '\n' after 'assistant'
        return torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu()

    def submit_embed(self, inputs, *, instruction: str | None = None, dim: int | None = None, precision: str = "float32",
                     truncate: bool | None = None, timeout: float | None = None,
                     calibration_embeddings: Any = None) -> Future:
        """Queue one input or a list of inputs; the future's result is a list with one
        :class:`EmbedOutput` or :class:`ItemError` per input, in order.

        A bad argument raises a typed ``InputError`` naming it; a bad item is an ItemError in its
        slot. A full queue raises ``ModelOverloadedError`` at once. After ``timeout`` seconds the
        items not run yet are dropped and the future raises ``RequestTimeoutError``;
        ``future.cancel()`` drops the queued items."""
        return self._submit_embed(inputs, instruction, dim, precision, truncate, timeout, calibration_embeddings)

    def _submit_embed(self, inputs, instruction, dim, precision, truncate, timeout, calibration, *,
                      fail_fast: bool = False, on_progress=None) -> Future:
        check_instruction(instruction)
        check_flag(truncate, "truncate")
        check_timeout(timeout)
        precision = check_precision(precision)
        size = check_dim(dim, self.hidden_size) if dim is not None else self._dim
        ranges = check_calibration(calibration, precision, size)
        items = item_list(inputs, "inputs")

        def prepare(item: MultimodalInput, context: dict) -> PreparedItem:
            return self.prepare(item, instruction, truncate)

        def finish(index: int, value: torch.Tensor, prepared: PreparedItem) -> EmbedOutput:
            vector = postprocess(value.numpy()[None, :], size, precision, ranges)[0]
            return EmbedOutput(vector, len(prepared), prepared.truncated, _effective(prepared))

        return self._submit(items, prepare, lambda batch, state, ready: self._pool(batch), finish,
                            fail_fast=fail_fast, timeout=timeout, on_progress=on_progress)

    @overload
    def embed(self, inputs, instruction: str | None = ..., dim: int | None = ..., precision: str = ...,
              errors: Literal["raise"] = ..., truncate: bool | None = ..., show_progress: bool = ..., *,
              calibration_embeddings: Any = ...) -> np.ndarray: ...

    @overload
    def embed(self, inputs, instruction: str | None, dim: int | None, precision: str, errors: Literal["return"],
              truncate: bool | None = ..., show_progress: bool = ..., *,
              calibration_embeddings: Any = ...) -> list[np.ndarray | ItemError]: ...

    @overload
    def embed(self, inputs, instruction: str | None = ..., dim: int | None = ..., precision: str = ..., *,
              errors: Literal["return"], truncate: bool | None = ..., show_progress: bool = ...,
              calibration_embeddings: Any = ...) -> list[np.ndarray | ItemError]: ...

    @overload
    def embed(self, inputs, instruction: str | None = ..., dim: int | None = ..., precision: str = ...,
              errors: str = ..., truncate: bool | None = ..., show_progress: bool = ..., *,
              calibration_embeddings: Any = ...) -> Any: ...

    def embed(self, inputs, instruction: str | None = None, dim: int | None = None, precision: str = "float32",
              errors: str = "raise", truncate: bool | None = None, show_progress: bool = False, *,
              calibration_embeddings: Any = None) -> np.ndarray | list[np.ndarray | ItemError]:
        """Embed one input or a list of inputs.

        Returns an array ``(N, dim)`` (``errors="raise"``: the first bad item raises a typed error
        naming its index), or a list of N entries, each a vector or an :class:`ItemError`
        (``errors="return"``). Items with their own ``instruction`` keep it. ``precision="int8"``
        with ``calibration_embeddings`` (float vectors of the same ``dim``) gives
        sentence-transformers' range-calibrated int8 codes (see ``core/outputs.py``).
        """
        check_errors_mode(errors)
        check_flag(show_progress, "show_progress", optional=False)
        items = item_list(inputs, "inputs")
        progress = _progress(len(items), show_progress)
        try:
            future = self._submit_embed(items, instruction, dim, precision, truncate, None, calibration_embeddings,
                                        fail_fast=errors == "raise", on_progress=progress.update if progress else None)
            outputs = wait(future)
        finally:
            if progress is not None:
                progress.close()
        vectors = [o.vector if isinstance(o, EmbedOutput) else o for o in outputs]
        if errors == "return":
            return vectors
        if vectors:
            return np.stack(vectors)
        return postprocess(np.zeros((0, self.hidden_size), np.float32), self._dim if dim is None else int(dim), precision)

    def embed_queries(self, inputs, instruction: str | None = None, **kwargs):
        """Query side: a task instruction (``instruction``, else the embedder's query instruction)."""
        return self.embed(inputs, instruction=instruction or self.query_instruction, **kwargs)

    def embed_documents(self, inputs, instruction: str | None = None, **kwargs):
        """Document side: ``instruction`` when given, else the configured document instruction (or the
        default one)."""
        chosen = instruction if instruction is not None else self.document_instruction
        return self.embed(inputs, instruction=chosen, **kwargs)


def _effective(prepared: PreparedItem) -> dict:
    """The effective media values of a prepared item, per video (``{"video[0]": {...}}``; images have
    none: see ``Preprocessor._effective``)."""
    return {f"video[{k}]": dict(v.meta["effective"]) for k, v in enumerate(prepared.videos)}


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="item", desc="embedding")
