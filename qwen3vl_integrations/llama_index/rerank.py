"""Qwen3VLRerank: a LlamaIndex node postprocessor that reranks text and image nodes."""

from __future__ import annotations

from typing import Any

from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, ImageNode, MetadataMode, NodeWithScore, QueryBundle

from .. import Qwen3VLReranker

__all__ = ["Qwen3VLRerank", "node_to_input", "query_to_input"]

dispatcher = get_dispatcher(__name__)


def _first_value(metadata: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = metadata.get(key)
        if value is not None and value != "":
            return value
    return None


def node_to_input(node: BaseNode, metadata_mode: MetadataMode = MetadataMode.EMBED,
                  video_keys: tuple[str, ...] = ("video", "video_path")) -> dict:
    """The core input of a node.

    ``ImageNode``: its image (base64 ``image``, else ``image_path``, ``image_url``, else the
    ``file_path`` metadata that ``SimpleDirectoryReader`` sets) plus its own text, if any. Other
    nodes: their content under ``metadata_mode``. Any node: a video named in metadata.
    """
    metadata = node.metadata or {}
    item: dict = {}
    if isinstance(node, ImageNode):
        image = node.image or node.image_path or node.image_url or metadata.get("file_path")
        if image:
            item["image"] = image
        text = node.text or ""
    else:
        text = node.get_content(metadata_mode=metadata_mode)
    if text.strip():
        item["text"] = text
    video = _first_value(metadata, video_keys)
    if video is not None:
        item["video"] = video
    return item


def query_to_input(query_bundle: QueryBundle) -> dict:
    """The core input of a query: its text and, for an image query, ``image_path``."""
    item: dict = {}
    if query_bundle.query_str and query_bundle.query_str.strip():
        item["text"] = query_bundle.query_str
    if query_bundle.image_path:
        item["image"] = query_bundle.image_path
    if not item:
        raise ValueError("the query has neither text nor image_path")
    return item


class Qwen3VLRerank(BaseNodePostprocessor):
    """Qwen3-VL-Reranker as a LlamaIndex node postprocessor.

    Scores every node against the query (text, or a ``QueryBundle`` with ``image_path`` for an image
    query) and returns the ``top_n`` best as new ``NodeWithScore`` objects, best first; nodes are
    never mutated (with ``keep_retrieval_score`` a node copy carries ``metadata["retrieval_score"]``).
    Emits ``ReRankStartEvent`` / ``ReRankEndEvent`` and a ``RERANKING`` callback event.

    Build it from a model id or path (``model=...``) or from a loaded reranker (``reranker=...``).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    model: str = Field(description="Hub id or local path of the Qwen3-VL-Reranker checkpoint.")
    top_n: int | None = Field(default=3, ge=0, description="Most nodes returned (None: all).")
    keep_retrieval_score: bool = Field(default=False, description="Keep the retrieval score in metadata.")
    instruction: str | None = Field(default=None, description="Reranker instruction (None: the model default).")
    metadata_mode: MetadataMode = Field(default=MetadataMode.EMBED, description="How a text node's content is read.")
    video_metadata_keys: tuple[str, ...] = ("video", "video_path")
    model_kwargs: dict[str, Any] = Field(default_factory=dict,
                                         description="Keyword arguments for Qwen3VLReranker.from_pretrained.")

    _reranker: Qwen3VLReranker = PrivateAttr()

    def __init__(self, model: str | None = None, *, reranker: Qwen3VLReranker | None = None, **kwargs: Any):
        if model is None and reranker is None:
            raise ValueError("pass model= (a hub id or local path) or reranker= (a loaded Qwen3VLReranker)")
        if reranker is not None and kwargs.get("model_kwargs"):
            raise ValueError("model_kwargs only apply when loading from model=, not with reranker=")
        super().__init__(model=model or reranker.model_id, **kwargs)
        self._reranker = reranker or Qwen3VLReranker.from_pretrained(model, **self.model_kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "Qwen3VLRerank"

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
        items = [node_to_input(n.node, self.metadata_mode, self.video_metadata_keys) for n in nodes]
        payload = {EventPayload.NODES: nodes, EventPayload.MODEL_NAME: self.model,
                   EventPayload.QUERY_STR: query_bundle.query_str, EventPayload.TOP_K: self.top_n}
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            results = self._reranker.rerank(query_to_input(query_bundle), items, top_k=self.top_n,
                                            instruction=self.instruction)
            reranked = [NodeWithScore(node=self._output_node(nodes[r.index]), score=r.score) for r in results]
            event.on_end(payload={EventPayload.NODES: reranked})
        dispatcher.event(ReRankEndEvent(nodes=reranked))
        return reranked

    def _output_node(self, original: NodeWithScore) -> BaseNode:
        if not self.keep_retrieval_score:
            return original.node
        metadata = {**original.node.metadata, "retrieval_score": original.score}
        return original.node.model_copy(update={"metadata": metadata})
