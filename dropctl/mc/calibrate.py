"""The ``dropctl calibrate`` use case: Monte Carlo on a held-out calibration set, then the fit.

The Monte Carlo run is :func:`dropctl.mc.engine.mc_predict` with the same ``samples``, ``seed``
and ``sites`` semantics as ``mc-predict``; the fit is :func:`dropctl.mc.calibration.fit_calibration`
(numpy only), bound to the artifact's content hash. With ``checks`` the fit is also judged on
the calibration data itself (in-sample: what ``calibrate --plot`` draws).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dropctl.errors import UsageError
from dropctl.mc.calibration import CalibrationFit, fit_calibration, model_sha256
from dropctl.mc.conformal import ClassScore, parse_class_score
from dropctl.mc.engine import mc_predict
from dropctl.mc.evaluation import labels_by_output
from dropctl.mc.resolve import open_model
from dropctl.mc.results import MCResult

if TYPE_CHECKING:
    from dropctl.mc.calibration_check import ClassifierCheck, RegressorCheck

__all__ = ["CalibrateRun", "calibrate", "labels_by_output"]


@dataclass(frozen=True)
class CalibrateRun:
    """What ``dropctl calibrate`` produced."""

    fit: CalibrationFit
    """The fit (written as the calibration file)."""
    result: MCResult
    """The Monte Carlo run on the calibration inputs."""
    labels: Mapping[str, np.ndarray]
    """Calibration labels by output name."""
    checks: tuple[ClassifierCheck | RegressorCheck, ...] = ()
    """With ``checks=True``: the fit judged on the calibration data (in-sample)."""


def calibrate(model: Any, inputs: Any, labels: Any, *, samples: int = 50, seed: int = 0,
              coverage: float = 0.9, method: str = "temperature",
              score: str | ClassScore = ClassScore.LAC, raps_lambda: float = 0.01,
              raps_k: int = 1, sites: str | None = None, batch_size: int | None = None,
              std_floor: float = 1e-6, model_path: str | os.PathLike[str] | None = None,
              progress: Callable[[int, int], None] | None = None,
              config: str | os.PathLike[str] | None = None,
              custom_objects: Sequence[str] = (), checks: bool = False) -> CalibrateRun:
    """MC-predict ``inputs`` (arrays or a .npy/.npz/.csv file) with ``model`` (a path or a
    :class:`LoadedModel`) and fit.

    ``model_path`` names the artifact whose content hash the file records (default: ``model``
    when it is a path, else the loaded model's path). ``config``/``custom_objects`` as for
    :func:`dropctl.runtime.loader.load` when ``model`` is a path.
    """
    from dropctl.runtime.loader import LoadedModel

    chosen = score if isinstance(score, ClassScore) else parse_class_score(score)
    if model_path is None:
        if isinstance(model, str | os.PathLike):
            model_path = model
        elif isinstance(model, LoadedModel):
            model_path = model.path
        else:
            raise UsageError("calibrate needs the model's path (model_path=...) to bind the "
                             "calibration to its content hash")
    opened = open_model(model, config=config, custom_objects=custom_objects)
    sha = model_sha256(Path(model_path))
    result = mc_predict(opened, inputs, samples=samples, seed=seed, sites=sites,
                        batch_size=batch_size, progress=progress)
    by_output = labels_by_output(result, labels)
    fit = fit_calibration(result, by_output, model_sha=sha, coverage=coverage, method=method,
                          score=chosen, raps_lambda=raps_lambda, raps_k=raps_k,
                          std_floor=std_floor, sites=sites)
    judged: tuple[ClassifierCheck | RegressorCheck, ...] = ()
    if checks:
        from dropctl.mc.calibration import apply_calibration
        from dropctl.mc.calibration_check import check_calibration

        judged = check_calibration(fit, result, apply_calibration(fit, result), by_output)
    return CalibrateRun(fit, result, by_output, judged)
