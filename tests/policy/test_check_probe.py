"""dropctl check --probe: the verdict rests on running predict() twice (TensorFlow imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropctl.cli import app
from tests.support import (
    SAMPLES,
    hostile,
)

pytest.importorskip("dropctl.runtime.loader")


def run(*args: str) -> tuple[int, dict, str]:
    r = CliRunner().invoke(app, ["check", "--no-config", "--probe", "--json", *args])
    return r.exit_code, json.loads(r.stdout) if r.stdout.strip() else {}, r.stderr


def test_probe_deterministic_model_passes() -> None:
    code, doc, err = run(str(SAMPLES / "cnn.keras"))
    assert code == 0 and err == ""
    (art,) = doc["artifacts"]
    assert art["probe"]["predict_deterministic"] is True
    assert art["probe"]["max_abs_diff"] == 0.0
    assert art["probe"]["inputs"] == "(2, 28, 28, 1) float32"
    assert doc["probe"] is True


def test_probe_contradicts_inference_on() -> None:
    code, doc, _ = run("--inference", "on", str(SAMPLES / "cnn.keras"))
    assert code == 1
    (v,) = doc["artifacts"][0]["violations"]
    assert v["rule"] == "DCK010" and v["severity"] == "error"
    assert "predict() gave identical outputs on two runs" in v["message"]


def test_probe_permadropout_is_stochastic_without_running_bytecode() -> None:
    path = str(SAMPLES / "lstm_permadropout_tfkeras.h5")
    code, doc, _ = run("--allow-lambda", path)
    assert code == 1
    art = doc["artifacts"][0]
    assert art["probe"]["predict_deterministic"] is False and art["probe"]["max_abs_diff"] > 0
    assert [v["rule"] for v in art["violations"] if v["severity"] == "error"] == ["DCK010"]
    code, doc, _ = run("--allow-lambda", "--inference", "on", path)
    assert code == 0, doc


def test_probe_refuses_a_foreign_lambda_and_never_runs_it(tmp_path: Path) -> None:
    import h5py

    sentinel = tmp_path / hostile.SENTINEL_NAME
    code = hostile.writer_code(sentinel)
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as f:
        f.create_group("layers")
    model = tmp_path / "writer.keras"
    hostile.write_zip(model, [
        ("metadata.json", b'{"keras_version": "3.15.1"}'),
        ("config.json", json.dumps(hostile.keras3_dense_model(
            "m", [hostile.keras3_lambda_layer(code)])).encode()),
        ("model.weights.h5", weights.read_bytes()),
    ])
    exit_code, doc, err = run("--allow-lambda", str(model))
    assert exit_code == 2
    assert doc["artifacts"][0]["status"] == "error"
    assert len(err.splitlines()) == 1
    assert err.startswith(f"Error: {model}: --probe: Lambda layer 'm/lambda' is not recognisably")
    assert not sentinel.exists()


def test_probe_keeps_sampling_a_rare_row_drop_until_it_spreads(tmp_path: Path) -> None:
    """One Dropout(0.05) with ``noise_shape=(None, 1)`` drops whole rows: over the probe's
    first 4 passes of 2 rows it keeps every row with chance 0.95 ** 8 = 0.66 (and does, at
    seed 0 with TensorFlow's masks: a 4-pass mc-predict has no spread), so a fixed 4-pass probe said "not
    stochastic" of a model Keras itself makes stochastic (training=True calls differ). The
    probe grows its passes until a miss is below 1e-9 and sees the spread."""
    import keras
    import numpy as np

    import dropctl

    x = keras.Input((3,), name="x")
    h = keras.layers.Dropout(0.05, noise_shape=(None, 1), name="row_drop")(
        keras.layers.Dense(4)(x))
    model = keras.Model(x, keras.layers.Dense(2)(h))
    path = tmp_path / "rows.keras"
    model.save(path)
    ones = np.ones((64, 3), "float32")
    keras.utils.set_random_seed(0)
    assert not np.array_equal(model(ones, training=True), model(ones, training=True))
    if keras.backend.backend() == "tensorflow":  # each backend draws its own masks
        few = dropctl.mc_predict(path, synthetic=2, samples=4, seed=0)
        assert float(np.max(few.outputs[0].std)) == 0  # the old probe's view
    code, doc, err = run(str(path))
    assert code == 0, err
    assert doc["artifacts"][0]["probe"]["mc_stochastic"] is True
