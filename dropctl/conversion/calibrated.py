"""``convert --perma --calibration calib.json``: bake the calibration into the artifact.

The artifact IN is first converted to ``--perma`` by the ordinary path (verified like any
convert), into a temporary file. That perma model is then wrapped in a functional model that
one ``predict()`` call turns into calibrated outputs: every input row is repeated T times
(:class:`dropctl.layers.MonteCarloRepeat`, T = the calibration's ``samples``), the perma model
runs the T passes in one batch, :class:`~dropctl.layers.MonteCarloMoments` reduces them to the
MC mean and std, and :class:`~dropctl.layers.CalibratedSoftmax` /
:class:`~dropctl.layers.ConformalInterval` apply the fitted temperature and conformal threshold.
Outputs (a dict, keys prefixed ``OUT/`` for a multi-output model): ``mean``, ``std`` and
``calibrated`` + ``set`` for a classifier, or ``calibrated`` (scaled std) + ``lower`` + ``upper``
for a regressor.

Verification reloads OUT with ``keras.models.load_model`` (safe mode, after ``import
dropctl.layers``) and runs it on a seeded probe batch:

* **the wrapper, exactly**: with every rate set to 0, OUT's MC mean equals IN's deterministic
  prediction (relative 1e-5) and its std is 0;
* **the head, exactly**: dropctl's numpy calibration (:mod:`dropctl.mc.calibration`) applied to
  OUT's own MC mean/std must give OUT's calibrated probabilities (|diff| <= 1e-5) and sets
  (equal except where a class score lies within 1e-5 of ``qhat``: float32 vs float64), and its
  intervals (relative 1e-5);
* **the Monte Carlo, statistically**: with dropout on, OUT's std is > 0 and, per output element,
  the average over the probe inputs of OUT's MC mean is within 6 standard errors of
  ``mc-predict``'s (pooled: ``sqrt(sum_i (s1_i^2 + s2_i^2) / T) / N``; two T-pass estimates
  with different masks). Per input a z-test is not robust: a class that is rare in one run's
  T passes has a near-0 std there (measured on digits: per-element z up to 130 between two
  honest runs, per-class averages within 2).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import InputDataError, UsageError, VerificationError

__all__ = ["BakeCheck", "convert_calibrated"]

HEAD_TOLERANCE = 1e-5
MC_SIGMAS = 6.0
PROBE_INPUTS = 64


@dataclass(frozen=True)
class BakeCheck:
    """How OUT's baked calibration was verified."""

    samples: int
    """Passes T one call of OUT makes per input."""
    outputs: tuple[str, ...]
    """OUT's output keys."""
    head_max_error: float
    """Largest |OUT's calibrated value - dropctl's numpy calibration of OUT's MC mean/std|."""
    set_disagreements: int
    """Set memberships that differ although the score is more than 1e-5 from qhat (must be 0)."""
    mc_max_z: float
    """Largest |probe average of OUT's MC mean - mc-predict's| in pooled standard errors."""
    probe_inputs: int
    """Rows of the probe batch."""
    wrapper_error: float
    """With randomness off: |OUT's MC mean - IN's prediction| (relative; must be <= 1e-5)."""


def _wrap(perma: Any, fit: Any) -> Any:
    """The functional model: repeat, perma passes, moments, calibration heads."""
    from dropctl.layers import (
        CalibratedSoftmax,
        ConformalInterval,
        MonteCarloMoments,
        MonteCarloRepeat,
    )
    from dropctl.mc.calibration import ClassifierFit
    from dropctl.mc.inputs import model_input_specs
    from dropctl.runtime import compat, keras_module

    keras = keras_module("convert --calibration")
    t = fit.samples
    specs = model_input_specs(perma)
    inputs = [keras.Input(shape=tuple(s.shape[1:]), dtype=s.dtype, name=s.name) for s in specs]
    repeated = [MonteCarloRepeat(t, name=f"mc_repeat_{i}")(x) for i, x in enumerate(inputs)]
    passes = keras.tree.flatten(perma(compat.as_model_inputs(perma, repeated)))
    if len(passes) != len(fit.outputs):
        raise InputDataError(f"the calibration file has {len(fit.outputs)} output(s); the model "
                             f"has {len(passes)}")
    multi = len(fit.outputs) > 1
    outputs: dict[str, Any] = {}
    for k, (f, y) in enumerate(zip(fit.outputs, passes, strict=True)):
        prefix = f"{f.output}/" if multi else ""
        mean, std = MonteCarloMoments(t, name=f"mc_moments_{k}")(y)
        outputs[prefix + "mean"], outputs[prefix + "std"] = mean, std
        if isinstance(f, ClassifierFit):
            probs, sets = CalibratedSoftmax(
                f.temperature, f.weights, f.bias, f.score.value, f.qhat, f.raps_lambda, f.raps_k,
                name=f"calibrated_softmax_{k}")(mean)
            outputs[prefix + "calibrated"], outputs[prefix + "set"] = probs, sets
        else:
            scaled, lower, upper = ConformalInterval(
                f.qhat, f.variance_scale, f.std_floor, name=f"conformal_interval_{k}")([mean, std])
            outputs[prefix + "calibrated"] = scaled
            outputs[prefix + "lower"], outputs[prefix + "upper"] = lower, upper
    return keras.Model(inputs, outputs, name=f"{perma.name}_calibrated")


