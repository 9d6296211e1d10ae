"""File extensions by media kind: the one list the loaders, input coercion and ingestion all use."""

from __future__ import annotations

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS"]

#: extensions read as images (any format the loader's PIL plugins in ``DEFAULT_IMAGE_FORMATS`` open)
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".bmp", ".dib", ".gif", ".tif",
                              ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga", ".avif", ".qoi"})

#: extensions read as video files (decoded by PyAV under ``DEFAULT_VIDEO_FORMATS``)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".qt", ".webm", ".mkv", ".avi", ".mpeg", ".mpg", ".mpe", ".m2v", ".wmv", ".asf",
     ".flv", ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".ogv", ".vob", ".divx", ".f4v", ".mj2"}
)
