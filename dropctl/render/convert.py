"""``dropctl convert`` output: the plan table (site, before, after) and the JSON document."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from dropctl.conversion.report import Action, ConvertReport, SiteChange
from dropctl.render.schema import header


def _fmt_rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:g}"


def _describe(class_name: str, rate: float | None, pinned: bool | None) -> str:
    text = f"{class_name}({_fmt_rate(rate)})" if rate is not None else class_name
    return text if pinned is None else f"{text} training={pinned}"


def describe_before(change: SiteChange) -> str:
    """``Dropout(0.5) training=True`` style text for IN's side of a change."""
    return _describe(change.class_before, change.rate_before, change.pinned_before)


def describe_after(change: SiteChange) -> str:
    """The same for OUT's side ("removed" when the layer is gone)."""
    if change.class_after is None:
        return "removed"
    return _describe(change.class_after, change.rate_after, change.pinned_after)


def render_plan(report: ConvertReport) -> Table:
    """The plan as a Rich table: one row per site."""
    title = (f"{report.src} -> {report.dst} (--{report.mode.value}, "
             f"{report.src_format.value} -> {report.dst_format.value})")
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("site", overflow="fold")
    table.add_column("before")
    table.add_column("after")
    table.add_column("action")
    table.add_column("note", overflow="fold")
    for change in report.changes:
        style = "dim" if change.action in (Action.UNCHANGED, Action.SKIPPED) else ""
        table.add_row(Text(change.path), Text(describe_before(change)),
                      Text(describe_after(change)), Text(change.action.value, style=style),
                      Text(change.note))
    return table


def summary_line(report: ConvertReport) -> str:
    """One line: what was written and how it was verified."""
    changed = len(report.changed)
    if not report.written:
        return (f"dry run: {changed} of {len(report.changes)} site(s) would change; "
                "nothing written")
    line = f"wrote {report.dst}: {changed} site(s) changed"
    if report.verification is None:
        return line + "; not verified (--no-verify)"
    return line + f"; verified: {report.verification.message}"


def convert_dict(report: ConvertReport) -> dict[str, Any]:
    """The ``--json`` document (extend, never rename keys)."""
    v = report.verification
    return {
        **header("convert"),
        "src": report.src,
        "dst": report.dst,
        "mode": report.mode.value,
        "src_format": report.src_format.value,
        "dst_format": report.dst_format.value,
        "written": report.written,
        "compiled": report.compiled,
        "target_keras": report.target_keras,
        "target_dropped": list(report.target_dropped),
        "changes": [
            {
                "path": c.path,
                "action": c.action.value,
                "class_before": c.class_before,
                "class_after": c.class_after,
                "rate_before": c.rate_before,
                "rate_after": c.rate_after,
                "pinned_before": c.pinned_before,
                "pinned_after": c.pinned_after,
                "note": c.note,
            }
            for c in report.changes
        ],
        "warnings": list(report.warnings),
        "verification": None if v is None else {
            "passed": v.passed,
            "kind": v.kind,
            "max_abs_diff": v.max_abs_diff,
            "tolerance": v.tolerance,
            "passes": v.passes,
            "stochastic": v.stochastic,
            "mean_abs_dev": v.mean_abs_dev,
            "mean_std": v.mean_std,
            "message": v.message,
        },
    }
