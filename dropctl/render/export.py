"""``dropctl export``'s output: the signature table, the verification line and ``--json``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from dropctl.deploy.plan import ExportMode, ExportReport
from dropctl.render.safe import escape
from dropctl.render.schema import header


def _shape(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("N" if i == 0 and d is None else ("?" if d is None else str(d))
                           for i, d in enumerate(shape)) + "]"


def _pct(coverage: float | None) -> str:
    return "?" if coverage is None else f"{coverage:.0%}"


def render_signature(report: ExportReport) -> Table:
    """OUT's inputs and outputs, as a serving client needs them."""
    table = Table(title=f"{escape(report.dst)} ({report.format.value})", title_justify="left")
    table.add_column("direction")
    table.add_column("name", overflow="fold")
    table.add_column("shape / meaning", overflow="fold")
    for name, shape, dtype in report.inputs:
        table.add_row("input", escape(name), f"{dtype} {_shape(shape)}")
    meaning = {"mean": f"MC mean over T={report.samples} passes",
               "std": "MC std over the passes (ddof=0)",
               "entropy": "predictive entropy of the mean (nats)",
               "mutual_information": "BALD (nats)",
               "variation_ratio": "1 - modal class share",
               "calibrated": "calibrated probabilities (classifier) or scaled std",
               "set": f"conformal prediction set, {_pct(report.coverage)} coverage (bool)",
               "lower": f"conformal interval lower bound, {_pct(report.coverage)} coverage",
               "upper": f"conformal interval upper bound, {_pct(report.coverage)} coverage"}
    for key in report.outputs:
        what = meaning.get(key.rsplit("/", 1)[-1], "") if report.mode is ExportMode.MC else (
            "one stochastic sample per call" if report.mode is ExportMode.PERMA
            else "deterministic prediction (dropout off)")
        table.add_row("output", escape(key), what)
    return table


def summary_line(report: ExportReport) -> str:
    """One line: what was written and which runtime verified it."""
    what = {ExportMode.MC: f"MC dropout, T={report.samples} passes per call",
            ExportMode.PERMA: "one stochastic sample per call",
            ExportMode.STANDARD: "dropout off"}[report.mode]
    line = (f"wrote {escape(report.dst)} ({report.format.value}, {what}, "
            f"{len(report.sites)} site(s) on, {report.bytes:,} bytes)")
    v = report.verification
    if v is None:
        return line + "; not verified (--no-verify)"
    if report.mode is ExportMode.STANDARD:
        err = max((c.max_rel_error for c in v.outputs), default=0.0)
        detail = f"equals predict() within {err:.1g} relative, no random op"
    else:
        z = max((c.max_z for c in v.outputs), default=0.0)
        detail = (f"samples afresh ({', '.join(v.random_ops)}), mean within {z:.1f} standard "
                  f"errors of mc-predict's")
        if v.seeded:
            detail += ", 'seeded' signature reproducible"
        c = v.calibration
        if c is not None:
            detail += (f"; calibration from {escape(report.calibration or '?')} within "
                       f"{c.max_z:.1f} standard errors of mc-predict --calibration's")
            if any(k.rsplit("/", 1)[-1] == "set" for k in report.outputs):
                detail += (f", sets equal on {c.sets_compared - c.sets_differ}/"
                           f"{c.sets_compared} memberships beyond MC error of the threshold")
    return line + f"; verified in {v.runtime} {v.version} on {v.inputs} inputs: {detail}"


def export_dict(report: ExportReport) -> dict[str, Any]:
    """The ``--json`` document (extend, never rename keys)."""
    v = report.verification
    return {
        **header("export"),
        "src": report.src,
        "dst": report.dst,
        "format": report.format.value,
        "mode": report.mode.value,
        "samples": report.samples,
        "sites": list(report.sites),
        "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in report.inputs],
        "outputs": list(report.outputs),
        "bytes": report.bytes,
        "warnings": list(report.warnings),
        "calibration": None if report.calibration is None else {
            "file": report.calibration, "coverage": report.coverage},
        "verification": None if v is None else {
            "runtime": v.runtime, "version": v.version, "inputs": v.inputs,
            "random_ops": list(v.random_ops), "seeded": v.seeded,
            "calibration": None if v.calibration is None else {
                "head_max_error": v.calibration.head_max_error,
                "head_set_errors": v.calibration.head_set_errors,
                "max_z": v.calibration.max_z, "sets_compared": v.calibration.sets_compared,
                "sets_differ": v.calibration.sets_differ, "repeats": v.calibration.repeats},
            "outputs": [{"name": c.name, "stochastic": c.stochastic, "max_std": c.max_std,
                         "max_z": c.max_z, "max_rel_error": c.max_rel_error, "fresh": c.fresh}
                        for c in v.outputs]},
    }
