"""Human-readable output of the command line: index summary, result table, collection info.

Everything printed from a file name, a stored text or a message goes through ``printable``: a
name with a newline cannot forge a report line, an ANSI escape cannot clear the screen, and the
bytes of a name that is not UTF-8 are shown as ``\\xNN``. Paths are shown as stored (absolute),
the same as in ``--json``.
"""

from __future__ import annotations

import shutil
import unicodedata

from qwen3vl_integrations.ingest import COUNTS

__all__ = ["printable", "format_report", "format_hits", "format_info", "format_removed"]

_LISTED = 20
#: bidirectional controls that reorder what a terminal shows
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` safe to print on one terminal line: backslash, control, bidi and line-separator
    characters escaped (``\\n``, ``\\x1b``, ``\\u202e``), undecodable bytes of a file name as ``\\xNN``."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(ascii(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


def _where(failure) -> str:
    where = printable(failure.source)
    if failure.page:
        where += f" page {failure.page}"
    if failure.offset:
        where += f" chars {failure.offset}+"
    return where


def format_report(report, label: str, rows: int) -> str:
    rate = report.items / report.seconds if report.seconds > 0 else 0.0
    counts = ", ".join(f"{name} {getattr(report, name)}" for name in COUNTS)
    lines = [f"{counts} ({report.files} files, {report.seconds:.1f} s, {rate:.1f} items/s); "
             f"{printable(label)} has {rows} rows"]
    sections = (("failed", report.failures, report.failed), ("skipped", report.skips, report.skipped))
    for title, entries, total in sections:
        if not entries:
            continue
        lines.append(f"{title}:")
        lines += [f"  {_where(f)}: {f.code}: {printable(f.message)}" for f in entries[:_LISTED]]
        if total > _LISTED:
            lines.append(f"  ... and {total - _LISTED} more (--json lists up to 1000)")
    return "\n".join(lines)


def format_removed(removed: int, paths: list[str], label: str, rows: int) -> str:
    return f"removed {removed} rows under {len(paths)} path(s); {printable(label)} has {rows} rows"


def _clip(text: str, width: int) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def format_hits(hits, *, reranked: bool) -> str:
    if not hits:
        return "no results"
    width = shutil.get_terminal_size((120, 24)).columns
    header = ["#", "score"] + (["rerank"] if reranked else []) + ["type", "page", "source"]
    rows = []
    for hit in hits:
        rerank = [f"{hit.rerank_score:.3f}" if hit.rerank_score is not None else "-"] if reranked else []
        page = str(hit.page) if hit.page else ("@" + str(hit.offset) if hit.offset else "")
        rows.append([str(hit.rank), f"{hit.score:.3f}"] + rerank + [printable(hit.modality), page,
                                                                     printable(hit.source)])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    used = sum(widths) + 2 * len(widths)
    snippet_width = max(width - used - 2, 20)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  snippet"]
    for hit, row in zip(hits, rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + _clip(hit.snippet, snippet_width))
    return "\n".join(line.rstrip() for line in lines)


def format_info(info: dict) -> str:
    where = f"'{printable(info['collection'])}' in {printable(info['uri'])}"
    if not info.get("exists"):
        return f"collection {where} does not exist (run `qwen3vl index PATH` first)"
    lines = [f"collection:  {where}", f"rows:        {info['rows']}",
             "by type:     " + ", ".join(f"{k} {v}" for k, v in info["modalities"].items()),
             f"vector dim:  {info['dim']}"]
    recorded = info.get("recorded")
    if recorded is None:
        lines.append("model:       (not recorded: this collection was not written by qwen3vl)")
        return "\n".join(lines)
    lines += [f"model:       {printable(recorded['model'])} (fingerprint {recorded['fingerprint']})", "settings:"]
    lines += [f"  {key}: {printable(str(value))}" for key, value in sorted(recorded["preprocessing"].items())]
    return "\n".join(lines)
