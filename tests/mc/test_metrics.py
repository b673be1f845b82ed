"""dropctl.mc.metrics: uncertainty and calibration formulas on hand-checked numbers."""

from __future__ import annotations

import numpy as np

from dropctl.mc import metrics


def test_entropy_and_bald() -> None:
    uniform = np.full((1, 4), 0.25)
    assert np.isclose(metrics.entropy(uniform)[0], np.log(4))
    # Two confident passes that disagree: mean is uniform, each pass has ~0 entropy -> BALD = log 2.
    mean = np.array([[0.5, 0.5]])
    assert np.isclose(metrics.mutual_information(mean, np.array([0.0]))[0], np.log(2))
    # Never negative even with rounding.
    assert metrics.mutual_information(mean, np.array([1.0]))[0] == 0.0


def test_variation_ratio() -> None:
    votes = np.array([[10, 0, 0], [5, 5, 0], [4, 3, 3]])
    np.testing.assert_allclose(metrics.variation_ratio(votes), [0.0, 0.5, 0.6])


def test_looks_like_probabilities() -> None:
    assert metrics.looks_like_probabilities(np.array([[0.2, 0.8], [1.0, 0.0]]))
    assert not metrics.looks_like_probabilities(np.array([[0.2, 0.9]]))
    assert not metrics.looks_like_probabilities(np.array([[0.5], [0.4]]))
    assert not metrics.looks_like_probabilities(np.array([[-1.0, 2.0]]))


def test_calibration_numbers() -> None:
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    y = np.array([0, 1, 1, 1])
    c = metrics.calibration(p, y)
    assert c.accuracy == 0.75
    assert np.isclose(c.nll, -np.mean(np.log([0.9, 0.4, 0.7, 0.8])))
    assert np.isclose(c.brier, np.mean([0.02, 0.72, 0.18, 0.08]))
    # Bins (15 wide): 0.9 | 0.6 | 0.7 | 0.8 each alone -> ECE = mean |acc - conf|.
    assert np.isclose(c.ece, np.mean([0.1, 0.6, 0.3, 0.2]))


def test_perfect_calibration_has_zero_ece() -> None:
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(p, np.array([0, 1])) == 0.0
