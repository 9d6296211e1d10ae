"""Typed exceptions: every failure the library reports is one of these.

Each error may carry ``index`` (the position of the offending item in the caller's list) and
``param`` (``"input[3]"``-style path, or the name of a bad argument such as ``"dim"``), and a short
machine-readable ``code`` class attribute (never a prefix of the message) that callers map to
their own status codes (docs/robustness.md lists each code with the HTTP status it maps to). Errors raised for a cause keep it chained (``__cause__``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Qwen3VLError",
    "InputError",
    "EmptyInputError",
    "InputTooLongError",
    "UnsupportedInputError",
    "MediaError",
    "MediaDecodeError",
    "MediaTooLargeError",
    "MediaPolicyError",
    "MediaFetchError",
    "MediaTimeoutError",
    "UnsupportedMediaError",
    "ModelError",
    "ModelLoadError",
    "BackendError",
    "TooLargeForDeviceError",
    "NonFiniteOutputError",
    "ModelOverloadedError",
    "RequestTimeoutError",
    "EngineClosedError",
    "ConfigError",
    "DimensionMismatchError",
    "StoreLockedError",
    "StoreError",
    "CollectionMismatchError",
    "ItemError",
]


class Qwen3VLError(Exception):
    """Base class of every error raised by qwen3vl_integrations."""

    code = "error"
    #: whether the same call may succeed later without any change (overload, a locked store)
    retryable = False

    def __init__(self, message: str, *, index: int | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.index = index
        self.param = param if param is not None else (f"input[{index}]" if index is not None else None)

    def at(self, index: int, param: str | None = None) -> Qwen3VLError:
        """Return a copy of this error attributed to item ``index`` (message prefixed with it)."""
        prefix = param or f"input[{index}]"
        message = self.message if self.message.startswith(prefix) else f"{prefix}: {self.message}"
        clone = self.__class__.__new__(self.__class__)
        Exception.__init__(clone, message)
        clone.__dict__.update(self.__dict__)
        clone.message, clone.index, clone.param = message, index, prefix
        clone.__cause__ = self.__cause__ or self
        return clone

    def __str__(self) -> str:
        return self.message


class InputError(Qwen3VLError, ValueError):
    """The input itself is invalid (before any media is touched)."""

    code = "invalid_input"


class EmptyInputError(InputError):
    code = "empty"


class InputTooLongError(InputError):
    code = "too_long"


class UnsupportedInputError(InputError, TypeError):
    code = "unsupported_input"


class MediaError(Qwen3VLError, ValueError):
    """An image or video could not be used."""

    code = "media_error"


class MediaDecodeError(MediaError):
    code = "media_decode"


class MediaTooLargeError(MediaError):
    code = "media_too_large"


class MediaPolicyError(MediaError):
    code = "media_policy"


class MediaFetchError(MediaError):
    code = "media_fetch"


class MediaTimeoutError(MediaError):
    code = "media_timeout"


class UnsupportedMediaError(MediaError):
    code = "unsupported_media"


class ModelError(Qwen3VLError, RuntimeError):
    code = "backend"


class ModelLoadError(ModelError):
    code = "model_load"


class BackendError(ModelError):
    """The forward pass failed on valid input (the cause is chained)."""

    code = "backend"


class TooLargeForDeviceError(BackendError):
    """An item does not fit in device memory even alone in its forward pass."""

    code = "too_large_for_device"


class NonFiniteOutputError(ModelError):
    code = "non_finite_output"


class ModelOverloadedError(ModelError):
    """The engine's admission queue is full; ``retry_after`` (seconds) estimates when it has room."""

    code = "overloaded"
    retryable = True

    def __init__(self, message: str, *, retry_after: float = 1.0, index: int | None = None, param: str | None = None):
        super().__init__(message, index=index, param=param)
        self.retry_after = float(retry_after)


class RequestTimeoutError(ModelError):
    """A call's deadline passed before all of its items ran; its unstarted items were dropped."""

    code = "timeout"
    retryable = True


class EngineClosedError(ModelError):
    """The engine was closed (``close()``) before or while the call was queued."""

    code = "closed"


class ConfigError(Qwen3VLError, ValueError):
    """An invalid setting: an ``EngineConfig`` field, or a ``QWEN3VL_*`` environment variable (``param``)."""

    code = "invalid_config"


class DimensionMismatchError(Qwen3VLError, ValueError):
    code = "dimension_mismatch"


class StoreLockedError(Qwen3VLError, RuntimeError):
    """A Milvus Lite database is held by another process (one process per data dir); retry later."""

    code = "store_locked"
    retryable = True


class StoreError(Qwen3VLError, RuntimeError):
    """A vector store cannot be reached or refused a write for a reason that retrying will not fix."""

    code = "store_error"


class CollectionMismatchError(Qwen3VLError, ValueError):
    """A collection holds vectors of another model or other preprocessing settings (or was not written
    by this package); writing into it would mix incomparable vectors."""

    code = "collection_mismatch"


@dataclass(frozen=True)
class ItemError:
    """Per-item failure record returned (instead of raised) when ``errors="return"``."""

    index: int
    error: Qwen3VLError

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        return str(self.error)
