"""``--custom-objects``: a model with the user's own layer class runs once its code is given.

The model file is written by a separate Python process from a small ``.py`` defining the
class, so this test process knows nothing of the class until ``--custom-objects`` imports it
(the first test proves the failure without it, and must run before the class is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dropctl.cli import app
from tests.support import SAMPLES

LAYER_CODE = textwrap.dedent('''
    import keras


    @keras.saving.register_keras_serializable(package="dropctl_test_custom")
    class NoisyDense(keras.layers.Layer):
        """Dense followed by its own Dropout: stochastic in training only."""

        def __init__(self, units, rate=0.3, **kwargs):
            super().__init__(**kwargs)
            self.units, self.rate = units, rate
            self.dense = keras.layers.Dense(units)
            self.drop = keras.layers.Dropout(rate)

        def call(self, x, training=None):
            return self.drop(self.dense(x), training=training)

        def get_config(self):
            return {**super().get_config(), "units": self.units, "rate": self.rate}


    @keras.saving.register_keras_serializable(package="dropctl_test_custom")
    class RandomDrop(keras.layers.Layer):
        """Draws its own mask with keras.random behind a BatchNormalization: no Dropout layer
        dropctl could switch, and calling it with training=True would switch the BN too."""

        def __init__(self, rate=0.3, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed = keras.random.SeedGenerator(0)
            self.norm = keras.layers.BatchNormalization()

        def call(self, x, training=None):
            x = self.norm(x, training=training)
            if training:
                return keras.random.dropout(x, self.rate, seed=self.seed)
            return x

        def get_config(self):
            return {**super().get_config(), "rate": self.rate}


    @keras.saving.register_keras_serializable(package="dropctl_test_custom")
    class Net(keras.Model):
        """A subclassed model: its layers are not in the saved config."""

        def __init__(self, rate=0.4, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.d1 = keras.layers.Dense(8, name="d1")
            self.drop = keras.layers.Dropout(rate, name="drop")
            self.d2 = keras.layers.Dense(2, name="d2")

        def call(self, x, training=None):
            return self.d2(self.drop(self.d1(x), training=training))

        def get_config(self):
            return {**super().get_config(), "rate": self.rate}
''')

MAKE_MODEL = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[1])
    import keras
    import noisy_layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,), name="x")
    x = keras.layers.BatchNormalization(name="bn")(inp)
    x = noisy_layers.NoisyDense(8, name="noisy")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(x), name="custom_model")
    model.save(sys.argv[2])
    inp = keras.Input((4,), name="x")
    x = noisy_layers.RandomDrop(0.3, name="rdrop")(keras.layers.Dense(4, name="d")(inp))
    keras.Model(inp, x, name="rand_model").save(sys.argv[3])
    net = noisy_layers.Net(name="net")
    net(keras.ops.zeros((1, 4)))
    net.save(sys.argv[4])
''')


@pytest.fixture(scope="module")
def custom_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(custom_model.keras, rand_model.keras, noisy_layers.py), saved by another process
    (with net.keras, a subclassed model, next to them)."""
    folder = tmp_path_factory.mktemp("custom")
    code = folder / "noisy_layers.py"
    code.write_text(LAYER_CODE)
    model, rand = folder / "custom_model.keras", folder / "rand_model.keras"
    subprocess.run([sys.executable, "-c", MAKE_MODEL, str(folder), str(model), str(rand),
                    str(folder / "net.keras")], check=True, capture_output=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return model, rand, code


@pytest.fixture(scope="module")
def custom_model(custom_files: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    return custom_files[0], custom_files[2]


def test_without_its_code_the_error_names_the_class_and_the_option(custom_model,
                                                                    cli_runner) -> None:
    model, _ = custom_model
    assert "noisy_layers" not in sys.modules
    r = cli_runner.invoke(app, ["mc-predict", str(model), "--synthetic", "2", "-T", "4"])
    assert r.exit_code == 2
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"Error: {model}: Keras ")
    assert "unknown class 'NoisyDense' (layer 'noisy')" in line
    assert line.endswith("pass its code with --custom-objects PATH.py")


def test_mc_predict_switches_the_custom_layer_inspect_lists(custom_model, cli_runner) -> None:
    model, code = custom_model
    inspected = json.loads(cli_runner.invoke(app, ["inspect", str(model), "--json"]).stdout)
    static = [s["path"] for s in inspected["sites"]]
    assert static == ["custom_model/noisy"]
    r = cli_runner.invoke(app, ["mc-predict", str(model), "--custom-objects", str(code),
                                "--synthetic", "3", "-T", "16", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [s["path"] for s in doc["sites"] if s["switched"]] == static
    assert doc["unswitched"] == []
    assert doc["outputs"][0]["max_std"] > 0


def test_diff_and_check_probe_measure_it(custom_model, cli_runner) -> None:
    model, code = custom_model
    r = cli_runner.invoke(app, ["diff", str(model), "--custom-objects", str(code),
                                "--synthetic", "2", "-T", "8", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["predict"]["deterministic"] is True  # its Dropout acts in training only
    r = cli_runner.invoke(app, ["check", "--no-config", "--probe", "--json",
                                "--custom-objects", str(code), str(model)])
    doc = json.loads(r.stdout)
    (art,) = doc["artifacts"]
    assert art["probe"]["predict_deterministic"] is True, r.stderr
    assert art["probe"]["mc_stochastic"] is True and art["probe"]["unswitched"] == []


def test_convert_standard_rebuilds_and_verifies_with_the_class(custom_model, cli_runner,
                                                               tmp_path: Path) -> None:
    model, code = custom_model
    out = tmp_path / "out.keras"
    r = cli_runner.invoke(app, ["convert", str(model), str(out), "--standard",
                                "--custom-objects", str(code), "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verification"]["passed"] is True
    assert out.exists()


@pytest.mark.parametrize(("spec", "message"), [
    ("{dir}/missing.py", "--custom-objects {dir}/missing.py: no such file"),
    ("no_such_module_dropctl", "--custom-objects no_such_module_dropctl: no module named "
                               "'no_such_module_dropctl'"),
    ("{dir}/broken.py", "--custom-objects {dir}/broken.py: importing it failed: "
                        "RuntimeError: boom"),
    ("{dir}/empty.py", "--custom-objects {dir}/empty.py: defines no Keras class or function"),
])
def test_a_bad_custom_objects_source_is_one_error_line(spec: str, message: str, tmp_path: Path,
                                                       cli_runner) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "empty.py").write_text("VALUE = 1\n")
    source = spec.format(dir=tmp_path)
    mlp = str(SAMPLES / "mlp.keras")
    for args in (["mc-predict", mlp, "--synthetic", "1", "-T", "2"],
                 ["check", "--no-config", "--probe", mlp]):
        r = cli_runner.invoke(app, [*args, "--custom-objects", source])
        assert r.exit_code == 2, r.stdout
        (line,) = r.stderr.splitlines()
        assert line.startswith("Error: " + message.format(dir=tmp_path)), line


def test_check_without_probe_never_imports_user_code(tmp_path: Path, cli_runner) -> None:
    sentinel = tmp_path / "ran"
    code = tmp_path / "side_effect.py"
    code.write_text(f"open({str(sentinel)!r}, 'w').close()\n")
    r = cli_runner.invoke(app, ["check", "--no-config", "--custom-objects", str(code),
                                str(SAMPLES / "mlp.keras")])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: --custom-objects needs --probe: without it check reads "
                                "files statically and never imports or runs code")
    assert not sentinel.exists()


def test_a_site_that_cannot_be_switched_is_not_called_deterministic_by_the_probe(
        custom_files, cli_runner) -> None:
    """RandomDrop draws its own mask behind a BatchNormalization: inspect lists it, the runtime
    cannot switch it without switching the BN (tests/runtime/test_custom_training.py switches
    the same kind of layer when nothing inside it takes ``training``)."""
    _, rand, code = custom_files
    r = cli_runner.invoke(app, ["mc-predict", str(rand), "--custom-objects", str(code),
                                "--synthetic", "2", "-T", "4", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["unswitched"] == ["rand_model/rdrop"]
    (site,) = doc["sites"]
    assert "would also run BatchNormalization inside it in training mode" in site["note"]
    r = cli_runner.invoke(app, ["check", "--no-config", "--probe", "--json",
                                "--custom-objects", str(code), str(rand)])
    (art,) = json.loads(r.stdout)["artifacts"]
    assert art["probe"]["predict_deterministic"] is None  # identical runs, but unmeasured
    assert art["probe"]["unswitched"] == ["rand_model/rdrop"]
    probe = [v for v in art["violations"] if v["rule"] == "DCK010"]
    assert [v["severity"] for v in probe] == ["warning"]
    assert "could not switch on rand_model/rdrop" in probe[0]["message"]
    assert "not called deterministic" in probe[0]["message"]
    r = cli_runner.invoke(app, ["check", "--no-config", "--probe",
                                "--custom-objects", str(code), str(rand)])
    assert "probe: predict() unknown (not switched on: rand_model/rdrop)" in r.stdout


def test_a_subclassed_model_runs_with_its_class(custom_files, cli_runner) -> None:
    """inspect cannot see inside (DC402, hint naming the option); with the class, mc-predict
    finds and switches its Dropout, fed from the shape the model was built with."""
    _, _, code = custom_files
    net = code.parent / "net.keras"
    doc = json.loads(cli_runner.invoke(app, ["inspect", str(net), "--json"]).stdout)
    (opaque,) = [f for f in doc["findings"] if f["code"] == "DC402"]
    assert "--custom-objects" in opaque["hint"]
    r = cli_runner.invoke(app, ["mc-predict", str(net), "--custom-objects", str(code),
                                "--synthetic", "2", "-T", "10", "--json"])
    assert r.exit_code == 0, r.stderr
    result = json.loads(r.stdout)
    assert [s["path"] for s in result["sites"] if s["switched"]] == ["net/drop"]
    assert result["outputs"][0]["max_std"] > 0
