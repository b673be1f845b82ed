"""dropctl.render.evaluation on hand-built results: exact JSON and table text."""

from __future__ import annotations

import io
import json

import numpy as np
from rich.console import Console

from dropctl.mc.evaluation import Evaluation, OODScore, Ranking, Regression, Selective
from dropctl.render.evaluation import evaluation_json, evaluation_tables


def _ev() -> Evaluation:
    sel = Selective("max_prob", 0.125, {0.8: 1.0, 0.9: 0.75, 0.95: 0.5}, np.array([1.0]),
                    np.array([0.0]))
    ood = OODScore("entropy", 0.875, 0.5, 0.25, np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    reg = Regression(2.0, 1.5, 1e-6, {0.5: 0.5, 0.9: 0.8, 0.95: 0.9},
                     {0.5: 1.0, 0.9: 2.0, 0.95: 3.0}, np.array([0.5]), np.array([0.5]), 0.0625)
    rank = Ranking("out", "entropy", np.array([3, 1]), np.array([0.9, 0.7]))
    return Evaluation({"probs": (sel,)}, {"probs": (ood,)}, {"value": reg}, rank, 7)


def test_evaluation_json_contract() -> None:
    doc = evaluation_json(_ev())
    assert json.loads(json.dumps(doc)) == {
        "selective": {"probs": {"max_prob": {
            "aurc": 0.125, "accuracy_at_coverage": {"0.8": 1.0, "0.9": 0.75, "0.95": 0.5}}}},
        "ood": {"probs": {"entropy": {"auroc": 0.875, "aupr": 0.5, "fpr95": 0.25}}},
        "regression": {"value": {
            "rmse": 2.0, "nll": 1.5, "std_floor": 1e-6,
            "picp": {"0.5": 0.5, "0.9": 0.8, "0.95": 0.9},
            "mpiw": {"0.5": 1.0, "0.9": 2.0, "0.95": 3.0}, "interval_calibration_error": 0.0625}},
        "ranking": {"output": "out", "score": "entropy",
                    "top": [{"index": 3, "score": 0.9}, {"index": 1, "score": 0.7}]},
        "ood_inputs": 7,
    }
    assert evaluation_json(None) == {"selective": None, "ood": None, "regression": None,
                                     "ranking": None, "ood_inputs": 0}


def test_evaluation_tables_text() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=160, color_system=None)
    for part in evaluation_tables(_ev()):
        console.print(part)
    text = buf.getvalue()
    for line in (
        "│ probs  │ max_prob │ 0.1250 │  1.0000 │  0.7500 │  0.5000 │",
        "OOD detection: 7 OOD inputs",
        "│ probs  │ entropy │ 0.8750 │ 0.5000 │ 0.2500 │",
        "│ value  │    2 │ 1.5 │   0.5000 │   0.8000 │   0.9000 │        2 │              0.0625 │",
        "std floored at 1e-06 for NLL, PICP and MPIW (--interval-std-floor)",
        "label next: top 2",
        "│    1 │     3 │         0.9 │",
    ):
        assert line in text, (line, text)
