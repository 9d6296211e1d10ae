"""LlamaIndex nodes and queries as core inputs (the rules: :mod:`qwen3vl_integrations.core.documents`)."""

from __future__ import annotations

from typing import Any

from llama_index.core.schema import BaseNode, ImageNode, MediaResource, MetadataMode, Node, QueryBundle

from ..core.documents import document_input

__all__ = ["node_to_input", "node_has_media", "query_to_input"]

DEFAULT_VIDEO_KEYS = ("video", "video_path")


def _resource(resource: MediaResource | None) -> Any:
    """The media a ``MediaResource`` holds: its data (base64, as a data URI when the type is known),
    else its path, else its URL."""
    if resource is None:
        return None
    if resource.data:
        payload = resource.data.decode("ascii")  # LlamaIndex keeps resource data base64-encoded
        return f"data:{resource.mimetype};base64,{payload}" if resource.mimetype else payload
    if resource.path is not None:
        return resource.path
    return str(resource.url) if resource.url is not None else None


def node_has_media(node: BaseNode) -> bool:
    """Whether a node carries an image or video of its own (``ImageNode``, or ``image_resource`` /
    ``video_resource`` on a generic node such as ``Document`` / ``ImageDocument``)."""
    if isinstance(node, ImageNode):
        return True
    return isinstance(node, Node) and (node.image_resource is not None or node.video_resource is not None)


def node_to_input(node: BaseNode, metadata_mode: MetadataMode = MetadataMode.EMBED,
                  video_keys: tuple[str, ...] = DEFAULT_VIDEO_KEYS, image_keys: tuple[str, ...] = (),
                  label: str = "the node") -> dict:
    """The core input of a node.

    ``ImageNode``: its image (base64 ``image``, else ``image_path``, ``image_url``, else the
    ``file_path`` metadata that ``SimpleDirectoryReader`` sets) plus its own text (caption), if any.
    A generic node (``Document``, ``ImageDocument``...) with ``image_resource`` / ``video_resource``:
    that media plus its ``text_resource`` text. Other nodes: their content under ``metadata_mode``.
    Any node: an image or video named in metadata (``image_keys`` / ``video_keys``). A node that
    declares an image but holds none is refused.
    """
    image = video = None
    expect_image = False
    keys = tuple(image_keys)
    if isinstance(node, ImageNode):
        image = node.image or node.image_path or node.image_url or None
        text = node.text or ""
        expect_image, keys = True, keys + ("file_path",)
    elif node_has_media(node):
        assert isinstance(node, Node)
        image, video = _resource(node.image_resource), _resource(node.video_resource)
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        expect_image = node.image_resource is not None
    else:
        text = node.get_content(metadata_mode=metadata_mode)
    return document_input(text, node.metadata, image_keys=keys, video_keys=video_keys, image=image, video=video,
                          expect_image=expect_image, label=label)


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
