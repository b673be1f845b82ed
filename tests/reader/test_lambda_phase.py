"""Lambda semantics from the bytecode: always-on vs training-only vs unknown, never guessed.

The payloads are real marshalled code objects of the recipes people used, made here with
``marshal`` (exactly what tf.keras stores, base64-encoded) and never unmarshalled by dropctl.
"""

from __future__ import annotations

import base64
import json
import marshal
import shutil
from pathlib import Path
from typing import Any

import pytest

import dropctl
from dropctl.errors import UnsupportedModelError
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.report import Phase
from dropctl.reader.rescue import rescue_config
from tests.support import SAMPLES

K: Any = None  # the recipes look K and tf up as globals; they are never run here
tf: Any = None


def _recipes(rate: float) -> dict[str, Any]:
    return {
        "always": lambda x: K.dropout(x, level=rate),
        "in_train_phase": lambda x: K.in_train_phase(K.dropout(x, level=rate), x),
        "in_test_phase": lambda x: K.in_test_phase(x, K.dropout(x, level=rate)),
        "cond_learning_phase": lambda x: tf.cond(K.learning_phase(),
                                                 lambda: tf.nn.dropout(x, rate=rate), lambda: x),
        "training_argument": lambda x, training=None: K.dropout(x, level=rate) if training else x,
        "unknown_branch": lambda x: tf.cond(tf.reduce_sum(x) > 0,
                                            lambda: K.dropout(x, level=rate), lambda: x),
    }


def _payload(fn: Any, rate: float) -> list[Any]:
    return [base64.b64encode(marshal.dumps(fn.__code__)).decode(), None, [rate]]


EXPECTED = {"always": "always", "in_train_phase": "training", "in_test_phase": "training",
            "cond_learning_phase": "training", "training_argument": "training",
            "unknown_branch": "unknown"}


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_phase_is_read_from_the_bytecode(recipe: str) -> None:
    fn = _recipes(0.3)[recipe]
    info = analyze_lambda({"class_name": "Lambda", "config": {
        "name": "lambda", "function": _payload(fn, 0.3), "function_type": "lambda"}})
    assert info.is_dropout
    assert info.rate == pytest.approx(0.3)
    assert info.phase == EXPECTED[recipe]


def _config(fn: Any) -> dict[str, Any]:
    return {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 4,
                                           "batch_input_shape": [None, 3]}},
        {"class_name": "Lambda", "config": {"name": "lambda", "function": _payload(fn, 0.3),
                                            "function_type": "lambda"}}]}}


@pytest.mark.parametrize("recipe", sorted(EXPECTED))
def test_inspect_phases_and_findings(recipe: str, tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_config(_recipes(0.3)[recipe])))
    report = dropctl.inspect(path)
    (site,) = report.sites
    codes = {f.code for f in report.findings}
    if EXPECTED[recipe] == "always":
        assert site.in_predict_keras2 is Phase.ALWAYS and "DC202" in codes
    elif EXPECTED[recipe] == "training":
        assert (site.in_fit, site.in_predict, site.in_predict_keras2, site.in_call) == (
            True, Phase.NEVER, Phase.NEVER, Phase.NEVER)
        assert "DC202" not in codes
    else:  # unknown, never "always"
        assert site.in_predict_keras2 is Phase.UNKNOWN and site.in_predict is Phase.UNKNOWN
        assert "DC202" not in codes


def test_rescue_loads_training_only_as_standard_dropout_and_refuses_unknown() -> None:
    config, rescues = rescue_config(_config(_recipes(0.3)["in_train_phase"]), keras3=False)
    lam = config["config"]["layers"][-1]
    assert lam["class_name"] == "Dropout" and lam["config"]["rate"] == pytest.approx(0.3)
    assert any("training-only Lambda dropout replaced by Dropout" in r.action for r in rescues)
    with pytest.raises(UnsupportedModelError, match="seq/lambda.*unknown"):
        rescue_config(_config(_recipes(0.3)["unknown_branch"]), keras3=False)


def test_training_only_lambda_file_is_deterministic_in_diff(tmp_path: Path) -> None:
    """The sample PermaDropout file with its lambda swapped for the in_train_phase recipe."""
    import h5py

    from dropctl.mc.diff import diff
    from dropctl.runtime.loader import load

    path = tmp_path / "train_phase.h5"
    shutil.copy(SAMPLES / "lstm_permadropout_tfkeras.h5", path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        for layer in cfg["config"]["layers"]:
            if layer["class_name"] == "Lambda":
                layer["config"]["function"] = _payload(_recipes(0.3)["in_train_phase"], 0.3)
        f.attrs["model_config"] = json.dumps(cfg).encode()
    (site,) = dropctl.inspect(path).sites
    assert site.in_predict_keras2 is Phase.NEVER
    loaded = load(path)
    assert type(loaded.model.get_layer("lambda")).__name__ == "Dropout"
    result = diff(loaded, synthetic=4, samples=8)
    assert result.predict_deterministic is True
    assert result.mc_stochastic  # MC switches the (now standard) dropout on
