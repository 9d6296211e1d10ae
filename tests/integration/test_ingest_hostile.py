"""Hostile folders never stop or hang an index run (issue 13, observations 4 and 5), on Milvus Lite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from qwen3vl_integrations.milvus import MultimodalIndex
from tests.conftest import deep_folder


def hostile_folder(root: Path) -> Path:
    folder = root / "hostile"
    folder.mkdir()
    (folder / "good.txt").write_text("a good note about cats")
    (folder / "a.txt").symlink_to(folder / "b.txt")
    (folder / "b.txt").symlink_to(folder / "a.txt")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as handle:
        handle.write("latin-1 name")
    os.mkfifo(folder / "x.txt")
    (folder / "rand.png").symlink_to("/dev/urandom")
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret words from outside the indexed folder")
    (folder / "x_secret.txt").symlink_to(outside / "secret.txt")
    (folder / "inside.txt").symlink_to(folder / "good.txt")
    deep_folder(folder / "zz_deep")
    return folder


def _loop(folder: Path) -> None:
    (folder / "a.txt").symlink_to(folder / "b.txt")
    (folder / "b.txt").symlink_to(folder / "a.txt")


def _non_utf8(folder: Path) -> None:
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "w") as handle:
        handle.write("latin-1 name")


def _outside(folder: Path) -> None:
    (folder.parent / "outside").mkdir()
    (folder.parent / "outside" / "secret.txt").write_text("secret words")
    (folder / "x_secret.txt").symlink_to(folder.parent / "outside" / "secret.txt")


#: observation -> (make it, {name: (code, failed)})
CASES = {
    "symlink loop": (_loop, {"a.txt": ("symlink_loop", True), "b.txt": ("symlink_loop", True)}),
    "non-UTF-8 name": (_non_utf8, {"caf\\xe9.txt": ("invalid_path", True)}),
    "FIFO": (lambda f: os.mkfifo(f / "x.txt"), {"x.txt": ("not_regular", False)}),
    "link to /dev/urandom": (lambda f: (f / "rand.png").symlink_to("/dev/urandom"),
                             {"rand.png": ("symlink_outside", False)}),
    "dangling link": (lambda f: (f / "dangling.txt").symlink_to(f / "nowhere.txt"),
                      {"dangling.txt": ("dangling_symlink", True)}),
    "link outside the folder": (_outside, {"x_secret.txt": ("symlink_outside", False)}),
    "unlistable folder": (lambda f: deep_folder(f / "zz_deep"), {"d" * 250: ("unreadable_dir", True)}),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(CASES))
def test_each_hostile_entry_is_reported_and_the_run_goes_on(case, embedder, tmp_path):
    make, expected = CASES[case]
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "good.txt").write_text("a good note about cats")
    make(folder)
    with MultimodalIndex(embedder, str(tmp_path / "h.db")) as index:
        report = index.add([folder])
        entries = {Path(os.fsencode(e.source).decode("utf-8", "backslashreplace")).name: (e.code, e in report.failures)
                   for e in report.failures + report.skips}
        assert entries == expected
        assert all(e.source.startswith(str(folder)) for e in report.failures + report.skips)  # as reached
        assert report.indexed == 1
        assert [h.source for h in index.search("words", top_k=10, rerank=False)] == [str(folder / "good.txt")]


@pytest.mark.timeout(120)
def test_hostile_folder_gives_entries_and_the_run_goes_on(embedder, tmp_path):
    folder = hostile_folder(tmp_path)
    with MultimodalIndex(embedder, str(tmp_path / "h.db")) as index:
        report = index.add([folder])
        assert (report.failed, report.skipped) == (5, 3)
        dangling = next(f for f in report.failures if f.code == "dangling_symlink")
        assert dangling.source == str(folder / "dangling.txt")  # the link, not its target
        assert report.indexed == 1 and report.duplicates == 1  # good.txt, and the link to it inside the folder
        sources = sorted(h.source for h in index.search("words", top_k=10, rerank=False))
        assert sources == [str(folder / "good.txt"), str(folder / "inside.txt")]


@pytest.mark.timeout(120)
def test_follow_symlinks_indexes_the_link_under_its_own_name(embedder, tmp_path):
    folder = hostile_folder(tmp_path)
    with MultimodalIndex(embedder, str(tmp_path / "f.db")) as index:
        report = index.add([folder], follow_symlinks=True)
        assert {s.code for s in report.skips} == {"not_regular"}  # the FIFO and /dev/urandom: still never read
        sources = {h.source for h in index.search("secret", top_k=10, rerank=False)}
        assert str(folder / "x_secret.txt") in sources and not any("outside" in s for s in sources)
