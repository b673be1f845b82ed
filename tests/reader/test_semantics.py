"""The generated semantics catalogue (dropctl/reader/data/semantics.json) and the static reader.

The static tests read configs only (no Keras): a FalconBackbone config with two rates is six
Dropout sites at the paths Keras builds (measured in KERAS_NOTES.md section 8), more layers
give more sites, a layout other than the catalogued one is reported as unreadable (DC402)
instead of guessed. The coverage tests introspect the installed keras and keras_hub: a class
or rate parameter the catalogue lacks fails here, so a new release is caught by CI.
"""

from __future__ import annotations

import contextlib
import inspect as pyinspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dropctl
from dropctl.cli import app
from dropctl.reader.semantics import catalogue, expand
from tests.support import ROOT, gen_semantics

FALCON_TINY = {"vocabulary_size": 10, "num_layers": 2, "num_attention_heads": 8,
               "hidden_dim": 16, "intermediate_dim": 32}
"""keras_hub's falcon_backbone_test.py init_kwargs."""


def _falcon(tmp_path: Path, **cfg: Any) -> Path:
    doc = {"module": "keras_hub.src.models.falcon.falcon_backbone",
           "class_name": "FalconBackbone", "registered_name": "keras_hub>FalconBackbone",
           "config": {"name": "falcon_backbone", "trainable": True,
                      **FALCON_TINY, **cfg}}
    path = tmp_path / "falcon.json"
    path.write_text(json.dumps(doc))
    return path


def test_falcon_rates_become_six_dropout_sites(tmp_path: Path, cli_runner) -> None:
    path = _falcon(tmp_path, attention_dropout_rate=0.5, feedforward_dropout_rate=0.5)
    sites = dropctl.inspect(path).sites
    assert [(s.path, s.class_name, s.rate) for s in sites] == [
        (f"falcon_backbone/transformer_layer_{i}/{leaf}", "Dropout", 0.5)
        for i in range(2)
        for leaf in ("attention/attention_dropout", "attention_dropout", "feedforward_dropout")]
    result = cli_runner.invoke(app, ["check", "--no-config", "--max-rate", "0.1", str(path)])
    assert result.exit_code == 1
    assert "0.5" in result.stdout


def test_more_layers_more_sites_and_each_rate_its_own(tmp_path: Path) -> None:
    path = _falcon(tmp_path, num_layers=5, attention_dropout_rate=0.0,
                   feedforward_dropout_rate=0.25)
    sites = dropctl.inspect(path).sites
    assert [s.path for s in sites] == [f"falcon_backbone/transformer_layer_{i}/feedforward_dropout"
                                       for i in range(5)]
    assert {s.rate for s in sites} == {0.25}


def test_no_rate_no_site(tmp_path: Path) -> None:
    assert dropctl.inspect(_falcon(tmp_path)).sites == ()


def test_a_layout_the_catalogue_did_not_build_is_not_guessed() -> None:
    """Swin's stages name their Dropout layers by a counter: other depths, other paths."""
    item = catalogue()["hub_models"]["SwinTransformerBackbone"]
    cfg = {**item["tiny_config"], "depths": [1, 1], "dropout_rate": 0.1}
    assert expand("SwinTransformerBackbone", cfg) is None
    assert expand("SwinTransformerBackbone", {**item["tiny_config"], "dropout_rate": 0.1})


def _segformer(**mit: Any) -> dict[str, Any]:
    """SegFormerBackbone's catalogued config (keras_hub's test setUp: a MiTBackbone encoder,
    Keras-serialised), its encoder's config updated with ``mit``."""
    cfg = json.loads(json.dumps(catalogue()["hub_models"]["SegFormerBackbone"]["tiny_config"]))
    cfg["image_encoder"]["config"].update(mit)
    return cfg


def test_a_sub_model_is_read_through_its_own_entry_below_its_path() -> None:
    """SegFormer has no rate of its own; its MiT encoder's drop path is read from the encoder's
    config, at the paths Keras builds (the ``functional`` model SegFormer makes of the
    encoder's layers), and ``convert --rate`` finds the parameter in the encoder's config."""
    found = expand("SegFormerBackbone", _segformer(max_drop_path_rate=0.2))
    alone = expand("MiTBackbone", {**_segformer()["image_encoder"]["config"],
                                   "max_drop_path_rate": 0.2})
    assert found and alone
    assert [(s.path, s.rate) for s in found] == [(f"functional/{s.path}", s.rate) for s in alone]
    assert {s.owner for s in found} == {("image_encoder", "config")}


