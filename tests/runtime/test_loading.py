"""dropctl.runtime.loader: Keras 3 loading in safe mode, legacy rescue without bytecode, site paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dropctl.errors import ArtifactError, UnsupportedModelError
from dropctl.reader.report import SiteKind
from dropctl.runtime.loader import load, load_model, rescue_config
from dropctl.runtime.sites import model_sites
from tests.support import needs_hub, sample_files

HUB_SAMPLES = {"gpt2_tiny.keras", "vit_tiny.keras"}
# keras_hub backbones included: their sites are the Dropout/attention layers inside the blocks.
LOADABLE = [pytest.param(p, marks=needs_hub) if p.name in HUB_SAMPLES else p
            for p in sample_files() if p.suffix != ".json"]


@pytest.mark.parametrize("path", LOADABLE, ids=lambda p: p.name)
def test_every_sample_loads_with_inspect_site_paths(path: Path, manifest: dict) -> None:
    """Every sample loads, and its runtime sites are exactly the ones inspect/the manifest list."""
    entry = next(a for a in manifest["artifacts"] if a["file"] == path.name)
    loaded = load(path)
    paths = [s.path for s in model_sites(loaded.model)]
    root = entry["model_name"] or "sequential"  # Keras 1 Sequential: no name, inspect says so
    expected = [f"{root}/{p}" for p in entry["expected_sites"]]
    assert sorted(paths) == sorted(expected)


def test_weights_come_from_the_file_not_initialisers(samples_dir: Path) -> None:
    import h5py

    model = load_model(samples_dir / "cnn.h5")
    with h5py.File(samples_dir / "cnn.h5", "r") as f:
        group = f["model_weights"]["conv2d"]
        stored = [np.asarray(group[n]) for n in group.attrs["weight_names"]]
    conv = model.get_layer("conv2d")
    for have, want in zip(conv.get_weights(), stored, strict=True):
        assert np.array_equal(have, want)
    a = load_model(samples_dir / "cnn.keras")
    b = load_model(samples_dir / "cnn.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)


def test_permadropout_lambda_becomes_always_dropout_without_running_bytecode(
    samples_dir: Path,
) -> None:
    loaded = load(samples_dir / "lstm_permadropout_tfkeras.h5")
    actions = [r.action for r in loaded.rescues]
    assert "Lambda dropout replaced by AlwaysDropout(rate=0.3)" in actions
    assert "Keras 2 leftover 'time_major' dropped" in actions
    (site,) = model_sites(loaded.model)
    assert site.path == "lstm_permadropout/lambda"
    assert site.always_on and site.kind is SiteKind.DROPOUT and site.rate == pytest.approx(0.3)
    x = np.arange(24).reshape(2, 12) % 200
    # Always-on: predict() is stochastic, as it was under Keras 2.
    assert not np.array_equal(loaded.model.predict(x, verbose=0), loaded.model.predict(x, verbose=0))


def test_unknown_lambda_is_refused_naming_the_layer() -> None:
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Lambda", "config": {"name": "square", "function": ["YWJj", None, None],
                                            "function_type": "lambda"}}]}}
    with pytest.raises(UnsupportedModelError, match=r"Lambda layer 'seq/square' is not recognisably"):
        rescue_config(config, keras3=False)


def test_keras1_config_is_rescued(samples_dir: Path) -> None:
    loaded = load(samples_dir / "keras1_style.h5")
    actions = {r.action for r in loaded.rescues}
    assert "Keras 1 list-form Sequential config converted" in actions
    assert "Keras 1 key 'p' renamed to 'rate'" in actions
    (site,) = model_sites(loaded.model)
    assert site.rate == 0.5
    assert loaded.model.predict(np.ones((2, 20), "float32"), verbose=0).shape == (2, 3)


def test_json_without_weights_is_refused(samples_dir: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="no weights"):
        load(samples_dir / "keras1_style.json")


def test_missing_weight_group_is_an_error(tmp_path: Path, samples_dir: Path) -> None:
    import h5py

    copy = tmp_path / "cnn.h5"
    shutil.copy(samples_dir / "cnn.h5", copy)
    with h5py.File(copy, "r+") as f:
        names = [n if isinstance(n, bytes) else n.encode()
                 for n in f["model_weights"].attrs["layer_names"]]
        f["model_weights"].attrs["layer_names"] = np.array([n for n in names if n != b"dense_1"])
    with pytest.raises(UnsupportedModelError, match="no stored weights for layer.*dense_1"):
        load(copy)


def test_unreadable_file_is_an_artifact_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError):
        load(bad)


def test_sites_glob_and_wrappers(samples_dir: Path) -> None:
    model = load_model(samples_dir / "family.keras")
    only = model_sites(model, "*/bidirectional/*")
    assert [s.path for s in only] == ["family/bidirectional/forward_lstm",
                                      "family/bidirectional/backward_lstm"]
    kinds = {s.path.split("/")[-1]: s.kind for s in model_sites(model)}
    assert kinds["gru"] is SiteKind.RECURRENT
    assert kinds["multi_head_attention"] is SiteKind.ATTENTION
    assert kinds["dropout"] is SiteKind.DROPOUT  # inside time_distributed


def test_real_corpus_loads_or_fails_cleanly(real_models_dir: Path) -> None:
    """Every real file either loads or raises dropctl's own error; Lambdas never run."""
    outcomes = {}
    for path in sorted(real_models_dir.iterdir()):
        if path.suffix not in (".keras", ".h5", ".hdf5"):
            continue
        try:
            load(path)
            outcomes[path.name] = "ok"
        except (ArtifactError, UnsupportedModelError) as exc:
            outcomes[path.name] = type(exc).__name__
    assert outcomes["22ridley_covid_chatbot_model.h5"] == "ok"
    assert outcomes["hareyakana_gan_nested.h5"] == "ok"
    assert outcomes["zhang102757017_lstm_multi.h5"] == "ok"
    assert outcomes["shamna_imdb_lstm.h5"] == "ok"
    assert outcomes["ssabrut_siamese_model.h5"] == "UnsupportedModelError"  # distance Lambda
    assert outcomes["elisim_lenet-0.5-20.h5"] == "ArtifactError"  # weights only
    json.dumps(outcomes)
