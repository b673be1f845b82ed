"""``export --mc T --calibration calib.json``: the calibration baked into every format.

Calibration files are fitted once per session on the documented split of the trained samples
(``bench/calibration_samples.py``). The oracles are outside dropctl: each file runs in its own
runtime (onnxruntime, the LiteRT interpreter, ``tf.saved_model``, OpenVINO); its calibrated outputs are
recomputed from its own ``mean``/``std`` with scipy's softmax and the conformal definitions
(sorted loops), with the parameters read from the calibration JSON by ``json``; and its
averaged calibrated probabilities / bounds are compared with Keras' own dropout
(``model(x, training=True)``: these samples hold no BatchNormalization), calibrated the same way.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from bench.calibration_samples import split
from tests.support import SAMPLES

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "ai_edge_litert", "tf2onnx",
                                                      "openvino", "scipy")),
    reason="needs the [onnx], [litert] and [openvino] extras and scipy")

T = 20
ROWS = 24


def _cli(*args: object):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from dropctl.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def calib_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    """{name: (calibration file, test inputs)}: digits with RAPS + vector scaling and with LAC +
    temperature, diabetes (normalised intervals)."""
    out = {}
    d = tmp_path_factory.mktemp("calib")
    for name, model, extra in (("digits_raps", "digits", ["--score", "raps", "--method", "vector",
                                                          "--raps-lambda", "0.05"]),
                               ("digits_lac", "digits", []), ("diabetes", "diabetes", [])):
        x = np.load(SAMPLES / f"{model}_inputs.npy")
        y = np.load(SAMPLES / f"{model}_labels.npy")
        cal, test = split(len(x), 0)
        np.save(d / f"{name}_x.npy", x[cal])
        np.save(d / f"{name}_y.npy", y[cal])
        r = _cli("calibrate", SAMPLES / f"{model}.keras", "-i", d / f"{name}_x.npy", "--labels",
                 d / f"{name}_y.npy", "-o", d / f"{name}.json", "--samples", T, *extra)
        assert r.exit_code == 0, r.stderr
        out[name] = (d / f"{name}.json", x[test][:ROWS].astype(np.float32))
    return out


@pytest.fixture(scope="session")
def calibrated_exports(calib_files, tmp_path_factory):  # type: ignore[no-untyped-def]
    """{key: (OUT, report)} for every format: classifiers in all three, the regressor in two."""
    import dropctl

    d = tmp_path_factory.mktemp("calib_export")
    jobs = {"digits_raps_onnx": ("digits", "digits_raps", "onnx", "d.onnx"),
            "digits_raps_litert": ("digits", "digits_raps", "litert", "d.tflite"),
            "digits_raps_openvino": ("digits", "digits_raps", "openvino", "d.xml"),
            "digits_lac_savedmodel": ("digits", "digits_lac", "savedmodel", "d_sm"),
            "diabetes_litert": ("diabetes", "diabetes", "litert", "r.tflite"),
            "diabetes_onnx": ("diabetes", "diabetes", "onnx", "r.onnx")}
    return {k: (d / out, dropctl.export(SAMPLES / f"{model}.keras", d / out, format=fmt,
                                        mode="mc", samples=T, calibration=calib_files[c][0]))
            for k, (model, c, fmt, out) in jobs.items()}


def _runner(path: Path):  # type: ignore[no-untyped-def]
    """{input: array} -> {output: array} in the file's own runtime (not dropctl's)."""
    if path.suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return lambda feed: dict(zip(names, session.run(names, feed), strict=True))
    if path.suffix == ".xml":
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

        def run_ov(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            got = compiled(feed)
            return {o.get_any_name(): np.asarray(got[o]) for o in compiled.outputs}

        return run_ov
    if path.suffix == ".tflite":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        return lambda feed: {k: np.array(v) for k, v in runner(**feed).items()}
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda feed: {k: v.numpy() for k, v in fn(**{
        k: tf.constant(v) for k, v in feed.items()}).items()}


def _input_name(path: Path) -> str:
    import keras

    return keras.saving.load_model(path).inputs[0].name


def _classifier_oracle(doc: dict, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(calibrated probabilities, set, score) from the JSON's parameters, by definition."""
    from scipy.special import softmax

    o = doc["outputs"][0]
    z = np.log(np.clip(mean.astype(np.float64), 1e-12, 1.0))
    z -= z.max(axis=1, keepdims=True)
    if o["weights"] is not None:
        probs = softmax(z * np.array(o["weights"]) + np.array(o["bias"]), axis=1)
    else:
        probs = softmax(z / o["temperature"], axis=1)
    scores = np.zeros(mean.shape)
    for i, row in enumerate(mean.astype(np.float64).tolist()):
        mass = 0.0
        for rank, c in enumerate(sorted(range(len(row)), key=lambda k: (-row[k], k)), start=1):
            mass += row[c]
            penalty = o["raps_lambda"] * max(0, rank - o["raps_k"]) if o["score"] == "raps" else 0
            scores[i, c] = 1.0 - row[c] if o["score"] == "lac" else mass + penalty
    return probs, scores <= float(o["qhat"]), scores


