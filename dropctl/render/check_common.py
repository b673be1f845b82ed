"""Small helpers the check renderers share (paths as report URIs, counts, one-line text)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from dropctl.policy.results import ArtifactResult, CheckReport, Status, Violation
from dropctl.reader.report import Severity


def uri(path: str) -> str:
    """A path as a forward-slash URI relative to the working directory when it is inside it."""
    p = Path(path)
    try:
        rel = Path(os.path.abspath(p)).relative_to(Path.cwd())
        return PurePosixPath(rel).as_posix()
    except ValueError:
        return PurePosixPath(Path(os.path.abspath(p))).as_posix()


def located(v: Violation) -> str:
    """``[layer/path] message`` or just the message for whole-model violations."""
    return f"{v.path}: {v.message}" if v.path else v.message


def gating(report: CheckReport, result: ArtifactResult) -> list[Violation]:
    """Violations at or above the report's ``fail_on`` severity."""
    return [v for v in result.violations if v.severity.rank >= report.fail_on.rank]


def summary(report: CheckReport) -> str:
    n = len(report.results)
    parts = [
        f"{n} artifact{'s' if n != 1 else ''} checked",
        f"{report.count(Status.PASS)} passed",
        f"{report.count(Status.FAIL)} failed",
        f"{report.count(Status.ERROR)} unreadable",
    ]
    target = f"; verdicts for {report.keras_target}" if report.keras_target else ""
    return ", ".join(parts) + f" (fail on: {report.fail_on.value}){target}"


LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
"""Severity -> SARIF level (also the GitHub annotation command, with note -> notice)."""
