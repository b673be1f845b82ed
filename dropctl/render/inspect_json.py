"""``dropctl inspect --json``: the public JSON contract.

Scripts and CI rely on these keys: extend, never rename. One document per run.
"""

from __future__ import annotations

from typing import Any

from dropctl.reader.report import Finding, InspectReport, LayerEntry, Site
from dropctl.render.safe import finite
from dropctl.render.schema import header


def site_dict(site: Site) -> dict[str, Any]:
    return {
        "path": site.path,
        "class_name": site.class_name,
        "kind": site.kind.value,
        "rate": finite(site.rate),  # NaN/Infinity are not JSON numbers: written as strings
        "recurrent_rate": finite(site.recurrent_rate),
        "stddev": finite(site.stddev),
        "trainable": site.trainable,
        "effective_trainable": site.effective_trainable,
        "training_pinned": site.training_pinned,
        "in_fit": site.in_fit,
        "in_predict": site.in_predict.value,
        "in_predict_keras2": site.in_predict_keras2.value,
        "in_call": site.in_call.value,
        "module": site.module,
        "note": site.note,
        "dead": site.dead,
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "severity": finding.severity.value,
        "path": finding.path,
        "message": finding.message,
        "hint": finding.hint,
    }


def layer_dict(entry: LayerEntry) -> dict[str, Any]:
    return {
        "path": entry.path,
        "class_name": entry.class_name,
        "depth": entry.depth,
        "trainable": entry.trainable,
        "effective_trainable": entry.effective_trainable,
        "container": entry.container,
        "stochastic": entry.stochastic,
    }


def _target(report: InspectReport) -> dict[str, Any] | None:
    """Which Keras the verdicts and every site's in_fit/in_predict/in_call are for."""
    t = report.keras_target
    return None if t is None else {"keras": t.version, "source": t.source}


def inspect_dict(report: InspectReport, *, include_layers: bool = False) -> dict[str, Any]:
    """The ``inspect --json`` document for one report."""
    m = report.model
    doc: dict[str, Any] = {
        **header("inspect"),
        "status": "ok",
        "model": {
            "path": m.path,
            "format": m.format.value,
            "keras_version": m.keras_version,
            "backend": m.backend,
            "name": m.name,
            "class_name": m.class_name,
            "has_weights": m.has_weights,
        },
        "verdict": {
            "predict_deterministic": report.predict_deterministic.value,
            "predict_deterministic_keras2": report.predict_deterministic_keras2.value,
            "call_deterministic": report.call_deterministic.value,
        },
        "verdicts_for": _target(report),
        "sites": [site_dict(s) for s in report.sites],
        "findings": [finding_dict(f) for f in report.findings],
        "opaque": list(report.opaque),
    }
    if include_layers:
        doc["layers"] = [layer_dict(e) for e in report.layers]
    return doc


def error_dict(path: str, message: str) -> dict[str, Any]:
    """The document printed by ``--json`` when the artifact cannot be read (exit 2)."""
    return {**header("inspect"), "status": "error", "model": {"path": path}, "error": message}
