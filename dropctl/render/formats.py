"""The registry of ``check`` report formats: name -> renderer, one place for the CLI to look up.

Each renderer takes a :class:`~dropctl.policy.results.CheckReport` (and ``verbose``) and returns the
whole document as text. Adding a format is one entry here plus its module; the CLI's
``--format`` choices are generated from :data:`CHECK_FORMATS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReportFormat:
    """One ``--format`` choice of ``dropctl check``."""

    name: str
    """The ``--format`` value."""
    module: str
    """Module holding the renderer (imported only when the format is used)."""
    function: str
    """Renderer function name: ``(report) -> str`` or ``(report, verbose=...) -> str``."""
    takes_verbose: bool
    """Whether the renderer honours ``--verbose``."""
    description: str
    """One line for ``--help`` and the README."""

    def renderer(self) -> Callable[..., str]:
        fn: Callable[..., str] = getattr(importlib.import_module(self.module), self.function)
        return fn

    def render(self, report: Any, *, verbose: bool = False) -> str:
        fn = self.renderer()
        return fn(report, verbose=verbose) if self.takes_verbose else fn(report)


CHECK_FORMATS: dict[str, ReportFormat] = {f.name: f for f in (
    ReportFormat("text", "dropctl.render.check_text", "render_text", True,
                 "human report (a Rich table on a terminal)"),
    ReportFormat("json", "dropctl.render.check_json", "render_json", False,
                 "one JSON document (schema dropctl.check)"),
    ReportFormat("sarif", "dropctl.render.sarif", "render_sarif", False,
                 "SARIF 2.1.0 for GitHub code scanning"),
    ReportFormat("junit", "dropctl.render.junit", "render_junit", False,
                 "JUnit XML, one test case per artifact (GitLab, Jenkins)"),
    ReportFormat("github", "dropctl.render.github", "render_github", False,
                 "GitHub Actions workflow commands (annotations)"),
)}
