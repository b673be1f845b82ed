"""Uncertainty and calibration metrics for Monte Carlo predictions (numpy only).

Definitions (natural logarithms, nats):

* predictive entropy ``H[E_t p_t]`` of the MC mean probabilities;
* mutual information (BALD, Houlsby et al. 2011) ``H[E_t p_t] - E_t H[p_t]`` >= 0;
* variation ratio ``1 - (votes of the modal class) / T``;
* with labels: accuracy, negative log-likelihood ``-mean log p[y]``, Brier score
  ``mean sum_c (p_c - 1[y=c])^2`` and expected calibration error with 15 equal-width confidence
  bins (Guo et al. 2017): ``sum_b |B|/N * |acc(B) - conf(B)|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Calibration",
    "adaptive_calibration_error",
    "calibration",
    "entropy",
    "expected_calibration_error",
    "looks_like_probabilities",
    "maximum_calibration_error",
    "mutual_information",
    "reliability_bins",
    "variation_ratio",
]

EPS = 1e-12
ECE_BINS = 15


def entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of each row of probabilities ``p`` [..., C] (nats)."""
    p = np.asarray(p, dtype=np.float64)
    return -np.sum(p * np.log(np.clip(p, EPS, 1.0)), axis=-1)


def mutual_information(mean_p: np.ndarray, mean_entropy: np.ndarray) -> np.ndarray:
    """BALD: entropy of the mean minus the mean of per-pass entropies, clipped at 0."""
    return np.maximum(entropy(mean_p) - np.asarray(mean_entropy, np.float64), 0.0)


def variation_ratio(votes: np.ndarray) -> np.ndarray:
    """``1 - max votes / total votes`` per row of argmax counts [N, C]."""
    votes = np.asarray(votes)
    total = np.maximum(votes.sum(axis=-1), 1)
    return 1.0 - votes.max(axis=-1) / total


def looks_like_probabilities(y: np.ndarray, atol: float = 1e-3) -> bool:
    """True for [N, C>=2] non-negative rows summing to 1 (a softmax classifier's output)."""
    y = np.asarray(y)
    if y.ndim != 2 or y.shape[1] < 2 or y.size == 0 or not np.all(np.isfinite(y)):
        return False
    return bool(np.all(y >= -atol) and np.allclose(y.sum(axis=1), 1.0, atol=atol))


def reliability_bins(p: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(count, accuracy, mean confidence) per equal-width confidence bin over (0, 1]."""
    p = np.asarray(p, np.float64)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == labels).astype(np.float64)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; confidence 0 goes to the first bin.
    idx = np.clip(np.ceil(conf * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    acc = np.bincount(idx, weights=correct, minlength=bins) / np.maximum(count, 1)
    mean_conf = np.bincount(idx, weights=conf, minlength=bins) / np.maximum(count, 1)
    return count, acc, mean_conf


def expected_calibration_error(p: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with ``bins`` equal-width bins (15 by default)."""
    count, acc, conf = reliability_bins(p, labels, bins)
    return float(np.sum(count / max(count.sum(), 1) * np.abs(acc - conf)))


@dataclass(frozen=True)
class Calibration:
    """Label-based scores of one set of probabilities."""

    accuracy: float
    """Share of inputs whose argmax is the label."""
    nll: float
    """Mean negative log-likelihood of the label (nats)."""
    brier: float
    """Mean multi-class Brier score (sum over classes, range 0..2)."""
    ece: float
    """Expected calibration error, 15 equal-width bins."""


def calibration(p: np.ndarray, labels: np.ndarray) -> Calibration:
    """Accuracy, NLL, Brier and ECE of probabilities ``p`` [N, C] against integer ``labels``."""
    p = np.asarray(p, np.float64)
    labels = np.asarray(labels).astype(np.int64)
    n, c = p.shape
    picked = p[np.arange(n), labels]
    onehot = np.eye(c)[labels]
    return Calibration(
        accuracy=float(np.mean(p.argmax(axis=1) == labels)),
        nll=float(-np.mean(np.log(np.clip(picked, EPS, 1.0)))),
        brier=float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        ece=expected_calibration_error(p, labels),
    )


def calibrations(result: Any, labels: dict[str, np.ndarray]) -> dict[str, tuple[Calibration,
                                                                                 Calibration]]:
    """(deterministic, MC mean) calibration per classifier output with labels."""
    return {o.name: (calibration(o.deterministic, labels[o.name]),
                     calibration(o.mean, labels[o.name]))
            for o in result.outputs if o.name in labels}


def adaptive_calibration_error(p: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE with ``bins`` equal-mass bins (Nixon et al. 2019's ACE for the top class): inputs
    sorted by confidence (stable), split into ``bins`` runs of sizes differing by at most one."""
    p = np.asarray(p, np.float64)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    order = np.argsort(conf, kind="stable")
    total = 0.0
    for part in np.array_split(order, min(bins, max(conf.size, 1))):
        if part.size:
            total += part.size * abs(float(np.mean(correct[part]) - np.mean(conf[part])))
    return total / max(conf.size, 1)


def maximum_calibration_error(p: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """MCE: the largest ``|acc - conf|`` over the non-empty equal-width bins."""
    count, acc, conf = reliability_bins(p, labels, bins)
    gaps = np.abs(acc - conf)[count > 0]
    return float(gaps.max()) if gaps.size else 0.0
