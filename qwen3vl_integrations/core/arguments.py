"""Checks of an engine call's arguments and items: a bad argument raises a typed ``InputError``
naming it; a bad item becomes the typed error that names its index, in its slot."""

from __future__ import annotations

import math
from typing import Any

from ..errors import InputError, Qwen3VLError
from .inputs import MultimodalInput, coerce_input, coerce_inputs
from .jobs import preparation_error

__all__ = ["check_errors_mode", "check_instruction", "check_flag", "check_timeout", "item_list", "coerce_item"]


def check_errors_mode(errors: Any) -> None:
    if errors not in ("raise", "return"):
        raise InputError(f"errors must be 'raise' or 'return', got {errors!r}", param="errors")


def check_instruction(instruction: Any, param: str = "instruction") -> None:
    if instruction is not None and not isinstance(instruction, str):
        raise InputError(f"{param} must be a str or None, got {type(instruction).__name__}", param=param)


def check_flag(value: Any, param: str, optional: bool = True) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        raise InputError(f"{param} must be True, False{' or None' if optional else ''}, got {value!r}", param=param)


def check_timeout(timeout: Any) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise InputError(f"timeout must be a positive number of seconds or None, got {timeout!r}", param="timeout")


def item_list(value: Any, param: str) -> list:
    """The items of a call's ``inputs`` / ``documents`` argument (one item or an iterable of items);
    anything else raises a typed error naming the argument."""
    try:
        return coerce_inputs(value)
    except Qwen3VLError as exc:
        err = type(exc)(exc.message, param=param)
        raise err from exc


def coerce_item(index: int, raw: Any) -> MultimodalInput | Qwen3VLError:
    """One caller item as a checked MultimodalInput, or the typed error naming it."""
    try:
        item = coerce_input(raw)
        check_instruction(item.instruction, "instruction")
        return item
    except Exception as exc:  # the per-item error boundary
        return preparation_error(exc, index)
