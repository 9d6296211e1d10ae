"""The two Ray stages run in-process on pyarrow tables (no cluster): the CPU stage decodes and
reports, the actor embeds what was decoded and types the vector column by precision."""

import pickle
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")

from qwen3vl_integrations import EngineConfig, MultimodalInput  # noqa: E402
from qwen3vl_integrations.core.decoding import DecodedImage, DecodedVideo  # noqa: E402
from qwen3vl_integrations.ray import EmbedActor, prepare_batch  # noqa: E402
from qwen3vl_integrations.ray.rows import PREPARED  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "examples" / "media"
CONFIG = EngineConfig()


def table_of(rows: list[dict]):
    """A table of ``rows``; a key some rows lack is a null there (from_pylist reads the first row's keys only)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return pa.Table.from_pylist([{key: row.get(key) for key in keys} for row in rows])


def test_cpu_stage_decodes_media_and_records_errors():
    image = (MEDIA / "coffee.jpg").read_bytes()
    table = table_of([
        {"id": 0, "image": image, "text": "cup", "error_code": None},
        {"id": 1, "video_uri": str(MEDIA / "bouncing_ball.mp4")},
        {"id": 2, "image": b"\x89PNG broken"},
        {"id": 3, "error_code": "unreadable", "error_message": "listed earlier"},
    ])
    out = prepare_batch(table, config=CONFIG)
    rows = out.to_pylist()
    assert [r["id"] for r in rows] == [0, 1, 2, 3]
    first, second = (pickle.loads(rows[k][PREPARED]) for k in (0, 1))
    assert isinstance(first, MultimodalInput) and first.texts == ("cup",)
    assert isinstance(first.images[0], DecodedImage) and first.images[0].pixels.dtype == np.uint8
    assert isinstance(second.videos[0], DecodedVideo)
    assert rows[2][PREPARED] is None and rows[2]["error_code"] == "media_decode"
    assert rows[2]["error_message"] and not rows[2]["error_message"].startswith("input[")
    assert (rows[3][PREPARED], rows[3]["error_code"], rows[3]["error_message"]) == (None, "unreadable", "listed earlier")
    assert rows[0]["image"] == image  # input columns pass through


@pytest.fixture(scope="module")
def ubinary_actor(tiny_checkpoint):
    return EmbedActor(str(tiny_checkpoint), config=CONFIG, device="cpu", dim=32, precision="ubinary", column="emb")


def test_actor_embeds_prepared_rows_in_the_precision_type(ubinary_actor, embedder):
    items = [{"text": "a cup of coffee"}, {"image": str(MEDIA / "coffee.jpg")}, {"text": "  "}]
    table = table_of([{"text": "a cup of coffee"}, {"image_uri": str(MEDIA / "coffee.jpg")}, {"text": "  "}])
    out = ubinary_actor(prepare_batch(table, config=CONFIG))
    assert PREPARED not in out.column_names
    assert out.schema.field("emb").type == pa.list_(pa.uint8(), 4)  # 32 bits packed into 4 bytes
    rows = out.to_pylist()
    expected = embedder.embed(items[:2], dim=32, precision="ubinary")
    assert [r["emb"] for r in rows[:2]] == expected.tolist()
    assert [r["error_code"] for r in rows] == [None, None, "empty"]
    assert rows[2]["emb"] is None and "no content" in rows[2]["error_message"]


def test_actor_refuses_to_overwrite_a_column(ubinary_actor):
    table = prepare_batch(table_of([{"text": "x", "emb": 1}]), config=CONFIG)
    with pytest.raises(ValueError, match="already has a column 'emb'"):
        ubinary_actor(table)


def test_cpu_stage_reports_a_text_column_that_holds_no_strings():
    rows = prepare_batch(table_of([{"text": 5}]), config=CONFIG).to_pylist()
    assert rows[0]["error_code"] == "unsupported_input" and "text column must hold strings" in rows[0]["error_message"]
