"""Which files a set of paths stands for: a folder walk that no folder can stop or hang.

``iter_files(paths)`` yields one entry per file it meets, in a stable order (each folder's files
sorted by name, then its sub-folders, depth first):

- a ``FileRef`` for every supported file to index (``kind_of``: image, video, text or PDF);
- a ``SourceProblem`` for every file or folder that yields nothing, naming the path as reached
  (the link, never its target), and the walk goes on. ``failed`` problems count against the run,
  the others are skips.

What is read and what is not:

- hidden entries (names starting with ``.``) and files of other extensions inside folders are
  ignored; an explicitly named file of another type is skipped (``unsupported``);
- only regular files: a FIFO, socket or device with a supported name is skipped
  (``not_regular``), and is never opened here;
- directory symlinks are never followed (``symlink_dir`` skip), so the walk cannot loop;
- file symlinks are followed only when their target lies inside one of the indexed folders
  (``symlink_outside`` skip otherwise), unless ``follow_symlinks``; a symlink named explicitly
  is followed; a dangling link (``dangling_symlink``) or a loop (``symlink_loop``) is a failure;
- a folder that cannot be listed (``unreadable_dir``) is a failure whose stored rows a sync keeps,
  and so is a path given that does not exist (``not_found``: a typo or an unmounted drive);
- a file or folder whose name is not valid UTF-8 is a failure (``invalid_path``): stores keep
  UTF-8 paths, so it could never be found by its own name;
- a file reached twice (overlapping paths) is yielded once.

``FileRef.source`` is the absolute path the file was reached by (``os.path.abspath``, symlinks
not resolved): what a row stores and what ``qwen3vl remove`` matches. ``FileRef.path`` is the
resolved path to open.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from qwen3vl_integrations.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["TEXT_EXTENSIONS", "PDF_EXTENSIONS", "FileRef", "SourceProblem", "kind_of", "iter_files", "count_entries",
           "is_under", "absolute"]

TEXT_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".rst"})
PDF_EXTENSIONS = frozenset({".pdf"})
_KINDS = (("image", IMAGE_EXTENSIONS), ("video", VIDEO_EXTENSIONS), ("text", TEXT_EXTENSIONS), ("pdf", PDF_EXTENSIONS))


@dataclass(frozen=True)
class FileRef:
    """A supported regular file to index: ``source`` as reached (absolute), ``path`` resolved."""

    source: str
    path: str
    kind: str  # "image" | "video" | "text" | "pdf"


@dataclass(frozen=True)
class SourceProblem:
    """A file or folder that yields no item. ``failed`` counts against the run (else a skip);
    ``keep`` tells a sync to keep the rows stored under ``source`` (it could not be read this time)."""

    source: str
    code: str
    message: str
    failed: bool = True
    keep: bool = False


def kind_of(name: str | os.PathLike) -> str | None:
    """``image``, ``video``, ``text``, ``pdf`` by extension (case-insensitive), else None."""
    suffix = os.path.splitext(os.fspath(name))[1].lower()
    return next((kind for kind, extensions in _KINDS if suffix in extensions), None)


def absolute(path: str | os.PathLike) -> str:
    """The absolute form of ``path`` that rows store: normalised, symlinks not resolved."""
    return os.path.abspath(os.fsdecode(os.fspath(path)))


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies inside it (plain string test on absolute paths)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


class _Walk:
    def __init__(self, roots: list[str], exclude: Iterable[str | os.PathLike], follow_symlinks: bool):
        self.excluded = {os.path.realpath(os.fsdecode(os.fspath(p))) for p in exclude}
        self.follow = follow_symlinks
        self.inside = [os.path.realpath(r) for r in roots if os.path.isdir(r)]
        self.seen: set[str] = set()

    def root(self, root: str) -> Iterator[FileRef | SourceProblem]:
        if not _utf8(root):
            yield SourceProblem(root, "invalid_path", "the path is not valid UTF-8; rename it")
            return
        try:
            info = os.stat(root)
        except OSError as exc:
            problem = self._stat_problem(root, exc)
            if problem.code == "not_found":  # a typo or an unmounted drive: not a reason to delete its rows
                problem = SourceProblem(root, "not_found", "no such file or directory (rows stored under it are "
                                        "kept; remove them with `qwen3vl remove`)", keep=True)
            yield problem
            return
        if stat.S_ISDIR(info.st_mode):
            yield from self.folder(root)
        elif kind_of(root) is None:
            yield SourceProblem(root, "unsupported", f"unsupported file type {os.path.splitext(root)[1] or '(none)'}",
                                failed=False)
        else:
            yield from self._file(root, info, explicit=True)

    def _stat_problem(self, path: str, exc: OSError) -> SourceProblem:
        if exc.errno == errno.ELOOP:
            return SourceProblem(path, "symlink_loop", "the symlink is part of a loop")
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return SourceProblem(path, "dangling_symlink", "the symlink points to nothing")
        if exc.errno == errno.ENOENT:
            return SourceProblem(path, "not_found", "no such file or directory")
        return SourceProblem(path, "unreadable", f"cannot read it ({_reason(exc)})", keep=True)

    def folder(self, top: str) -> Iterator[FileRef | SourceProblem]:
        stack = [top]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                yield SourceProblem(directory, "unreadable_dir", f"cannot list the folder ({_reason(exc)})", keep=True)
                continue
            subfolders = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = os.path.join(directory, entry.name)
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if os.path.realpath(path) in self.excluded:
                            continue
                        if not _utf8(path):
                            yield SourceProblem(path, "invalid_path", "the folder name is not valid UTF-8; rename it")
                        else:
                            subfolders.append(path)
                        continue
                    yield from self._entry(path, entry)
                except OSError as exc:
                    yield SourceProblem(path, "unreadable", f"cannot read it ({_reason(exc)})", keep=True)
            stack.extend(reversed(subfolders))

    def _entry(self, path: str, entry: os.DirEntry) -> Iterator[FileRef | SourceProblem]:
        if entry.is_symlink():
            yield from self._link(path)
            return
        if kind_of(entry.name) is None:
            return
        if not _utf8(path):
            yield SourceProblem(path, "invalid_path", "the file name is not valid UTF-8; rename the file")
            return
        yield from self._file(path, entry.stat(follow_symlinks=False), explicit=False)

    def _link(self, path: str) -> Iterator[FileRef | SourceProblem]:
        try:
            info = os.stat(path)
        except OSError as exc:
            if kind_of(path) is not None:
                yield self._stat_problem(path, exc)
            return
        if stat.S_ISDIR(info.st_mode):
            yield SourceProblem(path, "symlink_dir", "symlinks to folders are not followed", failed=False)
            return
        if kind_of(path) is None:
            return
        if not _utf8(path):
            yield SourceProblem(path, "invalid_path", "the file name is not valid UTF-8; rename the file")
            return
        real = os.path.realpath(path)
        if not self.follow and not any(is_under(real, root) for root in self.inside):
            yield SourceProblem(path, "symlink_outside", "the symlink points outside the indexed folders "
                                "(--follow-symlinks / follow_symlinks=True follows it)", failed=False)
            return
        yield from self._file(path, info, explicit=False)

    def _file(self, path: str, info: os.stat_result, *, explicit: bool) -> Iterator[FileRef | SourceProblem]:
        if not stat.S_ISREG(info.st_mode):
            what = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            yield SourceProblem(path, "not_regular", f"not a regular file ({what}); only regular files are read",
                                failed=False)
            return
        if path in self.seen:
            return
        self.seen.add(path)
        kind = kind_of(path)
        assert kind is not None
        yield FileRef(path, os.path.realpath(path), kind)


def iter_files(paths: Iterable[str | os.PathLike], *, exclude: Iterable[str | os.PathLike] = (),
               follow_symlinks: bool = False) -> Iterator[FileRef | SourceProblem]:
    """The files ``paths`` stand for (see the module docstring); ``exclude``: folders to leave out
    (compared by real path, e.g. a Milvus Lite database inside the indexed folder)."""
    roots = [absolute(p) for p in paths]
    walk = _Walk(roots, exclude, follow_symlinks)
    for root in roots:
        yield from walk.root(root)


def count_entries(paths: Iterable[str | os.PathLike], *, exclude: Iterable[str | os.PathLike] = (),
                  follow_symlinks: bool = False) -> int:
    """How many entries ``iter_files`` yields (a cheap walk: nothing is opened): a progress total."""
    return sum(1 for _ in iter_files(paths, exclude=exclude, follow_symlinks=follow_symlinks))
