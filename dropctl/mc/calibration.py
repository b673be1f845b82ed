"""Calibrating Monte Carlo outputs: fit on held-out data, apply, and judge (numpy only).

* **Scaling** of the MC mean's log-probabilities (temperature, vector) and of a regressor's MC
  std (variance): :mod:`dropctl.mc.scaling`.
* **Conformal** sets and intervals: :mod:`dropctl.mc.conformal`. The scores are computed on the
  *uncalibrated* MC mean (classifier) and MC std (regressor): a score fitted on the same
  calibration data (through ``T``) would no longer be exchangeable with a test point's, and the
  finite-sample guarantee would be lost. (Normalised intervals are unaffected: ``s`` cancels.)

Judging a fit on labelled test data (before/after scores, coverage, set size) lives in
:mod:`dropctl.mc.calibration_check`. The fit is a :class:`CalibrationFit`; ``dropctl calibrate``
writes it as JSON
(:mod:`dropctl.render.calibration`) and :func:`read_calibration` reads it back. It is bound to
the model's content hash (:func:`model_sha256`): :func:`check_model` refuses another model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dropctl.errors import InputDataError, UsageError
from dropctl.mc.conformal import (
    ClassScore,
    IntervalScore,
    conformal_quantile,
    interval_bounds,
    interval_scores,
    label_scores,
    prediction_sets,
)
from dropctl.mc.scaling import (
    PILOT_ROWS,
    VECTOR_RIDGE,
    fit_temperature,
    fit_variance_scale,
    fit_vector_scaling,
    log_probabilities,
    scale_logits,
)

if TYPE_CHECKING:
    from dropctl.mc.results import MCResult, OutputStats

__all__ = ["CURVE_LEVELS", "CalibratedOutput", "CalibrationFit", "ClassifierFit", "RegressorFit",
           "apply_calibration", "calibrated_columns", "check_model", "fit_calibration",
           "fit_temperature", "fit_variance_scale", "fit_vector_scaling", "log_probabilities",
           "model_sha256", "paired_outputs", "read_calibration", "scale_logits",
           "PILOT_ROWS", "VECTOR_RIDGE"]

FORMAT = "dropctl-calibration/1"
"""The ``format`` key of a calibration file."""
CURVE_LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99)
"""Coverage levels whose conformal thresholds the file keeps (coverage-vs-nominal curve)."""


# ---- the typed fit -------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierFit:
    """Calibration of one classifier output."""

    output: str
    """Output name."""
    classes: int
    """Number of classes C."""
    method: str
    """``temperature`` or ``vector``."""
    temperature: float
    """NLL-optimal temperature (also fitted, and reported, with ``vector``)."""
    weights: tuple[float, ...] | None
    """Vector scaling ``w`` per class (``vector`` only)."""
    bias: tuple[float, ...] | None
    """Vector scaling ``b`` per class (``vector`` only)."""
    score: ClassScore
    """Conformal score of the prediction sets."""
    raps_lambda: float
    """RAPS penalty per rank above ``raps_k``."""
    raps_k: int
    """RAPS: ranks up to this are not penalised."""
    qhat: float
    """Conformal threshold at the file's coverage (``inf``: every set is every class)."""
    curve: Mapping[float, float]
    """Conformal threshold per level of :data:`CURVE_LEVELS`."""


@dataclass(frozen=True)
class RegressorFit:
    """Calibration of one regression output (every element is one observation)."""

    output: str
    """Output name."""
    variance_scale: float
    """Factor on the MC std (Gaussian-NLL optimal)."""
    std_floor: float
    """Floor applied to the MC std before scaling and scoring."""
    qhat: float
    """Conformal threshold of ``|y - mu| / std``: interval ``mu +- qhat std``."""
    qhat_absolute: float
    """Conformal threshold of ``|y - mu|``: the baseline interval ``mu +- qhat_absolute``."""
    curve: Mapping[float, float]
    """Normalised-score threshold per level of :data:`CURVE_LEVELS`."""


