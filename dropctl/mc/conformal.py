"""Split-conformal prediction sets and intervals on Monte Carlo outputs (numpy only).

Split conformal (Vovk et al. 2005; Angelopoulos & Bates 2021): a nonconformity score ``s(x, y)``
that does not depend on the calibration data is computed on ``n`` held-out calibration points;
``qhat`` is the ``k``-th smallest of them with ``k = ceil((n + 1)(1 - alpha))`` (``+inf`` when
``k > n``: the set/interval must then be everything). For an exchangeable test point,
``1 - alpha <= P(s(x, y) <= qhat) <= 1 - alpha + 1/(n + 1)`` (the upper bound when the scores
have no ties). The set is ``{c : s(x, c) <= qhat}``, the interval ``{y : s(x, y) <= qhat}``.

Classification scores of class ``c`` given probabilities ``p`` (one row):

* ``lac`` (LAC / THR, Sadinle et al. 2019): ``1 - p_c``; the smallest sets on average.
* ``aps`` (Romano et al. 2020, non-randomised): the probability mass of every class ranked
  at or above ``c`` (ranked by probability, descending; ties by class index), ``p_c``
  included; sets adapt to how hard the input is.
* ``raps`` (Angelopoulos et al. 2021, non-randomised): ``aps + lam * max(0, rank_c - k_reg)``
  with the 1-based rank; penalises long tails of unlikely classes.

The APS/RAPS score of a class grows with its rank, so every set is the ``k`` most probable
classes for some ``k``. Sets may be empty (LAC, when no class reaches ``1 - qhat``).

Regression scores of a target ``y`` given the MC mean ``mu`` and std ``s``:
``normalized`` ``|y - mu| / s`` (interval ``mu +- qhat s``) and ``absolute`` ``|y - mu|``
(interval ``mu +- qhat``), the baseline that ignores the MC spread.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np

from dropctl.errors import InputDataError, UsageError

__all__ = ["ClassScore", "IntervalScore", "class_scores", "conformal_quantile",
           "interval_bounds", "interval_scores", "label_scores", "prediction_sets",
           "quantile_rank"]


class ClassScore(StrEnum):
    """Nonconformity score of a classifier's prediction sets."""

    LAC = "lac"
    """``1 - p_c`` (also called THR)."""
    APS = "aps"
    """Mass of the classes ranked at or above ``c``."""
    RAPS = "raps"
    """APS plus ``lam * max(0, rank - k_reg)``."""


class IntervalScore(StrEnum):
    """Nonconformity score of a regressor's intervals."""

    NORMALIZED = "normalized"
    """``|y - mu| / std``: intervals as wide as the MC spread says."""
    ABSOLUTE = "absolute"
    """``|y - mu|``: one width for every input (the baseline)."""


def parse_class_score(name: str) -> ClassScore:
    """``lac``/``thr``/``aps``/``raps`` (any case) -> :class:`ClassScore`."""
    key = name.strip().lower()
    if key == "thr":
        key = "lac"
    try:
        return ClassScore(key)
    except ValueError:
        raise UsageError(f"unknown conformal score '{name}' (use lac, thr, aps or raps)") from None


