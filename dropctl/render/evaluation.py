"""Rendering uncertainty evaluations (selective prediction, OOD, regression intervals, ranking).

The JSON contract (keys added to the ``mc-predict --json`` document; each is ``null`` when the
run did not ask for it), one entry per output name like ``calibration``::

    "selective":  {OUT: {SCORE: {"aurc", "accuracy_at_coverage": {"0.8", "0.9", "0.95"}}}}
    "ood":        {OUT: {SCORE: {"auroc", "aupr", "fpr95"}}}
    "regression": {OUT: {"rmse", "nll", "std_floor", "picp": {"0.5", "0.9", "0.95"},
                         "mpiw": {"0.5", "0.9", "0.95"}, "interval_calibration_error"}}
    "ranking":    {"output", "score", "top": [{"index", "score"}, ...]}
    "ood_inputs": N_ood (0 without --ood/--synthetic-ood)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.table import Table

from dropctl.mc.evaluation import Evaluation, output_scores

__all__ = ["evaluation_arrays", "evaluation_json", "evaluation_tables"]


def _key(level: float) -> str:
    return f"{level:g}"


def evaluation_json(ev: Evaluation | None) -> dict[str, Any]:
    """The evaluation keys of the ``mc-predict --json`` document (see the module docstring)."""
    if ev is None:
        return {"selective": None, "ood": None, "regression": None, "ranking": None,
                "ood_inputs": 0}
    selective = {
        out: {s.score: {"aurc": s.aurc,
                        "accuracy_at_coverage": {_key(c): a for c, a in s.accuracy_at_coverage.items()}}
              for s in scores}
        for out, scores in ev.selective.items()
    }
    ood = {out: {s.score: {"auroc": s.auroc, "aupr": s.aupr, "fpr95": s.fpr95} for s in scores}
           for out, scores in ev.ood.items()}
    regression = {
        out: {"rmse": r.rmse, "nll": r.nll, "std_floor": r.std_floor,
              "picp": {_key(a): v for a, v in r.picp.items()},
              "mpiw": {_key(a): v for a, v in r.mpiw.items()},
              "interval_calibration_error": r.interval_calibration_error}
        for out, r in ev.regression.items()
    }
    ranking = None
    if ev.ranking is not None:
        rk = ev.ranking
        ranking = {"output": rk.output, "score": rk.score,
                   "top": [{"index": int(i), "score": float(v)}
                           for i, v in zip(rk.index, rk.values, strict=True)]}
    return {"selective": selective or None, "ood": ood or None, "regression": regression or None,
            "ranking": ranking, "ood_inputs": ev.ood_inputs}


def _f(x: float) -> str:
    return f"{x:.4f}"


def evaluation_tables(ev: Evaluation) -> list[Any]:
    """Compact Rich tables for the human ``mc-predict`` report."""
    out: list[Any] = []
    if ev.selective:
        t = Table(title="selective prediction (lower AURC is better)", title_justify="left")
        for col in ("output", "score", "AURC", "acc@80%", "acc@90%", "acc@95%"):
            t.add_column(col, justify="left" if col in ("output", "score") else "right")
        for name, scores in ev.selective.items():
            for s in scores:
                t.add_row(name, s.score, _f(s.aurc),
                          *(_f(s.accuracy_at_coverage[c]) for c in sorted(s.accuracy_at_coverage)))
        out.append(t)
    if ev.ood:
        t = Table(title=f"OOD detection: {ev.ood_inputs} OOD inputs", title_justify="left")
        for col in ("output", "score", "AUROC", "AUPR", "FPR95"):
            t.add_column(col, justify="left" if col in ("output", "score") else "right")
        for name, ood_scores in ev.ood.items():
            for d in ood_scores:
                t.add_row(name, d.score, _f(d.auroc), _f(d.aupr), _f(d.fpr95))
        out.append(t)
    if ev.regression:
        t = Table(title="regression: intervals mean +- z*std", title_justify="left")
        for col in ("output", "RMSE", "NLL", "PICP 50%", "PICP 90%", "PICP 95%", "MPIW 90%",
                    "interval cal. error"):
            t.add_column(col, justify="left" if col == "output" else "right")
        for name, r in ev.regression.items():
            t.add_row(name, f"{r.rmse:.4g}", f"{r.nll:.4g}", *(_f(r.picp[a]) for a in sorted(r.picp)),
                      f"{r.mpiw[0.9]:.4g}", _f(r.interval_calibration_error))
        out.append(t)
        floors = {r.std_floor for r in ev.regression.values()}
        out.append(f"std floored at {', '.join(f'{f:g}' for f in sorted(floors))} for NLL, PICP "
                   "and MPIW (--interval-std-floor)")
    if ev.ranking is not None:
        rk = ev.ranking
        t = Table(title=f"label next: top {rk.index.size}", title_justify="left")
        for col in ("rank", "index", f"{rk.output} {rk.score}"):
            t.add_column(col, justify="right")
        for pos, (i, v) in enumerate(zip(rk.index, rk.values, strict=True), start=1):
            t.add_row(str(pos), str(int(i)), f"{float(v):.4g}")
        out.append(t)
    return out


def evaluation_arrays(result: Any, ood_result: Any, ev: Evaluation | None
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(per-input arrays [N, ...], other arrays) for ``--output``.

    Per input: ``scores/<SCORE>`` for every score of every output (prefixed ``<OUT>/`` when the
    model has several outputs). Others: ``ood/scores/<SCORE>``, ``ood/mean``, ``ood/std`` for
    the OOD inputs, and ``ranking/index``, ``ranking/score``.
    """
    multi = len(result.outputs) > 1
    per_input: dict[str, np.ndarray] = {}
    other: dict[str, np.ndarray] = {}
    for k, o in enumerate(result.outputs):
        prefix = f"{o.name}/" if multi else ""
        for score, values in output_scores(o).items():
            per_input[f"{prefix}scores/{score}"] = np.asarray(values, np.float64)
        if ood_result is not None:
            oo = ood_result.outputs[k]
            other[f"{prefix}ood/mean"] = np.asarray(oo.mean)
            other[f"{prefix}ood/std"] = np.asarray(oo.std)
            for score, values in output_scores(oo).items():
                other[f"{prefix}ood/scores/{score}"] = np.asarray(values, np.float64)
    if ev is not None and ev.ranking is not None:
        other["ranking/index"] = ev.ranking.index.astype(np.int64)
        other["ranking/score"] = np.asarray(ev.ranking.values, np.float64)
    return per_input, other
