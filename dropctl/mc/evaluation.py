"""Does the uncertainty answer the next question? Selective prediction, OOD detection, intervals.

Pure numpy, every metric O(N log N) (one sort per score) and vectorised. Conventions:

* **Scores and their direction.** ``max_prob`` / ``max_prob_deterministic`` are confidences; the
  others (``entropy``, ``mutual_information``, ``variation_ratio``, ``entropy_deterministic``, and
  ``std`` for regression outputs) are uncertainties. Every metric works on the *uncertainty*
  ``u``: ``1 - score`` for a confidence, the score itself otherwise. Larger ``u`` = abstain first,
  flag as out-of-distribution first, label first in active learning.
* **Selective prediction** (Geifman & El-Yaniv 2017). Inputs sorted by ``u`` ascending (most
  confident first); ``risk(k)`` = error rate among the ``k`` most confident, ``AURC = (1/N)
  sum_{k=1..N} risk(k)``. *Tie rule*: inputs with equal ``u`` enter together in random order, and
  ``risk(k)`` inside a tie is its expectation over those orders (the tie's errors spread evenly
  over its positions). So the result never depends on input order, and all-equal scores give
  ``AURC`` = the overall error rate. Accuracy at coverage ``c`` keeps ``ceil(c*N)`` inputs.
  Errors are judged against the prediction the score belongs to: MC scores use the argmax of the
  MC mean, ``*_deterministic`` scores the argmax of the deterministic output.
* **OOD detection** (OOD = positive). ``AUROC`` = P(u_ood > u_in) + 1/2 P(u_ood = u_in)
  (Mann-Whitney with midranks, equal to scikit-learn's ``roc_auc_score``); ``AUPR`` = average
  precision, the step-wise sum of scikit-learn's ``average_precision_score`` (no interpolation);
  ``FPR95`` = share of OOD inputs accepted as in-distribution at the threshold that accepts 95%
  of the in-distribution inputs: ``t`` = the ``ceil(0.95*N_in)``-th smallest in-distribution
  ``u``, accepted means ``u <= t`` (an OOD input tied with the threshold counts against the
  detector; this is FPR at 95% TPR with in-distribution positive, as in Liang et al. 2018).
* **Regression** (every output element is one observation): RMSE of the MC mean; Gaussian NLL
  ``mean(0.5 log(2 pi s^2) + (y - mu)^2 / (2 s^2))`` with ``s = max(std, floor)``; the interval
  at level ``a`` is ``mu +- z_a s`` with ``z_a = Phi^-1((1 + a)/2)``; PICP = share of labels
  inside it (bounds included), MPIW = mean width ``2 z_a s``. The interval calibration curve is
  the PICP at levels 0.05, 0.10, ..., 0.95; its mean absolute gap to the diagonal is the
  ``interval_calibration_error``. The same floored ``s`` is used everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dropctl.display import Displayable
from dropctl.errors import InputDataError, UsageError

if TYPE_CHECKING:
    from dropctl.mc.engine import MCResult, OutputStats

__all__ = [
    "CLASSIFIER_SCORES",
    "CONFIDENCE_SCORES",
    "COVERAGES",
    "DEFAULT_STD_FLOOR",
    "Evaluation",
    "INTERVAL_LEVELS",
    "PICP_LEVELS",
    "REGRESSION_SCORES",
    "OODScore",
    "Ranking",
    "Regression",
    "Selective",
    "aurc",
    "check_finite",
    "checked_labels",
    "evaluate",
    "fpr_at_95",
    "gaussian_nll",
    "interval_coverage",
    "normal_quantile",
    "ood_auroc",
    "ood_average_precision",
    "ood_roc_curve",
    "ood_score",
    "output_scores",
    "parse_rank_by",
    "read_output_labels",
    "rank",
    "regression",
    "risk_coverage",
    "selective",
    "to_uncertainty",
]

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


def _finite_1d(values: np.ndarray, what: str) -> np.ndarray:
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
    u = _finite_1d(uncertainty, "the uncertainty score")
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


def _kept(coverage: float, n: int) -> int:
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
    acc = {float(c): float(1.0 - risk[_kept(c, n) - 1]) for c in coverages}
    return Selective(score, float(np.mean(risk)), acc, coverage, risk)


# ---- out-of-distribution detection -------------------------------------------------------------


def _split(u_in: np.ndarray, u_ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = _finite_1d(u_in, "the in-distribution score")
    b = _finite_1d(u_ood, "the OOD score")
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
    threshold = a[_kept(tpr, a.size) - 1]
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


# ---- regression --------------------------------------------------------------------------------


def normal_quantile(p: float) -> float:
    """Phi^-1(p) for 0 < p < 1 (bisection on math.erf to ~1e-15: no scipy needed)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"normal_quantile needs 0 < p < 1, got {p}")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


