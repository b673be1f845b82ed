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

The metrics live in :mod:`dropctl.mc.uncertainty` (score names, selective prediction, ranking),
:mod:`dropctl.mc.ood` and :mod:`dropctl.mc.regression`; this module runs them over one
``mc-predict`` result and re-exports them (``from dropctl.mc import evaluation as ev``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dropctl.display import Displayable
from dropctl.errors import InputDataError, UsageError
from dropctl.mc.ood import (
    OODScore,
    fpr_at_95,
    ood_auroc,
    ood_average_precision,
    ood_roc_curve,
    ood_score,
)
from dropctl.mc.regression import (
    Regression,
    gaussian_nll,
    interval_coverage,
    normal_quantile,
    regression,
)
from dropctl.mc.uncertainty import (
    CLASSIFIER_SCORES,
    CONFIDENCE_SCORES,
    COVERAGES,
    DEFAULT_STD_FLOOR,
    INTERVAL_LEVELS,
    PICP_LEVELS,
    REGRESSION_SCORES,
    Ranking,
    Selective,
    aurc,
    rank,
    risk_coverage,
    selective,
    to_uncertainty,
)

if TYPE_CHECKING:
    from dropctl.mc.results import MCResult, OutputStats

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
    "labels_by_output",
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


def labels_by_output(result: MCResult, labels: Any) -> dict[str, np.ndarray]:
    """Labels as given (a path, one array, or a dict by output name) -> a dict by output name."""
    if isinstance(labels, str | os.PathLike):
        return read_output_labels(result, Path(labels))
    if isinstance(labels, dict):
        return {str(k): np.asarray(v) for k, v in labels.items()}
    if len(result.outputs) != 1:
        raise UsageError("labels for a multi-output model must be a dict by output name")
    return {result.outputs[0].name: np.asarray(labels)}
