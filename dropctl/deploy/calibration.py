"""``export --mc T --calibration calib.json``: the calibration head in the graph, and its check.

The head is the numpy calibration of :mod:`dropctl.mc.calibration` written in TensorFlow ops
that tf2onnx and the LiteRT converter carry as builtins (log, max, softmax, compare, sum):

* classifier: ``z = log(clip(mean, 1e-12, 1))`` shifted so each row's max is 0, calibrated
  probabilities ``softmax(z / T)`` (or ``softmax(w z + b)``), and the conformal set
  ``score(c) <= qhat`` where the score is computed on the *uncalibrated* MC mean like
  ``mc-predict --calibration``. APS/RAPS need the mass of the classes ranked at or above each
  class: it is computed without a sort (ranked above = more probable, or as probable with a lower
  or equal index: numpy's stable descending order, as :func:`dropctl.mc.conformal.label_scores`
  does), an [N, C, C] comparison, so no TopK/argsort kernel is needed in any runtime;
* regressor: ``s = max(std, floor)``, ``calibrated = s * scale``, ``mean -+ qhat s``.

Verification (:func:`check_calibration`), in OUT's own runtime:

* **the head, exactly**: dropctl's numpy calibration of OUT's own ``mean``/``std`` gives OUT's
  ``calibrated``/``lower``/``upper`` within :data:`HEAD_TOLERANCE` and its sets (except where a
  score lies within that tolerance of ``qhat``);
* **against mc-predict --calibration, statistically**: R groups of T passes of ``mc-predict``
  (one ``save_samples`` run of R*T passes, split) each calibrated by
  :func:`dropctl.mc.calibration.calibrated_columns`, against R calls of OUT (each T passes):
  the averages of ``calibrated``/``lower``/``upper`` within 4 standard errors (Bonferroni-raised
  for many elements, :func:`dropctl.deploy.verify.z_limit`); sets equal wherever the score's
  mean over the groups is further than that many of its group-to-group standard deviations from
  ``qhat`` (nearer, MC error alone flips membership).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dropctl.deploy.plan import CalibrationCheck
from dropctl.errors import InputDataError

if TYPE_CHECKING:
    from dropctl.mc.calibration import CalibrationFit, ClassifierFit, RegressorFit

    Fit = ClassifierFit | RegressorFit

HEAD_TOLERANCE = 1e-4
"""OUT's head vs numpy on OUT's own mean. Looser than convert's 1e-5: the runtimes compute in
float32 with their own log/exp kernels and ``z / T`` amplifies that error by 1/T (T ~ 0.5-2)."""
REPEATS = 32
"""T-pass estimates per side of the statistical comparison (t with 62 degrees of freedom is
close enough to normal for the 4-sigma bound to keep its false-alarm rate)."""
MAX_CLASSES = 2048
"""Largest C the sort-free APS/RAPS head takes ([N, C, C] comparisons per call)."""


def matched_fits(fit: CalibrationFit, names: list[str], classifier: list[bool],
                 shapes: list[tuple[int, ...]]) -> list[Fit]:
    """The calibration of each model output, in the model's order; refuses a mismatch."""
    from dropctl.mc.calibration import ClassifierFit

    by_name = {f.output: f for f in fit.outputs}
    if sorted(by_name) != sorted(names):
        raise InputDataError(f"the calibration file has outputs {sorted(by_name)}; the model has "
                             f"{sorted(names)}")
    out = []
    for name, is_clf, shape in zip(names, classifier, shapes, strict=True):
        f = by_name[name]
        if isinstance(f, ClassifierFit):
            if not is_clf or len(shape) != 2 or shape[1] != f.classes:
                raise InputDataError(f"output '{name}' does not match the calibration file (it "
                                     f"was fitted on a {f.classes}-class classifier output)")
            if f.score.value != "lac" and f.classes > MAX_CLASSES:
                raise InputDataError(f"output '{name}': a {f.score.value} head for {f.classes} "
                                     f"classes needs [N, C, C] comparisons (limit {MAX_CLASSES} "
                                     "classes); calibrate with --score lac")
        elif is_clf:
            raise InputDataError(f"output '{name}' is a classifier; the calibration file fitted "
                                 "a regressor there")
        out.append(f)
    return out


def kind(f: Fit) -> str:
    """``classifier`` or ``regressor`` (keys of :data:`dropctl.deploy.plan.CALIBRATION_KEYS`)."""
    from dropctl.mc.calibration import ClassifierFit

    return "classifier" if isinstance(f, ClassifierFit) else "regressor"


