"""Token-budget batching of length-sorted items, preparation windows, padding, and failure splitting."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from ..errors import BackendError, Qwen3VLError, TooLargeForDeviceError
from .processing import PreparedItem, VisualInput

logger = logging.getLogger(__name__)

__all__ = ["plan_batches", "collate", "pack", "run_with_split", "forward_error", "window_bounds", "to_device", "FIRST_WINDOW"]

R = TypeVar("R")


def plan_batches(lengths: Sequence[int], token_budget: int, max_items: int, min_fill: float = 0.0,
                 packed: bool = False) -> list[list[int]]:
    """Group item indices into batches, longest first, so that rows x longest row <= token_budget
    (an item longer than the budget gets a batch of its own) and real tokens fill at least
    ``min_fill`` of the padded batch (padding is pure waste where batching buys no parallelism).
    ``packed`` batches (rows laid end to end, no padding) count real tokens against the budget instead."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        rows = len(current) + 1
        size = real + lengths[i] if packed else rows * longest
        if current and (size > token_budget or len(current) >= max_items
                        or (not packed and real + lengths[i] < min_fill * rows * longest)):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        batches.append(current)
    return batches


def collate(items: Sequence[PreparedItem], pad_id: int, padding_side: str,
            device: torch.device) -> tuple[dict, list[VisualInput], list[VisualInput]]:
    """Pad ids (left or right), build the attention mask and M-RoPE position ids and the vision grids;
    return the tensors with the batch's images and videos in sequence order."""
    rows, width = len(items), max(len(it) for it in items)
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((rows, width), dtype=torch.long)
    position_ids = torch.zeros((3, rows, width), dtype=torch.long)
    for r, item in enumerate(items):
        n = len(item)
        cols = slice(width - n, width) if padding_side == "left" else slice(0, n)
        input_ids[r, cols] = torch.tensor(item.input_ids, dtype=torch.long)
        attention_mask[r, cols] = 1
        position_ids[:, r, cols] = item.positions()
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    images = [v for it in items for v in it.images]
    videos = [v for it in items for v in it.videos]
    if images:
        batch["image_grid_thw"] = torch.tensor([v.grid_thw for v in images], dtype=torch.long)
    if videos:
        batch["video_grid_thw"] = torch.tensor([v.grid_thw for v in videos], dtype=torch.long)
    return {k: to_device(v, device) for k, v in batch.items()}, images, videos


def pack(items: Sequence[PreparedItem], device: torch.device) -> tuple[dict, list[VisualInput], list[VisualInput]]:
    """Lay the items' ids and M-RoPE position ids end to end (``input_ids`` (N,), ``position_ids``
    (3, N), ``lengths``); return them with the items' images and videos in sequence order."""
    input_ids = torch.tensor([t for it in items for t in it.input_ids], dtype=torch.long)
    position_ids = torch.cat([it.positions() for it in items], dim=1)
    batch = {"input_ids": to_device(input_ids, device), "position_ids": to_device(position_ids, device),
             "lengths": [len(it) for it in items]}
    return batch, [v for it in items for v in it.images], [v for it in items for v in it.videos]


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Pinned, non-blocking host-to-device copies on CUDA; a no-op on CPU."""
    if device.type != "cuda":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def forward_error(exc: BaseException) -> Qwen3VLError:
    """The typed error of one item whose forward pass failed alone (cause chained)."""
    if isinstance(exc, Qwen3VLError):
        return exc
    if _is_oom(exc):
        err: Qwen3VLError = TooLargeForDeviceError("the item does not fit in device memory alone")
    else:
        err = BackendError(f"the forward pass failed ({type(exc).__name__}: {exc})")
    err.__cause__ = exc
    return err


def run_with_split(indices: list[int], run: Callable[[list[int]], list[R]],
                   on_item_error: Callable[[int, Qwen3VLError], None]) -> dict[int, R]:
    """Run ``run(indices)``; when it fails (out of memory, or any other error) split the batch in halves
    and retry each, down to one item, so that one item's failure never fails the others. An item that
    fails alone is reported through ``on_item_error`` (:class:`TooLargeForDeviceError` for out of
    memory, else :class:`BackendError`, the cause chained)."""
    try:
        return dict(zip(indices, run(indices)))
    except Exception as exc:
        oom = _is_oom(exc)
        if oom and torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(indices) == 1:
            logger.debug("forward pass of one item failed: %s: %s", type(exc).__name__, exc)
            on_item_error(indices[0], forward_error(exc))
            return {}
        logger.log(logging.WARNING if oom else logging.DEBUG, "%s on a batch of %d; retrying it in halves",
                   "out of memory" if oom else f"{type(exc).__name__} ({exc})", len(indices))
        mid = len(indices) // 2
        out = run_with_split(indices[:mid], run, on_item_error)
        out.update(run_with_split(indices[mid:], run, on_item_error))
        return out


#: the first preparation window of a call prepared in the pool: small, so the model starts early
FIRST_WINDOW = 8


def window_bounds(total: int, window: int, first: int = FIRST_WINDOW) -> list[tuple[int, int]]:
    """``(start, end)`` of consecutive windows over ``total`` items: ``first`` items, then doubling up to
    ``window``, so the model starts on a small first window while the next ones are prepared."""
    bounds, start, size = [], 0, max(1, min(first, window))
    while start < total:
        bounds.append((start, min(start + size, total)))
        start, size = start + size, min(size * 2, window)
    return bounds
