"""``dropctl check --format json``: one JSON document for scripts (a public contract: extend it,
don't rename it)."""

from __future__ import annotations

import json
from typing import Any

from dropctl._version import __version__
from dropctl.policy.results import ArtifactResult, CheckReport, Status, Violation
from dropctl.render.check_common import uri
from dropctl.render.safe import finite
from dropctl.render.schema import header
from dropctl.rules import POLICY_RULES


def _violation(v: Violation) -> dict[str, Any]:
    return {
        "rule": v.rule.id,
        "name": v.rule.name,
        "severity": v.severity.value,
        "path": v.path,
        "message": v.message,
        "hint": v.hint,
        "finding": v.finding,
    }


def _target(report: Any) -> dict[str, Any] | None:
    """The Keras the artifact's verdicts are for (the first of several policy versions)."""
    t = report.keras_target
    return None if t is None else {"keras": t.version, "source": t.source}


def _artifact(r: ArtifactResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "path": r.path,
        "uri": uri(r.path),
        "status": r.status.value,
        "error": r.error,
        "violations": [_violation(v) for v in r.violations],
        "model": None,
        "probe": None,
    }
    if r.report is not None:
        m = r.report.model
        doc["model"] = {
            "format": m.format.value,
            "keras_version": m.keras_version,
            "class_name": m.class_name,
            "name": m.name,
            "sites": len(r.report.sites),
            "predict_deterministic": r.report.predict_deterministic.value,
            "predict_deterministic_keras2": r.report.predict_deterministic_keras2.value,
            "verdicts_for": _target(r.report),
        }
    if r.probe is not None:
        doc["probe"] = {
            "predict_deterministic": r.probe.predict_deterministic,
            "max_abs_diff": finite(r.probe.max_abs_diff),
            "inputs": r.probe.inputs,
            "mc_stochastic": r.probe.mc_stochastic,
            "unswitched": list(r.probe.unswitched),
        }
    return doc


def to_dict(report: CheckReport) -> dict[str, Any]:
    code = report.exit_code
    return {
        **header("check"),
        "status": {0: "pass", 1: "fail", 2: "error"}[code],
        "exit_code": code,
        "tool": {"name": "dropctl", "version": __version__},
        "fail_on": report.fail_on.value,
        "config": report.config_source,
        "probe": report.probe,
        "verdicts_for": report.keras_target,
        "summary": {
            "artifacts": len(report.results),
            "passed": report.count(Status.PASS),
            "failed": report.count(Status.FAIL),
            "errors": report.count(Status.ERROR),
        },
        "artifacts": [_artifact(r) for r in report.results],
        "rules": [{"id": r.id, "name": r.name, "summary": r.summary} for r in POLICY_RULES],
    }


def render_json(report: CheckReport) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"
