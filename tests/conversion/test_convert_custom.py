"""``convert`` on custom subclasses of ``Dropout``: the Hands-On-ML ``MCDropout`` recipe.

The models are built and saved by another Python process from small ``.py`` files (as a user
would), so this process knows the classes only through ``--custom-objects``. That process also
records the oracle with Keras itself: the deterministic prediction (the same layers called
without the dropout), every weight array, and each dropout's rate/noise_shape/seed as Keras
built them. OUT is then judged by plain ``keras.saving.load_model`` without any custom object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typer.testing import CliRunner

import dropctl
from dropctl.cli import app
from dropctl.conversion.report import Action
from tests.support import LazyModule

keras = LazyModule("keras")

HOML = textwrap.dedent('''
    """Hands-On-ML, chapter 11: Monte Carlo dropout as a Dropout subclass (no get_config)."""
    import keras


    class MCDropout(keras.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)


    class QuietDropout(keras.layers.Dropout):
        """A renamed Dropout: training only, like the stock layer."""
''')

REGISTERED = textwrap.dedent('''
    """The same recipe registered, with a get_config of its own."""
    import keras


    @keras.saving.register_keras_serializable(package="homl")
    class MCDropout(keras.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)

        def get_config(self):
            return super().get_config()
''')

OTHERS = textwrap.dedent('''
    """Custom stochastic layers dropctl cannot equate with a Keras layer."""
    import keras


    class NoisyScale(keras.layers.Layer):
        """Multiplicative noise drawn with keras.random: no Keras dropout layer in its MRO."""

        def __init__(self, rate=0.3, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(1)

        def call(self, x):
            noise = keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)
            return x * (1.0 + self.rate * noise)

        def get_config(self):
            return {**super().get_config(), "rate": self.rate}


    class DoubleDropout(keras.layers.Dropout):
        """A Dropout subclass whose call drops twice: not the Dropout it extends."""

        def call(self, x, training=None):
            return super().call(super().call(x, training=training), training=training)
''')

MAKE = textwrap.dedent('''
    import json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import keras
    import homl_layers, homl_registered, other_layers

    out = sys.argv[1] + "/"
    x = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
    oracle = {"x": x}
    dropouts = {}

    def record(name, model, dense, drops):
        det = keras.Model(model.inputs, dense[2](dense[1](dense[0](model.inputs[0]))))
        oracle[name] = det.predict(x, verbose=0)  # the same layers, no dropout: Keras' answer
        for layer in dense:
            for i, w in enumerate(layer.get_weights()):
                oracle[f"{name}/{layer.name}/{i}"] = w
        dropouts[name] = {d.name: {"rate": d.rate, "seed": d.seed,
                                   "noise_shape": list(d.noise_shape) if d.noise_shape else None}
                          for d in drops}

    for name, mod in (("homl", homl_layers), ("registered", homl_registered)):
        keras.utils.set_random_seed(0)
        inp = keras.Input((8,), name="x")
        dense = [keras.layers.Dense(16, activation="relu", name="d1"),
                 keras.layers.Dense(16, activation="relu", name="d2"),
                 keras.layers.Dense(3, name="head")]
        drops = [mod.MCDropout(0.3, seed=7, name="mc1"),
                 mod.MCDropout(0.2, noise_shape=(None, 16), name="mc2")]
        y = dense[2](drops[1](dense[1](drops[0](dense[0](inp)))))
        model = keras.Model(inp, y, name=name)
        model.save(out + name + ".keras")
        if name == "homl":
            model.save(out + name + ".h5")
        record(name, model, dense, drops)

    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name="x")
    dense = [keras.layers.Dense(16, activation="relu", name="d1"),
             keras.layers.Dense(16, activation="relu", name="d2"),
             keras.layers.Dense(3, name="head")]
    drops = [homl_layers.QuietDropout(0.4, name="quiet"), homl_layers.MCDropout(0.3, name="mc")]
    y = dense[2](drops[1](dense[1](drops[0](dense[0](inp)))))
    model = keras.Model(inp, y, name="mixed")
    model.save(out + "mixed.keras")
    record("mixed", model, dense, drops)

    inp = keras.Input((8,), name="x")
    y = other_layers.NoisyScale(0.3, name="noisy")(keras.layers.Dense(8, name="d")(inp))
    y = other_layers.DoubleDropout(0.3, name="double")(y)
    keras.Model(inp, keras.layers.Dense(2, name="head")(y), name="others").save(out + "others.keras")

    # tf.keras 2 (the book's own Keras), saved as .h5 the way its notebooks do.
    import tf_keras
    class MCDropout(tf_keras.layers.Dropout):
        def call(self, inputs):
            return super().call(inputs, training=True)
    tf_keras.utils.set_random_seed(0)
    d1, d2 = tf_keras.layers.Dense(16, activation="elu", name="d1"), tf_keras.layers.Dense(3, name="head")
    tfk = tf_keras.Sequential([tf_keras.Input((8,)), d1, MCDropout(0.2, name="mc"), d2], name="tfk")
    tfk.save(out + "tfk.h5")
    det = tf_keras.Sequential([tf_keras.Input((8,)), d1, d2])
    oracle["tfk"] = det.predict(x, verbose=0)
    for layer in (d1, d2):
        for i, w in enumerate(layer.get_weights()):
            oracle[f"tfk/{layer.name}/{i}"] = w
    dropouts["tfk"] = {"mc": {"rate": 0.2, "seed": None, "noise_shape": None}}

    np.savez(out + "oracle.npz", **oracle)
    with open(out + "dropouts.json", "w") as fh:
        json.dump(dropouts, fh)
''')


@pytest.fixture(scope="session")
def homl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the layer code, the models saved by another process and Keras' oracle."""
    folder = tmp_path_factory.mktemp("homl")
    for name, code in (("homl_layers", HOML), ("homl_registered", REGISTERED),
                       ("other_layers", OTHERS)):
        (folder / f"{name}.py").write_text(code)
    subprocess.run([sys.executable, "-c", MAKE, str(folder)], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return folder


def oracle(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    with np.load(folder / "oracle.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return arrays, json.loads((folder / "dropouts.json").read_text())


def load_plain(path: Path):
    """OUT as stock Keras loads it: no custom objects, safe mode on."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


CASES = [("homl.keras", "homl", "homl_layers.py"), ("homl.h5", "homl", "homl_layers.py"),
         ("registered.keras", "registered", "homl_registered.py"),
         ("tfk.h5", "tfk", "homl_layers.py")]


@pytest.mark.parametrize("mode", ["standard", "strip"])
@pytest.mark.parametrize(("src", "name", "code"), CASES)
def test_mcdropout_converts_as_the_dropout_it_is(homl: Path, tmp_path: Path, src: str,
                                                 name: str, code: str, mode: str) -> None:
    arrays, dropouts = oracle(homl)
    dst = tmp_path / f"out_{mode}.keras"
    report = dropctl.convert(homl / src, dst, mode=mode, custom_objects=[str(homl / code)])
    assert report.written and report.verification.passed, report.verification
    sites = {c.path.rpartition("/")[2]: c for c in report.changes}
    assert sites.keys() == dropouts[name].keys()
    for change in sites.values():
        assert change.class_before == "MCDropout"
        assert change.action is (Action.STANDARD if mode == "standard" else Action.REMOVED)
        assert "custom subclass of Dropout, always on" in change.note
    out = load_plain(dst)  # no MCDropout left: stock Keras alone loads OUT
    x = arrays["x"]
    first, second = out.predict(x, verbose=0), out.predict(x, verbose=0)
    assert np.array_equal(first, second)
    np.testing.assert_allclose(first, arrays[name], rtol=1e-6, atol=1e-6)
    for key, value in arrays.items():  # every weight bit for bit, by layer name
        if key.startswith(f"{name}/"):
            _, layer, index = key.split("/")
            got = out.get_layer(layer).get_weights()[int(index)]
            assert got.dtype == value.dtype and got.tobytes() == value.tobytes(), key
    kinds = {type(layer).__name__ for layer in out.layers}
    if mode == "strip":
        assert not kinds & {"Dropout", "MCDropout"}
        return
    for layer_name, want in dropouts[name].items():
        layer = out.get_layer(layer_name)
        assert type(layer) is keras.layers.Dropout
        assert layer.rate == pytest.approx(want["rate"]) and layer.seed == want["seed"]
        shape = list(layer.noise_shape) if layer.noise_shape else None
        assert shape == want["noise_shape"]
    # Still a Dropout: it acts in training.
    assert not np.allclose(np.asarray(out(x, training=True)), first)


def test_perma_makes_mcdropout_dropctls_always_on_dropout(homl: Path, tmp_path: Path) -> None:
    import dropctl.layers

    dst = tmp_path / "perma.keras"
    report = dropctl.convert(homl / "homl.keras", dst, mode="perma",
                             custom_objects=[str(homl / "homl_layers.py")])
    assert report.verification.passed
    assert [c.class_after for c in report.changes] == ["AlwaysDropout", "AlwaysDropout"]
    out = load_plain(dst)
    assert type(out.get_layer("mc1")) is dropctl.layers.AlwaysDropout
    x = oracle(homl)[0]["x"]
    assert not np.array_equal(out.predict(x, verbose=0), out.predict(x, verbose=0))


def test_a_training_only_subclass_becomes_dropout_too(homl: Path, tmp_path: Path) -> None:
    arrays, _ = oracle(homl)
    dst = tmp_path / "mixed.keras"
    report = dropctl.convert(homl / "mixed.keras", dst, mode="standard",
                             custom_objects=[str(homl / "homl_layers.py")])
    notes = {c.path: c.note for c in report.changes}
    assert notes == {"mixed/quiet": "custom subclass of Dropout, training only (measured)",
                     "mixed/mc": "custom subclass of Dropout, always on (measured)"}
    out = load_plain(dst)
    assert {type(out.get_layer(n)).__name__ for n in ("quiet", "mc")} == {"Dropout"}
    np.testing.assert_allclose(out.predict(arrays["x"], verbose=0), arrays["mixed"],
                               rtol=1e-6, atol=1e-6)


def test_unselected_mcdropout_stays_and_still_verifies(homl: Path, tmp_path: Path) -> None:
    dst = tmp_path / "one.keras"
    report = dropctl.convert(homl / "homl.keras", dst, mode="standard", sites="*mc1",
                             custom_objects=[str(homl / "homl_layers.py")])
    assert [c.path for c in report.changes] == ["homl/mc1"] and report.verification.passed
    out = keras.saving.load_model(dst, compile=False, custom_objects=_classes(homl))
    assert type(out.get_layer("mc1")).__name__ == "Dropout"
    assert type(out.get_layer("mc2")).__name__ == "MCDropout"


def _classes(folder: Path) -> dict:
    from dropctl.runtime.custom import import_custom_objects

    return import_custom_objects([str(folder / "homl_layers.py")])


def run(*args: object):
    return CliRunner().invoke(app, ["convert", *map(str, args)])


def test_what_dropctl_cannot_tell_is_left_alone_with_one_line_each(homl: Path,
                                                                    tmp_path: Path) -> None:
    code = homl / "other_layers.py"
    result = run(homl / "others.keras", tmp_path / "o.keras", "--standard", "--dry-run",
                 "--custom-objects", code, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [c["action"] for c in doc["changes"]] == ["skipped", "skipped"]
    assert doc["warnings"] == [
        "others/noisy: custom class NoisyScale left as it is: not a subclass of a Keras "
        "dropout or noise layer, so dropctl cannot tell what it does",
        "others/double: custom class DoubleDropout left as it is: its call in training "
        "differs from Dropout's",
    ]
    # Written for real, OUT keeps both, whose noise acts in predict(): verification names
    # them instead of a bare difference, and nothing is written.
    result = run(homl / "others.keras", tmp_path / "o.keras", "--standard",
                 "--custom-objects", code)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: verification of {tmp_path / 'o.keras'} failed")
    assert line.endswith("with custom layers left as they are (dropctl cannot tell what they "
                         "do) at others/noisy (NoisyScale), others/double (DoubleDropout)")
    assert not (tmp_path / "o.keras").exists()


def test_without_custom_objects_the_site_is_left_alone_and_the_option_named(
        homl: Path, tmp_path: Path) -> None:
    result = run(homl / "homl.keras", tmp_path / "o.keras", "--strip", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["warnings"][0] == (
        "homl/mc1: custom class MCDropout left as it is: its code is unknown without "
        "--custom-objects YOUR_CODE.py (a subclass of a Keras dropout layer is then converted "
        "as that layer)")
    result = run(homl / "homl.keras", tmp_path / "o.keras", "--strip")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "unknown class 'MCDropout'" in line and "--custom-objects PATH.py" in line