@dataclass(frozen=True)
class CalibrationFit:
    """One calibration file: how a model's MC outputs were calibrated, and on what."""

    model_name: str
    """The model's name."""
    model_sha256: str
    """Content hash of the model artifact (:func:`model_sha256`)."""
    samples: int
    """MC passes T of the calibration run."""
    seed: int
    """Seed of the calibration run."""
    sites: str | None
    """``--sites`` glob of the calibration run (None: every site)."""
    coverage: float
    """Nominal coverage 1 - alpha of the sets and intervals."""
    n: int
    """Calibration inputs."""
    dropctl_version: str
    """dropctl that fitted it."""
    outputs: tuple[ClassifierFit | RegressorFit, ...]
    """One fit per model output."""


def _fit_classifier(o: OutputStats, y: np.ndarray, coverage: float, method: str,
                    score: ClassScore, lam: float, k_reg: int) -> ClassifierFit:
    z = log_probabilities(o.mean)
    temperature = fit_temperature(z, y, shifted=True)
    weights = bias = None
    if method == "vector":
        w, b = fit_vector_scaling(z, y)
        weights, bias = tuple(float(v) for v in w), tuple(float(v) for v in b)
    scores = label_scores(o.mean, y, score, lam, k_reg)
    curve = {lv: conformal_quantile(scores, 1.0 - lv) for lv in CURVE_LEVELS}
    return ClassifierFit(o.name, int(o.mean.shape[1]), method, temperature, weights, bias, score,
                         float(lam), int(k_reg), conformal_quantile(scores, 1.0 - coverage),
                         curve)


def _fit_regressor(o: OutputStats, y: np.ndarray, coverage: float,
                   std_floor: float) -> RegressorFit:
    s = np.maximum(o.std.astype(np.float64), std_floor)
    normalized = interval_scores(o.mean, s, y, IntervalScore.NORMALIZED)
    absolute = interval_scores(o.mean, s, y, IntervalScore.ABSOLUTE)
    curve = {lv: conformal_quantile(normalized, 1.0 - lv) for lv in CURVE_LEVELS}
    return RegressorFit(o.name, fit_variance_scale(o.mean, s, y), float(std_floor),
                        conformal_quantile(normalized, 1.0 - coverage),
                        conformal_quantile(absolute, 1.0 - coverage), curve)


def fit_calibration(result: MCResult, labels: Mapping[str, np.ndarray], *, model_sha: str,
                    coverage: float = 0.9, method: str = "temperature",
                    score: ClassScore = ClassScore.LAC, raps_lambda: float = 0.01,
                    raps_k: int = 1, std_floor: float = 1e-6,
                    sites: str | None = None) -> CalibrationFit:
    """Fit every output of an MC run on the calibration ``labels`` (by output name)."""
    from dropctl._version import __version__
    from dropctl.mc.evaluation import check_finite, checked_labels

    if not 0.0 < coverage < 1.0:
        raise UsageError(f"--coverage must be strictly between 0 and 1, got {coverage:g}")
    if method not in ("temperature", "vector"):
        raise UsageError(f"unknown --method '{method}' (use temperature or vector)")
    if not (std_floor > 0 and math.isfinite(std_floor)):
        raise UsageError(f"--interval-std-floor must be a positive number, got {std_floor:g}")
    check_finite(result, "calibration inputs")
    fits: list[ClassifierFit | RegressorFit] = []
    for o in result.outputs:
        if o.name not in labels:
            raise InputDataError(f"no calibration labels for output '{o.name}'")
        y = checked_labels(o, labels[o.name])
        fits.append(_fit_classifier(o, y, coverage, method, score, raps_lambda, raps_k)
                    if o.classifier else _fit_regressor(o, y, coverage, std_floor))
    return CalibrationFit(result.model_name, model_sha, result.samples_requested, result.seed,
                          sites, float(coverage), result.n_inputs, __version__, tuple(fits))


