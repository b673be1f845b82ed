"""Streaming Monte Carlo statistics: per-input sums of each chunk of passes, merged in float64.

The engine (:func:`dropctl.mc.engine.mc_predict`) and the partition-independent scorer
(:class:`dropctl.mc.scoring.Scorer`) both hand every compiled chunk ``y`` [rows, Tc, ...] to a
:class:`RunningStats`, so memory never grows with T and no statistic mixes rows:

* :func:`chunk_stats` reduces the chunk to its mean, its M2 (sum of squared deviations from
  that mean), and for a classifier the per-pass entropy sum and the argmax votes, in float64;
* :func:`merge_moments` merges (mean, M2) of ``n_a`` passes with a chunk's of ``n_b`` passes
  by Chan, Golub & LeVeque's pairwise update: ``delta = mean_b - mean_a``,
  ``mean += delta * n_b / n``, ``M2 += M2_b + delta^2 * n_a n_b / n`` (no catastrophic
  cancellation: no sum of squares is ever formed);
* :meth:`RunningStats.finish` turns the sums into :class:`dropctl.mc.results.OutputStats`
  (std with ddof=0, the Monte Carlo standard error with ddof=1 over sqrt(T)).

Pure numpy: unit-tested without TensorFlow (``tests/mc/test_stats.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dropctl.mc.results import OutputStats

__all__ = ["ChunkStats", "RunningStats", "chunk_stats", "finish_output", "max_stderr",
           "merge_moments"]


@dataclass(frozen=True)
class ChunkStats:
    """Per-input sums of one chunk of passes (float64; inputs on axis 0)."""

    mean: np.ndarray
    """Mean over the chunk's passes."""
    m2: np.ndarray
    """Sum of squared deviations from that mean."""
    entropy_sum: np.ndarray | None
    """Sum over the passes of each pass's predictive entropy (classifiers)."""
    votes: np.ndarray | None
    """Passes voting for each class [N, C] (argmax counts; classifiers)."""


def chunk_stats(y: np.ndarray, classifier: bool) -> ChunkStats:
    """Per-input sums of one chunk ``y`` [N, Tc, ...] in float64 (see the module docstring)."""
    y = y.astype(np.float64)
    mean = y.mean(axis=1)
    m2 = np.square(y - mean[:, None]).sum(axis=1)
    if not classifier:
        return ChunkStats(mean, m2, None, None)
    ent = (-(y * np.log(np.clip(y, 1e-12, 1.0))).sum(axis=-1)).sum(axis=1)
    top = y.argmax(axis=-1)
    votes = (top[..., None] == np.arange(y.shape[-1])).sum(axis=1, dtype=np.int64)
    return ChunkStats(mean, m2, ent, votes)


def merge_moments(mean: np.ndarray, m2: np.ndarray, count: int, chunk_mean: np.ndarray,
                  chunk_m2: np.ndarray, chunk_count: int) -> None:
    """Merge a chunk's (mean, M2) of ``chunk_count`` passes into ``mean``/``m2`` of ``count``
    passes, in place (Chan et al.; ``count`` may be 0)."""
    total = count + chunk_count
    delta = chunk_mean - mean
    mean += delta * (chunk_count / total)
    m2 += chunk_m2 + delta**2 * (count * chunk_count / total)


class RunningStats:
    """The streamed statistics of one model output over ``shape[0]`` inputs.

    ``add(lo, hi, y, done)`` merges chunk ``y`` [hi-lo, Tc, ...] into rows ``lo..hi-1``, which
    have ``done`` passes merged so far; :meth:`finish` gives the :class:`OutputStats`.
    """

    def __init__(self, shape: Sequence[int], classifier: bool) -> None:
        shape = tuple(shape)
        self.classifier = classifier
        self.mean = np.zeros(shape, np.float64)
        self.m2 = np.zeros(shape, np.float64)
        self.entropy_sum = np.zeros(shape[0], np.float64) if classifier else None
        self.votes = np.zeros((shape[0], shape[-1]), np.int64) if classifier else None

    def add(self, lo: int, hi: int, y: np.ndarray, done: int) -> None:
        """Merge the passes ``y`` [hi-lo, Tc, ...] of rows ``lo..hi-1`` (``done`` merged)."""
        c = chunk_stats(y, self.classifier)
        merge_moments(self.mean[lo:hi], self.m2[lo:hi], done, c.mean, c.m2, y.shape[1])
        if self.entropy_sum is not None and self.votes is not None:
            assert c.entropy_sum is not None and c.votes is not None  # classifier chunks
            self.entropy_sum[lo:hi] += c.entropy_sum
            self.votes[lo:hi] += c.votes

    def finish(self, name: str, deterministic: np.ndarray, passes: int,
               samples: np.ndarray | None = None) -> OutputStats:
        """:class:`OutputStats` after ``passes`` passes of every row."""
        return finish_output(name, deterministic, self.mean, self.m2, self.entropy_sum,
                             self.votes, self.classifier, passes, samples)


def max_stderr(m2s: Sequence[np.ndarray], passes: int) -> float:
    """Largest Monte Carlo standard error ``sqrt(M2 / (T-1) / T)`` over every ``m2`` array."""
    return max((float(np.sqrt(np.max(m) / (passes - 1) / passes)) if passes > 1 and m.size
                else 0.0) for m in m2s)


def finish_output(name: str, det: np.ndarray, mean: np.ndarray, m2: np.ndarray,
                  ent_sum: np.ndarray | None, votes: np.ndarray | None, classifier: bool,
                  passes: int, samples: np.ndarray | None = None) -> OutputStats:
    """:class:`OutputStats` from streamed sums (row by row: no statistic mixes rows)."""
    from dropctl.mc.metrics import entropy, mutual_information, variation_ratio

    std = np.sqrt(m2 / passes)
    stderr = np.sqrt(m2 / (passes - 1) / passes) if passes > 1 else np.zeros_like(std)
    extra: dict[str, Any] = {}
    if classifier:
        assert ent_sum is not None and votes is not None  # set for classifiers
        extra = {
            "entropy": entropy(mean),
            "mutual_information": mutual_information(mean, ent_sum / passes),
            "variation_ratio": variation_ratio(votes),
            "flipped": np.count_nonzero(votes, axis=1) > 1,
        }
    return OutputStats(name, det, mean, std, stderr, classifier, samples=samples, **extra)