def head(tf: Any, f: Fit, mean: Any, std: Any) -> list[Any]:
    """The calibrated tensors of one output, in :data:`CALIBRATION_KEYS` order."""
    from dropctl.mc.calibration import ClassifierFit

    if not isinstance(f, ClassifierFit):
        s = tf.maximum(std, tf.constant(f.std_floor, tf.float32))
        q = tf.constant(f.qhat, tf.float32)
        return [s * tf.constant(f.variance_scale, tf.float32), mean - q * s, mean + q * s]
    z = tf.math.log(tf.clip_by_value(mean, 1e-12, 1.0))
    z = z - tf.reduce_max(z, axis=-1, keepdims=True)
    if f.weights is not None:
        bias = f.bias if f.bias is not None else (0.0,) * f.classes
        logits = z * tf.constant(f.weights, tf.float32) + tf.constant(bias, tf.float32)
    else:
        logits = z / tf.constant(f.temperature, tf.float32)
    probs = tf.nn.softmax(logits, axis=-1)
    if math.isinf(f.qhat):
        return [probs, tf.greater_equal(mean, tf.reduce_min(mean) - 1.0)]  # every class
    return [probs, tf.less_equal(_class_scores(tf, f, mean), tf.constant(f.qhat, tf.float32))]


def _class_scores(tf: Any, f: ClassifierFit, p: Any) -> Any:
    if f.score.value == "lac":
        return 1.0 - p
    c = f.classes
    pc = tf.expand_dims(p, -1)  # [N, C(c), 1]
    pj = tf.expand_dims(p, -2)  # [N, 1, C(j)]
    idx = np.arange(c)
    tie = tf.constant(idx[None, :] <= idx[:, None])  # [c, j]: j <= c
    above = tf.logical_or(tf.greater(pj, pc), tf.logical_and(tf.equal(pj, pc), tie))
    mass = tf.reduce_sum(tf.where(above, pj, tf.zeros_like(pj)), axis=-1)
    if f.score.value == "raps":
        rank = tf.reduce_sum(tf.cast(above, tf.float32), axis=-1)
        mass = mass + tf.constant(f.raps_lambda, tf.float32) * tf.maximum(
            rank - tf.constant(float(f.raps_k), tf.float32), 0.0)
    return mass


# ---- verification (numpy) -----------------------------------------------------------------


def _prefixes(fits: list[Fit]) -> list[str]:
    return [f"{f.output}/" if len(fits) > 1 else "" for f in fits]


