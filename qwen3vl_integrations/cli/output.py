"""Human-readable output of the command line: index summary, result table, collection info."""

from __future__ import annotations

import os
import shutil

__all__ = ["format_report", "format_hits", "format_info", "display_path"]

_LISTED = 20


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _where(failure) -> str:
    where = display_path(failure.source)
    if failure.page:
        where += f" page {failure.page}"
    if failure.offset:
        where += f" chars {failure.offset}+"
    return where


def format_report(report, collection: str, db: str, rows: int) -> str:
    rate = report.items / report.seconds if report.seconds > 0 else 0.0
    parts = [f"indexed {report.indexed}", f"unchanged {report.unchanged}"]
    if report.relocated:
        parts.append(f"moved {report.relocated}")
    parts.append(f"failed {report.failed}")
    if report.skipped:
        parts.append(f"skipped {report.skipped}")
    if report.duplicates:
        parts.append(f"duplicates {report.duplicates}")
    lines = [f"{', '.join(parts)} ({report.files} files, {report.seconds:.1f} s, {rate:.1f} items/s); "
             f"collection {collection!r} in {db} has {rows} rows"]
    sections = (("failed", report.failures, report.failed), ("skipped", report.skips, report.skipped))
    for title, entries, total in sections:
        if not entries:
            continue
        lines.append(f"{title}:")
        lines += [f"  {_where(f)}: {f.code}: {f.message}" for f in entries[:_LISTED]]
        if total > _LISTED:
            lines.append(f"  ... and {total - _LISTED} more (--json lists up to 1000)")
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
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
        rows.append([str(hit.rank), f"{hit.score:.3f}"] + rerank + [hit.modality, page, display_path(hit.source)])
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    used = sum(widths) + 2 * len(widths)
    snippet_width = max(width - used - 2, 20)
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  snippet"]
    for hit, row in zip(hits, rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + _clip(hit.snippet, snippet_width))
    return "\n".join(line.rstrip() for line in lines)


def format_info(info: dict) -> str:
    if not info.get("exists"):
        return f"collection {info['collection']!r} does not exist in {info['uri']} (run `qwen3vl index PATH` first)"
    lines = [f"collection:  {info['collection']} in {info['uri']}", f"rows:        {info['rows']}",
             "by type:     " + ", ".join(f"{k} {v}" for k, v in info["modalities"].items()),
             f"vector dim:  {info['dim']}"]
    recorded = info.get("recorded")
    if recorded is None:
        lines.append("model:       (not recorded: this collection was not written by qwen3vl)")
        return "\n".join(lines)
    lines += [f"model:       {recorded['model']} (fingerprint {recorded['fingerprint']})", "settings:"]
    lines += [f"  {key}: {value}" for key, value in sorted(recorded["preprocessing"].items())]
    return "\n".join(lines)
