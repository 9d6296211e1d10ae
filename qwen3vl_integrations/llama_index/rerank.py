"""Qwen3VLRerank: a LlamaIndex node postprocessor that reranks text and image nodes."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from .. import Qwen3VLReranker
from ..core.documents import OnError, document_label, rerank_documents
from ..errors import ItemError
from .nodes import DEFAULT_VIDEO_KEYS, node_to_input, query_to_input

__all__ = ["Qwen3VLRerank", "node_to_input", "query_to_input"]

dispatcher = get_dispatcher(__name__)



class Qwen3VLRerank(BaseNodePostprocessor):
    """Qwen3-VL-Reranker as a LlamaIndex node postprocessor.

    Scores every node against the query (text, or a ``QueryBundle`` with ``image_path`` for an image
    query) and returns the ``top_n`` best as new ``NodeWithScore`` objects, best first; nodes are
    never mutated (with ``keep_retrieval_score`` a node copy carries ``metadata["retrieval_score"]``).
    Emits ``ReRankStartEvent`` / ``ReRankEndEvent`` and a ``RERANKING`` callback event.

    A node that cannot be scored (a moved image file...) is handled by ``on_error``: dropped
    (default) or ranked last (score ``None``), each with a logged warning naming it, or ``"raise"``.

    Build it from a model id or path (``model=...``) or from a loaded reranker (``reranker=...``).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: str = Field(description="Hub id or local path of the Qwen3-VL-Reranker checkpoint.")
    top_n: int | None = Field(default=3, ge=0, description="Most nodes returned (None: all).")
    keep_retrieval_score: bool = Field(default=False, description="Keep the retrieval score in metadata.")
    instruction: str | None = Field(default=None, description="Reranker instruction (None: the model default).")
    metadata_mode: MetadataMode = Field(default=MetadataMode.EMBED, description="How a text node's content is read.")
    video_metadata_keys: tuple[str, ...] = DEFAULT_VIDEO_KEYS
    image_metadata_keys: tuple[str, ...] = ()
    on_error: OnError = Field(default="drop", description="What to do with a node that cannot be scored.")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Keyword arguments for Qwen3VLReranker.from_pretrained.")

    _reranker: Qwen3VLReranker = PrivateAttr()

    def __init__(self, model: str | None = None, *, reranker: Qwen3VLReranker | None = None, **kwargs: Any):
        if reranker is not None:
            if kwargs.get("model_kwargs"):
                raise ValueError("model_kwargs only apply when loading from model=, not with reranker=")
            super().__init__(**{"model": model or reranker.model_id, **kwargs})
            self._reranker = reranker
        elif model is None:
            raise ValueError("pass model= (a hub id or local path) or reranker= (a loaded Qwen3VLReranker)")
        else:
            super().__init__(**{"model": model, **kwargs})
            self._reranker = Qwen3VLReranker.from_pretrained(model, **self.model_kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLRerank"

    def __setstate__(self, state: dict[str, Any]) -> None:
        # pydantic's own: LlamaIndex's re-runs __init__, which would load the model again instead of
        # keeping the unpickled (shared) one
        BaseModel.__setstate__(self, state)

    @property
    def reranker(self) -> Qwen3VLReranker:
        """The core reranker (share it with other components)."""
        return self._reranker

    def _postprocess_nodes(self, nodes: list[NodeWithScore],
                           query_bundle: QueryBundle | None = None) -> list[NodeWithScore]:
        top_n = len(nodes) if self.top_n is None else self.top_n
        dispatcher.event(ReRankStartEvent(query=query_bundle, nodes=nodes, top_n=top_n, model_name=self.model))
        if query_bundle is None:
            raise ValueError("a query is needed to rerank: pass query_str or query_bundle")
        if not nodes:
            dispatcher.event(ReRankEndEvent(nodes=[]))
            return []
        items = [node_to_input(n.node, self.metadata_mode, self.video_metadata_keys, self.image_metadata_keys,
                               label=document_label(i, {}, n.node.node_id)) for i, n in enumerate(nodes)]
        labels = [document_label(i, item, n.node.node_id) for i, (item, n) in enumerate(zip(items, nodes))]
        payload: dict[str, Any] = {EventPayload.NODES: nodes, EventPayload.MODEL_NAME: self.model,
                   EventPayload.QUERY_STR: query_bundle.query_str, EventPayload.TOP_K: self.top_n}
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            ranked = rerank_documents(self._reranker, query_to_input(query_bundle), items, top_k=self.top_n,
                                      instruction=self.instruction, on_error=self.on_error, labels=labels)
            reranked = [NodeWithScore(node=self._output_node(nodes[r.index]),
                                      score=None if isinstance(r, ItemError) else r.score) for r in ranked]
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    def _output_node(self, original: NodeWithScore) -> BaseNode:
        if not self.keep_retrieval_score:
            return original.node
        metadata = {**original.node.metadata, "retrieval_score": original.score}
        return original.node.model_copy(update={"metadata": metadata})
