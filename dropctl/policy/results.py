"""``dropctl check``'s result vocabulary: one verdict per artifact, one report per run.

Frozen dataclasses and a ``str`` enum; :mod:`dropctl.policy.run` produces them, every check
renderer (:mod:`dropctl.render.check_text`, ``check_json``, ``sarif``, ``junit``, ``github``)
formats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from dropctl.display import Displayable
from dropctl.reader.report import InspectReport, Severity
from dropctl.rules import PolicyRule

if TYPE_CHECKING:  # the probe's result type; probe.py is the gate's one runtime module
    from dropctl.policy.probe import ProbeResult


class Status(StrEnum):
    """Outcome for one artifact."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True)
class Violation:
    """One rule an artifact breaks (or a lower-severity observation about it)."""

    rule: PolicyRule
    severity: Severity
    """Severity after the policy (may differ from the rule's default)."""
    path: str
    """Layer path inside the model ("" for the whole model)."""
    message: str
    hint: str = ""
    finding: str | None = None
    """The ``dropctl inspect`` finding code this comes from, if any."""


@dataclass(frozen=True)
class ArtifactResult:
    """The verdict for one artifact."""

    path: str
    """The file as found (relative paths stay relative)."""
    status: Status
    violations: tuple[Violation, ...] = ()
    error: str | None = None
    """Why the artifact could not be read or checked (status ERROR)."""
    report: InspectReport | None = None
    probe: ProbeResult | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class CheckReport(Displayable):
    """Every artifact's verdict plus what the run was asked to gate on."""

    results: tuple[ArtifactResult, ...]
    fail_on: Severity
    config_source: str | None
    """The configuration file used, if any."""
    probe: bool
    keras_target: str = ""
    """Which Keras the verdicts are for, as every format states it (``"Keras 3.15 (default)"``;
    several, ``"; "``-joined, when per-path policies differ)."""

    def count(self, status: Status) -> int:
        return sum(r.status is status for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 all pass, 1 a violation at or above ``fail_on``, 2 something unreadable/unchecked."""
        if any(r.status is Status.ERROR for r in self.results):
            return 2
        return 1 if any(r.status is Status.FAIL for r in self.results) else 0
