"""Static reading of SavedModel directories, keras_hub presets/classes and weights + config pairs.

No TensorFlow: keras_metadata.pb is parsed by dropctl's own bounded protobuf reader.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dropctl
from dropctl.cli import app
from dropctl.errors import ArtifactError
from dropctl.reader.formats import read_model
from dropctl.reader.protowire import Budget, fields
from dropctl.reader.report import ArtifactFormat, Phase, SiteKind, Verdict
from dropctl.reader.savedmodel import read_metadata
from tests.support import ROOT, SAMPLES
from tests.support.hostile import keras_metadata, pb_field, pb_node, write_savedmodel

SEED_SM = SAMPLES / "seed_lstm_savedmodel"


def test_seed_savedmodel_two_always_on_sites_with_bytecode_finding() -> None:
    report = dropctl.inspect(SEED_SM)
    assert report.model.format is ArtifactFormat.SAVEDMODEL
    assert report.model.keras_version == "2.21.0" and report.model.has_weights
    assert [s.path for s in report.sites] == ["seed_lstm/lambda", "seed_lstm/lambda_1"]
    for site in report.sites:
        assert site.kind is SiteKind.LAMBDA and site.rate == pytest.approx(0.3)
        assert site.in_predict is Phase.ALWAYS and site.in_predict_keras2 is Phase.ALWAYS
    codes = sorted(f.code for f in report.findings)
    assert codes == ["DC201", "DC201", "DC202", "DC202", "DC203", "DC203"]
    assert report.predict_deterministic is Verdict.NO


def test_inspect_savedmodel_imports_no_tensorflow_and_runs_nothing() -> None:
    code = (
        "import sys, dropctl\n"
        f"r = dropctl.inspect({str(SEED_SM)!r})\n"
        "assert len(r.sites) == 2\n"
        "bad = [m for m in ('tensorflow', 'keras', 'tf_keras', 'google.protobuf') "
        "if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_metadata_nodes_and_checkpoint_paths() -> None:
    meta = read_metadata(SEED_SM)
    paths = {n.node_path: n for n in meta.nodes}
    assert "root.layer_with_weights-1.cell" in paths  # the LSTM's cell
    assert paths["root.layer_with_weights-1"].checkpoint_prefix == "layer_with_weights-1"
    assert meta.root["class_name"] == "Sequential"
    # tf.keras encodes tuples as {"class_name": "__tuple__"}: the reader hands out lists.
    assert "__tuple__" not in json.dumps(read_model(SEED_SM).model_config)


def _without_metadata(tmp_path: Path) -> Path:
    d = tmp_path / "graph_only"
    shutil.copytree(SEED_SM, d)
    (d / "keras_metadata.pb").unlink()
    return d


def test_savedmodel_without_keras_metadata_names_its_dropout_ops(tmp_path: Path) -> None:
    # Issue 23: a SavedModel graph without Keras metadata is read (its random ops become
    # sites named by node), no longer refused.
    from dropctl.reader.report import ArtifactFormat, Verdict

    d = _without_metadata(tmp_path)
    report = dropctl.inspect(d)
    assert report.model.format is ArtifactFormat.SAVEDMODEL_GRAPH
    random = [s.path for s in report.sites if s.class_name == "RandomUniform"]
    assert any("seed_lstm/lambda/dropout/" in p for p in random)
    assert any("seed_lstm/lambda_1/dropout/" in p for p in random)
    assert report.predict_deterministic is Verdict.NO


def test_cli_savedmodel_without_metadata_reports_it_stochastic(tmp_path: Path,
                                                               cli_runner) -> None:
    d = _without_metadata(tmp_path)
    result = cli_runner.invoke(app, ["inspect", str(d)])
    assert result.exit_code == 0, result.stderr
    assert "savedmodel-graph" in result.stdout
    assert "predict() is deterministic: no" in result.stdout


def test_plain_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is a directory but not a model"):
        dropctl.inspect(tmp_path)


def test_protowire_refuses_overlong_varint_and_groups() -> None:
    with pytest.raises(ArtifactError, match="longer than 10 bytes"):
        list(fields(b"\x0a" + b"\xff" * 11, 0, 12, "x", Budget(100, "x")))
    with pytest.raises(ArtifactError, match="wire type 3"):
        list(fields(b"\x0b", 0, 1, "x", Budget(100, "x")))
    with pytest.raises(ArtifactError, match="more than 2 protobuf fields"):
        list(fields(b"\x08\x01" * 3, 0, 6, "x", Budget(2, "x")))


def test_handmade_savedmodel_nested_functional_and_pin(tmp_path: Path) -> None:
    """A tf.keras-style config with a frozen nested model and a pinned call, as metadata."""
    cfg = {"class_name": "Functional", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": {"class_name": "__tuple__", "items": [None, 4]},
                    "name": "x"}},
        {"class_name": "Sequential", "name": "sub", "inbound_nodes": [[["x", 0, 0, {}]]],
         "config": {"name": "sub", "trainable": False, "layers": [
             {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.2}}]}},
        {"class_name": "Dropout", "name": "pinned", "config": {"name": "pinned", "rate": 0.5},
         "inbound_nodes": [[["sub", 1, 0, {"training": True}]]]},
    ], "input_layers": [["x", 0, 0]], "output_layers": [["pinned", 0, 0]]}}
    d = write_savedmodel(tmp_path / "sm", keras_metadata(cfg, name="outer"))
    report = dropctl.inspect(d)
    sites = {s.path: s for s in report.sites}
    assert set(sites) == {"outer/sub/drop", "outer/pinned"}
    assert sites["outer/sub/drop"].effective_trainable is False
    assert sites["outer/pinned"].in_predict_keras2 is Phase.ALWAYS
    assert report.model.has_weights is False


def test_subclassed_savedmodel_is_opaque(tmp_path: Path) -> None:
    root = {"name": "net", "class_name": "MyNet", "keras_version": "2.15.0", "config": {}}
    d = write_savedmodel(tmp_path / "sm", pb_node("root", "_tf_keras_model", json.dumps(root)))
    report = dropctl.inspect(d)
    assert report.opaque == ("net",)
    assert "DC402" in [f.code for f in report.findings]
    assert report.predict_deterministic is Verdict.UNKNOWN


def test_root_that_is_not_a_model(tmp_path: Path) -> None:
    d = write_savedmodel(tmp_path / "sm", pb_node("root", "_tf_keras_metric", "{}"))
    with pytest.raises(ArtifactError, match="not a Keras model"):
        dropctl.inspect(d)
    d2 = write_savedmodel(tmp_path / "sm2", pb_field(1, pb_field(3, b"layer")))
    with pytest.raises(ArtifactError, match="not root"):
        dropctl.inspect(d2)


# ---- keras_hub ----------------------------------------------------------------------------------


def test_bert_preset_sites() -> None:
    report = dropctl.inspect(SAMPLES / "bert_tiny_preset")
    assert report.model.format is ArtifactFormat.PRESET
    assert report.opaque == ()
    assert len(report.sites) == 7
    sites = {s.path: s for s in report.sites}
    att = sites["bert_backbone/transformer_layer_1/self_attention_layer"]
    assert att.kind is SiteKind.ATTENTION and att.rate == pytest.approx(0.1)
    for site in report.sites:
        assert (site.in_fit, site.in_predict, site.in_call) == (True, Phase.NEVER, Phase.NEVER)
    assert report.predict_deterministic is Verdict.YES


def test_vit_rates_come_from_their_own_parameters() -> None:
    sites = {s.path: s.rate for s in dropctl.inspect(SAMPLES / "vit_tiny.keras").sites}
    assert sites["vit_backbone/vit_encoder/transformer_block_2/mha"] == pytest.approx(0.05)
    assert sites["vit_backbone/vit_encoder/dropout"] == pytest.approx(0.1)


def _hub_json(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "model.json"
    p.write_text(json.dumps(doc))
    return p


def test_unknown_keras_hub_model_is_custom_and_opaque(tmp_path: Path) -> None:
    p = _hub_json(tmp_path, {"module": "keras_hub.src.models.foo.foo_backbone",
                             "class_name": "FooBackbone", "registered_name": "keras_hub>FooBackbone",
                             "config": {"name": "foo", "num_layers": 4, "dropout": 0.2}})
    report = dropctl.inspect(p)
    (site,) = report.sites
    assert site.path == "foo" and site.kind is SiteKind.CUSTOM and site.rate == pytest.approx(0.2)
    assert site.in_predict is Phase.UNKNOWN
    codes = {f.code for f in report.findings}
    assert {"DC401", "DC402"} <= codes


def test_keras_hub_task_expands_its_backbone(tmp_path: Path) -> None:
    backbone = json.loads((SAMPLES / "bert_tiny_preset" / "config.json").read_text())
    p = _hub_json(tmp_path, {"module": "keras_hub.src.models.bert.bert_text_classifier",
                             "class_name": "BertTextClassifier",
                             "registered_name": "keras_hub>BertTextClassifier",
                             "config": {"name": "clf", "backbone": backbone, "num_classes": 2,
                                        "dropout": 0.1}})
    report = dropctl.inspect(p)
    paths = [s.path for s in report.sites]
    assert "clf/bert_backbone/transformer_layer_0/feedforward_dropout" in paths
    # 7 in the backbone and the task's head, named as Keras builds it (the generated catalogue,
    # tests/runtime/test_hub_models.py compares it with the built BertTextClassifier)
    assert len(paths) == 8
    head = next(s for s in report.sites if s.path == "clf/classifier_dropout")
    assert head.kind is SiteKind.DROPOUT and head.rate == 0.1


def test_hostile_num_layers_is_capped(tmp_path: Path) -> None:
    p = _hub_json(tmp_path, {"module": "keras_hub.src.models.bert.bert_backbone",
                             "class_name": "BertBackbone", "config": {
                                 "name": "b", "num_layers": 10**12, "dropout": 0.1}})
    from dropctl.reader.hub import MAX_HUB_LAYERS

    # the catalogue's expansion stops at MAX_HUB_LAYERS sites, however many layers are claimed
    assert len(dropctl.inspect(p, include_layers=False).sites) == MAX_HUB_LAYERS


# ---- weights + config -----------------------------------------------------------------------------


def test_pair_directory_and_config_option(tmp_path: Path, cli_runner) -> None:
    report = dropctl.inspect(SAMPLES / "mlp_pair")
    assert report.model.format is ArtifactFormat.WEIGHTS
    assert [s.path for s in report.sites] == ["mlp/dropout", "mlp/dropout_1"]
    weights = tmp_path / "w.weights.h5"
    shutil.copy(SAMPLES / "mlp_pair" / "model.weights.h5", weights)
    bare = cli_runner.invoke(app, ["inspect", str(weights)])
    assert bare.exit_code == 2 and "--config" in bare.stderr
    ok = cli_runner.invoke(app, ["inspect", str(weights), "--config",
                                 str(SAMPLES / "mlp_pair" / "model.json"), "--json"])
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["model"]["format"] == "weights+config"
    missing = cli_runner.invoke(app, ["inspect", str(weights), "--config",
                                      str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "nope.json: no such file" in missing.stderr


def test_pair_weights_must_be_hdf5(tmp_path: Path) -> None:
    d = tmp_path / "pair"
    d.mkdir()
    shutil.copy(SAMPLES / "mlp_pair" / "model.json", d / "model.json")
    (d / "model.weights.h5").write_bytes(b"PK\x03\x04 not hdf5")
    with pytest.raises(ArtifactError, match="not an HDF5 weights file"):
        dropctl.inspect(d)


# ---- check finds artifact directories -------------------------------------------------------------


def test_check_directory_finds_savedmodels_and_presets(tmp_path: Path, cli_runner) -> None:
    tree = tmp_path / "models"
    shutil.copytree(SEED_SM, tree / "legacy" / "seed_sm")
    shutil.copytree(SAMPLES / "bert_tiny_preset", tree / "hub" / "bert")
    shutil.copytree(SAMPLES / "mlp_pair", tree / "pair")
    shutil.copy(SAMPLES / "mlp.keras", tree / "mlp.keras")
    result = cli_runner.invoke(app, ["check", "--no-config", "--json", str(tree)])
    doc = json.loads(result.stdout)
    found = {str(Path(a["path"]).relative_to(tree)): a["status"] for a in doc["artifacts"]}
    # The directories are artifacts; the files inside them (model.weights.h5) are not walked.
    assert found == {"legacy/seed_sm": "fail", "hub/bert": "pass", "pair": "pass",
                     "mlp.keras": "pass"}
    assert result.exit_code == 1
    named = cli_runner.invoke(app, ["check", "--no-config", "--json", str(tree / "hub" / "bert")])
    assert named.exit_code == 0
    assert [a["path"] for a in json.loads(named.stdout)["artifacts"]] == [str(tree / "hub" / "bert")]
