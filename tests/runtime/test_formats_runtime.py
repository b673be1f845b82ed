"""Running the new artifact forms: SavedModel weights from the checkpoint, SavedModel -> .keras
migration, keras_hub presets, weights + config pairs."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.cli import app
from dropctl.errors import UnsupportedModelError
from dropctl.reader.savedmodel import read_metadata
from dropctl.runtime.loader import load
from tests.support import SAMPLES, LazyModule, needs_hub, needs_tf
from tests.support.hostile import keras_metadata, pb_node

keras = LazyModule("keras")
dropctl_layers = LazyModule("dropctl.layers")
tf = LazyModule("tensorflow")

SEED_SM = SAMPLES / "seed_lstm_savedmodel"
TOKENS = (np.arange(4 * 12).reshape(4, 12) * 7) % 200


@pytest.fixture(scope="module")
def seed_loaded():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed: SavedModel checkpoints are read with it")
    return load(SEED_SM)


def _checkpoint_values(directory: Path) -> list[np.ndarray]:
    reader = tf.train.load_checkpoint(str(directory / "variables" / "variables"))
    keys = [k for k in reader.get_variable_to_shape_map()
            if k.endswith("VARIABLE_VALUE") and not k.startswith(("optimizer", "keras_api"))]
    return [np.asarray(reader.get_tensor(k)) for k in keys]


def _same_multiset(have: list[np.ndarray], want: list[np.ndarray]) -> bool:
    left = sorted(a.tobytes() for a in have)
    return left == sorted(b.tobytes() for b in want)


def test_savedmodel_weights_are_the_checkpoint_values_bit_for_bit(seed_loaded) -> None:
    model = seed_loaded.model
    weights = [np.asarray(w) for w in model.get_weights()]
    assert len(weights) == 8
    assert _same_multiset(weights, _checkpoint_values(SEED_SM))
    lstm = model.get_layer("lstm").get_weights()
    assert [w.shape for w in lstm] == [(16, 64), (16, 64), (64,)]
    actions = [r.action for r in seed_loaded.rescues]
    assert actions.count("Lambda dropout replaced by AlwaysDropout(rate=0.3)") == 2
    assert "Keras 2 leftover 'time_major' dropped" in actions


def test_savedmodel_predict_is_stochastic_like_tf_keras(seed_loaded) -> None:
    a = seed_loaded.model.predict(TOKENS, verbose=0)
    b = seed_loaded.model.predict(TOKENS, verbose=0)
    assert not np.array_equal(a, b)


@needs_tf
def test_mc_predict_on_savedmodel_has_spread() -> None:
    result = dropctl.mc_predict(SEED_SM, TOKENS, samples=16, seed=0)
    assert float(np.max(result.outputs[0].std)) > 0
    assert [s.path for s in result.sites if s.selected] == ["seed_lstm/lambda", "seed_lstm/lambda_1"]


@pytest.mark.parametrize("mode", ["standard", "perma", "strip"])
@pytest.mark.usefixtures("seed_loaded")  # skips without TensorFlow
def test_convert_savedmodel_to_keras(mode: str, tmp_path: Path) -> None:
    out = tmp_path / f"seed_{mode}.keras"
    report = dropctl.convert(SEED_SM, out, mode=mode)
    assert report.written and report.verification is not None and report.verification.passed
    if mode == "perma":
        dropctl_layers.AlwaysDropout  # noqa: B018  registers AlwaysDropout for stock loading
    migrated = keras.models.load_model(out, safe_mode=True)
    assert _same_multiset([np.asarray(w) for w in migrated.get_weights()],
                          _checkpoint_values(SEED_SM))
    a = migrated.predict(TOKENS, verbose=0)
    b = migrated.predict(TOKENS, verbose=0)
    assert np.array_equal(a, b) is (mode != "perma")


@needs_tf
def test_convert_cli_savedmodel_standard_json(tmp_path: Path, cli_runner) -> None:
    out = tmp_path / "seed.keras"
    result = cli_runner.invoke(app, ["convert", str(SEED_SM), str(out), "--standard", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["src_format"] == "savedmodel" and doc["dst_format"] == "keras"
    assert [c["path"] for c in doc["changes"]] == ["seed_lstm/lambda", "seed_lstm/lambda_1"]


@needs_tf
def test_savedmodel_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    """Metadata says Dense(3) where the checkpoint holds Dense(8): refused, never random."""
    d = tmp_path / "sm"
    shutil.copytree(SEED_SM, d)
    meta = read_metadata(SEED_SM)
    cfg = json.loads(json.dumps(meta.root["model_config"]).replace('"units": 8', '"units": 3'))
    nodes = [n for n in meta.nodes if n.node_path != "root"]
    data = keras_metadata(cfg, name="seed_lstm") + b"".join(
        pb_node(n.node_path, n.identifier, n.metadata, n.node_id) for n in nodes)
    (d / "keras_metadata.pb").write_bytes(data)
    with pytest.raises(UnsupportedModelError,
                       match=r"stored dense/kernel is float32\[16, 8\].*float32\[16, 3\]"):
        load(d)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="runs where TensorFlow is absent: the jax/torch venvs of scripts/matrix.sh")
def test_savedmodel_without_tensorflow_names_the_extra(cli_runner) -> None:
    """The JAX/torch backends without TensorFlow: one line naming the extra, exit 2 (in-process
    hiding of an imported TensorFlow is not the same thing, so only the matrix runs this)."""
    result = cli_runner.invoke(app, ["mc-predict", str(SEED_SM), "--synthetic", "2",
                                     "--samples", "2"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "Error: reading SavedModel weights needs tensorflow, which is not installed: "
        "pip install 'dropctl[tensorflow]'")


def test_savedmodel_without_variables_is_not_run(tmp_path: Path) -> None:
    d = tmp_path / "sm"
    shutil.copytree(SEED_SM, d)
    shutil.rmtree(d / "variables")
    with pytest.raises(UnsupportedModelError, match="no weights"):
        load(d)


@needs_hub
def test_bert_preset_loads_with_its_weights() -> None:
    import h5py

    loaded = load(SAMPLES / "bert_tiny_preset")
    model = loaded.model
    assert type(model).__name__ == "BertBackbone"
    with h5py.File(SAMPLES / "bert_tiny_preset" / "model.weights.h5", "r") as f:
        stored: list[np.ndarray] = []
        f.visititems(lambda _n, o: stored.append(np.asarray(o)) if isinstance(o, h5py.Dataset)
                     else None)
    assert _same_multiset([np.asarray(w) for w in model.get_weights()],
                          [s for s in stored if s.dtype.kind == "f"])


def test_weights_with_config_pair_loads_like_the_keras_file() -> None:
    ref = load(SAMPLES / "mlp.keras").model
    pair = load(SAMPLES / "mlp_pair").model
    flag = load(SAMPLES / "mlp_pair" / "model.weights.h5",
                config=SAMPLES / "mlp_pair" / "model.json").model
    for m in (pair, flag):
        for a, b in zip(ref.get_weights(), m.get_weights(), strict=True):
            assert np.array_equal(a, b)


# ---- keras_hub: convert changes the constructor parameter, mc-predict runs dict-input models -----


@needs_hub
def test_convert_preset_rate_rewrites_the_parameter(tmp_path: Path) -> None:
    out = tmp_path / "bert.keras"
    report = dropctl.convert(SAMPLES / "bert_tiny_preset", out, mode="standard", rate=0.2)
    assert report.verification is not None and report.verification.passed
    assert len(report.changed) == 7
    assert {c.rate_after for c in report.changes} == {0.2}
    migrated = keras.models.load_model(out, safe_mode=True)
    assert migrated.get_config()["dropout"] == pytest.approx(0.2)
    source = load(SAMPLES / "bert_tiny_preset").model
    for a, b in zip(source.get_weights(), migrated.get_weights(), strict=True):
        assert a.tobytes() == np.asarray(b).tobytes()
    assert {s.rate for s in dropctl.inspect(out).sites} == {0.2}


@needs_hub
def test_convert_strip_zeroes_vit_parameters(tmp_path: Path) -> None:
    out = tmp_path / "vit.keras"
    report = dropctl.convert(SAMPLES / "vit_tiny.keras", out, mode="strip")
    assert {c.action.value for c in report.changes} == {"zeroed"}
    assert dropctl.inspect(out).sites == ()


def test_convert_perma_on_keras_hub_says_why_nothing_changes(tmp_path: Path) -> None:
    report = dropctl.convert(SAMPLES / "gpt2_tiny.keras", tmp_path / "g.keras", mode="perma",
                             dry_run=True)
    assert {c.action.value for c in report.changes} == {"skipped"}
    assert any("no always-on form" in w for w in report.warnings)


def test_convert_keras_hub_to_h5_is_refused_before_building(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="write OUT as .keras"):
        dropctl.convert(SAMPLES / "gpt2_tiny.keras", tmp_path / "g.h5", mode="standard")
    assert not (tmp_path / "g.h5").exists()


@needs_hub
def test_mc_predict_on_dict_input_keras_hub_model() -> None:
    result = dropctl.mc_predict(SAMPLES / "gpt2_tiny.keras", samples=8, seed=0, synthetic=2)
    assert float(np.max(result.outputs[0].std)) > 0
    assert "gpt2_backbone/embeddings_dropout" in [s.path for s in result.sites if s.selected]


@needs_hub
@pytest.mark.parametrize("name", ["bert_tiny_preset", "gpt2_tiny.keras", "vit_tiny.keras"])
def test_static_keras_hub_sites_are_the_built_models_dropout_layers(name: str) -> None:
    """inspect's keras_hub sites (from the config alone) name the layers the built model holds:
    every Dropout with a positive rate, an attention layer's inner Dropout counted as the
    attention layer itself."""
    model = load(SAMPLES / name).model
    attention = (keras.layers.MultiHeadAttention,)
    built: set[str] = set()
    stack = [(model, model.name)]
    while stack:
        layer, path = stack.pop()
        for sub in layer._flatten_layers(include_self=False, recursive=False):
            sub_path = f"{path}/{sub.name}"
            if isinstance(sub, attention) and float(sub._dropout) > 0:
                built.add(sub_path)
                continue  # its inner Dropout is this site
            if isinstance(sub, keras.layers.Dropout) and sub.rate > 0:
                built.add(sub_path)
            stack.append((sub, sub_path))
    static = {s.path: s.rate for s in dropctl.inspect(SAMPLES / name).sites}
    assert set(static) == built


def test_keras_hub_model_without_keras_hub_names_the_extra(monkeypatch, cli_runner) -> None:
    monkeypatch.setitem(__import__("sys").modules, "keras_hub", None)  # as if not installed
    result = cli_runner.invoke(app, ["mc-predict", str(SAMPLES / "bert_tiny_preset"),
                                     "--synthetic", "1", "-T", "2"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: running the keras_hub model {SAMPLES / 'bert_tiny_preset'} needs keras_hub, "
        "which is not installed: pip install 'dropctl[hub]'")


@needs_hub
def test_check_probe_runs_savedmodel_and_preset(cli_runner) -> None:
    result = cli_runner.invoke(app, ["check", "--no-config", "--probe", "--json",
                                     str(SEED_SM), str(SAMPLES / "bert_tiny_preset")])
    doc = json.loads(result.stdout)
    probes = {Path(a["path"]).name: a["probe"]["predict_deterministic"] for a in doc["artifacts"]}
    assert probes == {"seed_lstm_savedmodel": False, "bert_tiny_preset": True}


def test_legacy_save_weights_file_with_config(tmp_path: Path) -> None:
    """A tf.keras-style ``save_weights`` .h5 (layer groups at the root) + its architecture JSON:
    matched by layer name, every layer accounted for."""
    import h5py

    weights, arch = tmp_path / "w.h5", tmp_path / "model.json"
    with h5py.File(SAMPLES / "mlp.h5", "r") as src, h5py.File(weights, "w") as dst:
        group = src["model_weights"]
        for key, value in group.attrs.items():
            dst.attrs[key] = value
        for name in group:
            src.copy(group[name], dst, name=name)
        config = src.attrs["model_config"]
        arch.write_text(config.decode() if isinstance(config, bytes) else config)
    loaded = load(weights, config=arch).model
    for a, b in zip(load(SAMPLES / "mlp.h5").model.get_weights(), loaded.get_weights(),
                    strict=True):
        assert np.array_equal(a, b)
    with h5py.File(weights, "a") as f:  # a layer's weights missing: refused, never random
        names = [n for n in f.attrs["layer_names"] if (n.decode() if isinstance(n, bytes)
                                                       else n) != "dense"]
        f.attrs["layer_names"] = names
    with pytest.raises(UnsupportedModelError, match="no stored weights for layer"):
        load(weights, config=arch)
