"""Uncertainty scores: their names and direction, selective prediction, active learning.

Definitions (the tie rule, ``AURC``, accuracy at coverage) in :mod:`dropctl.mc.evaluation`.
Pure numpy, one sort per score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dropctl.errors import InputDataError, UsageError

__all__ = ["CLASSIFIER_SCORES", "CONFIDENCE_SCORES", "COVERAGES", "DEFAULT_STD_FLOOR", "FPR_TPR",
           "INTERVAL_LEVELS", "PICP_LEVELS", "REGRESSION_SCORES", "Ranking", "Selective", "aurc",
           "finite_values", "kept_count", "rank", "risk_coverage", "selective", "to_uncertainty"]

CLASSIFIER_SCORES = ("max_prob", "entropy", "mutual_information", "variation_ratio",
                     "max_prob_deterministic", "entropy_deterministic")
"""Scores of a classifier output: four from the MC passes, two from the deterministic output."""
REGRESSION_SCORES = ("std",)
"""Scores of a regression output: mean MC standard deviation over the output's elements."""
CONFIDENCE_SCORES = frozenset({"max_prob", "max_prob_deterministic"})
"""Scores where larger means more confident (their uncertainty is ``1 - score``)."""
COVERAGES = (0.8, 0.9, 0.95)
"""Coverages at which selective accuracy is reported."""
PICP_LEVELS = (0.5, 0.9, 0.95)
"""Nominal levels at which PICP and MPIW are reported."""
INTERVAL_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""Levels 0.05..0.95 of the interval calibration curve."""
DEFAULT_STD_FLOOR = 1e-6
"""Default floor on the MC std for NLL and intervals (``--interval-std-floor``)."""
FPR_TPR = 0.95
"""In-distribution acceptance rate at which FPR95 is read."""



# ---- shared helpers ----------------------------------------------------------------------------


def finite_values(values: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(a)):
        bad = int(np.count_nonzero(~np.isfinite(a)))
        raise InputDataError(f"{what} contains {bad} NaN/inf value(s); cannot evaluate it")
    return a


def to_uncertainty(score: str, values: np.ndarray) -> np.ndarray:
    """Uncertainty (larger = less trustworthy) of a named score's per-input values."""
    v = np.asarray(values, dtype=np.float64)
    return 1.0 - v if score in CONFIDENCE_SCORES else v


def _tie_groups(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) index arrays of runs of equal values in an ascending array (end exclusive)."""
    n = sorted_values.shape[0]
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    return starts, ends


# ---- selective prediction ----------------------------------------------------------------------


def risk_coverage(uncertainty: np.ndarray, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage k/N, risk(k)) for k = 1..N, most confident first, ties by expectation."""
    u = finite_values(uncertainty, "the uncertainty score")
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    n = u.shape[0]
    if n == 0:
        raise InputDataError("selective prediction needs at least one input")
    if e.shape[0] != n:
        raise InputDataError(f"{e.shape[0]} error flags for {n} scores")
    order = np.argsort(u)  # any order within a tie: ties are grouped below
    su, se = u[order], e[order]
    k = np.arange(1, n + 1, dtype=np.float64)
    if not np.any(su[1:] == su[:-1]):  # no ties: plain running error rate
        return k / n, np.cumsum(se) / k
    starts, ends = _tie_groups(su)
    sizes = ends - starts
    cum = np.concatenate(([0.0], np.cumsum(se)))
    before = cum[starts]  # errors of every input strictly more confident than the tie
    rate = (cum[ends] - before) / sizes  # the tie's error rate, spread over its positions
    group_start = np.repeat(starts, sizes).astype(np.float64)
    expected = np.repeat(before, sizes) + (k - group_start) * np.repeat(rate, sizes)
    return k / n, expected / k


def aurc(uncertainty: np.ndarray, errors: np.ndarray) -> float:
    """Area under the risk-coverage curve: mean of risk(k) over k = 1..N."""
    _, risk = risk_coverage(uncertainty, errors)
    return float(np.mean(risk))


def kept_count(coverage: float, n: int) -> int:
    """Inputs kept at ``coverage`` of ``n``: ``ceil(coverage * n)``, at least 1."""
    # round() first: 0.95 * 20 is 19.000000000000004 in floating point, not 20 inputs.
    return min(n, max(1, math.ceil(round(coverage * n, 9))))


@dataclass(frozen=True)
class Selective:
    """Selective prediction with one score: abstain on the most uncertain inputs first."""

    score: str
    """Score name (see :data:`CLASSIFIER_SCORES`)."""
    aurc: float
    """Area under the risk-coverage curve (lower is better; the error rate for a useless score)."""
    accuracy_at_coverage: Mapping[float, float]
    """Accuracy on the ``ceil(c*N)`` most confident inputs, for c in :data:`COVERAGES`."""
    coverage: np.ndarray
    """Coverage k/N, k = 1..N (for the curve)."""
    risk: np.ndarray
    """Error rate among the k most confident inputs (ties by expectation)."""


def selective(score: str, values: np.ndarray, errors: np.ndarray,
              coverages: Sequence[float] = COVERAGES) -> Selective:
    """:class:`Selective` of one named score against 0/1 ``errors`` of its prediction."""
    coverage, risk = risk_coverage(to_uncertainty(score, values), errors)
    n = risk.shape[0]
    acc = {float(c): float(1.0 - risk[kept_count(c, n) - 1]) for c in coverages}
    return Selective(score, float(np.mean(risk)), acc, coverage, risk)


# ---- active learning -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ranking:
    """The K inputs to label first: highest uncertainty of one score."""

    output: str
    """Output whose score ranks the inputs."""
    score: str
    """Score name; confidences rank by ``1 - score`` (lowest probability first)."""
    index: np.ndarray
    """Input indices, most uncertain first (ties: lower index first)."""
    values: np.ndarray
    """The score's own values at those inputs (not turned into uncertainty)."""


def rank(output: str, score: str, values: np.ndarray, top: int) -> Ranking:
    """The ``top`` inputs with the highest uncertainty under ``score``."""
    v = finite_values(values, f"score '{score}' of output '{output}'")
    if top < 1:
        raise UsageError("--top must be at least 1")
    u = to_uncertainty(score, v)
    if top >= u.size:
        order = np.lexsort((np.arange(u.size), -u))
    else:  # O(N): the top-th largest value, everything above it, then the tie by index
        cut = np.partition(u, u.size - top)[u.size - top]
        above = np.flatnonzero(u > cut)
        tied = np.flatnonzero(u == cut)[: top - above.size]
        chosen = np.concatenate((above, tied))
        order = chosen[np.lexsort((chosen, -u[chosen]))]
    return Ranking(output, score, order, v[order])
