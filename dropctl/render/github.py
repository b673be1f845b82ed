"""``dropctl check --format github``: GitHub Actions workflow commands (annotations).

Each violation becomes ``::error file=...,title=...::message`` (``warning``/``notice`` for
lower severities), shown on the pull request's file list. Values are escaped as the
Actions runner expects (``%``, CR, LF, and in properties ``:`` and ``,``).
"""

from __future__ import annotations

from dropctl.policy.results import CheckReport, Status
from dropctl.reader.report import Severity
from dropctl.render.check_common import summary, uri

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: CheckReport) -> str:
    lines = []
    for r in report.results:
        f = _prop(uri(r.path))
        if r.status is Status.ERROR:
            lines.append(f"::error file={f},title={_prop('DCK000 readable')}::"
                         f"{_data(r.error or 'could not be checked')}")
            continue
        for v in r.violations:
            title = _prop(f"{v.rule.id} {v.rule.name}" + (f" ({v.path})" if v.path else ""))
            msg = v.message + (f" - {v.hint}" if v.hint else "")
            lines.append(f"::{_COMMAND[v.severity]} file={f},title={title}::{_data(msg)}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"