@pytest.mark.parametrize("key, calib", [("digits_raps_onnx", "digits_raps"),
                                        ("digits_raps_litert", "digits_raps"),
                                        ("digits_raps_openvino", "digits_raps"),
                                        ("digits_lac_savedmodel", "digits_lac")])
def test_classifier_head_is_the_calibration_of_the_files_own_mean(
        calibrated_exports, calib_files, key: str, calib: str) -> None:
    path, report = calibrated_exports[key]
    doc = json.loads(calib_files[calib][0].read_text())
    assert report.outputs == ("mean", "std", "entropy", "mutual_information", "variation_ratio",
                              "calibrated", "set")
    run = _runner(path)
    got = run({"pixels": calib_files[calib][1]})
    probs, sets, scores = _classifier_oracle(doc, got["mean"])
    np.testing.assert_allclose(got["calibrated"], probs, atol=1e-4)
    assert got["set"].dtype == np.bool_ and got["set"].shape == (ROWS, 8)
    clear = np.abs(scores - doc["outputs"][0]["qhat"]) > 1e-4
    assert np.array_equal(got["set"][clear], sets[clear])
    assert 0 < got["set"].sum() < got["set"].size  # neither empty nor every class: informative
    check = report.verification.calibration
    assert check.head_set_errors == 0 and check.sets_differ == 0 and check.sets_compared > 0
    assert report.calibration == str(calib_files[calib][0]) and report.coverage == 0.9


@pytest.mark.parametrize("key", ["diabetes_litert", "diabetes_onnx"])
def test_regressor_bounds_are_the_conformal_interval_of_the_files_own_std(
        calibrated_exports, calib_files, key: str) -> None:
    path, report = calibrated_exports[key]
    cal_path, x = calib_files["diabetes"]
    o = json.loads(cal_path.read_text())["outputs"][0]
    assert report.outputs == ("mean", "std", "calibrated", "lower", "upper")
    got = _runner(path)({_input_name(SAMPLES / "diabetes.keras"): x})
    s = np.maximum(got["std"].astype(np.float64), o["std_floor"])
    scale = max(1.0, float(np.max(np.abs(got["mean"]))))
    np.testing.assert_allclose(got["lower"], got["mean"] - o["qhat"] * s, atol=1e-4 * scale)
    np.testing.assert_allclose(got["upper"], got["mean"] + o["qhat"] * s, atol=1e-4 * scale)
    np.testing.assert_allclose(got["calibrated"], s * o["variance_scale"], rtol=1e-4)
    assert np.all(got["upper"] > got["lower"])


