"""A custom layer whose ``call`` takes ``training`` is switched by calling it with ``training=True``.

keras-io's Compact Convolutional Transformer (examples/vision/cct.py) defines
``StochasticDepth(layers.Layer)`` with ``call(self, x, training=None)`` that draws a per-example
keep mask from ``keras.random.uniform`` when ``training`` is true: there is no Dropout layer
inside for dropctl to switch. With ``--custom-objects`` the engine calls it with
``training=True`` (only that layer: the BatchNormalization next to it stays in inference).

The model is saved by a separate Python process from a ``.py`` that the test process imports
only through ``--custom-objects``; the oracle is Keras itself (the layer under
``training=True`` spreads, ``predict()`` does not, the model's BN statistics stay put).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dropctl.cli import app

CCT_CODE = textwrap.dedent('''
    import keras
    from keras import layers


    class StochasticDepth(layers.Layer):
        """keras-io CCT's layer, as published (no get_config: Keras records drop_prop)."""

        def __init__(self, drop_prop, **kwargs):
            super().__init__(**kwargs)
            self.drop_prob = drop_prop
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, x, training=None):
            if training:
                keep_prob = 1 - self.drop_prob
                shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
                random_tensor = keep_prob + keras.random.uniform(
                    shape, 0, 1, seed=self.seed_generator)
                random_tensor = keras.ops.floor(random_tensor)
                return (x / keep_prob) * random_tensor
            return x
''')

MAKE_CCT = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import keras
    import numpy as np
    from cct_layers import StochasticDepth

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 8), name="tokens")
    x = keras.layers.BatchNormalization(name="bn")(inp)
    y = keras.layers.Dense(8, name="mlp")(x)
    y = StochasticDepth(0.3, name="sd")(y)
    x = keras.layers.Add(name="residual")([x, y])
    out = keras.layers.Dense(3, name="head")(keras.layers.Flatten(name="flat")(x))
    model = keras.Model(inp, out, name="cct_tiny")
    bn = model.get_layer("bn")  # non-trivial statistics, so batch statistics would show
    bn.moving_mean.assign(np.full((8,), 0.5, "float32"))
    bn.moving_variance.assign(np.full((8,), 4.0, "float32"))
    model.save(sys.argv[2])
''')


def _save_cct(folder: Path, layer_code: str, name: str) -> tuple[Path, Path]:
    """(``name``, cct_layers.py holding ``layer_code``), the model saved by another process."""
    code = folder / "cct_layers.py"
    code.write_text(layer_code)
    model = folder / name
    subprocess.run([sys.executable, "-c", MAKE_CCT, str(folder), str(model)], check=True,
                   capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return model, code


@pytest.fixture(scope="session")
def cct_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cct_tiny.keras, cct_layers.py), saved by another process."""
    return _save_cct(tmp_path_factory.mktemp("cct"), CCT_CODE, "cct_tiny.keras")


@pytest.fixture(scope="session")
def keras_cct(cct_model: tuple[Path, Path]):
    """The same file loaded by Keras itself with the class (the oracle)."""
    import keras

    model, code = cct_model
    spec = importlib.util.spec_from_file_location("cct_layers_oracle", code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return keras.saving.load_model(model, custom_objects={
        "StochasticDepth": module.StochasticDepth})


def test_keras_says_the_layer_spreads_in_training_and_predict_does_not(keras_cct) -> None:
    """The oracle's premise: what dropctl must reproduce."""
    x = np.random.default_rng(0).normal(size=(16, 6, 8)).astype("float32")
    sd = keras_cct.get_layer("sd")
    trained = np.stack([np.asarray(sd(x, training=True)) for _ in range(4)])
    assert trained.std(axis=0).max() > 0
    assert np.array_equal(keras_cct.predict(x, verbose=0), keras_cct.predict(x, verbose=0))