def _z(level: float) -> float:
    return normal_quantile(0.5 + level / 2.0)


def _regression_arrays(mean: np.ndarray, std: np.ndarray, labels: np.ndarray, floor: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not floor > 0 or not math.isfinite(floor):
        raise UsageError(f"--interval-std-floor must be a positive number, got {floor:g}")
    mu = _finite_1d(mean, "the MC mean")
    y = _finite_1d(labels, "the regression labels")
    s = np.maximum(_finite_1d(std, "the MC std"), floor)
    if not (mu.shape == y.shape == s.shape):
        raise InputDataError(f"{y.size} label value(s) for {mu.size} output value(s)")
    if mu.size == 0:
        raise InputDataError("regression metrics need at least one value")
    return mu, s, y


def gaussian_nll(mean: np.ndarray, std: np.ndarray, labels: np.ndarray,
                 floor: float = DEFAULT_STD_FLOOR) -> float:
    """Mean Gaussian negative log-likelihood (nats) with ``std`` floored at ``floor``."""
    mu, s, y = _regression_arrays(mean, std, labels, floor)
    return float(np.mean(0.5 * np.log(2.0 * np.pi * s * s) + (y - mu) ** 2 / (2.0 * s * s)))


def _coverage(r_sorted: np.ndarray, s: np.ndarray, levels: Sequence[float]
              ) -> tuple[np.ndarray, np.ndarray]:
    z = np.array([_z(float(a)) for a in levels])
    picp = np.searchsorted(r_sorted, z, side="right") / r_sorted.size  # inside <=> r <= z_a
    return picp, 2.0 * z * float(np.mean(s))


def interval_coverage(mean: np.ndarray, std: np.ndarray, labels: np.ndarray,
                      levels: Sequence[float], floor: float = DEFAULT_STD_FLOOR
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(PICP, MPIW) per level: share of labels in ``mu +- z s`` (bounds in) and mean width."""
    mu, s, y = _regression_arrays(mean, std, labels, floor)
    return _coverage(np.sort(np.abs(y - mu) / s), s, levels)


@dataclass(frozen=True)
class Regression:
    """Accuracy and interval quality of a regression output's MC mean and std."""

    rmse: float
    """Root mean squared error of the MC mean."""
    nll: float
    """Mean Gaussian negative log-likelihood (nats) with the std floored at ``std_floor``."""
    std_floor: float
    """Floor applied to the MC std in NLL, PICP and MPIW."""
    picp: Mapping[float, float]
    """Share of labels inside ``mean +- z std`` per nominal level in :data:`PICP_LEVELS`."""
    mpiw: Mapping[float, float]
    """Mean width of those intervals (output units)."""
    levels: np.ndarray
    """Nominal levels of the interval calibration curve (0.05..0.95)."""
    observed: np.ndarray
    """Observed coverage at each level."""
    interval_calibration_error: float
    """Mean |observed - nominal| over the calibration curve (0 = calibrated intervals)."""


def regression(mean: np.ndarray, std: np.ndarray, labels: np.ndarray,
               std_floor: float = DEFAULT_STD_FLOOR) -> Regression:
    """:class:`Regression` metrics of MC ``mean``/``std`` against ``labels`` (same shape)."""
    mu, s, y = _regression_arrays(mean, std, labels, std_floor)
    levels = np.array(INTERVAL_LEVELS)
    resid = y - mu
    r_sorted = np.sort(np.abs(resid) / s)
    picp, mpiw = _coverage(r_sorted, s, PICP_LEVELS)
    observed, _ = _coverage(r_sorted, s, INTERVAL_LEVELS)
    return Regression(
        rmse=float(np.sqrt(np.mean(resid**2))),
        nll=float(np.mean(0.5 * np.log(2.0 * np.pi * s * s) + resid**2 / (2.0 * s * s))),
        std_floor=float(std_floor),
        picp={float(a): float(v) for a, v in zip(PICP_LEVELS, picp, strict=True)},
        mpiw={float(a): float(v) for a, v in zip(PICP_LEVELS, mpiw, strict=True)},
        levels=levels,
        observed=observed,
        interval_calibration_error=float(np.mean(np.abs(observed - levels))),
    )


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
    v = _finite_1d(values, f"score '{score}' of output '{output}'")
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


# ---- one mc-predict run -> every metric --------------------------------------------------------


@dataclass(frozen=True)
class Evaluation(Displayable):
    """Every uncertainty-evaluation result of one ``mc-predict`` run (empty where not asked)."""

    selective: Mapping[str, tuple[Selective, ...]]
    """Per classifier output with labels: one entry per score in :data:`CLASSIFIER_SCORES`."""
    ood: Mapping[str, tuple[OODScore, ...]]
    """Per output with OOD inputs: one entry per score of that output."""
    regression: Mapping[str, Regression]
    """Per regression output with labels."""
    ranking: Ranking | None
    """Active-learning ranking (``--rank-by``), else None."""
    ood_inputs: int
    """Number of OOD inputs (0 without ``--ood``/``--synthetic-ood``)."""


def output_scores(o: OutputStats) -> dict[str, np.ndarray]:
    """Per-input scores of one output: :data:`CLASSIFIER_SCORES` or :data:`REGRESSION_SCORES`."""
    from dropctl.mc.metrics import entropy

    n = o.mean.shape[0]
    if o.classifier:
        assert o.entropy is not None and o.mutual_information is not None  # set for classifiers
        assert o.variation_ratio is not None
        return {
            "max_prob": np.max(o.mean, axis=-1),
            "entropy": o.entropy,
            "mutual_information": o.mutual_information,
            "variation_ratio": o.variation_ratio,
            "max_prob_deterministic": np.max(o.deterministic, axis=-1).astype(np.float64),
            "entropy_deterministic": entropy(o.deterministic),
        }
    return {"std": o.std.reshape(n, -1).mean(axis=1) if o.std.size else np.zeros(n)}


def check_finite(result: MCResult, what: str = "inputs") -> None:
    """Raise :class:`InputDataError` if any output of ``result`` holds NaN/inf (nothing to score)."""
    for o in result.outputs:
        for field, arr in (("deterministic prediction", o.deterministic), ("MC mean", o.mean),
                           ("MC std", o.std)):
            bad = int(np.count_nonzero(~np.isfinite(arr)))
            if bad:
                raise InputDataError(
                    f"output '{o.name}' on the {what} has {bad} NaN/inf value(s) in its {field}; "
                    "the model produced them, so its uncertainty cannot be evaluated")


def parse_rank_by(result: MCResult, rank_by: str) -> tuple[OutputStats, str]:
    """The output and score named by ``--rank-by [OUTPUT:]SCORE`` (first output having it)."""
    out_name, _, score = rank_by.rpartition(":")
    candidates = [o for o in result.outputs if not out_name or o.name == out_name]
    if out_name and not candidates:
        raise UsageError(f"--rank-by: no output '{out_name}' (outputs: "
                         f"{', '.join(o.name for o in result.outputs)})")
    for o in candidates:
        if score in (CLASSIFIER_SCORES if o.classifier else REGRESSION_SCORES):
            return o, score
    known = sorted({s for o in candidates
                    for s in (CLASSIFIER_SCORES if o.classifier else REGRESSION_SCORES)})
    raise UsageError(f"--rank-by: unknown score '{score}' for this model (use one of "
                     f"{', '.join(known)})")


def checked_labels(o: OutputStats, labels: np.ndarray) -> np.ndarray:
    """Class ids [N] for a classifier, float targets shaped like the output for a regressor."""
    y = np.asarray(labels)
    n = o.mean.shape[0]
    if y.dtype.kind not in "biuf":
        raise InputDataError(f"labels of output '{o.name}' have dtype {y.dtype}; expected numbers")
    if y.ndim == 0 or y.shape[0] != n:
        raise InputDataError(f"{y.shape[0] if y.ndim else 1} labels for {n} inputs "
                             f"(output '{o.name}')")
    if not o.classifier:
        if y.size != o.mean.size:
            raise InputDataError(f"labels have shape {y.shape}; output '{o.name}' has shape "
                                 f"{o.mean.shape}")
        return y.astype(np.float64).reshape(o.mean.shape)
    classes = o.mean.shape[-1]
    y = y.reshape(n, -1)
    if y.shape[1] != 1 or not np.all(np.isfinite(y)) or not np.all(y == np.round(y)) or (
            y.min() < 0 or y.max() >= classes):
        raise InputDataError(f"labels of output '{o.name}' must be class ids in [0, {classes})")
    return y[:, 0].astype(np.int64)


def evaluate(result: MCResult, labels: Mapping[str, np.ndarray] | None = None,
             ood: MCResult | None = None, rank_by: str | None = None, top: int = 10,
             std_floor: float = DEFAULT_STD_FLOOR) -> Evaluation:
    """Selective prediction / regression (with ``labels`` per output name), OOD (with ``ood``,
    the same model run on OOD inputs) and an active-learning ranking (``rank_by``)."""
    if not std_floor > 0 or not math.isfinite(std_floor):
        raise UsageError(f"--interval-std-floor must be a positive number, got {std_floor:g}")
    labels = labels or {}
    check_finite(result)
    unknown = set(labels) - {o.name for o in result.outputs}
    if unknown:
        raise UsageError(f"labels for unknown output(s) {sorted(unknown)} (outputs: "
                         f"{', '.join(o.name for o in result.outputs)})")
    if ood is not None:
        check_finite(ood, "OOD inputs")
    sel: dict[str, tuple[Selective, ...]] = {}
    reg: dict[str, Regression] = {}
    det: dict[str, tuple[OODScore, ...]] = {}
    for k, o in enumerate(result.outputs):
        scores = output_scores(o)
        y = labels.get(o.name)
        if y is not None:
            y = checked_labels(o, y)
        if y is not None and o.classifier:
            wrong_mc = (np.argmax(o.mean, axis=-1) != y).astype(np.float64)
            wrong_det = (np.argmax(o.deterministic, axis=-1) != y).astype(np.float64)
            sel[o.name] = tuple(
                selective(s, v, wrong_det if s.endswith("_deterministic") else wrong_mc)
                for s, v in scores.items())
        elif y is not None:
            reg[o.name] = regression(o.mean, o.std, y, std_floor)
        if ood is not None:
            ood_scores = output_scores(ood.outputs[k])
            det[o.name] = tuple(ood_score(s, v, ood_scores[s]) for s, v in scores.items())
    ranking = None
    if rank_by is not None:
        o, score = parse_rank_by(result, rank_by)
        ranking = rank(o.name, score, output_scores(o)[score], top)
    return Evaluation(sel, det, reg, ranking, ood.n_inputs if ood is not None else 0)


def read_output_labels(result: MCResult, path: str | Path) -> dict[str, np.ndarray]:
    """``--labels FILE`` per output: class ids for a classifier, targets for a regressor.

    Outputs holding NaN/inf are refused first (a NaN output would otherwise look like a regressor).
    """
    from dropctl.mc.inputs import read_labels, read_targets

    check_finite(result)
    out = {}
    for o in result.outputs:
        if o.classifier:
            out[o.name] = read_labels(path, result.n_inputs, o.mean.shape[-1])
        else:
            out[o.name] = read_targets(path, tuple(o.mean.shape))
    return out