# ---- applying it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibratedOutput:
    """One output of an MC run with its calibration applied."""

    name: str
    """Output name."""
    classifier: bool
    """Classifier (``calibrated`` are probabilities, ``set`` is filled) or regressor."""
    calibrated: np.ndarray
    """Calibrated probabilities [N, C], or the scaled std (shape of the output)."""
    set: np.ndarray | None
    """Prediction sets [N, C] booleans (classifiers)."""
    lower: np.ndarray | None
    """Lower interval bounds (regressors)."""
    upper: np.ndarray | None
    """Upper interval bounds (regressors)."""


def _apply_arrays(fit: ClassifierFit | RegressorFit, name: str, mean: np.ndarray,
                  std: np.ndarray) -> CalibratedOutput:
    if isinstance(fit, ClassifierFit):
        z = log_probabilities(mean)
        w = None if fit.weights is None else np.array(fit.weights)
        b = None if fit.bias is None else np.array(fit.bias)
        probs = scale_logits(z, fit.temperature, w, b, shifted=True)
        sets = prediction_sets(mean, fit.qhat, fit.score, fit.raps_lambda, fit.raps_k)
        return CalibratedOutput(name, True, probs, sets, None, None)
    s = np.maximum(np.asarray(std, np.float64), fit.std_floor)
    lower, upper = interval_bounds(mean, s, fit.qhat, IntervalScore.NORMALIZED)
    return CalibratedOutput(name, False, s * fit.variance_scale, None, lower, upper)


def _apply_one(fit: ClassifierFit | RegressorFit, o: OutputStats) -> CalibratedOutput:
    if isinstance(fit, ClassifierFit):
        if not o.classifier or o.mean.shape[1] != fit.classes:
            raise InputDataError(f"output '{o.name}' does not match the calibration file (it was "
                                 f"fitted on a {fit.classes}-class classifier output)")
    elif o.classifier:
        raise InputDataError(f"output '{o.name}' is a classifier; the calibration file fitted a "
                             "regressor there")
    return _apply_arrays(fit, o.name, o.mean, o.std)


def calibrated_columns(fit: CalibrationFit, arrays: Mapping[str, np.ndarray]
                       ) -> dict[str, np.ndarray]:
    """``calibrated`` + ``set`` or ``lower``/``upper`` from result arrays keyed like
    ``mc-predict --output x.npz`` (``mean``, ``std``, ``OUT/``-prefixed for several outputs):
    for shard results and the Ray UDF, where no :class:`MCResult` exists."""
    multi = len(fit.outputs) > 1
    out: dict[str, np.ndarray] = {}
    for f in fit.outputs:
        prefix = f"{f.output}/" if multi else ""
        if prefix + "mean" not in arrays:
            raise InputDataError(f"the calibration file names output '{f.output}'; the model's "
                                 "results have no such output")
        mean = np.asarray(arrays[prefix + "mean"], np.float64)
        if isinstance(f, ClassifierFit) and (mean.ndim != 2 or mean.shape[1] != f.classes):
            raise InputDataError(f"output '{f.output}' does not match the calibration file (it "
                                 f"was fitted on a {f.classes}-class classifier output)")
        c = _apply_arrays(f, f.output, mean, np.asarray(arrays[prefix + "std"]))
        out[prefix + "calibrated"] = c.calibrated
        if c.set is not None:
            out[prefix + "set"] = c.set
        if c.lower is not None and c.upper is not None:
            out[prefix + "lower"], out[prefix + "upper"] = c.lower, c.upper
    return out


def paired_outputs(fit: CalibrationFit, result: MCResult
           ) -> list[tuple[ClassifierFit | RegressorFit, OutputStats]]:
    """(fit, output) pairs in the result's order; refuses a file naming other outputs."""
    by_name = {f.output: f for f in fit.outputs}
    names = [o.name for o in result.outputs]
    if sorted(by_name) != sorted(names):
        raise InputDataError(f"the calibration file has outputs {sorted(by_name)}; the model has "
                             f"{sorted(names)}")
    return [(by_name[o.name], o) for o in result.outputs]


