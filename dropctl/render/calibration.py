"""Rendering calibration: the calibration file, its summary, and before/after reports.

The calibration file (``dropctl calibrate -o calib.json``; read back by
:func:`dropctl.mc.calibration.read_calibration`)::

    {"schema": "dropctl.calibrate", "schema_version": 1, "format": "dropctl-calibration/1",
     "dropctl_version", "model": {"name", "sha256"},
     "samples": T, "seed", "sites", "coverage": 0.9, "n": N_cal,
     "outputs": [{"kind": "classifier", "output", "classes", "method", "temperature",
                  "weights", "bias", "score", "raps_lambda", "raps_k", "qhat", "curve"},
                 {"kind": "regressor", "output", "variance_scale", "std_floor", "qhat",
                  "qhat_absolute", "curve"}]}

``qhat`` is ``"inf"`` when the calibration set is too small for the coverage (the set is every
class, the interval the whole line); ``curve`` maps a coverage level to its threshold.

The ``mc-predict --calibration`` JSON adds ``"calibrated": {OUT: {...}}`` (see
:func:`check_json`); the ``.npz`` adds ``calibrated``, ``set`` or ``lower``/``upper``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.table import Table

from dropctl.mc.calibration import FORMAT, CalibratedOutput, CalibrationFit, ClassifierFit
from dropctl.mc.calibration_check import ClassifierCheck, ProbabilityScores, RegressorCheck
from dropctl.render.schema import header

__all__ = ["bake_json", "bake_line", "calibrated_arrays", "calibration_doc", "calibration_tables",
           "check_json",
           "check_tables"]


def _num(x: float) -> float | str:
    return "inf" if math.isinf(x) else float(x)


def _curve(curve: Any) -> dict[str, float | str]:
    return {f"{k:g}": _num(v) for k, v in curve.items()}


def calibration_doc(fit: CalibrationFit) -> dict[str, Any]:
    """The calibration file's JSON document."""
    outputs: list[dict[str, Any]] = []
    for f in fit.outputs:
        if isinstance(f, ClassifierFit):
            outputs.append({
                "kind": "classifier", "output": f.output, "classes": f.classes,
                "method": f.method, "temperature": f.temperature,
                "weights": None if f.weights is None else list(f.weights),
                "bias": None if f.bias is None else list(f.bias),
                "score": f.score.value, "raps_lambda": f.raps_lambda, "raps_k": f.raps_k,
                "qhat": _num(f.qhat), "curve": _curve(f.curve)})
        else:
            outputs.append({
                "kind": "regressor", "output": f.output, "variance_scale": f.variance_scale,
                "std_floor": f.std_floor, "qhat": _num(f.qhat),
                "qhat_absolute": _num(f.qhat_absolute), "curve": _curve(f.curve)})
    # The JSON contract's three keys first; dropctl_version is the one that fitted the file.
    return {**header("calibrate"), "format": FORMAT, "dropctl_version": fit.dropctl_version,
            "model": {"name": fit.model_name, "sha256": fit.model_sha256},
            "samples": fit.samples, "seed": fit.seed, "sites": fit.sites,
            "coverage": fit.coverage, "n": fit.n, "outputs": outputs}


def calibration_tables(fit: CalibrationFit) -> list[Any]:
    """Rich summary of a fit (``dropctl calibrate``'s report)."""
    t = Table(title=f"calibrate {fit.model_name}: {fit.n} calibration input(s), T={fit.samples}, "
                    f"seed {fit.seed}, coverage {fit.coverage:g}", title_justify="left")
    for col in ("output", "kind", "scaling", "conformal score", "threshold"):
        t.add_column(col, justify="left")
    for f in fit.outputs:
        if isinstance(f, ClassifierFit):
            scaling = f"T = {f.temperature:.4g}" + (" (+ vector w, b)" if f.weights else "")
            score = f.score.value + (f" (lambda {f.raps_lambda:g}, k {f.raps_k})"
                                     if f.score.value == "raps" else "")
            t.add_row(f.output, f"classifier, {f.classes} classes", scaling, score, f"{f.qhat:.4g}")
        else:
            t.add_row(f.output, "regressor", f"std x {f.variance_scale:.4g}",
                      "|y - mean| / std", f"{f.qhat:.4g} (absolute: {f.qhat_absolute:.4g})")
    out: list[Any] = [t]
    if any(math.isinf(f.qhat) for f in fit.outputs):
        out.append(f"threshold inf: {fit.n} calibration inputs are too few for coverage "
                   f"{fit.coverage:g} (need n >= {math.ceil(round(fit.coverage / (1 - fit.coverage), 9))}); "
                   "sets hold every class, intervals are unbounded")
    return out


def calibrated_arrays(calibrated: tuple[CalibratedOutput, ...], multi: bool
                      ) -> dict[str, np.ndarray]:
    """Per-input arrays for ``--output``: ``calibrated``, ``set`` or ``lower``/``upper``."""
    out: dict[str, np.ndarray] = {}
    for c in calibrated:
        prefix = f"{c.name}/" if multi else ""
        out[prefix + "calibrated"] = np.asarray(c.calibrated)
        if c.set is not None:
            out[prefix + "set"] = np.asarray(c.set, dtype=bool)
        if c.lower is not None and c.upper is not None:
            out[prefix + "lower"] = np.asarray(c.lower)
            out[prefix + "upper"] = np.asarray(c.upper)
    return out


def _scores(s: ProbabilityScores) -> dict[str, float]:
    return {"accuracy": s.accuracy, "nll": s.nll, "brier": s.brier, "ece": s.ece,
            "ece_adaptive": s.ece_adaptive, "mce": s.mce}


