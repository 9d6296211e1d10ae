"""Framework documents as model inputs, and reranking them with a per-document error policy.

Every framework adapter (LangChain, LlamaIndex, Chroma, LanceDB, Haystack) turns its document type
into a model input with :func:`document_input` and reranks with :func:`rerank_documents`, so the
rules below hold in all of them:

- A document's image (video) is the one its framework field gives (``ImageNode.image_path``,
  ``image_resource``...), else the value of the first metadata key in ``image_keys``
  (``video_keys``) that is a usable image (video) reference (:func:`media_reference`): a value that
  names a file of another type by its extension (``notes.txt`` under ``source``, ``clip.mp4``
  under ``image``) is not one.
- With ``base64_text``, a text that is a base64 image or video (or a ``data:`` URI of one) is that
  media, which is how ``add_images`` of several vector stores stores images.
- The text is dropped when it only repeats the media's own path or URL.
- A document whose text is nothing but the name of a media file (``/photos/cat.png``), or that
  declares an image (``expect_image``), and that carries no media reference is refused with an
  :class:`~qwen3vl_integrations.errors.InputError`: scoring the path as text would silently
  degrade; usually the vector store dropped the metadata that held the reference.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from ..errors import InputError, ItemError
from ..media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_base64_image, is_image_bytes, is_video_bytes, is_video_source
from ..media.sniff import base64_head, is_image_object, source_scheme
from .outputs import RerankResult

logger = logging.getLogger(__name__)

__all__ = ["ON_ERROR", "OnError", "check_on_error", "media_reference", "names_media_file", "document_input", "document_label",
           "rerank_documents"]

#: what a reranker adapter does with a document that cannot be scored (unreadable media...):
#: ``drop`` it (with a warning naming it), ``rank_last`` (after every scored one, without a score), or ``raise``
OnError = Literal["drop", "rank_last", "raise"]
ON_ERROR: tuple[str, ...] = get_args(OnError)

_EXTENSIONS = {"image": IMAGE_EXTENSIONS, "video": VIDEO_EXTENSIONS}
_EXTENSION_RE = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_MIN_BASE64_CHARS = 64


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    return on_error


def _base64_kind(text: str) -> str | None:
    """``"image"`` / ``"video"`` when ``text`` is a data URI or a bare base64 string of that kind of
    media (recognised by its first decoded bytes: the media layer's sniffer), else ``None``."""
    if is_base64_image(text):
        return "image"
    if source_scheme(text) == "data":
        return "video" if is_video_source(text) else None
    if len(text) < _MIN_BASE64_CHARS:
        return None  # short strings (words, ids) are never read as base64 media
    head = base64_head(text)
    return "video" if head is not None and is_video_bytes(head) else None


def _extension(text: str) -> str | None:
    """The lower-cased file extension ``text`` names (URL query and fragment ignored), if any."""
    if source_scheme(text) is not None:
        text = text.split("#", 1)[0].split("?", 1)[0]
    match = _EXTENSION_RE.search(text.rstrip("/"))
    return match.group(0).lower() if match else None


def media_reference(value: Any, kind: str, *, strict: bool = False) -> Any:
    """``value`` when it may be read as an image (``kind="image"``) or video (``"video"``), else ``None``.

    Strings and paths: a data URI or base64 string of that kind; a path or URL whose extension is
    one of that kind's; unless ``strict``, a path or URL without an extension (it is tried, and
    fails loudly if it is not one). A string naming a file of another type (``notes.txt``) is
    never a reference. Bytes:
    by their first bytes. PIL images and numpy arrays are images; a list or tuple is a list of
    images, a frame list or a list of videos, as the core reads it.
    """
    if value is None:
        return None
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if isinstance(text, str):
        stripped = text.strip()
        if not stripped:
            return None
        media_kind = _base64_kind(stripped)
        if media_kind is not None or source_scheme(stripped) == "data":
            return value if media_kind == kind else None
        ext = _extension(stripped)
        if ext is None:
            return None if strict else value
        return value if ext in _EXTENSIONS[kind] else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        head = bytes(value[:256])
        return value if (is_video_bytes(head) if kind == "video" else is_image_bytes(head)) else None
    if isinstance(value, (list, tuple)):
        return value if value else None
    if is_image_object(value):
        return value if kind == "image" else None
    return None


def names_media_file(text: str) -> bool:
    """Whether ``text`` is nothing but one path or URL with an image or video extension."""
    stripped = text.strip()
    if not stripped or any(c.isspace() for c in stripped) or source_scheme(stripped) == "data":
        return False
    ext = _extension(stripped)
    return ext is not None and (ext in IMAGE_EXTENSIONS or ext in VIDEO_EXTENSIONS)


def _first_reference(metadata: Mapping[str, Any], keys: Sequence[str], kind: str, strict: bool) -> Any:
    for key in keys:
        value = media_reference(metadata.get(key), kind, strict=strict)
        if value is not None:
            return value
    return None


def document_input(text: str | None, metadata: Mapping[str, Any] | None = None, *, image_keys: Sequence[str] = (),
                   video_keys: Sequence[str] = (), image: Any = None, video: Any = None, base64_text: bool = False,
                   expect_image: bool = False, strict: bool = False, label: str = "the document") -> dict:
    """The core input (``{"text", "image", "video"}``) of a document: see the module docstring.

    ``image`` / ``video`` are media the framework's own fields give (they win over metadata);
    ``strict`` reads metadata values as media only on evidence (an extension, a data URI, base64
    content: see :func:`media_reference`), for keys every document has (``file_path``);
    ``label`` names the document in errors.
    """
    metadata = metadata or {}
    text = text or ""
    if image is None:
        image = _first_reference(metadata, image_keys, "image", strict)
    if video is None:
        video = _first_reference(metadata, video_keys, "video", strict)
    stripped = text.strip()
    if base64_text and image is None and video is None:
        kind = _base64_kind(stripped)
        if kind == "image":
            image, text = stripped, ""
        elif kind == "video":
            video, text = stripped, ""
    if stripped and stripped in {str(m) for m in (image, video) if m is not None}:
        text = ""  # the text is only the media's own path or URL
    if image is None and video is None and (expect_image or names_media_file(stripped)):
        what = "declares an image" if expect_image else f"has only the media file name {stripped[:200]!r} as text"
        keys = tuple(image_keys) + tuple(video_keys)
        raise InputError(f"{label} {what} but carries no media reference (none of the metadata keys {keys} holds "
                         "an image or video); refusing to score it as text. The vector store may have dropped "
                         "that metadata (see the adapter's docs)")
    item: dict = {}
    if text.strip():
        item["text"] = text
    if image is not None:
        item["image"] = image
    if video is not None:
        item["video"] = video
    return item


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def document_label(index: int, item: Mapping[str, Any], doc_id: Any = None) -> str:
    """How warnings and errors name a document: ``documents[3] (id='a', image='/x/cat.png')``."""
    parts = [f"id={doc_id!r}"] if doc_id else []
    parts += [f"{key}={_short(item[key])!r}" for key in ("image", "video") if key in item]
    return f"documents[{index}]" + (f" ({', '.join(parts)})" if parts else "")


def rerank_documents(reranker: Any, query: Any, items: Sequence[Any], *, top_k: int | None = None,
                     instruction: str | None = None, on_error: str = "drop",
                     labels: Sequence[str] | None = None) -> list[RerankResult | ItemError]:
    """Score ``items`` against ``query`` and return them best first (ties keep input order), at most
    ``top_k`` (``None``: all).

    A document that fails (unreadable or refused media...) is handled by ``on_error`` (see
    :data:`ON_ERROR`): dropped or ranked last (an :class:`ItemError` in the list, after every
    scored document), each with a warning naming it (``labels[i]``), or raised. A query that
    fails always raises.
    """
    check_on_error(on_error)
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    if not items or top_k == 0:
        return []
    scores = reranker.score(query, list(items), instruction=instruction, errors="return")
    failures = [s for s in scores if isinstance(s, ItemError)]
    if failures and on_error == "raise":
        raise failures[0].error
    for failure in failures:
        name = labels[failure.index] if labels is not None else f"documents[{failure.index}]"
        action = "dropped" if on_error == "drop" else "ranked last"
        logger.warning("rerank: %s %s: %s (%s)", name, action, failure.message, failure.code)
    scored = sorted((i for i, s in enumerate(scores) if not isinstance(s, ItemError)), key=lambda i: (-scores[i], i))
    ranked: list[RerankResult | ItemError] = [RerankResult(i, scores[i], items[i]) for i in scored]
    if on_error == "rank_last":
        ranked.extend(failures)
    return ranked if top_k is None else ranked[:top_k]
