"""Request items -> model inputs: content-part lists, ``{"text","image","video"}`` objects, media sources.

One content-part form serves the OpenAI multimodal extension, Cohere's ``inputs`` and rerank documents::

    [{"type": "text", "text": "a cat"},
     {"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},   # or "image_url": "<url>"
     {"type": "video_url", "video_url": {"url": "https://.../clip.mp4"}}]

Media sources are checked here before any work: ``data:`` URIs and ``https://`` URLs only, local paths
only when the operator named allowed roots (``--allow-path``; the engine's media policy then confines
them to those roots, refuses private addresses and caps sizes while streaming).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from .errors import ApiError, from_validation

__all__ = ["ContentPart", "MediaURL", "parts_input", "object_input", "check_source", "item_input"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaURL(_Strict):
    url: str


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: MediaURL | str


class VideoPart(_Strict):
    type: Literal["video_url"]
    video_url: MediaURL | str


ContentPart = Annotated[TextPart | ImagePart | VideoPart, Field(discriminator="type")]
_PARTS = TypeAdapter(list[ContentPart])


def check_source(url: str, param: str, allow_local: bool) -> str:
    """Refuse every media source but ``data:`` URIs and https URLs (and local paths when allowed)."""
    head = url[:16].lower()
    if head.startswith(("data:", "https://")):
        return url
    scheme = head.split(":", 1)[0] if "://" in url[:24] else ""
    if scheme in ("", "file") and allow_local:
        return url
    what = f"{scheme}:// URLs" if scheme else "local paths"
    raise ApiError(400, f"{param}: {what} are not accepted; send an https URL or a data: URI", code="media_policy",
                   param=param)


def _url(value: MediaURL | str) -> str:
    return value.url if isinstance(value, MediaURL) else value


def parts_input(raw: Any, param: str, allow_local: bool) -> dict:
    """A content-part list -> ``{"text": [...], "image": [...], "video": [...]}`` (a model input)."""
    try:
        parts = _PARTS.validate_python(raw)
    except ValidationError as exc:
        raise from_validation(exc.errors(), param) from None
    out: dict[str, list] = {"text": [], "image": [], "video": []}
    for k, part in enumerate(parts):
        if isinstance(part, TextPart):
            out["text"].append(part.text)
        elif isinstance(part, ImagePart):
            out["image"].append(check_source(_url(part.image_url), f"{param}[{k}].image_url", allow_local))
        else:
            out["video"].append(check_source(_url(part.video_url), f"{param}[{k}].video_url", allow_local))
    return {key: value for key, value in out.items() if value}


_OBJECT_KEYS = ("text", "image", "video")


def object_input(raw: dict, param: str, allow_local: bool) -> dict:
    """``{"text"?, "image"?, "video"?}`` (Cohere/Jina document objects; each a string) -> a model input."""
    unknown = sorted(set(raw) - set(_OBJECT_KEYS) - {"content"})
    if unknown:
        raise ApiError(422, f"{param}: unknown key(s) {unknown}; a document object has 'text', 'image', 'video' "
                            "or 'content' (a content-part list)", code="invalid_input", param=param)
    if "content" in raw:
        if len(raw) > 1:
            raise ApiError(422, f"{param}: 'content' excludes 'text', 'image' and 'video'", code="invalid_input",
                           param=param)
        return parts_input(raw["content"], f"{param}.content", allow_local)
    out: dict[str, Any] = {}
    for key in _OBJECT_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ApiError(422, f"{param}.{key}: must be a string", code="invalid_input", param=f"{param}.{key}")
        out[key] = value if key == "text" else check_source(value, f"{param}.{key}", allow_local)
    return out


def item_input(raw: Any, param: str, allow_local: bool) -> str | dict:
    """One request item: a string (text), a content-part list, or a document object."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        return parts_input(raw, param, allow_local)
    if isinstance(raw, dict):
        return object_input(raw, param, allow_local)
    raise ApiError(422, f"{param}: must be a string, a content-part list or an object, got {type(raw).__name__}",
                   code="invalid_input", param=param)
