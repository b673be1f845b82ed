"""dropctl.render.calibration on hand-built results: exact strings and documents."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console

from dropctl.mc.calibration import CalibratedOutput, CalibrationFit, ClassifierFit, RegressorFit
from dropctl.mc.calibration_check import ClassifierCheck, ProbabilityScores
from dropctl.mc.conformal import ClassScore
from dropctl.render.calibration import (
    calibrated_arrays,
    calibration_doc,
    calibration_tables,
    check_json,
    check_tables,
)


def _fit(qhat: float = 0.75) -> CalibrationFit:
    clf = ClassifierFit("probs", 3, "temperature", 1.5, None, None, ClassScore.APS, 0.01, 1, qhat,
                        {0.9: qhat})
    reg = RegressorFit("value", 4.0, 1e-6, 2.5, 12.5, {0.9: 2.5})
    return CalibrationFit("m", "ab" * 32, 50, 3, None, 0.9, 8, "0.2.0", (clf, reg))


def _text(parts: list[object]) -> str:
    import io

    console = Console(width=120, record=True, file=io.StringIO())
    for p in parts:
        console.print(p)
    return console.export_text()


def test_calibration_doc_is_the_file_format() -> None:
    doc = calibration_doc(_fit())
    assert list(doc)[:4] == ["schema", "schema_version", "dropctl_version", "format"]
    assert doc["schema"] == "dropctl.calibrate" and doc["format"] == "dropctl-calibration/1"
    assert doc["outputs"][0] == {
        "kind": "classifier", "output": "probs", "classes": 3, "method": "temperature",
        "temperature": 1.5, "weights": None, "bias": None, "score": "aps", "raps_lambda": 0.01,
        "raps_k": 1, "qhat": 0.75, "curve": {"0.9": 0.75}}
    assert doc["outputs"][1]["qhat_absolute"] == 12.5
    assert calibration_doc(_fit(math.inf))["outputs"][0]["qhat"] == "inf"


def test_calibration_tables_text() -> None:
    text = _text(calibration_tables(_fit()))
    assert "calibrate m: 8 calibration input(s), T=50, seed 3, coverage 0.9" in text
    assert ("│ probs  │ classifier, 3 classes │ T = 1.5 │ aps              │ 0.75                 │"
            in text)
    assert ("│ value  │ regressor             │ std x 4 │ |y - mean| / std │ 2.5 (absolute: 12.5) │"
            in text)
    text = " ".join(_text(calibration_tables(_fit(math.inf))).split())  # the note wraps
    assert ("threshold inf: 8 calibration inputs are too few for coverage 0.9 (need n >= 9); "
            "sets hold every class, intervals are unbounded") in text


def test_arrays_are_prefixed_for_several_outputs() -> None:
    c = CalibratedOutput("a", True, np.eye(2), np.eye(2, dtype=bool), None, None)
    r = CalibratedOutput("b", False, np.ones(2), None, np.zeros(2), np.full(2, 2.0))
    assert sorted(calibrated_arrays((c, r), multi=True)) == [
        "a/calibrated", "a/set", "b/calibrated", "b/lower", "b/upper"]
    assert sorted(calibrated_arrays((c,), multi=False)) == ["calibrated", "set"]


def test_check_json_and_tables() -> None:
    s1 = ProbabilityScores(0.9, 0.3, 0.2, 0.1, 0.09, 0.4)
    s2 = ProbabilityScores(0.9, 0.25, 0.18, 0.02, 0.03, 0.2)
    check = ClassifierCheck("probs", 0.9, s1, s2, 0.905, 1.25, 0.99, 1.6, np.array([1, 2]),
                            {0.9: 0.905}, np.eye(2), np.eye(2), np.array([0, 1]))
    doc = check_json((check,), _fit())["calibrated"]
    assert doc["file"] == {"coverage": 0.9, "n": 8, "samples": 50, "seed": 3,
                           "model_sha256": "ab" * 32}
    assert doc["probs"]["after"] == {"accuracy": 0.9, "nll": 0.25, "brier": 0.18, "ece": 0.02,
                                     "ece_adaptive": 0.03, "mce": 0.2}
    assert doc["probs"]["set_coverage"] == 0.905 and doc["probs"]["curve"] == {"0.9": 0.905}
    assert check_json(None, None) == {"calibrated": None}
    text = _text(check_tables((check,)))
    assert "│ probs  │ calibrated │   0.9000 │ 0.2500 │ 0.1800 │ 0.0200 │       0.0300 │ 0.2000 │" \
        in text
    assert "│ probs  │ conformal            │     0.9 │   0.9050 │     1.250 │" in text
