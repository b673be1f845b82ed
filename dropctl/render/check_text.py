"""``dropctl check`` human output: one line per artifact, its violations below, a summary."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape

from dropctl.policy.results import CheckReport, Status
from dropctl.reader.report import Severity
from dropctl.render.check_common import summary

_STATUS = {
    Status.PASS: ("PASS ", "bold green"),
    Status.FAIL: ("FAIL ", "bold red"),
    Status.ERROR: ("ERROR", "bold magenta"),
}
_SEVERITY = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


PLAIN_ABOVE = 2_000
"""Reports with more lines than this are written as plain text: Rich costs ~0.2 ms per
line (40 s for a 199,990-site model), plain formatting is linear and ~100x cheaper."""


def _line_count(report: CheckReport) -> int:
    return sum(1 + len(r.violations) * 2 for r in report.results)


def plain_text(report: CheckReport, *, verbose: bool = False) -> str:
    """The same report without colour or Rich, in one linear pass."""
    out: list[str] = []
    for r in report.results:
        label = _STATUS[r.status][0]
        extra = ""
        if r.report is not None:
            m = r.report.model
            n = len(r.report.sites)
            keras = f"Keras {m.keras_version}" if m.keras_version else "Keras ?"
            extra = f"  ({m.format.value}, {keras}, {n} stochastic site{'s' * (n != 1)}"
            if r.probe is not None:
                extra += f", probe: predict() {r.probe.verdict}"
            extra += ")"
        out.append(f"{label} {r.path}{extra}")
        if r.error:
            out.append(f"      {r.error}")
        for v in r.violations:
            if v.severity is Severity.INFO and not verbose:
                continue
            where = f"{v.path}: " if v.path else ""
            out.append(f"      {v.severity.value:<7} {v.rule.id} {v.rule.name:<15} "
                       f"{where}{v.message}")
            if v.hint:
                out.append(f"{'':30}-> {v.hint}")
    out.append("")
    out.append(summary(report))
    if report.config_source:
        out.append(f"policy: {report.config_source}")
    return "\n".join(out) + "\n"


def print_text(report: CheckReport, console: Console, *, verbose: bool = False) -> None:
    """Print the report. ``verbose`` also lists info-level observations."""
    if _line_count(report) > PLAIN_ABOVE:
        console.file.write(plain_text(report, verbose=verbose))
        console.file.flush()
        return
    for r in report.results:
        label, style = _STATUS[r.status]
        extra = ""
        if r.report is not None:
            m = r.report.model
            n = len(r.report.sites)
            keras = f"Keras {m.keras_version}" if m.keras_version else "Keras ?"
            extra = f"  [dim]({m.format.value}, {keras}, {n} stochastic site{'s' * (n != 1)}"
            if r.probe is not None:
                extra += f", probe: predict() {r.probe.verdict}"
            extra += ")[/dim]"
        console.print(f"[{style}]{label}[/{style}] {escape(r.path)}{extra}", highlight=False,
                      soft_wrap=True)
        if r.error:
            console.print(f"      {escape(r.error)}", highlight=False, soft_wrap=True)
        for v in r.violations:
            if v.severity is Severity.INFO and not verbose:
                continue
            sev = _SEVERITY[v.severity]
            where = f"{escape(v.path)}: " if v.path else ""
            console.print(
                f"      [{sev}]{v.severity.value:<7}[/{sev}] {v.rule.id} {v.rule.name:<15} "
                f"{where}{escape(v.message)}",
                highlight=False, soft_wrap=True,
            )
            if v.hint:
                console.print(f"{'':30}[dim]-> {escape(v.hint)}[/dim]", highlight=False,
                              soft_wrap=True)
    console.print()
    console.print(summary(report), highlight=False)
    if report.config_source:
        console.print(f"[dim]policy: {escape(report.config_source)}[/dim]", highlight=False)


def render_text(report: CheckReport, *, verbose: bool = False) -> str:
    """The report as plain text (no colour), for ``--output FILE``."""
    if _line_count(report) > PLAIN_ABOVE:
        return plain_text(report, verbose=verbose)
    buf = io.StringIO()
    print_text(report, Console(file=buf, no_color=True, width=200, force_terminal=False,
                               soft_wrap=True), verbose=verbose)
    return buf.getvalue()
