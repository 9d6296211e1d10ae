"""The folder walk and file expansion of ``qwen3vl_integrations.ingest`` on hostile folders (no model, no store)."""

from __future__ import annotations

import os
import shutil

import pytest

from qwen3vl_integrations.ingest import (
    FileRef,
    SourceOptions,
    SourceProblem,
    chunk_text,
    expand_file,
    iter_files,
)
from qwen3vl_integrations.media import MediaPolicy
from tests.conftest import deep_folder

pytestmark = pytest.mark.timeout(60)  # a FIFO or /dev/urandom must never hang the walk or the hash


def _entries(*paths, **kwargs) -> dict[str, FileRef | SourceProblem]:
    return {os.path.basename(e.source): e for e in iter_files(paths, **kwargs)}


def _codes(entries: dict) -> dict[str, str]:
    return {name: e.code for name, e in entries.items() if isinstance(e, SourceProblem)}


def test_special_files_and_links_become_entries_not_hangs(tmp_path):
    (tmp_path / "good.txt").write_text("good")
    os.mkfifo(tmp_path / "x.txt")
    (tmp_path / "rand.png").symlink_to("/dev/urandom")
    (tmp_path / "a.txt").symlink_to(tmp_path / "b.txt")
    (tmp_path / "b.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (tmp_path / "passwd.txt").symlink_to("/etc/passwd")
    (tmp_path / "inside.txt").symlink_to(tmp_path / "good.txt")
    (tmp_path / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / ".hidden.txt").write_text("hidden")
    (tmp_path / "notes.docx").write_text("unsupported inside a folder: ignored")
    entries = _entries(tmp_path)
    assert _codes(entries) == {"x.txt": "not_regular", "rand.png": "symlink_outside", "a.txt": "symlink_loop",
                               "b.txt": "symlink_loop", "dangling.txt": "dangling_symlink",
                               "passwd.txt": "symlink_outside", "linked_dir": "symlink_dir"}
    assert {n for n, e in entries.items() if isinstance(e, FileRef)} == {"good.txt", "inside.txt"}
    # every entry names the path as reached (the link), never its target
    assert all(e.source == str(tmp_path / name) for name, e in entries.items())
    assert entries["inside.txt"].path == str(tmp_path / "good.txt")
    failed = {n for n, e in entries.items() if isinstance(e, SourceProblem) and e.failed}
    assert failed == {"a.txt", "b.txt", "dangling.txt"}


def test_follow_symlinks_still_reads_only_regular_files(tmp_path):
    (tmp_path / "rand.png").symlink_to("/dev/urandom")
    (tmp_path / "passwd.txt").symlink_to("/etc/passwd")
    entries = _entries(tmp_path, follow_symlinks=True)
    assert _codes(entries) == {"rand.png": "not_regular"}
    ref = entries["passwd.txt"]
    assert isinstance(ref, FileRef) and ref.source == str(tmp_path / "passwd.txt") and ref.path == "/etc/passwd"


def test_explicit_paths(tmp_path):
    os.mkfifo(tmp_path / "fifo.txt")
    (tmp_path / "link.txt").symlink_to("/etc/hostname")
    (tmp_path / "doc.docx").write_text("x")
    entries = _entries(tmp_path / "fifo.txt", tmp_path / "link.txt", tmp_path / "doc.docx", tmp_path / "missing.png")
    assert _codes(entries) == {"fifo.txt": "not_regular", "doc.docx": "unsupported", "missing.png": "not_found"}
    assert isinstance(entries["link.txt"], FileRef)  # named explicitly: followed
    assert entries["missing.png"].keep  # a path given that does not exist keeps its rows


def test_non_utf8_names_are_failures(tmp_path):
    (tmp_path / "ok.txt").write_text("ok")
    os.makedirs(os.path.join(os.fsencode(tmp_path), b"dir\xff"))
    with open(os.path.join(os.fsencode(tmp_path), b"bad\xfe.txt"), "w") as handle:
        handle.write("x")
    problems = [e for e in iter_files([tmp_path]) if isinstance(e, SourceProblem)]
    assert sorted(p.code for p in problems) == ["invalid_path", "invalid_path"]
    assert {os.fsencode(p.source) for p in problems} == {os.path.join(os.fsencode(tmp_path), b"bad\xfe.txt"),
                                                          os.path.join(os.fsencode(tmp_path), b"dir\xff")}


def test_folder_walk_errors_are_reported(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    deep_folder(tmp_path / "x_deep")
    walk = iter_files([tmp_path])
    first = next(walk)
    assert first.source.endswith("a.txt")
    shutil.rmtree(tmp_path / "sub")  # vanishes after being listed, before being read
    rest = list(walk)
    problems = [e for e in rest if isinstance(e, SourceProblem)]
    assert [p.code for p in problems] == ["unreadable_dir", "unreadable_dir"]
    assert problems[0].source == str(tmp_path / "sub") and problems[0].keep and problems[0].failed
    assert "x_deep" in problems[1].source and "too long" in problems[1].message.lower()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unlistable_folder_is_reported(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.txt").write_text("a")
    locked.chmod(0)
    try:
        assert _codes(_entries(tmp_path)) == {"locked": "unreadable_dir"}
    finally:
        locked.chmod(0o755)


def test_overlapping_paths_yield_each_file_once(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a")
    refs = list(iter_files([tmp_path, tmp_path / "sub", tmp_path / "sub" / "a.txt"]))
    assert [r.source for r in refs] == [str(tmp_path / "sub" / "a.txt")]


def test_hash_is_bounded_by_the_byte_caps(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * 5000)
    options = SourceOptions(policy=MediaPolicy(max_image_bytes=4096))
    [ref] = iter_files([big])
    problem = expand_file(ref, "s", options)
    assert isinstance(problem, SourceProblem) and problem.code == "media_too_large" and "4096" in problem.message
    ok = expand_file(ref, "s", SourceOptions())
    assert not isinstance(ok, SourceProblem) and ok.items[0].metadata["bytes"] == 5004


def test_a_file_swapped_for_a_fifo_after_the_walk_is_not_waited_on(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("x")
    [ref] = iter_files([path])
    path.unlink()
    os.mkfifo(path)
    problem = expand_file(ref, "s", SourceOptions())
    assert isinstance(problem, SourceProblem) and problem.code == "not_regular"


def test_copies_share_content_ids_but_not_ids(tmp_path):
    (tmp_path / "a.txt").write_text("same words")
    (tmp_path / "b.txt").write_text("same words")
    a, b = (expand_file(ref, "s", SourceOptions()) for ref in iter_files([tmp_path]))
    assert a.items[0].content_id == b.items[0].content_id and a.items[0].id != b.items[0].id
    assert len(a.items[0].id) == 32 and int(a.items[0].id, 16) >= 0


def test_chunks_after_the_first_start_at_a_word():
    words = " ".join(f"word{i:04d}" for i in range(800))
    chunks = list(chunk_text(words, 500, 120))
    assert len(chunks) > 10
    for offset, chunk in chunks:
        assert words[offset:offset + len(chunk)] == chunk
        assert offset == 0 or words[offset - 1].isspace(), (offset, chunk[:20])
    previous_end = 0
    for offset, chunk in chunks:  # still overlapping, and still covering the text
        assert offset <= previous_end
        previous_end = offset + len(chunk)
    assert previous_end == len(words)
