"""Out-of-distribution detection with one uncertainty score (OOD = positive): AUROC, AUPR,
FPR95 and the ROC curve; definitions in :mod:`dropctl.mc.evaluation`. Pure numpy, one sort of
each side and a linear merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dropctl.errors import InputDataError
from dropctl.mc.uncertainty import FPR_TPR, finite_values, kept_count, to_uncertainty

__all__ = ["OODScore", "fpr_at_95", "ood_auroc", "ood_average_precision", "ood_roc_curve",
           "ood_score"]


def _split(u_in: np.ndarray, u_ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = finite_values(u_in, "the in-distribution score")
    b = finite_values(u_ood, "the OOD score")
    if a.size == 0 or b.size == 0:
        raise InputDataError("OOD detection needs at least one in-distribution and one OOD input")
    return a, b


def _roc_sorted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flagged in-dist, flagged OOD) counts per distinct threshold t, descending, ``u >= t``.

    ``a`` and ``b`` are ascending. A stable argsort of their concatenation only has to merge
    two sorted runs (timsort: linear), which labels every pooled value in- or out-of-dist.
    """
    order = np.argsort(np.concatenate((a, b)), kind="stable")
    pooled = np.concatenate((a, b))[order]
    ood_cum = np.cumsum(order >= a.size)
    last = np.empty(pooled.size, dtype=bool)  # last position of each run of equal values
    last[-1] = True
    np.not_equal(pooled[1:], pooled[:-1], out=last[:-1])
    at_or_below = np.flatnonzero(last) + 1  # pooled values <= each distinct value
    ood_at_or_below = ood_cum[last]
    # Flagged at threshold t_j (u >= t_j) = everything above the previous distinct value.
    below = np.concatenate(([0], at_or_below[:-1]))
    ood_below = np.concatenate(([0], ood_at_or_below[:-1]))
    tp = (b.size - ood_below)[::-1]
    fp = (a.size - (below - ood_below))[::-1]
    return fp, tp


def _auroc_sorted(fp: np.ndarray, tp: np.ndarray) -> float:
    # Trapezoids under the ROC steps: exactly P(u_ood > u_in) + 1/2 P(u_ood == u_in).
    d_fp = np.diff(fp, prepend=0)
    tp_prev = np.concatenate(([0], tp[:-1]))
    return float(np.dot(d_fp, tp + tp_prev) / (2.0 * fp[-1] * tp[-1]))


def _ap_sorted(fp: np.ndarray, tp: np.ndarray) -> float:
    recall_step = np.diff(tp, prepend=0) / tp[-1]
    return float(np.dot(recall_step, tp / (tp + fp)))


def _fpr95_sorted(a: np.ndarray, b: np.ndarray, tpr: float) -> float:
    threshold = a[kept_count(tpr, a.size) - 1]
    return float(np.searchsorted(b, threshold, side="right") / b.size)


def _sorted_pair(u_in: np.ndarray, u_ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _split(u_in, u_ood)
    return np.sort(a), np.sort(b)


def ood_auroc(u_in: np.ndarray, u_ood: np.ndarray) -> float:
    """P(u_ood > u_in) + 1/2 P(u_ood == u_in) (Mann-Whitney U over N_in * N_ood)."""
    return _auroc_sorted(*_roc_sorted(*_sorted_pair(u_in, u_ood)))


def ood_roc_curve(u_in: np.ndarray, u_ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) with OOD positive, flagging ``u >= t`` for each distinct t, from (0, 0)."""
    a, b = _sorted_pair(u_in, u_ood)
    fp, tp = _roc_sorted(a, b)
    return np.concatenate(([0.0], fp / a.size)), np.concatenate(([0.0], tp / b.size))


def ood_average_precision(u_in: np.ndarray, u_ood: np.ndarray) -> float:
    """Average precision with OOD positive: sum over thresholds of (R_i - R_{i-1}) * P_i."""
    return _ap_sorted(*_roc_sorted(*_sorted_pair(u_in, u_ood)))


def fpr_at_95(u_in: np.ndarray, u_ood: np.ndarray, tpr: float = FPR_TPR) -> float:
    """Share of OOD inputs with ``u <= t``, t the ``ceil(tpr*N_in)``-th smallest in-dist ``u``."""
    return _fpr95_sorted(*_sorted_pair(u_in, u_ood), tpr)


@dataclass(frozen=True)
class OODScore:
    """How well one score separates out-of-distribution inputs (positive) from the rest."""

    score: str
    """Score name."""
    auroc: float
    """P(OOD scored more uncertain than in-distribution), ties count half; 0.5 = chance."""
    aupr: float
    """Average precision with OOD as positive; chance = share of OOD inputs."""
    fpr95: float
    """Share of OOD inputs accepted when 95% of in-distribution inputs are (lower is better)."""
    fpr: np.ndarray
    """ROC curve: false positive rate (in-distribution flagged) per threshold."""
    tpr: np.ndarray
    """ROC curve: true positive rate (OOD flagged) per threshold."""


def ood_score(score: str, values_in: np.ndarray, values_ood: np.ndarray) -> OODScore:
    """:class:`OODScore` of one named score (confidences are turned into ``1 - score``)."""
    a, b = _sorted_pair(to_uncertainty(score, values_in), to_uncertainty(score, values_ood))
    fp, tp = _roc_sorted(a, b)
    return OODScore(score, _auroc_sorted(fp, tp), _ap_sorted(fp, tp),
                    _fpr95_sorted(a, b, FPR_TPR), np.concatenate(([0.0], fp / a.size)),
                    np.concatenate(([0.0], tp / b.size)))
