"""An exported file judged by the runtime it ships to, never by the code that wrote it.

SavedModel: ``tf.saved_model.load`` and its ``serving_default`` signature (and ``seeded``);
ONNX: an onnxruntime ``InferenceSession`` on the CPU provider; LiteRT: the
``ai_edge_litert.interpreter.Interpreter``'s signature runner. The reference is Keras: the
same seeded synthetic inputs go through ``mc-predict``'s engine (:func:`dropctl.mc.engine.mc_predict`).

* ``--mc T``: std > 0 on every output ``mc-predict`` finds stochastic (and exactly 0 where it
  finds none); the exported mean (averaged over a few calls) within :data:`Z_MAX` standard
  errors of ``mc-predict``'s; two calls differ (every call samples afresh).
* ``--perma``: repeated calls; their mean within :data:`Z_MAX` standard errors likewise.
* ``--standard``: equal to the model's deterministic prediction (``predict()``) within
  :data:`REL_TOL` of the output's largest magnitude, and two calls identical.
* The random ops the written graph holds are listed from the file itself (the static readers):
  an exporter that dropped or constant-folded them fails here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.deploy.plan import (
    RUNTIMES,
    SEED_SIGNATURE,
    ExportFormat,
    ExportMode,
    OutputCheck,
    Verification,
)
from dropctl.errors import VerificationError
from dropctl.runtime.imports import optional_module, tf_module

Z_MAX = 4.0
"""Largest |exported mean - mc-predict mean| in combined standard errors that passes, for an
output of few elements. An output of m elements gets the Bonferroni bound for a family-wise
false alarm rate of :data:`FAMILY_ALPHA` when that is larger (m = 80: 4.3, m = 5,000: 5.3):
4 per element would fail a correct 5,000-element export almost always (measured: gpt2_tiny)."""
FAMILY_ALPHA = 1e-3
"""Chance that a correct export fails the mean comparison of one output."""
REL_TOL = 1e-5
"""``--standard``: largest |exported - predict()| relative to the output's max |value|."""
FLOAT_TOL = 1e-4
"""Float noise allowed on top of the standard error (kernels differ between runtimes)."""
REFERENCE_SAMPLES = 200
"""Passes of the Keras reference (``mc-predict``) for the mean comparison."""
VERIFY_INPUTS = 8
"""Seeded synthetic inputs the file is run on."""

OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}
"""``compile_model`` config the OpenVINO verification (and the documented serving) uses."""
HINTS = {ExportFormat.ONNX: "tf2onnx changed the sampling; try --format savedmodel or litert"}
"""What to try after a failed verification, per format."""

Runner = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def runtime_version(fmt: ExportFormat) -> str:
    try:
        return metadata.version(RUNTIMES[fmt])
    except metadata.PackageNotFoundError:
        return "unknown"


