"""Token-budget planning, preparation windows and failure splitting."""

import torch

from qwen3vl_integrations import BackendError, TooLargeForDeviceError
from qwen3vl_integrations.core.batching import plan_batches, run_with_split
from qwen3vl_integrations.core.processing import truncate_ids


def test_batches_respect_budget_and_cover_every_index():
    lengths = [5, 100, 7, 50, 50, 3, 1000, 20]
    batches = plan_batches(lengths, token_budget=200, max_items=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 200
    assert batches[0] == [6]  # the longest first, alone (over budget)
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)


def test_oom_splits_down_to_single_items():
    calls, errors = [], {}

    def run(indices):
        calls.append(list(indices))
        if len(indices) > 1 or indices == [3]:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return [i * 10 for i in indices]

    out = run_with_split([0, 1, 2, 3], run, lambda i, e: errors.setdefault(i, e))
    assert out == {0: 0, 1: 10, 2: 20}
    assert set(errors) == {3} and isinstance(errors[3], TooLargeForDeviceError)
    assert errors[3].code == "too_large_for_device" and not str(errors[3]).startswith("too_large")  # code, not prefix
    assert isinstance(errors[3].__cause__, torch.cuda.OutOfMemoryError)


def test_other_failures_are_isolated_to_their_item():
    def run(indices):
        if 2 in indices:
            raise ValueError("boom")
        return [i * 10 for i in indices]

    errors = {}
    out = run_with_split([0, 1, 2, 3], run, lambda i, e: errors.setdefault(i, e))
    assert out == {0: 0, 1: 10, 3: 30}  # the items batched with the failing one still get their results
    assert set(errors) == {2} and type(errors[2]) is BackendError and errors[2].code == "backend"
    assert isinstance(errors[2].__cause__, ValueError) and "boom" in str(errors[2])


def test_truncation_keeps_specials_and_suffix():
    special = {900, 901}
    ids = [900] + list(range(10)) + [901] * 3 + list(range(10, 20)) + [1, 2, 3, 4, 5]
    out, cut = truncate_ids(ids, 8, special)
    assert cut and out[-5:] == [1, 2, 3, 4, 5]
    assert out[:-5] == [900, 0, 1, 2, 3, 901, 901, 901]
    same, cut = truncate_ids(ids[:8] + [1, 2, 3, 4, 5], 8, special)
    assert not cut and same == ids[:8] + [1, 2, 3, 4, 5]


def test_min_fill_closes_batches_before_padding_dominates():
    lengths = [100, 95, 90, 30, 28, 10]
    batches = plan_batches(lengths, token_budget=10_000, max_items=64, min_fill=0.8)
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert sum(lengths[i] for i in batch) >= 0.8 * len(batch) * longest
    assert batches[0] == [0, 1, 2]
    assert plan_batches(lengths, 10_000, 64, 0.0) == [[0, 1, 2, 3, 4, 5]]


def test_windows_start_small_then_double_and_cover_every_item():
    from qwen3vl_integrations.core.batching import window_bounds

    assert window_bounds(50, 128) == [(0, 8), (8, 24), (24, 50)]
    assert window_bounds(300, 64) == [(0, 8), (8, 24), (24, 56), (56, 120), (120, 184), (184, 248), (248, 300)]
    assert window_bounds(5, 4) == [(0, 4), (4, 5)]
    assert window_bounds(0, 32) == []


def test_packed_batches_count_real_tokens_and_ignore_fill():
    lengths = [100, 95, 90, 30, 28, 10]
    batches = plan_batches(lengths, token_budget=200, max_items=64, min_fill=0.95, packed=True)
    assert batches == [[0, 1], [2, 3, 4, 5]]  # 195 and 158 real tokens; no padding rule
    assert all(sum(lengths[i] for i in b) <= 200 for b in batches)
    assert plan_batches([500, 20], 200, 64, packed=True) == [[0], [1]]  # over budget: alone
    assert plan_batches(lengths, 10_000, 2, packed=True) == [[0, 1], [2, 3], [4, 5]]


def test_pack_lays_rows_end_to_end_with_their_positions():
    from qwen3vl_integrations.core.batching import pack
    from qwen3vl_integrations.core.processing import IMAGE_PAD_ID, PreparedItem, VisualInput, rope_positions

    image = VisualInput(torch.zeros(16, 4), (1, 4, 4), "")  # 4 merged tokens in a 2x2 grid
    with_image = [1, IMAGE_PAD_ID, IMAGE_PAD_ID, IMAGE_PAD_ID, IMAGE_PAD_ID, 2]
    items = [PreparedItem([5, 6, 7], [], []), PreparedItem(with_image, [image], [], position_offset=40),
             PreparedItem([8, 9], [], [])]
    batch, images, videos = pack(items, torch.device("cpu"))
    assert batch["input_ids"].tolist() == [5, 6, 7, *with_image, 8, 9] and batch["lengths"] == [3, 6, 2]
    assert batch["position_ids"].shape == (3, 11)
    assert batch["position_ids"][:, 3:9].tolist() == (40 + rope_positions(with_image, [(1, 4, 4)], [])).tolist()
    # text, then the image's (t, h, w) grid from the offset, then text after max(h, w) = 2 positions
    assert batch["position_ids"][:, 3:9].tolist() == [[40, 41, 41, 41, 41, 43], [40, 41, 41, 42, 42, 43],
                                                      [40, 41, 42, 41, 42, 43]]
    assert batch["position_ids"][0, 9:].tolist() == [0, 1] and images == [image] and videos == []