def _predict(model: Any, probe: list[np.ndarray]) -> dict[str, np.ndarray]:
    import logging

    n = probe[0].shape[0]
    tf_log = logging.getLogger("tensorflow")
    level = tf_log.level
    tf_log.setLevel(logging.ERROR)  # "N out of the last N calls triggered tf.function retracing"
    try:
        got = model.predict(probe if len(probe) > 1 else probe[0], batch_size=n, verbose=0)
    finally:
        tf_log.setLevel(level)
    return {k: np.asarray(v) for k, v in got.items()}


def _head_errors(fit: Any, got: dict[str, np.ndarray]) -> tuple[float, int]:
    """(largest head error, set disagreements away from qhat) of OUT's outputs ``got``."""
    from dropctl.mc.calibration import ClassifierFit, log_probabilities, scale_logits
    from dropctl.mc.conformal import class_scores

    multi = len(fit.outputs) > 1
    head, bad = 0.0, 0
    for f in fit.outputs:
        prefix = f"{f.output}/" if multi else ""
        mean = got[prefix + "mean"].astype(np.float64)
        if isinstance(f, ClassifierFit):
            w = None if f.weights is None else np.array(f.weights)
            b = None if f.bias is None else np.array(f.bias)
            expected = scale_logits(log_probabilities(mean), f.temperature, w, b)
            head = max(head, float(np.max(np.abs(expected - got[prefix + "calibrated"]))))
            scores = class_scores(mean, f.score, f.raps_lambda, f.raps_k)
            differ = (scores <= f.qhat) != got[prefix + "set"].astype(bool)
            bad += int(np.count_nonzero(differ & (np.abs(scores - f.qhat) > HEAD_TOLERANCE)))
        else:
            s = np.maximum(got[prefix + "std"].astype(np.float64), f.std_floor)
            for key, value in (("calibrated", s * f.variance_scale), ("lower", mean - f.qhat * s),
                               ("upper", mean + f.qhat * s)):
                scale = max(1.0, float(np.max(np.abs(value))))
                head = max(head, float(np.max(np.abs(value - got[prefix + key]))) / scale)
    return head, bad


