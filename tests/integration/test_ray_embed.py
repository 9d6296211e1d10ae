"""embed_dataset on a real local Ray (2 CPUs, tiny checkpoint): the vectors of the local embedder,
an error entry for each bad row while the others are embedded, and a killed actor that costs no row."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from qwen3vl_integrations.ray import embed_dataset  # noqa: E402
from tests.conftest import cosine, random_image  # noqa: E402
from tests.integration.ray_support import STAGE_CPUS, actor_processes, start_ray  # noqa: E402
from tests.unit.conftest import png_bytes  # noqa: E402

pytestmark = pytest.mark.slow

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for the module, sized for a shared 2-core machine."""
    start_ray(ray)
    yield
    ray.shutdown()


def table_rows(rows: list[dict]) -> list[dict]:
    """Every row with every key (null where absent), so each column has one type."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return [{key: row.get(key) for key in keys} for row in rows]


def mixed_rows() -> tuple[list[dict], list]:
    """Rows of the dataset, and the same items in the core's input forms."""
    rng = np.random.default_rng(3)
    coffee, frames = (MEDIA / "coffee.jpg").read_bytes(), [png_bytes(random_image(rng, 64, 96)) for _ in range(4)]
    cat, video = str(MEDIA / "cat_chelsea.jpg"), str(MEDIA / "bouncing_ball.mp4")
    pairs = [
        ({"text": "a cup of coffee"}, "a cup of coffee"),
        ({"image": coffee}, {"image": coffee}),
        ({"image_uri": cat, "text": "a cat", "instruction": "Find cats."},
         {"image": cat, "text": "a cat", "instruction": "Find cats."}),
        ({"video_uri": video}, {"video": video}),
        ({"frames": frames, "text": "moving noise"}, {"video": [frames], "text": "moving noise"}),
        ({"video": (MEDIA / "bouncing_ball.mp4").read_bytes()}, {"video": (MEDIA / "bouncing_ball.mp4").read_bytes()}),
    ]
    return [{"id": k, **row} for k, (row, _) in enumerate(pairs)], [item for _, item in pairs]


BAD_ROWS = [
    ({"image": b"\x89PNG\r\n\x1a\n truncated"}, "media_decode"),
    ({"text": "   "}, "empty"),
    ({"image_uri": "/nonexistent/photo.jpg"}, "media_fetch"),
]


@pytest.fixture(scope="module")
def embedded(ray_session, tiny_checkpoint):
    good, items = mixed_rows()
    bad = [{"id": 100 + k, **row} for k, (row, _) in enumerate(BAD_ROWS)]
    rows = table_rows(good + bad)
    ds = ray.data.from_items(rows, override_num_blocks=3)
    out = embed_dataset(ds, str(tiny_checkpoint), concurrency=1, batch_size=3, decode_batch_size=2, **STAGE_CPUS)
    return {row["id"]: row for row in out.take_all()}, items, rows


def test_vectors_equal_the_local_embedder(embedded, embedder):
    results, items, _ = embedded
    expected = embedder.embed(items)
    for k, vector in enumerate(expected):
        row = results[k]
        assert row["error_code"] is None, row["error_message"]
        assert len(row["vector"]) == embedder.dim
        assert cosine(row["vector"], vector) >= 0.99999


def test_bad_rows_get_error_fields_and_nothing_is_lost(embedded):
    results, items, rows = embedded
    assert sorted(results) == sorted(row["id"] for row in rows)  # every row, once
    for k, (_, code) in enumerate(BAD_ROWS):
        row = results[100 + k]
        assert (row["error_code"], row["vector"]) == (code, None), row
        assert row["error_message"] and not row["error_message"].startswith("input[")
    assert results[1]["image"] == rows[1]["image"]  # input columns pass through


def gated_rows(batch, gate: str):
    """Rows of the first block at once; the others only once ``gate`` exists (after the kill)."""
    ids = batch["id"]
    if ids[0] != 0:
        deadline = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
    return {"id": ids, "text": np.array([f"row number {i}" for i in ids], dtype=object)}


def test_an_actor_killed_mid_job_costs_no_row(ray_session, tiny_checkpoint, embedder, tmp_path):
    gate, count = tmp_path / "killed", 12
    ds = ray.data.range(count, override_num_blocks=6).map_batches(
        gated_rows, fn_kwargs={"gate": str(gate)}, batch_size=2, num_cpus=0.1,
        compute=ray.data.TaskPoolStrategy(size=2))
    out = embed_dataset(ds, str(tiny_checkpoint), concurrency=1, batch_size=2, decode_batch_size=2, **STAGE_CPUS)
    rows, killed = [], []
    for batch in out.iter_batches(batch_size=None, prefetch_batches=0, batch_format="pyarrow"):
        rows.extend(batch.to_pylist())
        if not killed:  # the first rows are out: the actor is mid-job, the other rows not even read yet
            killed = actor_processes()
            assert len(killed) == 1
            os.kill(killed[0], signal.SIGKILL)
            gate.touch()
    assert len(rows) == count and sorted(r["id"] for r in rows) == list(range(count))  # each row exactly once
    assert killed[0] not in actor_processes()
    expected = embedder.embed([f"row number {i}" for i in range(count)])
    for row in rows:
        assert row["error_code"] is None, row["error_message"]
        assert cosine(row["vector"], expected[row["id"]]) >= 0.99999
