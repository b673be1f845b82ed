"""Findings a hostile file cannot dodge: code outside the layer tree, rates that are not numbers.

Each case is a real file (Keras 3 .keras zip, legacy .h5 with a training_config attribute, model
JSON) that ``check`` passed with exit 0 before issue 10.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

import dropctl
from dropctl.cli import app
from tests.support.hostile import writer_code

DENSE = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense", "units": 2}}


def k3_model(compile_config: dict | None = None, layers: list | None = None) -> dict:
    doc = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "m", "layers": layers or [DENSE]}}
    if compile_config is not None:
        doc["compile_config"] = compile_config
    return doc


def write_keras(path: Path, doc: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(doc))
    return path


def fn(module: str, name: str) -> dict:
    return {"module": module, "class_name": "function", "config": name,
            "registered_name": "function"}


def check(path: Path, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["check", "--no-config", "--json", *extra, str(path)])
    return result.exit_code, json.loads(result.stdout)


def test_lambda_loss_in_compile_config_is_found_with_its_path(tmp_path: Path) -> None:
    lam = {"class_name": "__lambda__",
           "config": {"code": writer_code(tmp_path / "x"), "defaults": None, "closure": None}}
    path = write_keras(tmp_path / "m.keras", k3_model({"optimizer": "adam", "loss": lam}))
    report = dropctl.inspect(path)
    assert ("DC201", "m/compile_config/loss") in {(f.code, f.path) for f in report.findings}
    code, doc = check(path)
    assert code == 1
    (art,) = doc["artifacts"]
    assert {(v["rule"], v["path"]) for v in art["violations"]} >= {
        ("DCK004", "m/compile_config/loss")}


@pytest.mark.parametrize(("where", "obj", "shown"), [
    ("metrics", [fn("builtins", "exec")], "m/compile_config/metrics/0"),
    ("loss", fn("os", "system"), "m/compile_config/loss"),
    ("optimizer", {"module": "keras.optimizers", "class_name": "Adam", "config": {
        "learning_rate": fn("subprocess", "Popen")}}, "m/compile_config/optimizer/config/learning_rate"),
    ("loss_weights", "posix.system", "m/compile_config/loss_weights"),
])
def test_dangerous_callable_anywhere_in_compile_config(tmp_path: Path, where: str, obj: object,
                                                       shown: str) -> None:
    path = write_keras(tmp_path / "m.keras", k3_model({"optimizer": "adam", where: obj}))
    hits = {(f.code, f.path) for f in dropctl.inspect(path).findings if f.code == "DC204"}
    assert hits == {("DC204", shown)}
    code, doc = check(path)
    assert code == 1, doc


def test_training_config_of_legacy_h5(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [None, 4]}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["training_config"] = json.dumps({
            "loss": "os.system", "metrics": [["accuracy", "subprocess.check_output"]],
            "optimizer_config": {"class_name": "Adam", "config": {}}})
    found = {(f.code, f.path, f.message.rsplit(": ", 1)[-1])
             for f in dropctl.inspect(path).findings if f.code == "DC204"}
    assert found == {("DC204", "training_config/loss", "os.system"),
                     ("DC204", "training_config/metrics/0/1", "subprocess.check_output")}
    assert check(path)[0] == 1


def test_ordinary_compile_config_has_no_code_findings(tmp_path: Path) -> None:
    cc = {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}},
          "loss": "categorical_crossentropy", "metrics": ["accuracy"]}
    path = write_keras(tmp_path / "m.keras", k3_model(cc))
    assert not [f for f in dropctl.inspect(path).findings if f.code in ("DC201", "DC204")]
    assert check(path)[0] == 0


@pytest.mark.parametrize(("raw", "shown"), [
    ("NaN", "nan"), ("Infinity", "inf"), ("true", "1"), ("1" + "0" * 4000, "inf"), ('"0.5"', "nan")])
def test_rates_that_are_not_finite_numbers_fail(tmp_path: Path, raw: str, shown: str) -> None:
    """NaN passed DC303 and --max-rate; `true` was shown as a no-op (Keras builds rate 1);
    a 4,001-digit rate raised OverflowError."""
    text = json.dumps(k3_model(layers=[DENSE, {
        "module": "keras.layers", "class_name": "Dropout", "registered_name": None,
        "config": {"name": "drop", "rate": "RATE"}}])).replace('"RATE"', raw)
    path = tmp_path / "m.json"
    path.write_text(text)
    report = dropctl.inspect(path)
    (dc303,) = [f for f in report.findings if f.code == "DC303"]
    assert dc303.path == "m/drop" and f"rate {shown}" in dc303.message
    assert not [f for f in report.findings if f.code == "DC302"]  # never "a no-op"
    code, doc = check(path, "--max-rate", "0.5", "--min-rate", "0")
    assert code == 1
    errors = {(v["rule"], v["path"]) for v in doc["artifacts"][0]["violations"]
              if v["severity"] == "error"}
    # DC303 through the findings rule, and both rate bounds fail (NaN used to pass them).
    assert {("DCK011", "m/drop"), ("DCK002", "m/drop"), ("DCK003", "m/drop")} <= errors or (
        shown != "nan" and {("DCK011", "m/drop"), ("DCK002", "m/drop")} <= errors)
    inspected = CliRunner().invoke(app, ["inspect", "--json", str(path)])
    # Strictly valid JSON (jq rejects the NaN/Infinity tokens json.dumps writes by default).
    doc = json.loads(inspected.stdout, parse_constant=_reject)
    (site,) = [s for s in doc["sites"] if s["path"] == "m/drop"]
    assert isinstance(site["rate"], float) or site["rate"] in ("NaN", "Infinity")


def _reject(token: str) -> None:
    raise AssertionError(f"invalid JSON token {token}")