def test_a_sub_model_of_another_layout_is_not_guessed() -> None:
    """An encoder with other depths builds other paths (and renumbers the holder's layers):
    the whole model is unreadable, never listed at the catalogued paths."""
    assert expand("SegFormerBackbone", _segformer(layerwise_depths=[1, 1],
                                                  max_drop_path_rate=0.2)) is None
    assert expand("SegFormerBackbone", {**_segformer(), "image_encoder": {
        **_segformer()["image_encoder"], "class_name": "DINOV2Backbone"}}) is None
    # CLIP has no dropout, at its catalogued layout; a text encoder with more layers than that
    # is not read (the holder's count keys are verified, a sub-model's are not)
    clip = json.loads(json.dumps(catalogue()["hub_models"]["CLIPBackbone"]["tiny_config"]))
    assert expand("CLIPBackbone", {**clip, "dtype": "float32"}) == []
    clip["text_encoder"]["config"]["num_layers"] += 1
    assert expand("CLIPBackbone", clip) is None


def test_a_head_catalogued_with_its_tests_arguments_reads_only_those(tmp_path: Path) -> None:
    """VGG's head fits the tiny backbone only with ``pooling="flatten"`` (keras_hub's own
    classifier test): another pooling is not read as that one (a custom site instead)."""
    item = catalogue()["hub_models"]["VGGImageClassifier"]
    assert item["task_kwargs"]["pooling"] == "flatten" and "backbone_layout" in item
    backbone = {"module": "keras_hub.src.models.vgg.vgg_backbone", "class_name": "VGGBackbone",
                "config": {"name": "vgg_backbone", **item["backbone_layout"]["tiny_config"]}}

    def sites(**head: Any) -> list[tuple[str, str]]:
        doc = {"module": item["module"], "class_name": "VGGImageClassifier",
               "config": {"name": "vgg_image_classifier", "backbone": backbone,
                          **item["task_kwargs"], "dropout": 0.5, **head}}
        path = tmp_path / "vgg.json"
        path.write_text(json.dumps(doc))
        return [(s.path, s.kind.value) for s in dropctl.inspect(path).sites]

    assert sites() == [(f"vgg_image_classifier/{item['sites'][0]['path']}", "dropout")]
    assert sites(pooling="avg") == [("vgg_image_classifier", "custom")]


def test_a_hostile_layer_count_is_capped() -> None:
    found = expand("FalconBackbone", {**FALCON_TINY, "num_layers": 10**9,
                                      "feedforward_dropout_rate": 0.1}, max_sites=1000)
    assert found is not None and len(found) == 1000


def test_catalogue_records_versions_and_is_generated() -> None:
    doc = catalogue()
    assert doc["generated_by"] == "scripts/gen_semantics.py"
    assert re.fullmatch(r"3\.\d+\.\d+.*", doc["keras"])
    assert re.fullmatch(r"0\.\d+\.\d+.*", doc["keras_hub"])
    # every site of every class names a parameter of that class, or is a fixed rate
    for name, item in doc["hub_models"].items():
        for site in item["sites"]:
            assert site["param"] is None or site["param"] in item["params"], name


