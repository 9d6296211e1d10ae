"""Qwen3VLReranker: yes/no relevance of (query, document) pairs of any modality."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import ItemError, NonFiniteOutputError, Qwen3VLError
from ..media import MediaPolicy
from .config import DEFAULT_RERANK_INSTRUCTION, EngineConfig
from .engine import Engine, check_errors_mode
from .forward import prefix_kv
from .inputs import MultimodalInput, coerce_input, coerce_inputs
from .loading import read_head_rows
from .outputs import RerankResult
from .processing import PreparedItem, VisualInput
from .prompts import render_content, render_reranker_prompt

__all__ = ["Qwen3VLReranker"]

YES_ID, NO_ID = 9693, 2152
VISION_START_ID, VISION_END_ID = 151652, 151653


def shared_prefix_length(rows: list[list[int]], query_blocks: int) -> int:
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
    starts = [i for i in range(length) if first[i] == VISION_START_ID]
    if len(starts) > query_blocks:
        length = starts[query_blocks]
    head = first[:length]
    if head.count(VISION_START_ID) != query_blocks or head.count(VISION_END_ID) != query_blocks:
        return 0
    return length


class Qwen3VLReranker(Engine):
    """Cross-encoder over Qwen3-VL-Reranker checkpoints: score = sigmoid(logit_yes - logit_no).

    Pairs are batched with right padding (exact under causal attention); the query's media are loaded,
    preprocessed and encoded once per call, and the prompt prefix all pairs share runs once. Query and
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
                        **config_overrides) -> Qwen3VLReranker:
        path, kwargs, backbone, processor = cls._load(
            model, device=device, dtype=dtype, attn_implementation=attn_implementation, revision=revision,
            config=config, policy=policy, **config_overrides)
        yes, no = read_head_rows(path, [YES_ID, NO_ID])
        return cls(backbone, processor, score_weight=yes - no, **kwargs)

    @classmethod
    def from_model(cls, model, processor, **kwargs) -> Qwen3VLReranker:
        """Build from a loaded ``Qwen3VLForConditionalGeneration`` (its backbone and two head rows)."""
        head = model.lm_head.weight.detach()
        return cls(model.model, processor, score_weight=(head[YES_ID] - head[NO_ID]).float(), **kwargs)

    # -- preparation ----------------------------------------------------------------------------
    def _prepare_query(self, query: Any) -> tuple[MultimodalInput, list[VisualInput], list[VisualInput]]:
        try:
            item = coerce_input(query)
            item.check_not_empty()
            self.preprocessor.check_text(item)
            images, videos = self._visuals(item)
        except Qwen3VLError as exc:
            raise exc.at(0, "query") from None
        return item, images, videos

    def _prepare_pair(self, query, document: Any, instruction: str | None, truncate: bool | None) -> PreparedItem:
        q_item, q_images, q_videos = query
        doc = coerce_input(document)
        doc.check_not_empty()
        self.preprocessor.check_text(doc)
        d_images, d_videos = self._visuals(doc)
        prompt = render_reranker_prompt(
            q_item, doc, instruction,
            render_content(q_item, [v.tokens for v in q_images], [v.tokens for v in q_videos]),
            render_content(doc, [v.tokens for v in d_images], [v.tokens for v in d_videos]),
            self.default_instruction,
        )
        ids, truncated = self._tokenize(prompt, truncate, self.max_length)
        return PreparedItem(ids, q_images + d_images, q_videos + d_videos, truncated)

    def _prefix_state(self, items: list[PreparedItem], query_images: list[VisualInput],
                      query_videos: list[VisualInput], previous: dict) -> dict:
        """Run the prompt prefix every pair of the window shares (system, instruction, query and the
        start of ``<Document>:``) once, and keep its key/value cache for the window's batches; the
        previous window's cache is kept when every pair of this window continues it."""
        rows = [it.input_ids for it in items]
        n = previous.get("length", 0)
        if n and all(len(r) > n and r[:n] == previous["ids"] for r in rows):
            return previous
        blocks = len(query_images) + sum(v.grid_thw[0] for v in query_videos)
        length = shared_prefix_length(rows, blocks)
        if length == 0:
            return {"length": 0}
        prefix = PreparedItem(rows[0][:length], list(query_images), list(query_videos))
        batch, images, videos = self._collate_encoded([prefix])
        kv = prefix_kv(self.model, batch["input_ids"], batch["position_ids"], images, videos)
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

    # -- public API ------------------------------------------------------------------------------
    def score(self, query: Any, documents: Sequence[Any], instruction: str | None = None, errors: str = "raise",
              truncate: bool | None = None) -> list:
        """Relevance of each document to the query, in document order (floats in [0, 1]).

        With ``errors="return"`` a document that fails yields an :class:`ItemError` in its place.
        """
        check_errors_mode(errors)
        docs = coerce_inputs(documents)
        if not docs:
            return []
        prepared_query = self._prepare_query(query)
        prefix: dict = {}

        def on_window(items: list[PreparedItem]) -> None:
            nonlocal prefix
            prefix = self._prefix_state(items, *prepared_query[1:], prefix)

        raw = self._run(docs, lambda d: self._prepare_pair(prepared_query, d, instruction, truncate),
                        lambda items: self._scores(items, prefix), errors, on_window=on_window)
        out: list = []
        for index, value in enumerate(raw):
            if isinstance(value, ItemError):
                out.append(value)
            elif not torch.isfinite(value):
                exc = NonFiniteOutputError("the model produced a non-finite score").at(index)
                if errors == "raise":
                    raise exc
                out.append(ItemError(index, exc))
            else:
                out.append(float(value))
        return out

    def rerank(self, query: Any, documents: Sequence[Any], top_k: int | None = None,
               instruction: str | None = None, truncate: bool | None = None) -> list[RerankResult]:
        """Documents sorted by descending score (ties keep input order), at most ``top_k``."""
        if top_k is not None and top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        docs = coerce_inputs(documents)
        scores = self.score(query, docs, instruction=instruction, truncate=truncate)
        ranked = sorted(range(len(docs)), key=lambda i: (-scores[i], i))
        if top_k is not None:
            ranked = ranked[:top_k]
        return [RerankResult(i, scores[i], docs[i]) for i in ranked]

    def as_langchain_compressor(self, top_n: int = 3, **kwargs):
        """A LangChain ``BaseDocumentCompressor`` backed by this reranker (needs the langchain extra)."""
        from ..langchain import Qwen3VLRerank

        return Qwen3VLRerank(reranker=self, top_n=top_n, **kwargs)
