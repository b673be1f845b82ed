"""Judging a calibration on labelled test data: before/after scores, coverage, set size, width.

Classifiers: accuracy, NLL, Brier, ECE (15 equal-width bins), adaptive ECE (15 equal-mass bins)
and MCE of the MC mean against the calibrated probabilities (:mod:`dropctl.mc.metrics`); the
empirical coverage and mean size of the conformal sets, and of the naive set (the most probable
classes until their MC-mean mass reaches the nominal level: what trusting the raw probabilities
gives). Regressors: Gaussian NLL with the MC std and with the scaled std; coverage and width of
the conformal interval, of the absolute-residual baseline and of the naive ``mean +- z std``.
Both: the empirical coverage at every level the calibration file keeps (its ``curve``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dropctl.mc.calibration import (
    CalibratedOutput,
    CalibrationFit,
    ClassifierFit,
    RegressorFit,
    paired_outputs,
)
from dropctl.mc.conformal import label_scores

if TYPE_CHECKING:
    from dropctl.mc.results import MCResult, OutputStats

__all__ = ["ClassifierCheck", "ProbabilityScores", "RegressorCheck", "check_calibration"]


@dataclass(frozen=True)
class ProbabilityScores:
    """Label-based quality of one set of class probabilities."""

    accuracy: float
    """Share of argmax hits."""
    nll: float
    """Mean negative log-likelihood (nats)."""
    brier: float
    """Mean multi-class Brier score."""
    ece: float
    """ECE, 15 equal-width bins."""
    ece_adaptive: float
    """ECE, 15 equal-mass bins."""
    mce: float
    """Largest gap of the equal-width bins."""


def _probability_scores(p: np.ndarray, y: np.ndarray) -> ProbabilityScores:
    from dropctl.mc.metrics import (
        adaptive_calibration_error,
        calibration,
        maximum_calibration_error,
    )

    c = calibration(p, y)
    return ProbabilityScores(c.accuracy, c.nll, c.brier, c.ece,
                             adaptive_calibration_error(p, y), maximum_calibration_error(p, y))


@dataclass(frozen=True)
class ClassifierCheck:
    """A classifier output's calibration judged on labelled data."""

    output: str
    """Output name."""
    coverage: float
    """Nominal coverage of the sets."""
    before: ProbabilityScores
    """The MC mean as it is."""
    after: ProbabilityScores
    """The calibrated probabilities."""
    set_coverage: float
    """Share of inputs whose conformal set holds the label."""
    mean_set_size: float
    """Mean size of the conformal sets."""
    naive_coverage: float
    """Coverage of the naive set (most probable classes until their MC-mean mass reaches the
    nominal coverage): what trusting the raw probabilities gives."""
    naive_set_size: float
    """Mean size of the naive sets."""
    set_sizes: np.ndarray
    """Conformal set size per input (histogram)."""
    curve: Mapping[float, float]
    """Empirical conformal coverage per level of the file's curve."""
    probs_before: np.ndarray
    """The MC mean probabilities (reliability diagram)."""
    probs_after: np.ndarray
    """The calibrated probabilities (reliability diagram)."""
    labels: np.ndarray
    """The labels (reliability diagram)."""


@dataclass(frozen=True)
class RegressorCheck:
    """A regression output's calibration judged on labelled data."""

    output: str
    """Output name."""
    coverage: float
    """Nominal coverage of the intervals."""
    nll_before: float
    """Gaussian NLL with the MC std."""
    nll_after: float
    """Gaussian NLL with the scaled std."""
    interval_coverage: float
    """Share of targets inside the conformal interval ``mu +- qhat std``."""
    mean_width: float
    """Mean width of those intervals."""
    absolute_coverage: float
    """Coverage of the baseline ``mu +- qhat_absolute``."""
    absolute_width: float
    """Its width (one for all)."""
    naive_coverage: float
    """Coverage of ``mu +- z std`` (the Gaussian interval of the raw MC std)."""
    naive_width: float
    """Its mean width."""
    widths: np.ndarray
    """Conformal interval width per element (histogram)."""
    curve: Mapping[float, float]
    """Empirical conformal coverage per level of the file's curve."""