def quantile_rank(n: int, alpha: float) -> int:
    """``k = ceil((n + 1)(1 - alpha))``: the rank of the conformal quantile (may exceed n)."""
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"coverage must be strictly between 0 and 1, got {1 - alpha:g}")
    if n < 1:
        raise InputDataError("conformal calibration needs at least one calibration point")
    # round() first: (n + 1) * 0.9 is 90.00000000000001 for n = 99, not 91 points.
    return math.ceil(round((n + 1) * (1.0 - alpha), 9))


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n+1)(1-alpha))``-th smallest score (``inf`` when that rank exceeds n)."""
    s = np.asarray(scores, np.float64).reshape(-1)
    if not np.all(np.isfinite(s)):
        raise InputDataError(f"{int(np.count_nonzero(~np.isfinite(s)))} conformal score(s) are "
                             "NaN/inf; the model produced them")
    k = quantile_rank(s.size, alpha)
    if k > s.size:
        return math.inf
    return float(np.partition(s, k - 1)[k - 1])


def _check_raps(lam: float, k_reg: int) -> None:
    if not (lam >= 0 and math.isfinite(lam)):
        raise UsageError(f"--raps-lambda must be a non-negative number, got {lam:g}")
    if k_reg < 0:
        raise UsageError(f"--raps-k must be at least 0, got {k_reg}")


def _descending(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted p): each row's classes by probability descending, ties by class index.

    One ascending argsort per row (the fast, unstable kind), read backwards: a row without
    tied probabilities has one descending order, whatever the algorithm. Rows holding a tie
    (found in the sorted values; usually none) are sorted again, stably, so that ties fall in
    class-index order.
    """
    order = np.ascontiguousarray(np.argsort(p, axis=1)[:, ::-1])
    sorted_p = np.take_along_axis(p, order, axis=1)
    c = p.shape[1]
    if c > 1:
        tied = np.unique(np.flatnonzero(sorted_p[:, 1:] == sorted_p[:, :-1]) // (c - 1))
        if tied.size:
            sub = np.argsort(-p[tied], axis=1, kind="stable")
            order[tied] = sub
            sorted_p[tied] = np.take_along_axis(p[tied], sub, axis=1)
    return order, sorted_p


def _ranked_scores(p: np.ndarray, score: ClassScore, lam: float, k_reg: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(order, APS/RAPS score of each rank [N, C]): the mass at or above each rank, plus the
    RAPS penalty. Non-decreasing along each row (sums of non-negative terms, rounding is
    monotone), so every set is a prefix of the order."""
    order, cum = _descending(p)
    np.cumsum(cum, axis=1, out=cum)
    if score is ClassScore.RAPS:
        rank = np.arange(1, p.shape[1] + 1, dtype=np.float64)
        cum += lam * np.maximum(0.0, rank - k_reg)
    return order, cum


def class_scores(p: np.ndarray, score: ClassScore, lam: float = 0.01,
                 k_reg: int = 1) -> np.ndarray:
    """Score of every class [N, C] for probabilities ``p`` [N, C]."""
    p = np.asarray(p, np.float64)
    if score is ClassScore.LAC:
        return 1.0 - p
    _check_raps(lam, k_reg)
    order, cum = _ranked_scores(p, score, lam, k_reg)
    out = np.empty_like(cum)
    np.put_along_axis(out, order, cum, axis=1)
    return out


def label_scores(p: np.ndarray, labels: np.ndarray, score: ClassScore, lam: float = 0.01,
                 k_reg: int = 1) -> np.ndarray:
    """Score of the true class per row [N] (the calibration scores)."""
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    p = np.asarray(p, np.float64)
    py = p[np.arange(y.size), y]
    if score is ClassScore.LAC:
        return 1.0 - py
    _check_raps(lam, k_reg)
    # No sort: the classes ranked at or above y are those more probable than it, and those
    # as probable with a lower or equal index (the stable descending order of class_scores).
    at_or_above = (p > py[:, None]) | ((p == py[:, None])
                                       & (np.arange(p.shape[1]) <= y[:, None]))
    mass = np.einsum("nc,nc->n", p, at_or_above)
    if score is ClassScore.RAPS:
        rank = at_or_above.sum(axis=1).astype(np.float64)
        mass = mass + lam * np.maximum(0.0, rank - k_reg)
    return mass


def prediction_sets(p: np.ndarray, qhat: float, score: ClassScore, lam: float = 0.01,
                    k_reg: int = 1) -> np.ndarray:
    """Boolean sets [N, C]: class ``c`` is in row ``i``'s set when its score is <= ``qhat``.

    APS/RAPS compare in rank order and scatter the booleans back (the same comparisons as
    :func:`class_scores` ``<= qhat``, without scattering the float scores).
    """
    if math.isinf(qhat):
        return np.ones(np.shape(p), dtype=bool)
    if score is ClassScore.LAC:
        return class_scores(p, score, lam, k_reg) <= qhat
    _check_raps(lam, k_reg)
    p = np.asarray(p, np.float64)
    order, cum = _ranked_scores(p, score, lam, k_reg)
    out = np.empty(p.shape, dtype=bool)
    np.put_along_axis(out, order, cum <= qhat, axis=1)
    return out


def interval_scores(mean: np.ndarray, std: np.ndarray, y: np.ndarray,
                    score: IntervalScore) -> np.ndarray:
    """``|y - mu| / std`` or ``|y - mu|`` per element (``std`` already floored)."""
    resid = np.abs(np.asarray(y, np.float64) - np.asarray(mean, np.float64))
    return resid / np.asarray(std, np.float64) if score is IntervalScore.NORMALIZED else resid


def interval_bounds(mean: np.ndarray, std: np.ndarray, qhat: float,
                    score: IntervalScore) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of ``{y : score(y) <= qhat}``: ``mu -+ qhat std`` or ``mu -+ qhat``."""
    mu = np.asarray(mean, np.float64)
    half = qhat * np.asarray(std, np.float64) if score is IntervalScore.NORMALIZED else (
        np.full(mu.shape, qhat))
    return mu - half, mu + half
