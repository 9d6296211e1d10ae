"""Qwen3VLReranker: yes/no relevance of (query, document) pairs of any modality."""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from typing import Any, Literal, overload

import torch

from ..errors import InputError, ItemError, NonFiniteOutputError
from ..media import MediaPolicy
from .arguments import check_errors_mode, check_flag, check_instruction, check_timeout, item_list
from .config import DEFAULT_RERANK_INSTRUCTION, EngineConfig
from .dispatcher import preparation_error
from .engine import Engine, wait
from .forward import prefix_kv
from .inputs import MultimodalInput, coerce_input
from .loading import read_head_rows
from .outputs import RerankResult, ScoreOutput
from .processing import PreparedItem, VisualInput
from .prompts import render_content, render_reranker_prompt, reranker_instruction
from .tokens import VISION_END_ID, VISION_START_ID, read_special_tokens

__all__ = ["Qwen3VLReranker", "shared_prefix_length"]


def shared_prefix_length(rows: list[list[int]], query_blocks: int, vision_start: int = VISION_START_ID,
                         vision_end: int = VISION_END_ID) -> int:
    """Length of the token prefix all rows share that can be run once: it leaves at least one token
    in every row, ends outside vision blocks, and holds exactly the query's ``query_blocks`` vision
    blocks (a document image shared by every row stays with the documents). 0 when there is none."""
    first = rows[0]
    length = min(len(r) for r in rows) - 1
    for row in rows[1:]:
        k = 0
        while k < length and row[k] == first[k]:
            k += 1
        length = k
    starts = [i for i in range(length) if first[i] == vision_start]
    if len(starts) > query_blocks:
        length = starts[query_blocks]
    head = first[:length]
    if head.count(vision_start) != query_blocks or head.count(vision_end) != query_blocks:
        return 0
    return length


