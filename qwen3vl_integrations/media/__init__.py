"""Bounded, policy-checked loading of images and videos (depends on nothing in the package but ``errors``).

- ``policy``: :class:`MediaPolicy`, what may be read, from where, and how much of it;
- ``fetch`` / ``http``: bytes from paths, ``file://``, data URIs, base64 and http(s) URLs;
- ``image``: fully decoded RGB images (header checks before pixels, EXIF orientation, colour modes);
- ``video`` / ``video_decode``: PyAV decoding of only the sampled frames, within a deadline.
"""

from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from .image import MAX_ASPECT_RATIO, is_video_source, load_image
from .policy import DEFAULT_IMAGE_FORMATS, DEFAULT_POLICY, DEFAULT_VIDEO_FORMATS, MediaPolicy
from .video import VideoClip, read_video

__all__ = [
    "MediaPolicy", "DEFAULT_POLICY", "DEFAULT_IMAGE_FORMATS", "DEFAULT_VIDEO_FORMATS", "VideoClip", "VIDEO_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "MAX_ASPECT_RATIO", "load_image", "read_video", "is_video_source",
]
