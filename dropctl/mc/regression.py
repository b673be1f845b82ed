"""Regression outputs: RMSE, Gaussian NLL, interval coverage (PICP/MPIW) and the interval
calibration curve of the MC mean and std; definitions in :mod:`dropctl.mc.evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dropctl.errors import InputDataError, UsageError
from dropctl.mc.uncertainty import DEFAULT_STD_FLOOR, INTERVAL_LEVELS, PICP_LEVELS, finite_values

__all__ = ["Regression", "gaussian_nll", "interval_coverage", "normal_quantile", "regression"]


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
    mu = finite_values(mean, "the MC mean")
    y = finite_values(labels, "the regression labels")
    s = np.maximum(finite_values(std, "the MC std"), floor)
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