def open_runner(fmt: ExportFormat, path: Path, signature: str = "serving_default") -> Runner:
    """Call the file at ``path`` in its own runtime: {input name: array} -> {output: array}."""
    if fmt is ExportFormat.SAVEDMODEL:
        tf = tf_module("verifying a SavedModel export")
        fn = tf.saved_model.load(str(path)).signatures[signature]

        def run_tf(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: np.asarray(v) for k, v in fn(**{
                k: tf.constant(v) for k, v in feed.items()}).items()}

        return run_tf
    if fmt is ExportFormat.ONNX:
        ort = optional_module("onnxruntime", "verifying an ONNX export")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]

        def run_onnx(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return dict(zip(names, session.run(names, feed), strict=True))

        return run_onnx
    if fmt is ExportFormat.OPENVINO:
        ov = optional_module("openvino", "verifying an OpenVINO export")
        # float32 kernels: on a CPU with bf16 units OpenVINO 2026.4 defaults to bfloat16
        # (measured: --standard 1.7e-3 of the scale from predict()); serve with the same hint.
        compiled = ov.Core().compile_model(str(path), "CPU", OPENVINO_CONFIG)
        ports = list(compiled.outputs)

        def run_ov(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            got = compiled(feed)
            # An output port has a set of names (the signature key among them): all of them.
            return {name: np.array(got[o]) for o in ports for name in o.get_names()}

        return run_ov
    interpreter = optional_module("ai_edge_litert.interpreter", "verifying a LiteRT export")
    runner = interpreter.Interpreter(model_path=str(path)).get_signature_runner(signature)

    def run_litert(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.array(v) for k, v in runner(**feed).items()}

    return run_litert


def random_ops(path: Path) -> tuple[str, ...]:
    """Random op types in the written file, read statically (see :mod:`dropctl.reader.deployed`)."""
    from dropctl.reader.deployed import read_deployed

    return tuple(sorted({op.op for op in read_deployed(path).random_ops}))


def verify_export(fmt: ExportFormat, path: Path, mode: ExportMode, samples: int, model: Any,
                  arrays: list[np.ndarray], in_names: list[str], out_keys: list[list[str]],
                  *, sites: str | None, seed: int, traced_random: int = 0,
                  display: str | None = None, calibration: Any = None) -> Verification:
    """Run ``path`` in its runtime against ``mc-predict`` on ``arrays``; raise on a failure.

    ``calibration``: the baked :class:`~dropctl.mc.calibration.CalibrationFit`, checked against
    ``mc-predict --calibration`` by :func:`dropctl.deploy.calibration.check_calibration`.
    """
    from dropctl.mc.engine import mc_predict
    from dropctl.reader.deployed import read_deployed

    feed = dict(zip(in_names, arrays, strict=True))
    run = open_runner(fmt, path)
    ops = random_ops(path)
    ref = mc_predict(model, list(arrays), samples=2 if mode is ExportMode.STANDARD
                     else REFERENCE_SAMPLES, seed=seed, sites=sites)
    problems: list[str] = []
    if mode is ExportMode.STANDARD and ops:
        problems.append(f"the --standard graph holds random ops {', '.join(ops)}")
    if mode is not ExportMode.STANDARD and ref.stochastic and not ops:
        problems.append("the exporter dropped or constant-folded every random op")
    graph = read_deployed(path)
    idle = [name for name, state in graph.dropout_nodes if state in ("false", "absent")]
    if mode is not ExportMode.STANDARD and idle:
        problems.append(f"the exporter turned {len(idle)} mask(s) into Dropout nodes that are "
                        f"the identity at inference ({', '.join(idle[:3])})")
    found = len(graph.random_ops)
    if found < traced_random:
        problems.append(f"the file holds {found} random ops where the traced graph has "
                        f"{traced_random} (the exporter merged, folded or dropped some)")
    first = run(feed)
    second = run(feed)
    calls = [first, second]
    if mode is ExportMode.MC:
        from dropctl.deploy.calibration import REPEATS

        repeats = max(math.ceil(REFERENCE_SAMPLES / samples),
                      REPEATS if calibration is not None else 0)
        calls += [run(feed) for _ in range(max(0, repeats - 2))]
    checks = []
    for o, keys in zip(ref.outputs, out_keys, strict=True):
        stochastic = bool(np.max(o.std, initial=0.0) > 0) and mode is not ExportMode.STANDARD
        if mode is ExportMode.STANDARD:
            got = first[keys[0]]
            scale = max(float(np.max(np.abs(o.deterministic), initial=0.0)), 1e-30)
            rel = float(np.max(np.abs(got - o.deterministic), initial=0.0)) / scale
            fresh = bool(np.array_equal(first[keys[0]], second[keys[0]]))
            checks.append(OutputCheck(o.name, False, 0.0, 0.0, rel, fresh))
            if rel > REL_TOL:
                problems.append(f"{o.name}: differs from predict() by {rel:.2g} of its scale "
                                f"(limit {REL_TOL:g})")
            if not fresh:
                problems.append(f"{o.name}: two calls on the same inputs differ")
            continue
        if mode is ExportMode.MC:
            means = np.stack([c[keys[0]] for c in calls]).astype(np.float64)
            var = np.stack([np.square(c[keys[1]]) for c in calls]).astype(np.float64)
            mean = means.mean(axis=0)
            n = len(calls) * samples
            se = np.sqrt(var.mean(axis=0) * samples / max(samples - 1, 1) / n)
            max_std = float(np.max(first[keys[1]], initial=0.0))
            fresh = not np.array_equal(first[keys[0]], second[keys[0]])
        else:
            draws = [first[keys[0]], second[keys[0]]] + [
                run(feed)[keys[0]] for _ in range(REFERENCE_SAMPLES - 2)]
            stack = np.stack(draws).astype(np.float64)
            mean = stack.mean(axis=0)
            se = stack.std(axis=0, ddof=1) / math.sqrt(len(draws))
            max_std = float(np.max(stack.std(axis=0), initial=0.0))
            fresh = not np.array_equal(draws[0], draws[1])
        scale = max(float(np.max(np.abs(o.mean), initial=0.0)), 1e-30)
        tol = FLOAT_TOL * scale
        combined = np.sqrt(np.square(se) + np.square(o.stderr))
        diff = np.abs(mean - o.mean)
        z = np.where(diff <= tol, 0.0, (diff - tol) / np.maximum(combined, 1e-300))
        max_z = float(np.max(z, initial=0.0))
        limit = z_limit(int(z.size))
        rel = float(np.max(diff, initial=0.0)) / scale
        checks.append(OutputCheck(o.name, stochastic, max_std, max_z, rel,
                                  fresh if stochastic else not fresh))
        if stochastic and not max_std > 0:
            problems.append(f"{o.name}: std is 0 although a switched site feeds it")
        if stochastic and not fresh:
            problems.append(f"{o.name}: two calls gave the same sample (the runtime does not "
                            "sample afresh)")
        if not stochastic and max_std > tol:
            problems.append(f"{o.name}: std {max_std:.3g} where mc-predict finds none")
        if max_z > limit:
            problems.append(f"{o.name}: mean {max_z:.1f} standard errors from mc-predict's "
                            f"(limit {limit:.1f})")
    calib_check = None
    if calibration is not None:
        from dropctl.deploy import calibration as calib

        names = [o.name for o in ref.outputs]
        fits = calib.matched_fits(calibration, names, [o.classifier for o in ref.outputs],
                                  [tuple(o.mean.shape) for o in ref.outputs])
        groups = calib.reference_groups(model, arrays, samples, fits, calibration, seed=seed,
                                        sites=sites)
        calib_check, trouble = calib.check_calibration(calibration, fits, calls, groups, z_limit)
        problems += trouble
    seeded = None
    if fmt is ExportFormat.SAVEDMODEL and mode is not ExportMode.STANDARD:
        seeded = _check_seeded(path, feed, out_keys)
        if not seeded:
            problems.append(f"the '{SEED_SIGNATURE}' signature is not reproducible")
    if problems:
        raise VerificationError(f"{display or path.name} failed verification in {RUNTIMES[fmt]} "
                                f"{runtime_version(fmt)}: {'; '.join(problems)}; nothing written"
                                + (f" ({HINTS[fmt]})" if fmt in HINTS else ""))
    return Verification(RUNTIMES[fmt], runtime_version(fmt), len(arrays[0]), tuple(checks),
                        ops, seeded, calib_check)


def z_limit(elements: int) -> float:
    """:data:`Z_MAX`, or the two-sided Bonferroni bound for ``elements`` at FAMILY_ALPHA."""
    from statistics import NormalDist

    return max(Z_MAX, NormalDist().inv_cdf(1.0 - FAMILY_ALPHA / (2 * max(elements, 1))))


def _check_seeded(path: Path, feed: dict[str, np.ndarray], out_keys: list[list[str]]) -> bool:
    run = open_runner(ExportFormat.SAVEDMODEL, path, SEED_SIGNATURE)
    a = run({**feed, "seed": np.array([1, 2], np.int64)})
    b = run({**feed, "seed": np.array([1, 2], np.int64)})
    return all(np.array_equal(a[k], b[k]) for keys in out_keys for k in keys)
