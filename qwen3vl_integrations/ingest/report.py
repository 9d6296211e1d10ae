"""What one ingestion run did: counts, and the failed and skipped entries with their reasons."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from .walk import SourceProblem

logger = logging.getLogger(__name__)

__all__ = ["IndexReport", "Failure", "MAX_LISTED", "COUNTS"]

#: the first this many failures and skips are kept in the report (the counts are always complete)
MAX_LISTED = 1000
#: the counts of a report, in the order the command line prints them
COUNTS = ("indexed", "unchanged", "replaced", "removed", "duplicates", "failed", "skipped")


@dataclass(frozen=True)
class Failure:
    """One failed or skipped file, page or chunk: ``source`` as reached, a ``code`` and a message."""

    source: str
    code: str
    message: str
    page: int = 0
    offset: int = 0

    @property
    def where(self) -> str:
        page = f" (page {self.page})" if self.page else ""
        return self.source + page + (f" (chars {self.offset}+)" if self.offset else "")


@dataclass
class IndexReport:
    """Counts of one run (``ok`` when nothing failed).

    - ``indexed``: items embedded and written;
    - ``unchanged``: items already stored (same path, same content, same place in the file);
    - ``duplicates``: items written with the stored or just computed vector of identical content
      (a copy or a moved file: nothing re-embedded), and ids repeated in the stream (last wins);
    - ``replaced``: stored rows of files that changed, deleted after their new rows were written;
    - ``removed``: stored rows of files gone from the indexed paths (deleted, moved away, now
      hidden, excluded or skipped);
    - ``failed`` / ``skipped``: items or files with a reason in ``failures`` / ``skips``;
    - ``files``: entries of the walk (files, and folders that could not be listed).
    """

    indexed: int = 0
    unchanged: int = 0
    replaced: int = 0
    removed: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: int = 0
    files: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)  # the first MAX_LISTED Failure records
    skips: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def items(self) -> int:
        """Items met in the stream (written, already there, copied or failed)."""
        return self.indexed + self.unchanged + self.duplicates + self.failed

    def fail(self, failure: Failure) -> None:
        self.failed += 1
        if len(self.failures) < MAX_LISTED:
            self.failures.append(failure)
        logger.info("failed: %r: %s: %s", failure.where, failure.code, failure.message)

    def skip(self, failure: Failure) -> None:
        self.skipped += 1
        if len(self.skips) < MAX_LISTED:
            self.skips.append(failure)
        logger.debug("skipped: %r: %s: %s", failure.where, failure.code, failure.message)

    def problem(self, problem: SourceProblem) -> None:
        """Record a file-level problem of the walk or of ``expand_file``."""
        entry = Failure(problem.source, problem.code, problem.message)
        if problem.failed:
            self.fail(entry)
        else:
            self.skip(entry)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok, **{name: getattr(self, name) for name in COUNTS}, "files": self.files,
            "seconds": round(self.seconds, 3),
            "failures": [asdict(f) for f in self.failures], "skips": [asdict(s) for s in self.skips],
        }