def _naive_sets(p: np.ndarray, coverage: float) -> np.ndarray:
    order = np.argsort(-p, axis=1, kind="stable")
    cum = np.cumsum(np.take_along_axis(p, order, axis=1), axis=1)
    # Keep classes until the mass before them reaches the level (the one crossing it included).
    keep_sorted = np.concatenate((np.ones((p.shape[0], 1), bool), cum[:, :-1] < coverage), axis=1)
    out = np.empty_like(keep_sorted)
    np.put_along_axis(out, order, keep_sorted, axis=1)
    return out


def _check_classifier(fit: ClassifierFit, o: OutputStats, cal: CalibratedOutput,
                      y: np.ndarray, coverage: float) -> ClassifierCheck:
    assert cal.set is not None  # classifier outputs always carry a set
    rows = np.arange(y.size)
    mean = o.mean.astype(np.float64)
    naive = _naive_sets(mean, coverage)
    scores = label_scores(mean, y, fit.score, fit.raps_lambda, fit.raps_k)
    curve = {lv: float(np.mean(scores <= q)) for lv, q in fit.curve.items()}
    sizes = cal.set.sum(axis=1)
    return ClassifierCheck(
        fit.output, coverage, _probability_scores(mean, y),
        _probability_scores(cal.calibrated, y), float(np.mean(cal.set[rows, y])),
        float(np.mean(sizes)), float(np.mean(naive[rows, y])), float(np.mean(naive.sum(axis=1))),
        sizes, curve, mean, cal.calibrated, y)


def _check_regressor(fit: RegressorFit, o: OutputStats, cal: CalibratedOutput, y: np.ndarray,
                     coverage: float) -> RegressorCheck:
    from dropctl.mc.evaluation import gaussian_nll, normal_quantile

    assert cal.lower is not None and cal.upper is not None  # regressors carry an interval
    s = np.maximum(o.std.astype(np.float64), fit.std_floor)
    mu = o.mean.astype(np.float64)
    inside = (y >= cal.lower) & (y <= cal.upper)
    r = np.abs(y - mu)
    z = normal_quantile(0.5 + coverage / 2.0)
    normalized = r / s
    curve = {lv: float(np.mean(normalized <= q)) for lv, q in fit.curve.items()}
    width = cal.upper - cal.lower
    return RegressorCheck(
        fit.output, coverage, gaussian_nll(mu, s, y, fit.std_floor),
        gaussian_nll(mu, cal.calibrated, y, fit.std_floor), float(np.mean(inside)),
        float(np.mean(width)), float(np.mean(r <= fit.qhat_absolute)),
        2.0 * fit.qhat_absolute, float(np.mean(r <= z * s)), float(np.mean(2 * z * s)),
        width.reshape(-1), curve)


def check_calibration(fit: CalibrationFit, result: MCResult,
                      calibrated: tuple[CalibratedOutput, ...],
                      labels: Mapping[str, np.ndarray]) -> tuple[ClassifierCheck | RegressorCheck,
                                                                  ...]:
    """Before/after scores, coverage and set size / width of every output with labels."""
    from dropctl.mc.evaluation import checked_labels

    by_name = {c.name: c for c in calibrated}
    out: list[ClassifierCheck | RegressorCheck] = []
    for f, o in paired_outputs(fit, result):
        if o.name not in labels:
            continue
        y = checked_labels(o, labels[o.name])
        cal = by_name[o.name]
        if isinstance(f, ClassifierFit):
            out.append(_check_classifier(f, o, cal, y, fit.coverage))
        else:
            out.append(_check_regressor(f, o, cal, y.astype(np.float64), fit.coverage))
    return tuple(out)