def _verify(path: Path, fit: Any, src: Path, probe: list[np.ndarray]) -> BakeCheck:
    from dropctl.conversion.verify import randomness_off, reference_prediction
    from dropctl.layers import always_on_layer_classes
    from dropctl.mc.engine import mc_predict
    from dropctl.runtime import keras_module
    from dropctl.runtime.loader import load

    keras = keras_module("convert --calibration")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True,
                                        custom_objects=always_on_layer_classes())
    except Exception as exc:  # noqa: BLE001 - any load failure is a failed verification
        raise VerificationError(f"the calibrated model does not reload: {exc}") from None
    n = probe[0].shape[0]
    multi = len(fit.outputs) > 1
    prefixes = [f"{f.output}/" if multi else "" for f in fit.outputs]
    problems: list[str] = []
    source = load(src).model
    ref = reference_prediction(source, probe)  # [N, all output elements], randomness off
    with randomness_off(model):
        off = _predict(model, probe)
    off_mean = np.concatenate([off[p + "mean"].astype(np.float64).reshape(n, -1)
                               for p in prefixes], axis=1)
    wrapper = float(np.max(np.abs(off_mean - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    # float32 std of T equal values is ~1e-9, not 0: same relative limit as the mean.
    off_std = max(float(np.max(np.abs(off[p + "std"]))) for p in prefixes)
    if wrapper > HEAD_TOLERANCE or off_std > HEAD_TOLERANCE * max(1.0, float(np.max(np.abs(ref)))):
        problems.append(f"with randomness off OUT's MC mean is {wrapper:.3g} from IN's "
                        f"prediction and its std {off_std:.3g} (both must be ~0)")
    got = _predict(model, probe)
    head, bad = _head_errors(fit, got)
    head = max(head, _head_errors(fit, off)[0])
    reference = mc_predict(source, probe, samples=fit.samples, seed=fit.seed, sites=fit.sites)
    mc_z = 0.0
    for p, o in zip(prefixes, reference.outputs, strict=True):
        mine = got[p + "mean"].astype(np.float64)
        if not np.any(got[p + "std"] > 0):
            problems.append(f"OUT's output {p}std is 0 everywhere: its dropout does not act")
        pooled = np.sqrt(np.sum((o.std**2 + got[p + "std"].astype(np.float64) ** 2)
                                / fit.samples, axis=0)) / n
        z = np.abs(mine.mean(axis=0) - o.mean.mean(axis=0)) / (pooled + 1e-7)
        mc_z = max(mc_z, float(np.max(z)))
    if head > HEAD_TOLERANCE or bad:
        problems.append(f"the calibration head is {head:.3g} from dropctl's (limit "
                        f"{HEAD_TOLERANCE:g}) with {bad} set disagreement(s)")
    if not math.isfinite(mc_z) or mc_z > MC_SIGMAS:
        problems.append(f"OUT's MC mean is {mc_z:.3g} standard errors from mc-predict's "
                        f"(limit {MC_SIGMAS:g})")
    if problems:
        raise VerificationError("verification of the baked calibration failed, nothing "
                                "written: " + "; ".join(problems))
    return BakeCheck(fit.samples, tuple(got), head, bad, mc_z, n, wrapper)


def convert_calibrated(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                       calibration: str | os.PathLike[str], *, sites: str | None = None,
                       rate: float | None = None, force: bool = False, probe_seed: int = 0,
                       config: Any = None, target_keras: str | None = None,
                       custom_objects: Any = ()) -> tuple[Any, BakeCheck]:
    """``convert IN OUT --perma --calibration FILE``: (the perma report, the bake check)."""
    from dropctl.conversion.run import convert
    from dropctl.conversion.verify import probe_inputs
    from dropctl.fileio import clean_stale_temps, publish, temp_path, umask_mode
    from dropctl.mc.calibration import check_model, read_calibration
    from dropctl.runtime.loader import load

    src_p, dst_p = Path(src), Path(dst)
    if dst_p.suffix.lower() != ".keras":
        raise UsageError("--calibration writes a .keras OUT (its outputs are a dict and its "
                         "calibration layers are Keras 3 objects)")
    if dst_p.exists() and not force:
        raise UsageError(f"{dst_p} exists; pass --force to overwrite it")
    fit = read_calibration(Path(calibration))
    check_model(fit, src_p, Path(calibration))
    if sites is not None and fit.sites is not None and sites != fit.sites:
        raise UsageError(f"--sites {sites!r} differs from the calibration's sites {fit.sites!r}")
    clean_stale_temps(dst_p)
    perma_path = temp_path(dst_p)  # both temporaries end in .keras (Keras needs the suffix)
    out_tmp = temp_path(dst_p)
    try:
        report = convert(src_p, perma_path, "perma", rate=rate, sites=sites or fit.sites,
                         force=True, verify=True, probe_seed=probe_seed, config=config,
                         target_keras=target_keras, custom_objects=custom_objects)
        perma = load(perma_path).model
        _wrap(perma, fit).save(out_tmp)
        check = _verify(out_tmp, fit, src_p, probe_inputs(perma, probe_seed, PROBE_INPUTS))
        os.chmod(out_tmp, umask_mode())
        publish(out_tmp, dst_p, force=force)
    finally:
        perma_path.unlink(missing_ok=True)
        out_tmp.unlink(missing_ok=True)
    return dataclasses.replace(report, dst=str(dst_p)), check