def _numpy_head(fit: CalibrationFit, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from dropctl.mc.calibration import calibrated_columns

    return calibrated_columns(fit, arrays)


def _scores(f: ClassifierFit, mean: np.ndarray) -> np.ndarray:
    from dropctl.mc.conformal import class_scores

    return class_scores(np.asarray(mean, np.float64), f.score, f.raps_lambda, f.raps_k)


def reference_groups(model: Any, arrays: list[np.ndarray], samples: int, fits: list[Fit],
                     fit: CalibrationFit, *, seed: int, sites: str | None
                     ) -> list[dict[str, np.ndarray]]:
    """:data:`REPEATS` ``mc-predict --calibration`` results of ``samples`` passes each, keyed
    like its ``.npz`` (one run of REPEATS * samples passes, split into groups)."""
    from dropctl.mc.engine import mc_predict

    ref = mc_predict(model, list(arrays), samples=samples * REPEATS, seed=seed, sites=sites,
                     save_samples=True)
    groups: list[dict[str, np.ndarray]] = []
    for g in range(REPEATS):
        keyed: dict[str, np.ndarray] = {}
        for p, o in zip(_prefixes(fits), ref.outputs, strict=True):
            assert o.samples is not None  # save_samples=True
            block = o.samples[g * samples:(g + 1) * samples].astype(np.float64)
            keyed[p + "mean"], keyed[p + "std"] = block.mean(axis=0), block.std(axis=0)
        groups.append({**keyed, **_numpy_head(fit, keyed)})
    return groups


def check_calibration(fit: CalibrationFit, fits: list[Fit], calls: list[dict[str, np.ndarray]],
                      groups: list[dict[str, np.ndarray]], z_limit: Callable[[int], float]
                      ) -> tuple[CalibrationCheck, list[str]]:
    """(the check, problems) of OUT's ``calls`` (each one T-pass call) against ``groups``."""
    from dropctl.mc.calibration import ClassifierFit

    problems: list[str] = []
    head_err, head_sets = 0.0, 0
    for call in calls:
        mine = _numpy_head(fit, {k: v.astype(np.float64) for k, v in call.items()
                                 if k.rsplit("/", 1)[-1] in ("mean", "std")})
        for p, f in zip(_prefixes(fits), fits, strict=True):
            if isinstance(f, ClassifierFit):
                head_err = max(head_err, _max_abs(call[p + "calibrated"], mine[p + "calibrated"]))
                scores = _scores(f, call[p + "mean"])
                differ = call[p + "set"].astype(bool) != mine[p + "set"]
                head_sets += int(np.count_nonzero(differ & (np.abs(scores - f.qhat)
                                                            > HEAD_TOLERANCE)))
            else:
                for key in ("calibrated", "lower", "upper"):
                    head_err = max(head_err, _max_abs(call[p + key], mine[p + key], relative=True))
    if head_err > HEAD_TOLERANCE or head_sets:
        problems.append(f"the calibration head is {head_err:.3g} from dropctl's numpy "
                        f"calibration of OUT's own mean (limit {HEAD_TOLERANCE:g}), "
                        f"{head_sets} set membership(s) differ")
    max_z, compared, differ_total = 0.0, 0, 0
    for p, f in zip(_prefixes(fits), fits, strict=True):
        keys = ("calibrated",) if isinstance(f, ClassifierFit) else ("calibrated", "lower",
                                                                      "upper")
        for key in keys:
            z = _z(np.stack([c[p + key] for c in calls]), np.stack([g[p + key] for g in groups]))
            limit = z_limit(int(z.size))
            worst = float(np.max(z, initial=0.0))
            max_z = max(max_z, worst)
            if worst > limit:
                problems.append(f"{p}{key}: {worst:.1f} standard errors from mc-predict "
                                f"--calibration's (limit {limit:.1f})")
        if isinstance(f, ClassifierFit) and not math.isinf(f.qhat):
            scores = np.stack([_scores(f, g[p + "mean"]) for g in groups])
            mu, sd = scores.mean(axis=0), scores.std(axis=0, ddof=1)
            clear = np.abs(mu - f.qhat) > z_limit(int(mu.size)) * sd + HEAD_TOLERANCE
            wrong = clear & (calls[0][p + "set"].astype(bool) != groups[0][p + "set"])
            compared += int(np.count_nonzero(clear))
            differ_total += int(np.count_nonzero(wrong))
    if differ_total:
        problems.append(f"{differ_total} of {compared} set membership(s) beyond Monte Carlo "
                        "error of qhat differ from mc-predict --calibration's")
    return CalibrationCheck(head_err, head_sets, max_z, compared, differ_total,
                            min(len(calls), len(groups))), problems


def _max_abs(got: np.ndarray, want: np.ndarray, *, relative: bool = False) -> float:
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    finite = np.isfinite(want64)
    if not np.array_equal(finite, np.isfinite(got64)):
        return math.inf
    diff = np.abs(got64[finite] - want64[finite])
    if relative:
        diff = diff / np.maximum(1.0, np.abs(want64[finite]))
    return float(np.max(diff, initial=0.0))


def _z(mine: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """|mean(mine) - mean(ref)| in standard errors of the difference, per element (axis 0:
    the repeats); :data:`HEAD_TOLERANCE` of float noise first; infinite bounds agree or fail."""
    mine64, ref64 = mine.astype(np.float64), ref.astype(np.float64)
    inf = ~np.isfinite(mine64) | ~np.isfinite(ref64)
    if np.any(inf):
        if not np.array_equal(mine64[:, inf.any(axis=0)], ref64[:, inf.any(axis=0)]):
            return np.full(mine64.shape[1:], math.inf)
        mine64, ref64 = np.where(inf, 0.0, mine64), np.where(inf, 0.0, ref64)
    se = np.sqrt(mine64.var(axis=0, ddof=1) / len(mine64) + ref64.var(axis=0, ddof=1)
                 / len(ref64))
    diff = np.abs(mine64.mean(axis=0) - ref64.mean(axis=0))
    scale = max(1.0, float(np.max(np.abs(ref64), initial=0.0)))
    tol = HEAD_TOLERANCE * scale
    return np.where(diff <= tol, 0.0, (diff - tol) / np.maximum(se, 1e-300))