class Qwen3VLReranker(Engine):
    """Cross-encoder over Qwen3-VL-Reranker checkpoints: score = sigmoid(logit_yes - logit_no).

    Pairs are batched (packed or right-padded, exact under causal attention) through the engine's
    dispatcher, with the pairs of concurrent calls; the query's media are loaded, preprocessed and
    encoded once per call, and the prompt prefix the pairs share runs once and is reused by every
    batch, across concurrent calls with the same text query too. Query and
    document media seen in earlier calls come from the engine's cache (:attr:`cache`).
    """

    default_max_length = 10240

    def __init__(self, model, processor, *, score_weight: torch.Tensor,
                 default_instruction: str = DEFAULT_RERANK_INSTRUCTION, **kwargs):
        super().__init__(model, processor, **kwargs)
        if score_weight.shape != (self.hidden_size,):
            raise ValueError(f"score_weight must have shape ({self.hidden_size},), got {tuple(score_weight.shape)}")
        #: W[yes] - W[no] of the LM head, kept in float32 (two rows instead of the whole head)
        self.score_weight = score_weight.float().to(self.device)
        self.default_instruction = default_instruction

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike = "Qwen/Qwen3-VL-Reranker-2B", *, device=None, dtype=None,
                        attn_implementation: str | None = None, revision: str | None = None,
                        config: EngineConfig | None = None, policy: MediaPolicy | None = None,
                        show_progress: bool = False, **config_overrides) -> Qwen3VLReranker:
        """Load a checkpoint (see :meth:`Qwen3VLEmbedder.from_pretrained`: no environment, silent
        unless ``show_progress``) and the two LM-head rows of ``yes`` and ``no``."""
        path, kwargs, backbone, processor = cls._load(
            model, device=device, dtype=dtype, attn_implementation=attn_implementation, revision=revision,
            config=config, policy=policy, show_progress=show_progress, **config_overrides)
        tokens = kwargs["tokens"]
        yes, no = read_head_rows(path, [tokens.yes, tokens.no])
        return cls(backbone, processor, score_weight=yes - no, **kwargs)

    @classmethod
    def from_model(cls, model, processor, **kwargs) -> Qwen3VLReranker:
        """Build from a loaded ``Qwen3VLForConditionalGeneration`` (its backbone and two head rows)."""
        tokens = kwargs.setdefault("tokens", read_special_tokens(processor.tokenizer, model.config))
        head = model.lm_head.weight.detach()
        return cls(model.model, processor, score_weight=(head[tokens.yes] - head[tokens.no]).float(), **kwargs)

    # -- preparation ----------------------------------------------------------------------------
    def _prepare_query(self, query: Any) -> tuple[MultimodalInput, list[VisualInput], list[VisualInput]]:
        try:
            item = self._checked(coerce_input(query))
            images, videos = self._visuals(item)
        except Exception as exc:
            raise preparation_error(exc, param="query") from exc
        return item, images, videos

    def _prepare_pair(self, query, document: Any, instruction: str | None, truncate: bool | None) -> PreparedItem:
        q_item, q_images, q_videos = query
        doc = self._checked(coerce_input(document))
        d_images, d_videos = self._visuals(doc)
        prompt = render_reranker_prompt(
            q_item, doc, instruction,
            render_content(q_item, [v.tokens for v in q_images], [v.tokens for v in q_videos]),
            render_content(doc, [v.tokens for v in d_images], [v.tokens for v in d_videos]),
            self.default_instruction,
        )
        ids, truncated = self._tokenize(prompt, truncate, self.max_length)
        return PreparedItem(ids, q_images + d_images, q_videos + d_videos, truncated)

    def _prefix_state(self, items: list[PreparedItem], ready: list[PreparedItem], query_images: list[VisualInput],
                      query_videos: list[VisualInput], previous: dict) -> dict:
        """The key/value cache of the prompt prefix (system, instruction, query and the start of
        ``<Document>:``) that every ready pair of the group shares, run once; the previous cache is
        kept while every pair of the batch continues it."""
        rows = [it.input_ids for it in items]
        n = previous.get("length", 0)
        if n and all(len(r) > n and r[:n] == previous["ids"] for r in rows):
            return previous
        blocks = len(query_images) + sum(v.grid_thw[0] for v in query_videos)
        length = shared_prefix_length([it.input_ids for it in ready] or rows, blocks, self.tokens.vision_start,
                                      self.tokens.vision_end)
        if length == 0:
            return {"length": 0}
        prefix = PreparedItem(rows[0][:length], list(query_images), list(query_videos))
        batch, images, videos = self._collate_encoded([prefix])
        kv = prefix_kv(self.model, batch["input_ids"], batch["position_ids"], images, videos, packed=self.packing)
        offset = int(batch["position_ids"][0, 0, -1]) + 1  # the prefix ends with text tokens
        return {"length": length, "ids": rows[0][:length], "kv": kv, "offset": offset,
                "n_images": len(query_images), "n_videos": len(query_videos)}

    def _scores(self, items: list[PreparedItem], prefix: dict) -> torch.Tensor:
        """Scores of a batch of pairs; with a cached prefix only the rest of each pair runs."""
        if prefix.get("length"):
            n = prefix["length"]
            rest = [PreparedItem(it.input_ids[n:], it.images[prefix["n_images"]:], it.videos[prefix["n_videos"]:],
                                 it.truncated, prefix["offset"]) for it in items]
            final = self._pooled(rest, prefix["kv"])
        else:
            final = self._pooled(items)
        return torch.sigmoid(final.float() @ self.score_weight).cpu()

    def _forward_pairs(self, items: list[PreparedItem], state: dict, ready: list[PreparedItem]) -> torch.Tensor:
        prefix = self._prefix_state(items, ready, state["query_images"], state["query_videos"], state.get("prefix", {}))
        state["prefix"] = prefix
        return self._scores(items, prefix)

    # -- public API ------------------------------------------------------------------------------
    def submit_score(self, query: Any, documents: Sequence[Any], *, instruction: str | None = None,
                     truncate: bool | None = None, timeout: float | None = None) -> Future:
        """Queue the pairs of ``query`` and each document; the future's result is a list with one
        :class:`ScoreOutput` or :class:`ItemError` per document, in order.

        A bad argument or a query that is not valid before loading its media raises a typed
        ``InputError`` at once (``param`` names it); a query whose media fail makes the future
        raise; a bad document is an ItemError in its slot. Admission, ``timeout`` and cancelling
        work as for ``Qwen3VLEmbedder.submit_embed``."""
        return self._submit_score(query, documents, instruction, truncate, timeout)

    def _submit_score(self, query, documents, instruction, truncate, timeout, *, fail_fast: bool = False) -> Future:
        check_instruction(instruction)
        check_flag(truncate, "truncate")
        check_timeout(timeout)
        docs = item_list(documents, "documents")
        if not docs:
            done: Future = Future()
            done.set_result([])
            return done
        try:
            q_item = self._checked(coerce_input(query))
        except Exception as exc:
            raise preparation_error(exc, param="query") from exc

        def setup() -> tuple[Hashable, dict]:  # a failure here is the call's, typed as "query" by the dispatcher
            images, videos = self._visuals(q_item)
            prepared = (q_item, images, videos)
            # pairs of calls with the same text query share batches and the prefix cache; a query with
            # media shares them within its own call only
            instruct = reranker_instruction(q_item, instruction, self.default_instruction)  # the prompt's own rule
            group = ("text", instruct, q_item.texts) if not images and not videos else ("media", object())
            return group, {"query": prepared, "query_images": images, "query_videos": videos}

        def prepare(doc: MultimodalInput, context: dict) -> PreparedItem:
            return self._prepare_pair(context["query"], doc, instruction, truncate)

        return self._submit(docs, prepare, self._forward_pairs, _finish_score, fail_fast=fail_fast, timeout=timeout,
                            setup=setup, extra_media=[q_item])

    @overload
    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = ...,
              errors: Literal["raise"] = ..., truncate: bool | None = ...) -> list[float]: ...

    @overload
    def score(self, query: Any, documents: Sequence[Any], instruction: str | None, errors: Literal["return"],
              truncate: bool | None = ...) -> list[float | ItemError]: ...

    @overload
    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = ..., *,
              errors: Literal["return"], truncate: bool | None = ...) -> list[float | ItemError]: ...

    @overload
    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = ..., errors: str = ...,
              truncate: bool | None = ...) -> Any: ...

    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = None, errors: str = "raise",
              truncate: bool | None = None) -> list[float] | list[float | ItemError]:
        """Relevance of each document to the query, in document order (floats in [0, 1]).

        With ``errors="return"`` a document that fails yields an :class:`ItemError` in its place; a
        bad query raises in both modes (``param="query"``).
        """
        check_errors_mode(errors)
        outputs = wait(self._submit_score(query, documents, instruction, truncate, None, fail_fast=errors == "raise"))
        return [o.score if isinstance(o, ScoreOutput) else o for o in outputs]

    def rerank(self, query: Any, documents: Sequence[Any], top_k: int | None = None,
               instruction: str | None = None, truncate: bool | None = None) -> list[RerankResult]:
        """Documents sorted by descending score (ties keep input order), at most ``top_k``."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
            raise InputError(f"top_k must be an int >= 0 or None, got {top_k!r}", param="top_k")
        docs = item_list(documents, "documents")
        scores = self.score(query, docs, instruction=instruction, truncate=truncate)
        ranked = sorted(range(len(docs)), key=lambda i: (-scores[i], i))
        if top_k is not None:
            ranked = ranked[:top_k]
        return [RerankResult(i, scores[i], docs[i]) for i in ranked]

    def as_langchain_compressor(self, top_n: int = 3, **kwargs):
        """A LangChain ``BaseDocumentCompressor`` backed by this reranker (needs the langchain extra)."""
        from ..langchain import Qwen3VLRerank

        return Qwen3VLRerank(reranker=self, top_n=top_n, **kwargs)


def _finish_score(index: int, value: torch.Tensor, prepared: PreparedItem) -> ScoreOutput:
    if not torch.isfinite(value):
        raise NonFiniteOutputError("the model produced a non-finite score")
    return ScoreOutput(float(value), len(prepared), prepared.truncated)