def apply_calibration(fit: CalibrationFit, result: MCResult) -> tuple[CalibratedOutput, ...]:
    """Calibrated probabilities and sets, or scaled std and intervals, for every output."""
    from dropctl.mc.evaluation import check_finite

    check_finite(result)
    return tuple(_apply_one(f, o) for f, o in paired_outputs(fit, result))


# ---- the file: model binding and reading ----------------------------------------------------


def model_sha256(path: str | Path) -> str:
    """SHA-256 of a model file; for a directory (SavedModel, preset), of every file in it:
    ``sha256(relative path NUL file sha256 LF ...)`` in sorted path order."""
    import hashlib

    def sha256_file(f: Path) -> str:
        with f.open("rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    if not p.is_dir():
        raise InputDataError(f"{p}: no such model file or directory")
    h = hashlib.sha256()
    for f in sorted(q for q in p.rglob("*") if q.is_file()):
        h.update(f"{f.relative_to(p).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def check_model(fit: CalibrationFit, path: str | Path, calibration_path: str | Path) -> None:
    """Refuse to apply ``fit`` to a model whose content hash is not the one it was fitted on."""
    digest = model_sha256(path)
    if digest != fit.model_sha256:
        raise InputDataError(
            f"{calibration_path} was fitted on another model (sha256 {fit.model_sha256[:12]}..., "
            f"{path} is {digest[:12]}...); run dropctl calibrate on this model")


def _number(v: Any, what: str) -> float:
    if v == "inf":
        return math.inf
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise InputDataError(f"{what} is not a number")
    return float(v)


def _curve(doc: Any, what: str) -> dict[float, float]:
    if not isinstance(doc, dict):
        raise InputDataError(f"{what} is not an object")
    return {_number(float(k), what): _number(v, what) for k, v in doc.items()}


def _output_fit(doc: Any, where: str) -> ClassifierFit | RegressorFit:
    from dropctl.mc.conformal import parse_class_score

    if not isinstance(doc, dict) or doc.get("kind") not in ("classifier", "regressor"):
        raise InputDataError(f"{where}: 'kind' must be classifier or regressor")
    try:
        if doc["kind"] == "classifier":
            w, b = doc.get("weights"), doc.get("bias")
            return ClassifierFit(
                str(doc["output"]), int(doc["classes"]), str(doc["method"]),
                _number(doc["temperature"], f"{where}.temperature"),
                None if w is None else tuple(_number(v, f"{where}.weights") for v in w),
                None if b is None else tuple(_number(v, f"{where}.bias") for v in b),
                parse_class_score(str(doc["score"])),
                _number(doc["raps_lambda"], f"{where}.raps_lambda"), int(doc["raps_k"]),
                _number(doc["qhat"], f"{where}.qhat"), _curve(doc["curve"], f"{where}.curve"))
        return RegressorFit(
            str(doc["output"]), _number(doc["variance_scale"], f"{where}.variance_scale"),
            _number(doc["std_floor"], f"{where}.std_floor"), _number(doc["qhat"], f"{where}.qhat"),
            _number(doc["qhat_absolute"], f"{where}.qhat_absolute"),
            _curve(doc["curve"], f"{where}.curve"))
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise InputDataError(f"{where}: missing or bad field ({exc})") from None


def read_calibration(path: str | Path) -> CalibrationFit:
    """The :class:`CalibrationFit` stored in a ``dropctl calibrate -o`` file."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputDataError(f"{p}: no such calibration file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(f"{p}: not a calibration file ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputDataError(f"{p}: not a dropctl calibration file (format {FORMAT} expected)")
    try:
        model = doc["model"]
        outputs = tuple(_output_fit(o, f"{p}: outputs[{i}]") for i, o in enumerate(doc["outputs"]))
        return CalibrationFit(
            str(model["name"]), str(model["sha256"]), int(doc["samples"]), int(doc["seed"]),
            None if doc.get("sites") is None else str(doc["sites"]),
            _number(doc["coverage"], f"{p}: coverage"), int(doc["n"]),
            str(doc["dropctl_version"]), outputs)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputDataError(f"{p}: missing or bad field ({exc})") from None