def _keras_groups(model_path: Path, x: np.ndarray, groups: int) -> np.ndarray:
    """``groups`` x T Keras dropout passes (``training=True``; no BatchNormalization here):
    [groups, T, N, ...]."""
    import keras

    model = keras.saving.load_model(model_path)
    keras.utils.set_random_seed(7)
    rep = np.repeat(x[None], groups * T, axis=0).reshape(-1, *x.shape[1:])
    passes = np.asarray(model(rep, training=True))
    return passes.reshape(groups, T, *x.shape[:1], *passes.shape[1:]).astype(np.float64)


def _within(mine: np.ndarray, ref: np.ndarray, sigmas: float = 5.0) -> float:
    se = np.sqrt(mine.var(axis=0, ddof=1) / len(mine) + ref.var(axis=0, ddof=1) / len(ref))
    z = np.abs(mine.mean(axis=0) - ref.mean(axis=0)) / np.maximum(se, 1e-9)
    assert float(np.max(z)) <= sigmas, float(np.max(z))
    return float(np.max(z))


def test_calibrated_probabilities_match_keras_dropout_statistically(calibrated_exports,
                                                                   calib_files) -> None:
    # E[softmax(log(mean_T) / temp)] from 32 calls of the exported file vs 32 groups of T
    # Keras passes: a 5-sigma bound per element over 24 x 8 elements (Bonferroni ~4.4 at 1e-3).
    path, _ = calibrated_exports["digits_lac_savedmodel"]
    cal_path, x = calib_files["digits_lac"]
    doc = json.loads(cal_path.read_text())
    run = _runner(path)
    mine = np.stack([run({"pixels": x})["calibrated"] for _ in range(32)]).astype(np.float64)
    groups = _keras_groups(SAMPLES / "digits.keras", x, 32)
    ref = np.stack([_classifier_oracle(doc, g.mean(axis=0))[0] for g in groups])
    _within(mine, ref)


def test_interval_bounds_match_keras_dropout_statistically(calibrated_exports,
                                                           calib_files) -> None:
    path, _ = calibrated_exports["diabetes_onnx"]
    cal_path, x = calib_files["diabetes"]
    o = json.loads(cal_path.read_text())["outputs"][0]
    run = _runner(path)
    name = _input_name(SAMPLES / "diabetes.keras")
    mine = np.stack([run({name: x})["upper"] for _ in range(32)]).astype(np.float64)
    groups = _keras_groups(SAMPLES / "diabetes.keras", x, 32)
    ref = np.stack([g.mean(axis=0) + o["qhat"] * np.maximum(g.std(axis=0), o["std_floor"])
                    for g in groups])
    _within(mine, ref)


def test_a_calibration_for_another_model_is_one_line_exit_2(calib_files, tmp_path: Path) -> None:
    dst = tmp_path / "x.onnx"
    r = _cli("export", SAMPLES / "diabetes.keras", dst, "-f", "onnx", "--mc", T,
             "--calibration", calib_files["digits_lac"][0])
    assert r.exit_code == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"Error: {calib_files['digits_lac'][0]} was fitted on another model")
    assert r.stdout == "" and list(tmp_path.iterdir()) == []


def test_calibration_needs_mc(calib_files, tmp_path: Path) -> None:
    r = _cli("export", SAMPLES / "digits.keras", tmp_path / "x.onnx", "-f", "onnx", "--perma",
             "--calibration", calib_files["digits_lac"][0])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: --calibration needs --mc T: the calibration applies to "
                                "the MC mean and std of T passes")
    assert list(tmp_path.iterdir()) == []


def test_another_t_than_the_calibrations_is_a_warning(calib_files, tmp_path: Path) -> None:
    dst = tmp_path / "d.onnx"
    r = _cli("export", SAMPLES / "digits.keras", dst, "-f", "onnx", "--mc", 2 * T,
             "--calibration", calib_files["digits_lac"][0], "--json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["calibration"] == {"file": str(calib_files["digits_lac"][0]), "coverage": 0.9}
    assert doc["outputs"][-2:] == ["calibrated", "set"]
    assert doc["verification"]["calibration"]["sets_differ"] == 0
    assert any(f"fitted on T={T} passes" in w for w in doc["warnings"])
