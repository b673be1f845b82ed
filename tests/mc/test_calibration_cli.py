"""``dropctl calibrate`` and ``mc-predict --calibration`` on the trained samples, end to end.

The split is the documented one (``bench/calibration_samples.py``: seed 0, first half of the
permutation calibrates). Every applied number is recomputed from the ``.npz`` the CLI wrote
with independent code: scipy's softmax for the temperature, the conformal set / interval from
its definition, sklearn-free loops for coverage; the refusals are asserted with their one line.
The CLI runs are made once per session (:func:`calibrated_runs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bench.calibration_samples import split
from dropctl.cli import app

scipy_special = pytest.importorskip("scipy.special")


def run(*args: object):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture(scope="session")
def calibrated_runs(tmp_path_factory, samples_dir: Path):  # type: ignore[no-untyped-def]
    """For digits (APS sets) and diabetes: calibrate on the calibration half, apply on the test
    half with --labels, --json, -o .npz and --plot. Returns {name: (calib doc, mc doc, npz, dir,
    test labels, calibrate stdout)}."""
    pytest.importorskip("matplotlib")
    out = {}
    for name, extra in (("digits", ["--score", "aps"]), ("diabetes", [])):
        d = tmp_path_factory.mktemp(name)
        x = np.load(samples_dir / f"{name}_inputs.npy")
        y = np.load(samples_dir / f"{name}_labels.npy")
        cal, test = split(len(x), 0)
        for part, idx in (("cal", cal), ("test", test)):
            np.save(d / f"{part}_x.npy", x[idx])
            np.save(d / f"{part}_y.npy", y[idx])
        model = samples_dir / f"{name}.keras"
        r = run("calibrate", model, "-i", d / "cal_x.npy", "--labels", d / "cal_y.npy",
                "-o", d / "calib.json", "--samples", "20", "--plot", d / "cal.png", *extra)
        assert r.exit_code == 0, r.stderr
        r2 = run("mc-predict", model, "-i", d / "test_x.npy", "--labels", d / "test_y.npy",
                 "--calibration", d / "calib.json", "--samples", "20", "--json",
                 "-o", d / "test.npz", "--plot", d / "test.png")
        assert r2.exit_code == 0, r2.stderr
        assert r2.stderr == ""  # --json: no hints
        with np.load(d / "test.npz") as z:
            arrays = {k: z[k] for k in z.files}
        out[name] = (json.loads((d / "calib.json").read_text()), json.loads(r2.stdout), arrays,
                     d, y[test], r.stdout)
    return out


def test_calibration_file_records_the_run(calibrated_runs, samples_dir: Path) -> None:
    import hashlib

    for name, (doc, _, _, _, _, stdout) in calibrated_runs.items():
        assert doc["format"] == "dropctl-calibration/1" and doc["schema"] == "dropctl.calibrate"
        assert doc["model"]["sha256"] == hashlib.sha256(
            (samples_dir / f"{name}.keras").read_bytes()).hexdigest()
        assert (doc["samples"], doc["seed"], doc["coverage"]) == (20, 0, 0.9)
        assert doc["n"] == len(np.load(samples_dir / f"{name}_inputs.npy")) // 2
        assert doc["dropctl_version"]
        assert f"calibrate {name}: {doc['n']} calibration input(s), T=20" in stdout
    (digits,) = calibrated_runs["digits"][0]["outputs"]
    assert digits["kind"] == "classifier" and digits["score"] == "aps"
    assert 0.3 < digits["temperature"] < 1.0  # the MC mean is underconfident: T < 1 sharpens
    (diabetes,) = calibrated_runs["diabetes"][0]["outputs"]
    assert diabetes["kind"] == "regressor" and diabetes["variance_scale"] > 2


def test_digits_calibrated_arrays_match_oracles(calibrated_runs) -> None:
    calib, doc, z, _, y, _ = calibrated_runs["digits"]
    fit = calib["outputs"][0]
    mean = z["mean"].astype(np.float64)
    logp = np.log(np.clip(mean, 1e-12, 1.0))
    expected = scipy_special.softmax(logp / fit["temperature"], axis=1)
    np.testing.assert_allclose(z["calibrated"], expected, rtol=1e-9, atol=1e-12)
    # APS set from its definition: the classes whose cumulative (descending) mass <= qhat.
    sets = np.zeros_like(z["set"])
    for i, row in enumerate(mean.tolist()):
        mass = 0.0
        for c in sorted(range(len(row)), key=lambda k: (-row[k], k)):
            mass += row[c]
            sets[i, c] = mass <= fit["qhat"]
    assert z["set"].dtype == bool and np.array_equal(z["set"], sets)
    report = doc["calibrated"]["output"]
    assert report["set_coverage"] == pytest.approx(float(np.mean(sets[np.arange(y.size), y])))
    assert report["mean_set_size"] == pytest.approx(float(sets.sum(axis=1).mean()))
    # Temperature scaling lowers the test NLL and ECE (the done-means, this split).
    assert report["after"]["nll"] < report["before"]["nll"]
    assert report["after"]["ece"] < report["before"]["ece"]
    assert report["after"]["ece_adaptive"] < report["before"]["ece_adaptive"]
    rows = np.arange(y.size)
    assert report["after"]["nll"] == pytest.approx(-np.mean(np.log(expected[rows, y])), rel=1e-9)
    assert report["before"]["accuracy"] == report["after"]["accuracy"]  # T keeps the argmax


def test_diabetes_intervals_match_oracles(calibrated_runs) -> None:
    calib, doc, z, _, y, _ = calibrated_runs["diabetes"]
    fit = calib["outputs"][0]
    mu, sd = z["mean"].astype(np.float64), np.maximum(z["std"].astype(np.float64), 1e-6)
    np.testing.assert_allclose(z["lower"], mu - fit["qhat"] * sd, rtol=1e-12)
    np.testing.assert_allclose(z["upper"], mu + fit["qhat"] * sd, rtol=1e-12)
    np.testing.assert_allclose(z["calibrated"], sd * fit["variance_scale"], rtol=1e-12)
    yy = y.astype(np.float64).reshape(mu.shape)
    inside = (yy >= z["lower"]) & (yy <= z["upper"])
    report = doc["calibrated"]["output"]
    assert report["interval_coverage"] == pytest.approx(float(inside.mean()))
    # The raw MC interval covers a fraction of the targets; the conformal one is near 90%.
    assert report["naive_coverage"] < 0.5
    assert report["interval_coverage"] > 0.8
    assert report["nll_after"] < report["nll_before"]


def test_plots_are_pngs(calibrated_runs) -> None:
    for name, (_, _, _, d, _, _) in calibrated_runs.items():
        for png in (d / "cal.png", d / "test-calibration.png"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", (name, png)


def test_json_and_csv_outputs_carry_the_calibration(calibrated_runs, samples_dir: Path) -> None:
    _, _, z, d, _, _ = calibrated_runs["digits"]
    base = ["mc-predict", samples_dir / "digits.keras", "-i", d / "test_x.npy", "--samples",
            "20", "--calibration", d / "calib.json", "-q"]
    r = run(*base, "-o", d / "t.json")
    assert r.exit_code == 0, r.stderr
    arrays = json.loads((d / "t.json").read_text())["arrays"]
    assert np.array_equal(np.array(arrays["set"]), z["set"])
    np.testing.assert_allclose(np.array(arrays["calibrated"]), z["calibrated"], rtol=1e-12)
    r = run(*base, "-o", d / "t.csv")
    assert r.exit_code == 0, r.stderr
    head = (d / "t.csv").read_text().splitlines()[0].split(",")
    assert "calibrated[0]" in head and "set[0]" in head


def test_another_model_is_refused(calibrated_runs, samples_dir: Path) -> None:
    _, _, _, d, _, _ = calibrated_runs["digits"]
    r = run("mc-predict", samples_dir / "diabetes.keras", "--synthetic", "4",
            "--calibration", d / "calib.json")
    assert r.exit_code == 2
    line = one_error_line(r)
    assert "calib.json was fitted on another model" in line
    assert "run dropctl calibrate on this model" in line


@pytest.mark.parametrize(("extra", "message"), [
    (["--coverage", "1.5"], "--coverage must be strictly between 0 and 1, got 1.5"),
    (["--score", "best"], "unknown conformal score 'best'"),
    (["--method", "isotonic"], "unknown --method 'isotonic'"),
])
def test_bad_options_give_one_line(tmp_path: Path, samples_dir: Path, extra: list[str],
                                   message: str) -> None:
    s = samples_dir
    r = run("calibrate", s / "diabetes.keras", "-i", s / "diabetes_inputs.npy", "--labels",
            s / "diabetes_labels.npy", "-o", tmp_path / "c.json", "--samples", "2", *extra)
    assert r.exit_code == 2
    assert message in one_error_line(r)
    assert not (tmp_path / "c.json").exists()


def test_existing_output_needs_force(tmp_path: Path, samples_dir: Path) -> None:
    s = samples_dir
    (tmp_path / "c.json").write_text("keep")
    args = ["calibrate", s / "diabetes.keras", "-i", s / "diabetes_inputs.npy", "--labels",
            s / "diabetes_labels.npy", "-o", tmp_path / "c.json", "--samples", "2"]
    r = run(*args)
    assert r.exit_code == 2 and "exists (use --force" in one_error_line(r)
    assert (tmp_path / "c.json").read_text() == "keep"
    r = run(*args, "--force", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == json.loads((tmp_path / "c.json").read_text())


def test_bad_calibration_file_is_one_line(tmp_path: Path, samples_dir: Path) -> None:
    (tmp_path / "c.json").write_text("[]")
    r = run("mc-predict", samples_dir / "diabetes.keras", "--synthetic", "2",
            "--calibration", tmp_path / "c.json")
    assert r.exit_code == 2
    assert "not a dropctl calibration file" in one_error_line(r)


# ---- convert --perma --calibration: the calibration baked into the artifact ---------------------


@pytest.mark.parametrize("name", ["digits", "diabetes"])
def test_baked_model_matches_mc_predict_calibration(calibrated_runs, samples_dir: Path,
                                                    name: str) -> None:
    from tests.support import LazyModule

    keras = LazyModule("keras")
    calib, doc, z, d, y, _ = calibrated_runs[name]
    fit = calib["outputs"][0]
    out = d / "baked.keras"
    r = run("convert", samples_dir / f"{name}.keras", out, "--perma", "--calibration",
            d / "calib.json", "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)["calibration"]
    assert report["samples"] == 20 and report["set_disagreements"] == 0
    # dropctl's own reader knows its calibration layers (registered as dropctl>Name): no
    # forged-class finding, and the baked model's dropout reads as always on.
    import dropctl

    inspected = dropctl.inspect(out)
    assert not [f for f in inspected.findings if f.code.startswith("DC5")]
    assert inspected.predict_deterministic.value == "no"
    # The oracle is Keras itself: load OUT (dropctl.layers registers the classes), one call.
    import dropctl.layers as dl

    model = keras.models.load_model(out, compile=False, safe_mode=True,
                                    custom_objects=dl.always_on_layer_classes())
    x = np.load(d / "test_x.npy")
    got = {k: np.asarray(v, np.float64) for k, v in model.predict(x, verbose=0).items()}
    # Two independent T=20 Monte Carlo estimates of the same means (different masks): their
    # averages over the test inputs agree within 6 pooled standard errors. (Per input a z-test
    # is not robust: a class rare in one run's 20 passes has a near-0 std there.)
    n = x.shape[0]
    pooled = np.sqrt(np.sum((z["std"] ** 2 + got["std"] ** 2) / 20, axis=0)) / n
    assert np.all(np.abs(got["mean"].mean(axis=0) - z["mean"].mean(axis=0)) <= 6 * pooled + 1e-7)
    assert np.all(got["std"].max(axis=0) > 0)
    if name == "digits":  # the MC means pick the same class almost everywhere
        assert np.mean(got["mean"].argmax(1) == z["mean"].argmax(1)) > 0.97
    if name == "digits":
        logp = np.log(np.clip(got["mean"], 1e-12, 1.0))
        np.testing.assert_allclose(got["calibrated"],
                                   scipy_special.softmax(logp / fit["temperature"], axis=1),
                                   atol=1e-5)
        coverage = float(np.mean(got["set"][np.arange(y.size), y]))
        assert abs(coverage - doc["calibrated"]["output"]["set_coverage"]) < 0.03
    else:
        s = np.maximum(got["std"], 1e-6)
        # float32 in the model: mean -+ qhat*s loses ~1e-7 of the operands' magnitude when the
        # bound lands near 0 (measured: |diff| 4.6e-6 at a bound of 0.22 from a mean of ~20).
        atol = 1e-6 * float(np.abs(got["mean"]).max() + fit["qhat"] * s.max())
        np.testing.assert_allclose(got["lower"], got["mean"] - fit["qhat"] * s, rtol=1e-5, atol=atol)
        np.testing.assert_allclose(got["upper"], got["mean"] + fit["qhat"] * s, rtol=1e-5, atol=atol)
        yy = y.reshape(got["mean"].shape)
        coverage = float(np.mean((yy >= got["lower"]) & (yy <= got["upper"])))
        assert abs(coverage - doc["calibrated"]["output"]["interval_coverage"]) < 0.1


@pytest.mark.parametrize(("args", "message"), [
    (["--standard"], "--calibration needs --perma"),
    (["--perma", "--dry-run"], "--calibration is always written and verified"),
])
def test_bake_refusals(calibrated_runs, samples_dir: Path, tmp_path: Path, args: list[str],
                       message: str) -> None:
    d = calibrated_runs["digits"][3]
    r = run("convert", samples_dir / "digits.keras", tmp_path / "o.keras", *args,
            "--calibration", d / "calib.json")
    assert r.exit_code == 2 and message in one_error_line(r)
    assert not (tmp_path / "o.keras").exists()


def test_bake_refuses_another_model_and_h5(calibrated_runs, samples_dir: Path,
                                           tmp_path: Path) -> None:
    d = calibrated_runs["digits"][3]
    r = run("convert", samples_dir / "diabetes.keras", tmp_path / "o.keras", "--perma",
            "--calibration", d / "calib.json")
    assert r.exit_code == 2 and "was fitted on another model" in one_error_line(r)
    r = run("convert", samples_dir / "digits.keras", tmp_path / "o.h5", "--perma",
            "--calibration", d / "calib.json")
    assert r.exit_code == 2 and "--calibration writes a .keras OUT" in one_error_line(r)
    assert list(tmp_path.iterdir()) == []


# ---- shards (--output-dir, Parquet) and the Ray UDF ------------------------------------------


def _aps_sets(mean: np.ndarray, qhat: float) -> np.ndarray:
    sets = np.zeros(mean.shape, dtype=bool)
    for i, row in enumerate(mean.tolist()):
        mass = 0.0
        for c in sorted(range(len(row)), key=lambda k: (-row[k], k)):
            mass += row[c]
            sets[i, c] = mass <= qhat
    return sets


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(path)
    meta = {k.decode(): json.loads(v) for k, v in (table.schema.metadata or {}).items()}
    out = {}
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        shape = meta.get(f"dropctl.shape.{name}")
        out[name] = (col.to_numpy(zero_copy_only=False) if shape is None
                     else col.flatten().to_numpy(zero_copy_only=False).reshape((len(col), *shape)))
    return out


def test_shards_carry_the_calibration(calibrated_runs, samples_dir: Path, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    calib, _, _, d, _, _ = calibrated_runs["digits"]
    fit = calib["outputs"][0]
    x = np.load(d / "test_x.npy")[:60]
    shards = tmp_path / "in"
    shards.mkdir()
    np.save(shards / "part-0.npy", x[:25])
    col = pa.FixedSizeListArray.from_arrays(pa.array(x[25:].reshape(-1)), x.shape[1])
    pq.write_table(pa.table({"pixels": col}), shards / "part-1.parquet")
    r = run("mc-predict", samples_dir / "digits.keras", "-i", shards, "--output-dir",
            tmp_path / "out", "--samples", "20", "--calibration", d / "calib.json", "-q")
    assert r.exit_code == 0, r.stderr
    with np.load(tmp_path / "out" / "part-0.npz") as z:
        first = {k: z[k] for k in z.files}
    for part in (first, _read_parquet(tmp_path / "out" / "part-1.parquet")):
        mean = part["mean"].astype(np.float64)
        expected = scipy_special.softmax(np.log(np.clip(mean, 1e-12, 1)) / fit["temperature"],
                                         axis=1)
        np.testing.assert_allclose(part["calibrated"], expected, rtol=1e-9, atol=1e-12)
        assert np.array_equal(part["set"].astype(bool), _aps_sets(mean, fit["qhat"]))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "calibration_sha256" in json.dumps(manifest)


def test_ray_udf_adds_the_calibration_columns(calibrated_runs, samples_dir: Path) -> None:
    pytest.importorskip("ray")
    from dropctl.ray import MCDropout

    calib, _, _, d, _, _ = calibrated_runs["diabetes"]
    fit = calib["outputs"][0]
    x = np.load(d / "test_x.npy")[:10]
    udf = MCDropout(str(samples_dir / "diabetes.keras"), samples=20,
                    calibration=str(d / "calib.json"))
    out = udf({"row": np.arange(10), "x": x})  # the function Ray Data calls, called directly
    s = np.maximum(out["std"].astype(np.float64), 1e-6)
    np.testing.assert_allclose(out["lower"], out["mean"] - fit["qhat"] * s, rtol=1e-12)
    np.testing.assert_allclose(out["upper"], out["mean"] + fit["qhat"] * s, rtol=1e-12)
    np.testing.assert_allclose(out["calibrated"], s * fit["variance_scale"], rtol=1e-12)
    from dropctl.errors import InputDataError

    with pytest.raises(InputDataError, match="was fitted on another model"):
        MCDropout(str(samples_dir / "digits.keras"), calibration=str(d / "calib.json"))


def test_vector_scaling_is_applied_and_baked(calibrated_runs, samples_dir: Path,
                                             tmp_path: Path) -> None:
    from tests.support import LazyModule

    keras = LazyModule("keras")
    _, _, _, d, y, _ = calibrated_runs["digits"]
    model = samples_dir / "digits.keras"
    r = run("calibrate", model, "-i", d / "cal_x.npy", "--labels", d / "cal_y.npy", "-o",
            tmp_path / "v.json", "--samples", "20", "--method", "vector", "--score", "raps",
            "-q")
    assert r.exit_code == 0, r.stderr
    (fit,) = json.loads((tmp_path / "v.json").read_text())["outputs"]
    assert fit["method"] == "vector" and len(fit["weights"]) == len(fit["bias"]) == 8
    r = run("mc-predict", model, "-i", d / "test_x.npy", "--samples", "20", "--calibration",
            tmp_path / "v.json", "-o", tmp_path / "v.npz", "-q")
    assert r.exit_code == 0, r.stderr
    with np.load(tmp_path / "v.npz") as z:
        mean, calibrated = z["mean"].astype(np.float64), z["calibrated"]
    logp = np.log(np.clip(mean, 1e-12, 1.0))
    logp -= logp.max(axis=1, keepdims=True)
    expected = scipy_special.softmax(logp * np.array(fit["weights"]) + np.array(fit["bias"]),
                                     axis=1)
    np.testing.assert_allclose(calibrated, expected, rtol=1e-9, atol=1e-12)
    r = run("convert", model, tmp_path / "v.keras", "--perma", "--calibration",
            tmp_path / "v.json", "-q")
    assert r.exit_code == 0, r.stderr
    import dropctl.layers as dl

    baked = keras.models.load_model(tmp_path / "v.keras", compile=False,
                                    custom_objects=dl.always_on_layer_classes())
    out = baked.predict(np.load(d / "test_x.npy")[:50], verbose=0)
    logp = np.log(np.clip(out["mean"].astype(np.float64), 1e-12, 1.0))
    logp -= logp.max(axis=1, keepdims=True)
    np.testing.assert_allclose(
        out["calibrated"],
        scipy_special.softmax(logp * np.array(fit["weights"]) + np.array(fit["bias"]), axis=1),
        atol=1e-5)


def test_too_few_calibration_inputs_give_infinite_thresholds(samples_dir: Path,
                                                             tmp_path: Path) -> None:
    x = np.load(samples_dir / "digits_inputs.npy")[:5]
    y = np.load(samples_dir / "digits_labels.npy")[:5]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    model = samples_dir / "digits.keras"
    r = run("calibrate", model, "-i", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "-o",
            tmp_path / "c.json", "--samples", "4")
    assert r.exit_code == 0, r.stderr
    # k = ceil(6 * 0.9) = 6 > 5 calibration inputs: no finite threshold exists.
    assert "5 calibration inputs are too few for coverage 0.9 (need n >= 9)" in r.stdout
    assert json.loads((tmp_path / "c.json").read_text())["outputs"][0]["qhat"] == "inf"
    r = run("mc-predict", model, "-i", tmp_path / "x.npy", "--samples", "4", "--calibration",
            tmp_path / "c.json", "-o", tmp_path / "o.npz", "-q")
    assert r.exit_code == 0, r.stderr
    with np.load(tmp_path / "o.npz") as z:
        assert z["set"].all()


def test_wrong_label_count_is_one_line(samples_dir: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "y.npy", np.zeros(3, np.int64))
    r = run("calibrate", samples_dir / "digits.keras", "-i", samples_dir / "digits_inputs.npy",
            "--labels", tmp_path / "y.npy", "-o", tmp_path / "c.json", "--samples", "2")
    assert r.exit_code == 2
    assert "labels" in one_error_line(r)
    assert not (tmp_path / "c.json").exists()


def test_python_api(samples_dir: Path) -> None:
    import hashlib

    import dropctl

    s = samples_dir
    x, y = np.load(s / "diabetes_inputs.npy"), np.load(s / "diabetes_labels.npy")
    run_ = dropctl.calibrate(str(s / "diabetes.keras"), x, y, samples=10, coverage=0.8)
    fit = run_.fit
    assert fit.model_sha256 == hashlib.sha256((s / "diabetes.keras").read_bytes()).hexdigest()
    assert (fit.samples, fit.coverage, fit.n) == (10, 0.8, len(x))
    (reg,) = fit.outputs
    # The 0.8 threshold is the ceil(134 * 0.8) = 108th smallest normalised residual.
    o = run_.result.outputs[0]
    r = np.abs(y.reshape(o.mean.shape) - o.mean) / np.maximum(o.std, 1e-6)
    assert reg.qhat == pytest.approx(np.sort(r.reshape(-1))[107])
    same = dropctl.calibrate(str(s / "diabetes.keras"), x, str(s / "diabetes_labels.npy"),
                             samples=10, coverage=0.8)
    assert same.fit == fit  # labels as a path, same seed: the same fit
