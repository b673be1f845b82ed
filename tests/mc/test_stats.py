"""dropctl.mc.stats, the one streaming merge behind mc_predict and the shard scorer.

Oracle: numpy/scipy statistics of the whole concatenation, computed in one go. Random data is
split into random chunks of passes and random blocks of rows, merged, and must match. No
TensorFlow: the module is pure numpy (checked below in a fresh interpreter).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from dropctl.mc.stats import RunningStats, chunk_stats, max_stderr, merge_moments


def _random_cuts(rng: np.random.Generator, total: int) -> list[int]:
    """Cut points 0 < ... < total of a random split into at least one piece."""
    k = int(rng.integers(0, min(total, 8)))
    return [0, *sorted(rng.choice(np.arange(1, total), size=k, replace=False).tolist()), total]


def _stream(y: np.ndarray, classifier: bool, rng: np.random.Generator) -> RunningStats:
    """``y`` [N, T, ...] merged chunk by chunk, each chunk over random blocks of rows."""
    n, t = y.shape[:2]
    acc = RunningStats((n, *y.shape[2:]), classifier)
    tcuts = _random_cuts(rng, t)
    for a, b in zip(tcuts, tcuts[1:], strict=False):
        rcuts = _random_cuts(rng, n) if n > 1 else [0, n]
        for lo, hi in zip(rcuts, rcuts[1:], strict=False):
            acc.add(lo, hi, y[lo:hi, a:b], a)
    return acc


@pytest.mark.parametrize("trial", range(12))
def test_streamed_moments_equal_numpy_on_the_concatenation(trial: int) -> None:
    rng = np.random.default_rng(trial)
    n, t = int(rng.integers(1, 9)), int(rng.integers(2, 60))
    shape = (n, t, *rng.integers(1, 4, size=int(rng.integers(0, 3))).tolist())
    # A large offset and a small spread: the textbook sum-of-squares formula loses every digit.
    y = (1e4 + rng.standard_normal(shape) * rng.uniform(1e-3, 10)).astype(np.float32)
    out = _stream(y, False, rng).finish("out", y[:, 0], t)
    y64 = y.astype(np.float64)
    np.testing.assert_allclose(out.mean, y64.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(out.std, y64.std(axis=1), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(out.stderr, sps.sem(y64, axis=1, ddof=1), rtol=1e-7, atol=1e-9)
    assert out.entropy is None and out.variation_ratio is None


@pytest.mark.parametrize("trial", range(8))
def test_streamed_classifier_scores_equal_scipy(trial: int) -> None:
    rng = np.random.default_rng(100 + trial)
    n, t, c = int(rng.integers(1, 7)), int(rng.integers(2, 40)), int(rng.integers(2, 6))
    p = rng.dirichlet(np.full(c, 0.7), size=(n, t))
    out = _stream(p, True, rng).finish("probs", p[:, 0], t)
    mean = p.mean(axis=1)
    np.testing.assert_allclose(out.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(out.entropy, sps.entropy(mean, axis=-1), rtol=1e-9)
    per_pass = sps.entropy(p, axis=-1).mean(axis=1)
    np.testing.assert_allclose(out.mutual_information,
                               np.maximum(sps.entropy(mean, axis=-1) - per_pass, 0), atol=1e-12)
    top = p.argmax(axis=-1)
    modal = sps.mode(top, axis=1, keepdims=False).count
    np.testing.assert_allclose(out.variation_ratio, 1 - modal / t, atol=1e-15)
    np.testing.assert_array_equal(out.flipped, np.array([len(set(r)) > 1 for r in top]))


def test_merge_of_two_halves_is_chan_exact_and_in_place() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(3, 5)), rng.normal(size=(3, 9))
    mean, m2 = a.mean(axis=1), np.square(a - a.mean(axis=1)[:, None]).sum(axis=1)
    view_mean, view_m2 = mean.copy(), m2.copy()
    merge_moments(view_mean, view_m2, 5, b.mean(axis=1),
                  np.square(b - b.mean(axis=1)[:, None]).sum(axis=1), 9)
    whole = np.concatenate([a, b], axis=1)
    np.testing.assert_allclose(view_mean, whole.mean(axis=1), rtol=1e-13)
    np.testing.assert_allclose(view_m2 / 14, whole.var(axis=1), rtol=1e-12)
    first = chunk_stats(a[:, :, None], False)
    np.testing.assert_allclose(first.mean[:, 0], a.mean(axis=1))
    assert first.entropy_sum is None and first.votes is None


def test_max_stderr_is_the_largest_standard_error() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(4, 30, 2))
    out = _stream(y, False, rng)
    expected = float(sps.sem(y, axis=1, ddof=1).max())
    assert max_stderr([out.m2], 30) == pytest.approx(expected, rel=1e-9)
    assert max_stderr([out.m2], 1) == 0.0


def test_stats_imports_no_tensorflow() -> None:
    code = ("import sys, dropctl.mc.stats; "
            "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; "
            "print(bad); raise SystemExit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