def check_json(checks: tuple[ClassifierCheck | RegressorCheck, ...] | None,
               fit: CalibrationFit | None) -> dict[str, Any]:
    """``"calibrated"`` key of the ``mc-predict --calibration`` JSON document.

    Per output with labels: classifiers ``{"before": SCORES, "after": SCORES, "coverage",
    "set_coverage", "mean_set_size", "naive_coverage", "naive_set_size", "curve"}`` with SCORES
    ``{"accuracy", "nll", "brier", "ece", "ece_adaptive", "mce"}``; regressors ``{"coverage",
    "nll_before", "nll_after", "interval_coverage", "mean_width", "absolute_coverage",
    "absolute_width", "naive_coverage", "naive_width", "curve"}``. Without labels, only the
    file's summary (``{"file": ...}``).
    """
    if fit is None:
        return {"calibrated": None}
    doc: dict[str, Any] = {"file": {"coverage": fit.coverage, "n": fit.n, "samples": fit.samples,
                                    "seed": fit.seed, "model_sha256": fit.model_sha256}}
    for c in checks or ():
        if isinstance(c, ClassifierCheck):
            doc[c.output] = {
                "before": _scores(c.before), "after": _scores(c.after), "coverage": c.coverage,
                "set_coverage": c.set_coverage, "mean_set_size": c.mean_set_size,
                "naive_coverage": c.naive_coverage, "naive_set_size": c.naive_set_size,
                "curve": {f"{k:g}": v for k, v in c.curve.items()}}
        else:
            doc[c.output] = {
                "coverage": c.coverage, "nll_before": c.nll_before, "nll_after": c.nll_after,
                "interval_coverage": c.interval_coverage, "mean_width": c.mean_width,
                "absolute_coverage": c.absolute_coverage, "absolute_width": c.absolute_width,
                "naive_coverage": c.naive_coverage, "naive_width": c.naive_width,
                "curve": {f"{k:g}": v for k, v in c.curve.items()}}
    return {"calibrated": doc}


def _f(x: float) -> str:
    return f"{x:.4f}"


def check_tables(checks: tuple[ClassifierCheck | RegressorCheck, ...]) -> list[Any]:
    """Rich before/after tables for ``mc-predict --calibration --labels``."""
    out: list[Any] = []
    cls = [c for c in checks if isinstance(c, ClassifierCheck)]
    reg = [c for c in checks if isinstance(c, RegressorCheck)]
    if cls:
        t = Table(title="calibration before/after (ECE: 15 equal-width bins; adaptive: "
                        "equal-mass)", title_justify="left")
        for col in ("output", "", "accuracy", "NLL", "Brier", "ECE", "ECE adaptive", "MCE"):
            t.add_column(col, justify="left" if col in ("output", "") else "right")
        for c in cls:
            for label, s in (("MC mean", c.before), ("calibrated", c.after)):
                t.add_row(c.output, label, _f(s.accuracy), _f(s.nll), _f(s.brier), _f(s.ece),
                          _f(s.ece_adaptive), _f(s.mce))
        out.append(t)
        t = Table(title="prediction sets", title_justify="left")
        for col in ("output", "sets", "nominal", "coverage", "mean size"):
            t.add_column(col, justify="left" if col in ("output", "sets") else "right")
        for c in cls:
            t.add_row(c.output, "conformal", f"{c.coverage:g}", _f(c.set_coverage),
                      f"{c.mean_set_size:.3f}")
            t.add_row(c.output, "naive (MC-mean mass)", f"{c.coverage:g}", _f(c.naive_coverage),
                      f"{c.naive_set_size:.3f}")
        out.append(t)
    if reg:
        t = Table(title="regression calibration before/after", title_justify="left")
        for col in ("output", "interval", "nominal", "coverage", "mean width", "NLL"):
            t.add_column(col, justify="left" if col in ("output", "interval") else "right")
        for r in reg:
            t.add_row(r.output, "mean +- z std (MC)", f"{r.coverage:g}", _f(r.naive_coverage),
                      f"{r.naive_width:.4g}", f"{r.nll_before:.4g}")
            t.add_row(r.output, "conformal |y-mean|/std", f"{r.coverage:g}",
                      _f(r.interval_coverage), f"{r.mean_width:.4g}", f"{r.nll_after:.4g}")
            t.add_row(r.output, "conformal |y-mean|", f"{r.coverage:g}",
                      _f(r.absolute_coverage), f"{r.absolute_width:.4g}", "-")
        out.append(t)
        out.append("NLL column: before = MC std, after = std x the fitted variance scale")
    return out


def bake_json(check: Any, calibration: Any) -> dict[str, Any]:
    """``convert --perma --calibration --json``: the ``calibration`` key (a BakeCheck)."""
    return {"file": str(calibration), "samples": check.samples, "outputs": list(check.outputs),
            "head_max_error": check.head_max_error,
            "set_disagreements": check.set_disagreements, "mc_max_z": check.mc_max_z,
            "probe_inputs": check.probe_inputs, "wrapper_error": check.wrapper_error}


def bake_line(check: Any) -> str:
    """One line: what the baked calibration returns and how it was verified."""
    return (f"calibration baked in: one call makes {check.samples} passes per input and returns "
            f"{', '.join(check.outputs)}; verified on {check.probe_inputs} probe inputs: "
            f"randomness off equal to IN ({check.wrapper_error:.1e}), head within "
            f"{check.head_max_error:.1e} of dropctl's, MC mean within {check.mc_max_z:.2f} "
            "standard errors of mc-predict's")
