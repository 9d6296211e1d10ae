"""Bounded, policy-checked loading of images and videos (depends on nothing in the package but ``errors``).

- ``policy``: :class:`MediaPolicy`, what may be read, from where, and how much of it;
- ``fetch`` / ``http``: bytes from paths, ``file://``, data URIs, base64 and http(s) URLs;
- ``sniff``: what a source is (image or video, base64 or not) without decoding it;
- ``image``: fully decoded RGB images (header checks before pixels, EXIF orientation, colour modes);
- ``video`` / ``video_decode``: PyAV decoding of only the sampled frames, within a deadline;
- ``formats``: the one list of image and video file extensions.
"""

from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .http import redact_url
from .image import MAX_ASPECT_RATIO, load_image
from .policy import DEFAULT_IMAGE_FORMATS, DEFAULT_POLICY, DEFAULT_VIDEO_FORMATS, MediaPolicy
from .sniff import is_base64_image, is_image_bytes, is_image_source, is_video_bytes, is_video_source
from .video import VideoClip, read_video

__all__ = [
    "MediaPolicy", "DEFAULT_POLICY", "DEFAULT_IMAGE_FORMATS", "DEFAULT_VIDEO_FORMATS", "VideoClip", "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS", "MAX_ASPECT_RATIO", "load_image", "read_video", "is_video_source", "is_image_source",
    "is_base64_image", "is_image_bytes", "is_video_bytes", "redact_url",
]
