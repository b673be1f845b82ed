"""The ``mc-predict`` use case: one call from a model and its inputs to one typed report.

:func:`run` is what ``dropctl mc-predict`` and :func:`dropctl.mc_predict` both call. In order
(each step fails before the slow ones after it):

1. the calibration file (``calibration``) is read and checked against the artifact's content
   hash (:func:`dropctl.mc.calibration.check_model`), before anything is loaded;
2. the model is opened once (:func:`dropctl.mc.resolve.open_model`: the artifact is parsed once,
   for building the model and for the static site check), the inputs and OOD inputs are read;
3. the Monte Carlo run (:func:`dropctl.mc.engine.mc_predict`), and the same run on the OOD inputs;
4. labels (a file, one array or a dict by output name) -> the reliability table of each
   classifier output, the evaluation (:func:`dropctl.mc.evaluation.evaluate`: with labels, OOD
   inputs or ``rank_by``), the calibration applied and, with labels, judged on them.

The result is an :class:`MCReport`: the :class:`~dropctl.mc.results.MCResult`
fields plus every part that was asked for.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dropctl.errors import UsageError
from dropctl.mc.calibration import CalibrationFit
from dropctl.mc.engine import mc_predict
from dropctl.mc.resolve import OpenedModel, open_model
from dropctl.mc.results import MCResult
from dropctl.mc.uncertainty import DEFAULT_STD_FLOOR

if TYPE_CHECKING:
    from dropctl.mc.calibration import CalibratedOutput
    from dropctl.mc.calibration_check import ClassifierCheck, RegressorCheck
    from dropctl.mc.evaluation import Evaluation
    from dropctl.mc.metrics import Calibration

__all__ = ["MCReport", "run"]


@dataclass(frozen=True)
class MCReport(MCResult):
    """Result of the ``mc-predict`` use case (:func:`dropctl.mc.run.run`): the Monte Carlo run
    itself (every :class:`MCResult` field) plus what was asked of it (empty where not asked)."""

    ood: MCResult | None = None
    """The same Monte Carlo run on the out-of-distribution inputs."""
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Labels by output name (class ids, or targets shaped like the output)."""
    reliability: Mapping[str, tuple[Calibration, Calibration]] | None = None
    """(deterministic, MC mean) accuracy/NLL/Brier/ECE per classifier output with labels."""
    evaluation: Evaluation | None = None
    """Selective prediction, OOD detection, regression metrics and the ranking, if asked."""
    calibration: CalibrationFit | None = None
    """The calibration file applied (``--calibration``)."""
    calibrated: tuple[CalibratedOutput, ...] = ()
    """Its calibrated probabilities and sets, or scaled std and intervals, per output."""
    calibration_checks: tuple[ClassifierCheck | RegressorCheck, ...] = ()
    """With labels: the calibration judged on them (before/after, coverage, set size)."""


DEFAULT_TOP = 10
"""Inputs ``rank_by`` lists when ``top`` is not given."""


def _model_path(model_or_path: Any) -> Path | None:
    from dropctl.runtime.loader import LoadedModel

    if isinstance(model_or_path, str | os.PathLike):
        return Path(os.fspath(model_or_path))
    if isinstance(model_or_path, LoadedModel):
        return Path(model_or_path.path)
    if isinstance(model_or_path, OpenedModel):
        return model_or_path.source
    return None


def _calibration(calibration: Any, model_or_path: Any) -> CalibrationFit | None:
    """The fit to apply, checked against the model's content hash (None without one)."""
    from dropctl.mc.calibration import check_model, read_calibration

    if calibration is None:
        return None
    fit = calibration if isinstance(calibration, CalibrationFit) else read_calibration(calibration)
    path = _model_path(model_or_path)
    if path is None:
        raise UsageError("a calibration is bound to a model file's content hash: pass the "
                         "model's path (or a loaded model from dropctl's loader), not a "
                         "keras.Model")
    check_model(fit, path, calibration if not isinstance(calibration, CalibrationFit)
                else "the calibration")
    return fit


def _read(model: Any, inputs: Any) -> Any:
    """A file's arrays (read with the model's input specs); arrays as given."""
    from dropctl.mc.inputs import model_input_specs, read_inputs

    if isinstance(inputs, str | os.PathLike):
        return read_inputs(Path(inputs), model_input_specs(model))
    return inputs


