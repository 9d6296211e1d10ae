"""Folders of small files that the sync tests of every store index (Milvus Lite, Weaviate)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "examples" / "media"


def png(path: Path, seed: int) -> None:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def folder_of(root: Path, *names: str) -> Path:
    """``root/docs`` holding copies of the named files of examples/media."""
    folder = root / "docs"
    folder.mkdir()
    for name in names:
        shutil.copy(MEDIA / name, folder)
    return folder


def make_folder(folder: Path) -> None:
    """Twelve files: eight texts, three images, one two-page PDF."""
    folder.mkdir(parents=True)
    for i in range(8):
        (folder / f"t{i:04d}.txt").write_text(f"note {i} about {['cats', 'rockets', 'coffee'][i % 3]}")
    for i in range(3):
        png(folder / f"i{i:04d}.png", i)
    shutil.copy(MEDIA / "field_report.pdf", folder / "report.pdf")


def change_folder(folder: Path) -> None:
    """Modify, overwrite, delete, add, copy and move files of a ``make_folder`` folder."""
    (folder / "t0000.txt").write_text("note 0, rewritten")  # modify
    png(folder / "i0000.png", 99)  # overwrite
    (folder / "t0001.txt").unlink()  # delete
    (folder / "added.txt").write_text("a new note")  # add
    shutil.copy(folder / "i0001.png", folder / "i0001_copy.png")  # copy
    (folder / "sub").mkdir()
    (folder / "t0002.txt").rename(folder / "sub" / "t0002.txt")  # move


def check_changed_sync(report, rows: set) -> None:
    """The report and rows of the sync after ``change_folder`` (``rows``: one entry per stored row)."""
    assert len(rows) == 15
    assert report.ok, report.failures
    assert (report.indexed, report.duplicates, report.replaced, report.removed) == (3, 2, 2, 2)
    assert report.unchanged == 14 - 2 - 2  # all but the modified, deleted and moved rows