def test_inspect_lists_it_and_mc_predict_switches_it(cct_model, cli_runner) -> None:
    model, code = cct_model
    inspected = json.loads(cli_runner.invoke(app, ["inspect", str(model), "--json"]).stdout)
    static = [s["path"] for s in inspected["sites"]]
    assert static == ["cct_tiny/sd"]
    r = cli_runner.invoke(app, ["mc-predict", str(model), "--custom-objects", str(code),
                                "--synthetic", "4", "-T", "16", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["path"] for s in doc["sites"] if s["switched"]] == static
    (site,) = doc["sites"]
    assert (site["class_name"], site["kind"], site["rate"]) == ("StochasticDepth", "custom", 0.3)
    assert doc["unswitched"] == []
    assert doc["outputs"][0]["max_std"] > 0


def test_only_that_layer_runs_in_training_mode(cct_model, keras_cct) -> None:
    """The deterministic pass is Keras' predict(); the passes spread; BN statistics are untouched
    and the same seed gives the same bytes."""
    from dropctl.mc.engine import mc_predict
    from dropctl.runtime.loader import load

    model, code = cct_model
    loaded = load(model, custom_objects=[str(code)])
    bn = loaded.model.get_layer("bn")
    before = [np.asarray(w).copy() for w in bn.weights]
    x = np.random.default_rng(1).normal(size=(8, 6, 8)).astype("float32")
    first = mc_predict(loaded, x, samples=32, seed=3, save_samples=True)
    again = mc_predict(loaded, x, samples=32, seed=3, save_samples=True)
    (out,) = first.outputs
    np.testing.assert_allclose(out.deterministic, keras_cct.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert out.std.min() > 0  # 8 inputs x 32 passes at rate 0.3: every row is spread
    for w, b in zip(bn.weights, before, strict=True):
        assert np.array_equal(np.asarray(w), b)
    assert out.samples is not None and again.outputs[0].samples is not None
    assert np.array_equal(out.samples, again.outputs[0].samples)
    # A dropped example is exactly the BN path alone: the layer's own mask, not noise elsewhere.
    flat = keras_cct.get_layer("flat")
    import keras

    no_branch = keras.Model(keras_cct.input, keras_cct.get_layer("head")(
        flat(keras_cct.get_layer("bn").output)))
    dropped = no_branch.predict(x, verbose=0)
    hits = np.isclose(out.samples, dropped[None], atol=1e-5).all(axis=-1)
    assert 0 < hits.mean() < 1


def test_check_probe_measures_it(cct_model, cli_runner) -> None:
    """check --probe switches it too: stochastic under Monte Carlo, predict() deterministic."""
    model, code = cct_model
    r = cli_runner.invoke(app, ["check", "--no-config", "--probe", "--json",
                                "--custom-objects", str(code), str(model)])
    (art,) = json.loads(r.stdout)["artifacts"]
    assert art["probe"]["unswitched"] == [], r.stderr
    assert art["probe"]["mc_stochastic"] is True
    assert art["probe"]["predict_deterministic"] is True


BROKEN_CODE = CCT_CODE.replace("keras.random.uniform(", "keras.ops.random.uniform(")
"""CCT's layer written as keras_hub 0.31.1's Swin ``DropPath`` is (``ops.random.uniform``:
no Keras has ``keras.ops.random``), so its own call raises whenever ``training`` is true."""


@pytest.fixture(scope="session")
def broken_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _save_cct(tmp_path_factory.mktemp("broken"), BROKEN_CODE, "broken.keras")


def test_a_layer_whose_call_raises_in_training_is_one_line(broken_model, cli_runner) -> None:
    """Keras itself cannot call the layer with training=True (so fit() fails too, measured
    below); mc-predict names the site, the class and Keras' reason in one line, exit 2, and
    writes nothing, instead of an internal error."""
    import keras

    model, code = broken_model
    spec = importlib.util.spec_from_file_location("broken_layers_oracle", code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    oracle = keras.saving.load_model(model, custom_objects={
        "StochasticDepth": module.StochasticDepth})
    x = np.ones((4, 6, 8), "float32")
    y = oracle.predict(x, verbose=0)  # inference never reaches the broken line
    oracle.compile(optimizer="sgd", loss="mse")
    # Keras 3.6 names the module keras.api.ops, later releases keras.ops
    no_random = r"module 'keras(\.api)?\.ops' has no attribute 'random'"
    with pytest.raises(AttributeError, match=no_random):
        oracle.fit(x, y, epochs=1, verbose=0)
    out = model.parent / "mc.npz"
    r = cli_runner.invoke(app, ["mc-predict", str(model), "--custom-objects", str(code),
                                "--synthetic", "4", "-T", "4", "--output", str(out)])
    assert r.exit_code == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: site 'cct_tiny/sd': StochasticDepth (")
    assert "raises when called with training=True" in line
    assert re.search("AttributeError: " + no_random, line), line
    assert "internal error" not in line and "Exception encountered" not in line
    assert not out.exists()