def test_the_static_reader_needs_no_keras(tmp_path: Path) -> None:
    path = _falcon(tmp_path, feedforward_dropout_rate=0.5)
    code = ("import sys, dropctl; n = len(dropctl.inspect(sys.argv[1]).sites); "
            "print(n, 'keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout.split()
    assert out == ["2", "False", "False"]


# ---- the installed keras / keras_hub against the catalogue ------------------------------------
_DROP = re.compile(r"drop")


def _rate_params(cls: type) -> set[str]:
    """Constructor parameters whose name says they set a drop rate (numbers or None)."""
    out = set()
    for name, p in pyinspect.signature(cls.__init__).parameters.items():
        default = None if p.default is pyinspect.Parameter.empty else p.default
        if _DROP.search(name) and not name.startswith(("use_", "num_")) and (
                default is None or (isinstance(default, int | float)
                                    and not isinstance(default, bool))):
            out.add(name)
    return out


def test_every_installed_keras_hub_class_with_a_rate_is_catalogued() -> None:
    keras_hub = pytest.importorskip("keras_hub")
    from keras_hub.src.models.backbone import Backbone
    from keras_hub.src.models.task import Task

    doc = catalogue()
    known, unbuilt = dict(doc["hub_models"]), dict(doc["unbuilt"])
    expect = {n: m["params"] for n, m in known.items()}
    # a recorded release (the keras-hub nightly in scripts/matrix.sh): its own parameters, and
    # the classes it added, built there (gen_semantics.py --record)
    rec = (doc.get("history") or {}).get("keras_hub", {}).get(keras_hub.__version__)
    if rec is not None:
        known.update(rec["hub_models"])
        unbuilt.update(rec["new_unbuilt"])
        expect.update({n: m["params"] for n, m in rec["hub_models"].items()})
        expect.update(rec["hub_params"])
    missing, changed = [], []
    for name in dir(keras_hub.models):
        cls = getattr(keras_hub.models, name)
        if not (isinstance(cls, type) and issubclass(cls, Backbone | Task)) or cls in (
                Backbone, Task):
            continue
        name = cls.__name__  # the name a saved config carries (AlbertClassifier is an alias)
        params = _rate_params(cls)
        if not params and issubclass(cls, Task):
            continue
        if name in unbuilt:
            continue  # listed with why it cannot be built from a tiny config
        if params and name not in known:
            missing.append(name)
        elif name in known and set(expect[name]) != set(params):
            changed.append(f"{name}: {sorted(params)} vs {sorted(expect[name])}")
    assert missing == [] and changed == [], (
        f"keras_hub {keras_hub.__version__} has classes or rate parameters the catalogue "
        f"(made with keras_hub {doc['keras_hub']}) lacks: run scripts/gen_semantics.py")


def test_every_installed_keras_layer_with_a_rate_is_catalogued() -> None:
    from dropctl.runtime import keras_module

    keras = keras_module()
    doc = catalogue()
    known = set(doc["keras_layers"])
    rec = (doc.get("history") or {}).get("keras", {}).get(keras.__version__)
    if rec is not None:  # a recorded release (Keras 3.6, the 3.16 nightly in scripts/matrix.sh)
        known |= set(rec["keras_layers"])
    missing = []
    for name in dir(keras.layers):
        cls = getattr(keras.layers, name)
        if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
            continue
        if _rate_params(cls) and name not in known:
            missing.append(name)
    assert missing == [], (f"keras {keras.__version__} has {missing}: run "
                           "scripts/gen_semantics.py (--record in that venv, then --history)")


def test_the_reader_classifies_every_catalogued_keras_layer() -> None:
    """The static reader's class tables (dropctl/reader/classes.py) against the generated
    catalogue of every recorded Keras: each layer class with a rate is a site kind the reader
    knows (the 3.16 nightly exports ``GroupedQueryAttention`` beside ``GroupQueryAttention``)."""
    from dropctl.reader.classes import ATTENTION_CLASSES, RECURRENT_CLASSES, STOCK_KINDS
    from dropctl.reader.semantics import history

    doc = catalogue()
    names = set(doc["keras_layers"]).union(
        *(set(r["keras_layers"]) for r in history().get("keras", {}).values()))
    assert "GroupedQueryAttention" in names  # recorded from the 3.16 nightly
    unknown = sorted(names - set(STOCK_KINDS) - RECURRENT_CLASSES - ATTENTION_CLASSES)
    assert unknown == []


@pytest.mark.slow
def test_the_committed_catalogue_is_what_the_script_generates() -> None:
    """``--check`` rebuilds every tiny model (minutes on two cores)."""
    result = subprocess.run([sys.executable, "scripts/gen_semantics.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_an_unnamed_keras_hub_model_is_named_as_keras_names_it(tmp_path: Path) -> None:
    """MobileNetV5Backbone's get_config() stores no name; Keras names it from its class
    (``to_snake_case``: ``mobile_net_v5_backbone``), and so does inspect."""
    from dropctl.reader.walker import layer_name

    assert layer_name({"class_name": "MobileNetV5Backbone",
                       "module": "keras_hub.src.models.mobilenetv5.mobilenetv5_backbone",
                       "config": {}}) == "mobile_net_v5_backbone"
    path = _falcon(tmp_path, feedforward_dropout_rate=0.5)
    doc = json.loads(path.read_text())
    del doc["config"]["name"]
    path.write_text(json.dumps(doc))
    assert dropctl.inspect(path).sites[0].path == (
        "falcon_backbone/transformer_layer_0/feedforward_dropout")


# ---- the generator is deterministic ----------------------------------------------------------
def _generator() -> Any:
    return gen_semantics()


@pytest.mark.slow
def test_videoprism_does_not_depend_on_the_order_of_its_config_keys() -> None:
    """VideoPrism's fixed ``spatial_encoder/dropout`` fits each of its four count keys; which one
    the catalogue records used to follow the tiny config's key order, which is the test file's
    order with ``--hub-source`` and sorted when read back from the catalogue, so ``--check``
    failed. Built by Keras from both orders, the entry is the same, and is the committed one."""
    keras_hub = pytest.importorskip("keras_hub")
    from dropctl.runtime import keras_module

    keras = keras_module()
    gen = _generator()
    item = catalogue()["hub_models"]["VideoPrismBackbone"]
    cls = keras_hub.models.VideoPrismBackbone
    tiny = item["tiny_config"]

    def entry(config: dict[str, Any]) -> dict[str, Any]:
        return gen.catalogue_model(keras, lambda kw: cls(**gen.build_kwargs(kw)),
                                   config, gen._rate_params(cls))

    forward, backward = entry(dict(sorted(tiny.items()))), entry(dict(reversed(tiny.items())))
    assert gen.differences(forward, backward) == []
    assert gen.differences({k: item[k] for k in forward}, forward) == []


def test_the_check_names_each_differing_field_and_no_address() -> None:
    gen = _generator()
    old = {"hub_models": {"A": {"sites": [{"path": "x", "template": {"repeat": "n_a"}}]}}}
    new = {"hub_models": {"A": {"sites": [{"path": "x", "template": {"repeat": "n_b"}}]}}}
    assert gen.differences(old, new) == ['hub_models.A.sites[0].template.repeat: "n_a" -> "n_b"']
    assert gen.differences(old, old) == []
    reason = gen._reason(ValueError("bad layer <Dense at 0x7f3a2c1b> in /tmp/pytest-1/x.keras"))
    assert reason == "ValueError: bad layer <Dense at 0x...> in <tmp>"


# ---- other versions: the catalogue's history --------------------------------------------------
def _installed_keras() -> str | None:
    import importlib.metadata as md

    for dist in ("keras", "keras-nightly"):
        with contextlib.suppress(md.PackageNotFoundError):
            return md.version(dist)
    return None


def _installed_hub() -> str | None:
    """The keras_hub that imports (its own ``__version__``: a nightly or a path overlay has
    another distribution name); None when none does."""
    try:
        import keras_hub
    except ImportError:
        return None
    return str(keras_hub.__version__)


def test_the_history_holds_for_the_installed_versions() -> None:
    """When the installed keras or keras_hub is a version the catalogue's history records
    (scripts/matrix.sh runs this on Keras 3.6, the 3.16 nightly and the keras-hub nightly),
    Keras rebuilds it here and it must agree: the layer classes with a rate, and the site
    paths every catalogued keras_hub class builds from its tiny config. A release that moves
    a path or adds a stochastic class fails here, not at a user."""
    doc = catalogue()
    hist = doc.get("history") or {}
    keras_v, hub_v = _installed_keras(), _installed_hub()
    rec_keras = (hist.get("keras") or {}).get(keras_v or "")
    rec_hub = (hist.get("keras_hub") or {}).get(hub_v or "")
    if rec_keras is None and rec_hub is None:
        pytest.skip(f"keras {keras_v} / keras_hub {hub_v}: the catalogue's own versions "
                    f"({doc['keras']} / {doc['keras_hub']}) or unrecorded ones")
    got = _generator().record(doc)
    if rec_keras is not None:
        assert got["keras_layers"] == rec_keras["keras_layers"], (
            f"keras {keras_v}: run scripts/gen_semantics.py --record here, then --history")
    if rec_hub is not None:
        moved = {n: (rec_hub["hub_paths"].get(n), p) for n, p in got["hub_paths"].items()
                 if rec_hub["hub_paths"].get(n) != p}
        assert moved == {}, f"keras_hub {hub_v} builds other paths than recorded: {moved}"
        for key in ("not_catalogued", "unbuilt", "hub_params", "new_unbuilt"):
            assert got[key] == rec_hub[key], key
        # which sites its training=True call never calls or raises in (DC304, DC305)
        for key in ("hub_dead", "hub_fails", "hub_calls_unmeasured"):
            assert key in rec_hub, f"keras_hub {hub_v}: recorded before calls were measured"
            assert _generator().differences(rec_hub[key], got[key]) == [], key
        # the classes this release added: their whole entries, built here again
        assert _generator().differences(rec_hub["hub_models"], got["hub_models"]) == []


@pytest.mark.slow
def test_a_record_made_with_the_catalogues_own_versions_is_the_catalogue() -> None:
    """--record builds every class as the catalogue was built (named as its saved config
    names it, sub-models' sites left to their entries, a task on its recorded backbone), so a
    record of another release differs from the catalogue only where that release builds
    differently: with the catalogue's own keras and keras_hub it must differ nowhere
    (SegFormer's sub-model sites and HGNetV2ImageClassifier's head name once did)."""
    doc = catalogue()
    if (_installed_keras(), _installed_hub()) != (doc["keras"], doc["keras_hub"]):
        pytest.skip("needs the catalogue's own keras and keras_hub")
    gen = _generator()
    got, own = gen.record(doc), gen.record_of(doc)
    assert got["unbuilt"] == {} and got["dropped_keys"] == {}
    assert gen.differences(own["hub_paths"], got["hub_paths"]) == []
    for key in ("hub_dead", "hub_fails", "hub_calls_unmeasured"):
        assert gen.differences(own[key], got[key]) == [], key


def test_recorded_keras_hub_releases_build_the_catalogued_paths() -> None:
    """Measured with scripts/gen_semantics.py --record (keras-hub 0.31.1 and the 0.33 nightly
    built every catalogued class's tiny config): every class they build has the paths keras-hub
    0.32 builds, so --sites globs and policies keep selecting the same layers across them.
    A recorded difference is reported instead (DC407, and in the --sites error)."""
    from dropctl.reader.semantics import path_changes, recorded_versions

    _, hubs = recorded_versions()
    assert len(hubs) >= 3, hubs  # an older release, the catalogue's and a nightly
    assert [c for name in catalogue()["hub_models"] for c in path_changes(name)] == []


@pytest.fixture
def moved_history(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The catalogue with one more recorded keras_hub release that names Falcon's feed-forward
    dropout ``ffn_dropout``: the form ``--record`` writes, as a release that renames it would."""
    from dropctl.reader import semantics

    doc = json.loads(json.dumps(catalogue()))
    now = [s["path"] for s in doc["hub_models"]["FalconBackbone"]["sites"]]
    doc.setdefault("history", {"keras": {}, "keras_hub": {}})["keras_hub"]["0.99.0"] = {
        "keras": doc["keras"], "unbuilt": {}, "dropped_keys": {}, "absent": [],
        "not_catalogued": [],
        "hub_paths": {"FalconBackbone": [p.replace("feedforward_dropout", "ffn_dropout")
                                         for p in now]}}
    semantics.path_changes.cache_clear()
    monkeypatch.setattr(semantics, "catalogue", lambda: doc)
    yield
    semantics.path_changes.cache_clear()


@pytest.mark.usefixtures("moved_history")
def test_a_release_that_moves_paths_is_reported(tmp_path: Path, cli_runner) -> None:
    path = _falcon(tmp_path, feedforward_dropout_rate=0.5)
    report = dropctl.inspect(path)
    found = [f for f in report.findings if f.code == "DC407"]
    assert len(found) == 1 and "keras-hub 0.99.0 builds transformer_layer_0/ffn_dropout" in (
        found[0].message), found
    assert "transformer_layer_0/feedforward_dropout" in found[0].message
    # a glob written against that release: the one-line error names where the layer is now
    result = cli_runner.invoke(app, ["inspect", str(path), "--sites", "*/ffn_dropout"])
    assert result.exit_code == 2
    assert "keras-hub 0.99.0" in result.stderr and "feedforward_dropout" in result.stderr


@pytest.fixture
def other_calls_history(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The catalogue with one more recorded keras_hub release whose training=True call of
    Falcon never calls its feed-forward dropout and raises in its attention dropout: the form
    ``--record`` writes (``hub_dead``, ``hub_fails``), as a release that changed its code
    would."""
    from dropctl.reader import semantics

    doc = json.loads(json.dumps(catalogue()))
    now = [s["path"] for s in doc["hub_models"]["FalconBackbone"]["sites"]]
    doc.setdefault("history", {"keras": {}, "keras_hub": {}})["keras_hub"]["0.99.0"] = {
        "keras": doc["keras"], "unbuilt": {}, "dropped_keys": {}, "absent": [],
        "not_catalogued": [], "hub_paths": {"FalconBackbone": now},
        "hub_dead": {"FalconBackbone": [p for p in now if p.endswith("feedforward_dropout")]},
        "hub_fails": {"FalconBackbone": {p: "in Dropout.call(): ValueError: x" for p in now
                                         if p.endswith("attention_dropout")}},
        "hub_calls_unmeasured": {}}
    semantics.call_changes.cache_clear()
    monkeypatch.setattr(semantics, "catalogue", lambda: doc)
    yield
    semantics.call_changes.cache_clear()


@pytest.mark.usefixtures("other_calls_history")
def test_a_release_that_calls_sites_otherwise_is_reported(tmp_path: Path) -> None:
    path = _falcon(tmp_path, attention_dropout_rate=0.5, feedforward_dropout_rate=0.5)
    report = dropctl.inspect(path)
    found = [f for f in report.findings if f.code == "DC408"]
    assert len(found) == 1, found
    message = found[0].message
    assert "keras-hub 0.99.0 never calls transformer_layer_0/feedforward_dropout" in message
    assert "; raises in transformer_layer_0/" in message
    assert "transformer_layer_0/attention_dropout" in message.split("; raises in ")[1]
    assert f"({catalogue()['keras_hub']} does)" in message  # the catalogue's release calls it
    # the catalogue's own release still decides the sites (no DC304/DC305 from the record)
    assert not [f for f in report.findings if f.code in ("DC304", "DC305")]
    assert all(s.in_fit for s in report.sites)


def test_recorded_releases_call_the_catalogued_sites(tmp_path: Path) -> None:
    """Measured with scripts/gen_semantics.py --record (keras-hub 0.31.1 and the 0.33 nightly
    called every catalogued class's tiny build with training=True): the sites they never call
    or raise in are the ones keras-hub 0.32 never calls or raises in (Gemma's unused
    feed-forward dropout, DINOv2's drop paths), so DC304 and DC305 hold across the range,
    but for one: keras-hub 0.31.1's Swin ``DropPath`` calls ``ops.random.uniform`` (no Keras
    has ``keras.ops.random``; 0.32 calls ``keras.random.uniform``), so there every drop path
    with a rate raises, and inspect says so (DC408). Every recorded release made the
    measurement."""
    from dropctl.reader.semantics import call_changes, history

    for version, rec in history()["keras_hub"].items():
        assert "hub_dead" in rec, f"keras-hub {version}: recorded before calls were measured"
    changes = [c for name in catalogue()["hub_models"] for c in call_changes(name)]
    assert [(c.class_name, c.keras_hub) for c in changes] == [
        ("SwinTransformerBackbone", "0.31.1")]
    (swin,) = changes
    assert swin.fails_then and all("drop_path" in p for p in swin.fails_then)
    assert (swin.dead_then, swin.dead_now, swin.fails_now) == ((), (), ())
    reason = history()["keras_hub"]["0.31.1"]["hub_fails"]["SwinTransformerBackbone"]
    assert all("'keras.ops' has no attribute 'random'" in r for r in reason.values())
    # a Swin saved with any keras_hub: inspect names the release whose drop paths raise
    tiny = catalogue()["hub_models"]["SwinTransformerBackbone"]["tiny_config"]
    path = tmp_path / "swin.json"
    path.write_text(json.dumps({
        "module": "keras_hub.src.models.swin_transformer.swin_transformer_backbone",
        "class_name": "SwinTransformerBackbone",
        "registered_name": "keras_hub>SwinTransformerBackbone",
        "config": {"name": "swin_transformer_backbone", "trainable": True, **tiny,
                   "drop_path_rate": 0.2}}))
    report = dropctl.inspect(path)
    (found,) = [f for f in report.findings if f.code == "DC408"]
    assert "keras-hub 0.31.1 raises in stage_0/blocks_1/drop_path" in found.message
    assert {s.path for s in report.sites if s.path.endswith(swin.fails_then)} and all(
        s.in_fit and not s.training_fails for s in report.sites)  # 0.32 trains them


def test_no_release_moved_them_no_finding(tmp_path: Path) -> None:
    path = _falcon(tmp_path, feedforward_dropout_rate=0.5)
    assert [f.code for f in dropctl.inspect(path).findings if f.code == "DC407"] == []
