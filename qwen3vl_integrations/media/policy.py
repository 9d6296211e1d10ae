"""MediaPolicy: what media the library may read, from where, and how much of it.

One frozen object per engine (``Qwen3VLEmbedder.from_pretrained(..., policy=...)``; the adapters
reuse their engine's) governs every image and video it loads. Every limit is checked *before* the
expensive step it protects (bytes before decoding, the image header before pixel allocation, the
video header before demuxing, the frame budgets before decoding frames).

``DEFAULT_POLICY`` is a library default for trusted callers: it reads **any local path** the
process can read and fetches public http(s) URLs. Whoever passes inputs from untrusted parties
chooses a stricter policy: :meth:`MediaPolicy.for_server` (no local paths), or ``local_roots`` /
``allowed_hosts``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

__all__ = ["MediaPolicy", "DEFAULT_POLICY", "DEFAULT_IMAGE_FORMATS", "DEFAULT_VIDEO_FORMATS", "METADATA_ADDRESSES"]

MiB = 1024 * 1024
GiB = 1024 * MiB

#: PIL plugins allowed to open images. Deliberately excludes EPS (runs Ghostscript), PSD, FITS,
#: WMF, PCD, SPIDER and the other rarely-used, lightly-fuzzed parsers.
DEFAULT_IMAGE_FORMATS = ("PNG", "JPEG", "MPO", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "ICO", "TGA", "AVIF", "QOI")

#: cloud metadata endpoints: refused even when ``allow_private_networks`` is true
METADATA_ADDRESSES = ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")

#: FFmpeg demuxers allowed to open videos (``format_whitelist``). HLS, DASH, concat, image
#: sequences and every other demuxer that can open further files or URLs are left out.
DEFAULT_VIDEO_FORMATS = ("mov", "mp4", "matroska", "webm", "avi", "mpegts", "mpeg", "flv", "asf", "ogg", "m4v", "h264", "hevc", "mpegvideo", "ivf", "nut")

_FETCH_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class MediaPolicy:
    """Limits and permissions for loading images and videos.

    Choose one where you build an engine (``Qwen3VLEmbedder.from_pretrained(..., policy=...)``,
    likewise the reranker); adapters built from that engine use it. The defaults
    (``DEFAULT_POLICY``) allow **any local path** the process can read: right for a trusted
    caller's own files, wrong for inputs from untrusted parties, which need
    :meth:`for_server` (or ``local_roots``).

    Sources and permissions
        allow_local_paths: read local files (plain paths, ``pathlib.Path`` and ``file://`` URIs); on
            by default, anywhere the process may read unless ``local_roots`` narrows it.
        local_roots: when non-empty, only files whose *resolved* path (symlinks followed) lies under
            one of these directories may be read. Relative paths are resolved against the current
            working directory; ``~`` is never expanded.
        allow_remote: fetch ``http(s)://`` URLs at all.
        allowed_schemes: remote schemes that may be fetched (a subset of ``("http", "https")``).
        allowed_hosts: when non-empty, only these host names may be fetched (``"example.com"``
            exactly, or ``".example.com"`` for the domain and its subdomains). Applies to every
            redirect hop. Listing a host does not exempt it from the address check.
        allowed_ports: when not ``None``, only these TCP ports may be contacted.
        allow_private_networks: allow loopback, private, link-local, CGNAT, multicast, reserved
            and unique-local addresses (needed for tests or an intranet deployment). Cloud metadata
            addresses (``METADATA_ADDRESSES``) stay refused regardless.
        allow_data_uris / allow_base64: accept ``data:`` URIs / bare base64 strings.

    Sizes
        max_image_bytes / max_video_bytes: encoded size caps (files, downloads, bytes, base64).
        max_image_pixels: width x height ceiling read from the image header before decoding.
        max_frame_pixels: width x height ceiling of one video frame.
        max_video_duration: seconds; max_video_total_frames: frames in the source.
        max_video_frames / max_sample_fps: ceilings on the caller's ``max_frames`` / ``fps``
            (larger requests are clamped and the effective values are reported on the clip).
        max_video_output_bytes: ceiling on the sampled source frames' memory (T x 3 x H x W bytes);
            the effective ``max_frames`` is lowered to fit it. The default (384 MiB) holds the
            contract's 64 frames at 1920x1080; 4K sources get at most 16 frames.
        max_video_pixels: ceiling on what the model computes for one video: sampled frames x the
            pixels of each frame *after* resizing (frames of every size are resized to at least
            131,072 pixels, so small frames are upscaled). The core lowers the effective
            ``max_frames`` to fit it before any frame is decoded, and refuses
            (``MediaTooLargeError``) when two frames do not fit. The default, 16,777,216, is 8,192
            video tokens (the embedder's ``max_length``) and holds the contract's default request
            (64 frames of at most 245,760 pixels); beyond that, 110 to 140 frames fit
            (frames resized to the 131,072-pixel floor).
        max_decoded_frames: frames the decoder may produce in one call (work bound, seeks included).

    Time
        connect_timeout / read_timeout: per connection attempt / per socket read, seconds.
        fetch_timeout: total budget of one download, redirects included (a watchdog closes the
            socket when it expires, so a slow-drip server cannot stretch it).
        video_decode_timeout: total budget of opening, demuxing and decoding one video.
        max_redirects: redirects followed per fetch; each hop is re-checked against this policy.

    Formats
        image_formats: PIL plugins allowed (``DEFAULT_IMAGE_FORMATS``).
        video_formats: FFmpeg demuxers allowed (``DEFAULT_VIDEO_FORMATS``).

    TLS
        ca_file: CA bundle for verifying https servers (``None``: the system's default store).
    """

    allow_local_paths: bool = True
    local_roots: tuple = ()
    allow_remote: bool = True
    allowed_schemes: tuple = _FETCH_SCHEMES
    allowed_hosts: tuple = ()
    allowed_ports: tuple | None = None
    allow_private_networks: bool = False
    allow_data_uris: bool = True
    allow_base64: bool = True
    max_image_bytes: int = 32 * MiB
    max_image_pixels: int = 64_000_000
    max_video_bytes: int = 2 * GiB
    max_frame_pixels: int = 4096 * 4096
    max_video_duration: float = 3 * 3600.0
    max_video_total_frames: int = 1_000_000
    max_video_frames: int = 768
    max_sample_fps: float = 30.0
    max_video_output_bytes: int = 384 * MiB
    max_video_pixels: int = 16 * 1024 * 1024
    max_decoded_frames: int = 250_000
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    fetch_timeout: float = 30.0
    video_decode_timeout: float = 120.0
    max_redirects: int = 5
    image_formats: tuple = DEFAULT_IMAGE_FORMATS
    video_formats: tuple = DEFAULT_VIDEO_FORMATS
    user_agent: str = "qwen3vl-integrations"
    ca_file: str | None = None

    def __post_init__(self) -> None:
        roots = self.local_roots
        if isinstance(roots, (str, os.PathLike)):
            roots = (roots,)
        resolved = tuple(os.path.realpath(os.fspath(r)) for r in roots)
        object.__setattr__(self, "local_roots", resolved)
        schemes = tuple(s.lower() for s in self.allowed_schemes)
        unknown = sorted(set(schemes) - set(_FETCH_SCHEMES))
        if unknown:
            raise ValueError(f"allowed_schemes may only contain {_FETCH_SCHEMES}, got {unknown}")
        object.__setattr__(self, "allowed_schemes", schemes)
        object.__setattr__(self, "allowed_hosts", tuple(h.lower().rstrip(".") for h in self.allowed_hosts))
        if self.allowed_ports is not None:
            object.__setattr__(self, "allowed_ports", tuple(int(p) for p in self.allowed_ports))
        object.__setattr__(self, "image_formats", tuple(f.upper() for f in self.image_formats))
        object.__setattr__(self, "video_formats", tuple(f.lower() for f in self.video_formats))
        self._check_positive()

    def _check_positive(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("max_") and f.name != "max_redirects" and value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
            if f.name.endswith("_timeout") and value <= 0:
                raise ValueError(f"{f.name} must be positive, got {value}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be >= 0, got {self.max_redirects}")
        if self.max_video_frames < 2:
            raise ValueError(f"max_video_frames must be >= 2, got {self.max_video_frames}")

    def max_bytes(self, kind: str) -> int:
        """The byte cap of one ``kind`` ("image" or "video") source: ``max_video_bytes`` or ``max_image_bytes``."""
        return self.max_video_bytes if kind == "video" else self.max_image_bytes

    def replace(self, **changes) -> MediaPolicy:
        """A copy with some fields changed (the policy itself is immutable)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_server(cls, **changes) -> MediaPolicy:
        """The policy for inputs from untrusted callers (a network-facing deployment): no local
        files, public URLs only; ``changes`` override fields (e.g. ``local_roots`` together with
        ``allow_local_paths=True`` to serve files from one directory)."""
        return cls(**{"allow_local_paths": False, **changes})


#: the library default: any local path the process can read, public http(s) URLs, data URIs and
#: base64; for untrusted inputs use ``MediaPolicy.for_server()`` instead
DEFAULT_POLICY = MediaPolicy()