def _ood_inputs(model: Any, ood: Any, synthetic_ood: int | None, seed: int) -> Any:
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs

    if ood is not None:
        return _read(model, ood)
    if synthetic_ood is not None:
        return synthetic_inputs(model_input_specs(model), synthetic_ood, seed, stream=0x00D,
                                option="--synthetic-ood")
    return None


def run(model_or_path: Any, inputs: Any = None, *, samples: int = 50, seed: int = 0,
        sites: str | None = None, batch_size: int | None = None,
        until_stable: float | None = None, save_samples: bool = False,
        synthetic: int | None = None, labels: Any = None, ood: Any = None,
        synthetic_ood: int | None = None, rank_by: str | None = None, top: int | None = None,
        std_floor: float = DEFAULT_STD_FLOOR, calibration: Any = None,
        config: str | os.PathLike[str] | None = None, custom_objects: Sequence[str] = (),
        progress: Callable[[int, int], None] | None = None) -> MCReport:
    """Monte Carlo dropout on ``inputs`` and everything asked of it, as one :class:`MCReport`.

    ``model_or_path``: a path, a ``LoadedModel``, an ``OpenedModel`` or a ``keras.Model``
    (``config``/``custom_objects`` as for :func:`dropctl.runtime.loader.load` with a path).
    ``inputs``, ``ood``: arrays, a list, a dict by input name, or a .npy/.npz/.csv file;
    ``synthetic``/``synthetic_ood``: that many seeded draws instead. ``labels``: a .npy/.csv
    file, one array, or a dict by output name. ``rank_by``/``top``: the active-learning
    ranking; ``std_floor``: the regression std floor. ``calibration``: a ``dropctl calibrate``
    file (or its :class:`CalibrationFit`) fitted on this model. The Monte Carlo arguments and
    ``progress(done, total)`` are :func:`dropctl.mc.engine.mc_predict`'s (the OOD run uses the
    same ones).
    """
    from dropctl.mc.evaluation import checked_labels, evaluate, labels_by_output
    from dropctl.mc.metrics import calibrations

    if ood is not None and synthetic_ood is not None:
        raise UsageError("give either --ood or --synthetic-ood, not both")
    if top is not None and rank_by is None:
        raise UsageError("--top needs --rank-by SCORE")
    if not (std_floor > 0 and math.isfinite(std_floor)):
        raise UsageError(f"--interval-std-floor must be a positive number, got {std_floor:g}")
    fit = _calibration(calibration, model_or_path)
    opened = (model_or_path if isinstance(model_or_path, OpenedModel)
              else open_model(model_or_path, config=config, custom_objects=custom_objects))
    ood_arrays = _ood_inputs(opened.model, ood, synthetic_ood, seed)  # read before the long run
    options: dict[str, Any] = {"samples": samples, "seed": seed, "sites": sites,
                               "batch_size": batch_size, "until_stable": until_stable,
                               "progress": progress}
    # a file as given: the engine reads it, and names it if the model rejects what it holds
    result = mc_predict(opened, inputs, save_samples=save_samples, synthetic=synthetic,
                        **options)
    ood_result: MCResult | None = (mc_predict(opened, ood_arrays, **options)
                                   if ood_arrays is not None else None)
    by_output = labels_by_output(result, labels) if labels is not None else {}
    ev = None
    if labels is not None or ood_result is not None or rank_by is not None:
        ev = evaluate(result, by_output, ood_result, rank_by,
                      top if top is not None else DEFAULT_TOP, std_floor)
    # After evaluate(), which names bad labels in one line; checked_labels gives class ids.
    class_labels = {o.name: checked_labels(o, by_output[o.name]) for o in result.outputs
                    if o.classifier and o.name in by_output}
    applied: tuple[Any, ...] = ()
    checks: tuple[Any, ...] = ()
    if fit is not None:
        from dropctl.mc.calibration import apply_calibration
        from dropctl.mc.calibration_check import check_calibration

        applied = apply_calibration(fit, result)
        checks = check_calibration(fit, result, applied, by_output) if by_output else ()
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return MCReport(**fields, ood=ood_result, labels=by_output,
                    reliability=calibrations(result, class_labels) if class_labels else None,
                    evaluation=ev, calibration=fit, calibrated=applied,
                    calibration_checks=checks)
