"""Every keras_hub backbone and task of the catalogue, built from keras_hub's own tiny configs.

Each class is built once per session with every rate parameter at its own rate and saved as
a ``.keras`` file. The oracle is Keras: the model ``keras.saving.load_model`` builds from that
file, walked with ``_flatten_layers()`` (an attention layer with a rate is one site, its inner
Dropout is that site). Then

* ``inspect`` (static, from config.json alone) lists exactly those sites, path and rate;
* ``mc-predict --synthetic`` runs (inputs within the model's ``max_sequence_length``, padding
  masks of ones), switches every one of them and spreads;
* ``convert --strip`` leaves no site and ``--rate`` sets every parameter-driven site, with the
  weights bit-exact.

A representative set runs by default; the full sweep is marked ``slow``
(``pytest -m slow tests/runtime/test_hub_models.py``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dropctl
from dropctl.errors import UnsupportedModelError
from dropctl.reader.semantics import catalogue
from tests.support import LazyModule, fresh_names, gen_semantics, needs_hub, uncalled

keras = LazyModule("keras")
pytestmark = needs_hub

DEFAULT = ["BertBackbone", "GPT2Backbone", "FalconBackbone", "DistilBertBackbone",
           "RobertaBackbone", "GemmaBackbone", "LlamaBackbone", "ViTBackbone",
           "SwinTransformerBackbone", "BertTextClassifier"]
"""Run in the default suite: the three layouts dropctl knew before the catalogue, the four the
issue found disagreeing, a drop-path model with counter-named layers, and a task head."""


def _has_sites(item: dict[str, Any], models: dict[str, Any]) -> bool:
    """Own sites, or sites in a sub-model it holds (SegFormer's MiT encoder)."""
    return bool(item["sites"] or item.get("variants")) or any(
        _has_sites(s.get("layout") or models[s["class"]], models)
        for s in (item.get("submodels") or {}).values())


def _with_sites() -> list[str]:
    models = catalogue()["hub_models"]
    return sorted(n for n, m in models.items() if _has_sites(m, models))


RUN_DEFAULT = ["GPT2Backbone", "FalconBackbone", "GemmaBackbone", "SwinTransformerBackbone",
               "BertTextClassifier"]
"""mc-predict and convert by default (each costs several builds): the rest is ``slow``."""


CANNOT_RUN: dict[tuple[str, str], str] = {}
"""(class, run) pairs that fail for a reason outside the site list, and why (strict: a fix
makes the test fail until the entry is removed)."""


def _cases(default: list[str] = DEFAULT, runs: str | None = None) -> list[Any]:
    names = _with_sites()
    out = []
    for n in names:
        marks: list[Any] = [] if n in default else [pytest.mark.slow]
        if runs is not None and (n, runs) in CANNOT_RUN:
            marks.append(pytest.mark.xfail(reason=CANNOT_RUN[n, runs], strict=True))
        out.append(pytest.param(n, marks=marks))
    return out


RATES = (0.3, 0.2, 0.1, 0.4)


def _build(name: str) -> Any:
    """The generator's own build of a catalogued class (sub-models and a task's backbone at
    rate 0.1, the class's own parameters at RATES)."""
    models = catalogue()["hub_models"]
    rates = {p: RATES[i % len(RATES)] for i, p in enumerate(sorted(models[name]["params"]))}
    return gen_semantics().instantiate(name, models, rates, sub_rate=0.1)


class Built:
    """Tiny models saved once per session, by class name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Path] = {}

    def __call__(self, name: str) -> Path:
        if name not in self.files:
            keras.utils.set_random_seed(0)
            with fresh_names():
                model = _build(name)
            path = self.root / f"{name}.keras"
            model.save(path)
            self.files[name] = path
        return self.files[name]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(tmp_path_factory.mktemp("hub_models"))


def _oracle(path: Path) -> dict[str, float]:
    """{path: rate} of every stochastic layer of the model Keras loads from ``path``, walked in
    ``_flatten_layers()`` pre-order; a layer shared by several paths (SegFormer's MiT layers are
    also in the ``functional`` model it makes of them) is named at its first, as the runtime
    (:func:`dropctl.runtime.sites.model_sites`) names it."""
    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    return {p: rate for p, (_, rate) in _stochastic_layers(model).items()}


def _stochastic_layers(model: Any) -> dict[str, tuple[Any, float]]:
    """{path: (the layer that draws, rate)} for :func:`_oracle` (an attention layer's is its
    inner Dropout)."""
    L = keras.layers
    out: dict[str, tuple[Any, float]] = {}
    seen: set[int] = {id(model)}
    stack = [(sub, f"{model.name}/{sub.name}") for sub in _preorder(model)]
    while stack:
        sub, sub_path = stack.pop()
        if id(sub) in seen or isinstance(sub, L.InputLayer):
            continue
        seen.add(id(sub))
        if isinstance(sub, L.MultiHeadAttention):
            if float(sub._dropout) > 0:
                out[sub_path] = (sub._dropout_layer, float(sub._dropout))
                continue  # its inner Dropout is this site
        elif isinstance(sub, L.Dropout):
            if sub.rate > 0:
                out[sub_path] = (sub, float(sub.rate))
            continue
        elif type(sub).__name__.endswith("DropPath"):
            # keras_hub's drop-path layers: Swin/MobileNetV5 keep ``drop_prob``,
            # MiT/DINOv2/DINOv3 ``rate`` (read in their sources, keras_hub 0.32)
            rate = float(getattr(sub, "drop_prob", None) or getattr(sub, "rate", 0.0) or 0)
            if rate > 0:
                out[sub_path] = (sub, rate)
            continue
        stack.extend((child, f"{sub_path}/{child.name}") for child in _preorder(sub))
    return out


def _never_called_in_training(path: Path, x: list[np.ndarray] | None = None,
                              passthrough: frozenset[str] = frozenset()) -> set[str]:
    """The stochastic layers Keras never calls in ``model(x, training=True)`` on the synthetic
    inputs mc-predict draws: built but dead (keras_hub 0.32's GemmaDecoderBlock and
    Gemma3DecoderBlock build a ``feedforward_dropout`` that their ``call`` never uses), so no
    Monte Carlo pass can switch them, and mc-predict must say they never act. The layers at
    ``passthrough`` pass their input on (their own call raises under training=True)."""
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.compat import as_model_inputs

    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    layers = {p: layer for p, (layer, _) in _stochastic_layers(model).items()}
    if x is None:
        x = synthetic_inputs(model_input_specs(model), 2, 0)
    inputs = as_model_inputs(model, x)
    return uncalled(layers, lambda: model(inputs, training=True), passthrough)


def _raises_in_training(path: Path, sites: list[Any]) -> None:
    """Keras itself fails where inspect says a site's call raises under training=True
    (DC305): the model's own training=True call, and each such layer called alone on an
    input of the shape it was built for, raise with the reason inspect gives."""
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.compat import as_model_inputs

    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    layers = {p: layer for p, (layer, _) in _stochastic_layers(model).items()}
    inputs = as_model_inputs(model, synthetic_inputs(model_input_specs(model), 2, 0))
    first = sites[0]
    with pytest.raises(Exception, match=re.escape(f"{first.class_name}.call()")):
        model(inputs, training=True)
    for site in sites:
        layer = layers[site.path]
        assert type(layer).__name__ == site.class_name
        cause = site.training_fails.split(": ", 2)[-1][:40]
        shape = [2, *layer.input.shape[1:]] if hasattr(layer, "input") else None
        x = keras.ops.ones(shape or [2, 4, 8])
        assert keras.ops.all(layer(x, training=False) == x)  # inference: the identity
        with pytest.raises(Exception, match=re.escape(cause)):
            layer(x, training=True)


def _preorder(layer: Any) -> list[Any]:
    """A layer's direct children, reversed: popped from a stack they come in order."""
    return list(reversed(list(layer._flatten_layers(include_self=False, recursive=False))))


def _release_fails(sites: list[Any], name: str) -> set[str]:
    """The site paths whose own call the *installed* keras_hub's record says raises under
    training=True where the catalogue's does not (keras-hub 0.31.1's Swin ``DropPath``, run by
    ``scripts/matrix.sh hub-oldest``): the catalogue's history, DC408. Empty for the
    catalogue's own keras_hub."""
    import keras_hub

    from dropctl.reader.semantics import history

    rec = history()["keras_hub"].get(keras_hub.__version__) or {}
    rel = (rec.get("hub_fails") or {}).get(name, {})
    return {s.path for s in sites if not s.training_fails and any(
        s.path.endswith("/" + r) for r in rel)}


def _calls_unmeasured(name: str) -> str | None:
    """Why the generator could not call ``name`` with training=True, or one of the
    sub-models its sites are read through (Depth Anything's DINOv2 encoder)."""
    models = catalogue()["hub_models"]
    item = models[name]
    subs = [models[s["class"]] for s in item.get("submodels", {}).values()]
    return next((m["calls_unmeasured"] for m in [item, *subs] if "calls_unmeasured" in m), None)


@pytest.mark.parametrize("name", _cases())
def test_inspect_lists_the_sites_keras_builds(name: str, built: Built) -> None:
    path = built(name)
    sites = dropctl.inspect(path).sites
    static = {s.path: s.rate for s in sites}
    truth = _oracle(path)
    assert truth, f"{name}: the built model has no site (catalogue out of date?)"
    assert set(static) == set(truth)
    assert static == pytest.approx(truth, rel=1e-5)  # schedule factors kept to 6 digits
    # the sites inspect says never act are the ones Keras never calls with training=True
    dead = {s.path for s in sites if s.dead}
    assert all(not s.in_fit and s.in_predict.value == "never" for s in sites if s.dead)
    # the sites whose own call raises under training=True (keras_hub 0.32's DINOV2DropPath
    # and DINOV3DropPath take their noise shape from the symbolic build, (None, 1, 1), so any
    # training=True call of a model with drop_path_rate > 0 raises, fit() too; mc-predict
    # draws those sites itself, filling the batch dimension): Keras raises there too
    failing = [s for s in sites if s.training_fails]
    codes = {(f.code, f.path) for f in dropctl.inspect(path).findings}
    assert {p for c, p in codes if c == "DC305"} == {s.path for s in failing}
    if failing:
        _raises_in_training(path, failing)
    passthrough = frozenset(s.path for s in failing) | _release_fails(sites, name)
    unmeasured = _calls_unmeasured(name)
    if unmeasured:  # the generator could not call it: nothing is claimed dead
        assert not dead
    else:
        assert dead == _never_called_in_training(path, passthrough=passthrough)


@pytest.mark.parametrize("name", _cases(RUN_DEFAULT, runs="mc_predict"))
def test_mc_predict_switches_every_site_and_spreads(name: str, built: Built) -> None:
    path = built(name)
    sites = dropctl.inspect(path).sites
    broken = [s.path for s in sites if s.path in _release_fails(sites, name)]
    if broken:  # the installed keras_hub's layer raises there: one line naming the first
        with pytest.raises(UnsupportedModelError, match=re.escape(f"site '{broken[0]}'")):
            dropctl.mc_predict(path, synthetic=2, samples=4, seed=0)
        return
    result = dropctl.mc_predict(path, synthetic=2, samples=4, seed=0)
    static = [s.path for s in dropctl.inspect(path).sites]
    assert [s.path for s in result.sites] == static
    dead = [s.path for s in result.sites if s.dead]
    if dead:  # Keras must agree that a training=True call never reaches them
        assert set(dead) == _never_called_in_training(path)
    assert dead == [s.path for s in dropctl.inspect(path).sites if s.dead]  # static = runtime
    assert [s.path for s in result.sites if s.switched] == [p for p in static if p not in dead]
    assert result.complete  # a site that never acts leaves nothing out
    assert max(float(np.max(o.std)) for o in result.outputs) > 0


@pytest.mark.parametrize("name", _cases(RUN_DEFAULT, runs="convert"))
def test_convert_strip_and_rate_round_trip_the_weights(name: str, built: Built,
                                                      tmp_path: Path) -> None:
    path = built(name)
    stripped, rated = tmp_path / "strip.keras", tmp_path / "rate.keras"
    dropctl.convert(path, stripped, mode="strip")
    dropctl.convert(path, rated, mode="standard", rate=0.25)
    before = dropctl.inspect(path).sites
    fixed = {s.path for s in before if "fixed in keras_hub" in (s.note or "")}
    assert {s.path for s in dropctl.inspect(stripped).sites} == fixed
    after = {s.path: s.rate for s in dropctl.inspect(rated).sites}
    assert set(after) == {s.path for s in before}
    assert set(_oracle(rated)) == set(after)
    with fresh_names():
        ref = keras.saving.load_model(path, compile=False)
        out = [keras.saving.load_model(p, compile=False) for p in (stripped, rated)]
    for other in out:
        assert len(other.weights) == len(ref.weights)
        for a, b in zip(ref.weights, other.weights, strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))


def test_falcon_rates_are_read_and_checked(built: Built, cli_runner) -> None:
    """The issue's case: FalconBackbone(attention_dropout_rate, feedforward_dropout_rate)."""
    from dropctl.cli import app

    path = built("FalconBackbone")
    sites = dropctl.inspect(path).sites
    assert len(sites) == 6 and all(s.class_name == "Dropout" for s in sites)
    result = cli_runner.invoke(app, ["check", "--no-config", "--max-rate", "0.1", str(path)])
    assert result.exit_code == 1, result.stdout


def test_convert_standard_on_gpt2_verifies(tmp_path: Path, cli_runner) -> None:
    """It failed its own verification ("differs from IN by 0.0993") with random padding masks."""
    from dropctl.cli import app
    from tests.support import SAMPLES

    result = cli_runner.invoke(app, ["convert", str(SAMPLES / "gpt2_tiny.keras"),
                                     str(tmp_path / "g.keras"), "--standard"])
    assert result.exit_code == 0, result.stderr
    assert "verified: predict() deterministic and equal to IN" in result.stdout


def test_synthetic_inputs_respect_the_declared_sequence_length(built: Built) -> None:
    """A tiny BERT declares max_sequence_length 5 (keras_hub's test config): a synthetic draw
    is never longer, and its padding mask marks every token real."""
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.loader import load

    model = load(built("BertBackbone")).model
    assert model.get_config()["max_sequence_length"] == 5
    specs = model_input_specs(model)
    arrays = dict(zip([s.name for s in specs], synthetic_inputs(specs, 3, 0), strict=True))
    assert arrays["token_ids"].shape == (3, 5)
    assert (arrays["padding_mask"] == 1).all()


@pytest.mark.parametrize("name", _cases(RUN_DEFAULT, runs="same_sites"))
def test_every_command_names_the_same_sites(name: str, built: Built, cli_runner,
                                            tmp_path: Path) -> None:
    """inspect, convert, mc-predict, diff and check --probe: one site list, path for path."""
    import json

    from dropctl.cli import app

    path = str(built(name))
    sites = [s["path"] for s in json.loads(
        cli_runner.invoke(app, ["inspect", path, "--json"]).stdout)["sites"]]
    assert sites
    planned = cli_runner.invoke(app, ["convert", path, str(tmp_path / "o.keras"), "--perma",
                                      "--dry-run", "--json"])
    assert [c["path"] for c in json.loads(planned.stdout)["changes"]] == sites
    report = dropctl.inspect(path).sites
    broken = [s.path for s in report if s.path in _release_fails(report, name)]
    for command in ("mc-predict", "diff"):
        run = cli_runner.invoke(app, [command, path, "--synthetic", "1", "--samples", "2",
                                      "--json"])
        if broken:  # the installed keras_hub's layer raises there (hub-oldest: Swin 0.31.1)
            assert run.exit_code == 2 and f"site '{broken[0]}'" in run.stderr, run.stderr
            continue
        assert run.exit_code in (0, 1), run.stderr
        assert [s["path"] for s in json.loads(run.stdout)["sites"]] == sites, command
    probe = cli_runner.invoke(app, ["check", "--no-config", "--probe", "--json", path])
    if broken:  # never a pass: the artifact's check fails, naming the site
        assert probe.exit_code == 2 and f"site '{broken[0]}'" in probe.stdout + probe.stderr
        return
    found = json.loads(probe.stdout)["artifacts"][0]["probe"]
    assert found["unswitched"] == [] and found["mc_stochastic"] is True


def test_convert_strip_reaches_a_task_head_and_lists_it(built: Built, tmp_path: Path) -> None:
    """The issue's case: --strip left BertTextClassifier's classifier dropout at its rate."""
    report = dropctl.convert(built("BertTextClassifier"), tmp_path / "t.keras", mode="strip",
                             dry_run=True)
    head = [c for c in report.changes if c.path == "bert_text_classifier/classifier_dropout"]
    assert [(c.action.value, c.rate_after) for c in head] == [("zeroed", 0.0)]
    assert all(c.action.value == "zeroed" for c in report.changes)


@pytest.mark.parametrize("name", ["DINOV2Backbone", "HGNetV2ImageClassifier"])
def test_a_model_whose_paths_carry_its_name_is_read_under_any_name(name: str,
                                                                   tmp_path: Path) -> None:
    """DINOv2 names its layers ``<model name>_embeddings``, HGNetV2's classifier its head
    ``<model name>_output_dropout``: saved under another name, inspect lists the paths Keras
    builds for that name (the generator measured that the name is only their prefix)."""
    models = catalogue()["hub_models"]
    assert models[name].get("name_prefix") is True
    rates = {p: RATES[i % len(RATES)] for i, p in enumerate(sorted(models[name]["params"]))}
    keras.utils.set_random_seed(0)
    with fresh_names():
        model = gen_semantics().instantiate(name, models, {**rates, "name": "my_model"},
                                            sub_rate=0.1)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    truth = _oracle(path)
    assert truth and all("my_model" in p.split("/", 2)[1] for p in truth), truth
    static = {s.path: s.rate for s in dropctl.inspect(path).sites}
    assert static == pytest.approx(truth, rel=1e-5)


def _gemma3_inputs() -> dict[str, np.ndarray]:
    """Inputs shaped as keras_hub's own gemma3_backbone_test.py builds them: the image
    tokens' positions in ``vision_mask`` and ``vision_indices`` agree, 3 images of 4 tokens
    (16x16 pixels, patch 4, pool 2) per prompt of 64 tokens."""
    rng = np.random.default_rng(0)
    rows = [(20, 28), (16, 24)]
    mask = np.zeros((2, 64), "int32")
    indices = []
    for r, (a, b) in enumerate(rows):
        mask[r, a:b] = 1
        mask[r, 60:64] = 1
        indices.append([*range(a, b), *range(60, 64)])
    return {"token_ids": rng.integers(1, 256, (2, 64)).astype("int32"),
            "images": rng.random((2, 3, 16, 16, 3)).astype("float32"),
            "padding_mask": np.ones((2, 64), "int32"), "vision_mask": mask,
            "vision_indices": np.array(indices, "int32")}


def _gemma4_inputs() -> dict[str, np.ndarray]:
    """Inputs shaped as keras_hub's own gemma4_backbone_test.py builds them: 3 images per
    prompt of 64 tokens, each patchified into 16 patches of 4x4x3 = 48 values with their
    (x, y) positions, pooled 2x2 into 4 image tokens whose positions ``vision_mask`` and
    ``vision_indices`` agree on."""
    rng = np.random.default_rng(0)
    starts = [(20, 40, 60), (16, 36, 60)]
    mask = np.zeros((2, 64), "int32")
    indices = []
    for r, row in enumerate(starts):
        for a in row:
            mask[r, a:a + 4] = 1
        indices.append([i for a in row for i in range(a, a + 4)])
    grid = np.stack(np.meshgrid(np.arange(4), np.arange(4), indexing="ij"), -1).reshape(16, 2)
    return {"token_ids": rng.integers(1, 256, (2, 64)).astype("int32"),
            "pixel_values": rng.random((2, 3, 16, 48)).astype("float32"),
            "pixel_position_ids": np.broadcast_to(grid, (2, 3, 16, 2)).astype("int32"),
            "padding_mask": np.ones((2, 64), "int32"),
            "position_ids": np.tile(np.arange(64, dtype="int32"), (2, 1)),
            "vision_mask": mask, "vision_indices": np.array(indices, "int32")}


def _gemma3_order(path: Path) -> list[str]:
    """The names of a saved Gemma3Backbone's (or Gemma4Backbone's) inputs, in ``model.inputs`` order."""
    from dropctl.mc.inputs import model_input_specs
    from dropctl.runtime.loader import load

    return [s.name for s in model_input_specs(load(path).model)]


def test_gemma3_runs_on_inputs_that_say_where_its_image_tokens_are(built: Built,
                                                                   tmp_path: Path) -> None:
    """Given a file laid out as keras_hub's own test lays them out (3 images a prompt, where
    --synthetic draws 1), mc-predict switches every site Keras calls, spreads, and says
    which of the sites inspect lists never act (the ``feedforward_dropout`` keras_hub's
    Gemma3DecoderBlock builds and never calls)."""
    path = built("Gemma3Backbone")
    data = _gemma3_inputs()
    np.savez(tmp_path / "in.npz", **data)
    result = dropctl.mc_predict(path, str(tmp_path / "in.npz"), samples=4, seed=0)
    sites = dropctl.inspect(path).sites
    static = [s.path for s in sites]
    dead = _never_called_in_training(path, [data[k] for k in _gemma3_order(path)])
    assert dead and len(dead) < len(static)
    assert [s.path for s in result.sites if s.switched] == [p for p in static if p not in dead]
    assert [s.path for s in result.sites if s.dead] == [p for p in static if p in dead]
    assert [s.path for s in sites if s.dead] == [p for p in static if p in dead]
    assert result.complete
    assert max(float(np.max(o.std)) for o in result.outputs) > 0


def test_gemma4_runs_on_patchified_images_and_switches_every_site(built: Built,
                                                                  tmp_path: Path) -> None:
    """Given the inputs keras_hub's own test builds (3 images a prompt, patchified into 48
    values a patch, which Gemma4Backbone's own inputs do not declare: (None, None, None)),
    mc-predict switches every site inspect lists, and Keras calls every one of them with
    training=True."""
    path = built("Gemma4Backbone")
    data = _gemma4_inputs()
    np.savez(tmp_path / "in.npz", **data)
    result = dropctl.mc_predict(path, str(tmp_path / "in.npz"), samples=4, seed=0)
    static = [s.path for s in dropctl.inspect(path).sites]
    assert static
    assert _never_called_in_training(path, [data[k] for k in _gemma3_order(path)]) == set()
    assert [s.path for s in result.sites] == static
    assert [s.path for s in result.sites if s.switched] == static
    assert result.complete
    assert max(float(np.max(o.std)) for o in result.outputs) > 0


@pytest.mark.parametrize("name", ["Gemma3Backbone", "Gemma4Backbone"])
def test_synthetic_draws_put_image_tokens_where_the_model_reads_them(name: str,
                                                                    built: Built) -> None:
    """keras_hub's multimodal backbones declare ``vision_indices`` as any (None, None) ints,
    but scatter each image's embeddings to the positions it lists. With Keras as the oracle:
    its predict() runs on a --synthetic draw, and changing only the images changes the
    outputs from the first listed position on, in every row, and never before it (the text
    attention is causal), so the draw's positions are the ones the model reads."""
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.compat import as_model_inputs

    with fresh_names():
        model = keras.saving.load_model(built(name), compile=False)
    specs = model_input_specs(model)
    names = [s.name for s in specs]
    x = dict(zip(names, synthetic_inputs(specs, 2, 0), strict=True))
    image = "images" if "images" in x else "pixel_values"
    y = {**x, image: x[image] + np.random.default_rng(1).normal(size=x[image].shape
                                                                 ).astype("float32")}
    a, b = (np.asarray(model.predict(as_model_inputs(model, [d[k] for k in names]), verbose=0))
            for d in (x, y))
    changed = np.abs(a - b).max(axis=-1) > 1e-6  # [rows, positions]
    for row in range(2):
        first = int(x["vision_indices"][row].min())
        assert not changed[row, :first].any() and changed[row, first], (row, changed[row])
    assert (np.flatnonzero(x["vision_mask"][0]) == x["vision_indices"][0]).all()


def _vision_build(name: str) -> Any:
    """T5Gemma2 and Qwen3.5 with a vision encoder (the catalogue builds both text-only), from
    the configs of keras_hub's own t5gemma2 and qwen3_5 backbone tests."""
    import keras_hub

    models = catalogue()["hub_models"]
    cfg = dict(models[name]["tiny_config"])
    rates = dict.fromkeys(models[name]["params"], 0.2)
    if name == "T5Gemma2Backbone":
        from keras_hub.src.models.gemma3.gemma3_vision_encoder import Gemma3VisionEncoder

        encoder = Gemma3VisionEncoder(image_size=16, patch_size=4, num_heads=2, hidden_dim=8,
                                      num_layers=2, intermediate_dim=16,
                                      output_dim=cfg["encoder_hidden_dim"], pool_size=2)
    else:
        from keras_hub.src.models.qwen3_5.qwen3_5_vision_encoder import Qwen3_5VisionEncoder

        encoder = Qwen3_5VisionEncoder(depth=1, hidden_size=16, num_heads=2,
                                       intermediate_size=32, in_channels=3, patch_size=4,
                                       temporal_patch_size=2, spatial_merge_size=2,
                                       out_hidden_size=cfg["hidden_dim"],
                                       num_position_embeddings=64)
    return getattr(keras_hub.models, name)(**{**cfg, **rates}, vision_encoder=encoder)


@pytest.fixture(scope="session")
def with_vision(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub_vision")
    out = {}
    for name in ("T5Gemma2Backbone", "Qwen3_5Backbone"):
        keras.utils.set_random_seed(0)
        with fresh_names():
            _vision_build(name).save(root / f"{name}.keras")
        out[name] = root / f"{name}.keras"
    return out


def _eager(path: Path, x: dict[str, np.ndarray]) -> list[np.ndarray]:
    from dropctl.runtime.compat import as_model_inputs

    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    names = [str(t.name).split(":")[0] for t in model.inputs]
    out = model(as_model_inputs(model, [x[k] for k in names]), training=False)
    return [np.asarray(o) for o in (out.values() if isinstance(out, dict) else [out])]


def _drawn(path: Path) -> dict[str, np.ndarray]:
    from dropctl.mc.inputs import model_input_specs, synthetic_inputs
    from dropctl.runtime.loader import load

    specs = model_input_specs(load(path).model)
    return dict(zip([s.name for s in specs], synthetic_inputs(specs, 2, 0), strict=True))


def test_t5gemma2_with_vision_runs_on_a_synthetic_draw(with_vision: dict[str, Path]) -> None:
    """Its image tokens go into the encoder's sequence (``encoder_token_ids``): Keras runs
    the draw, the images reach the encoder's output, and mc-predict switches every site
    inspect lists and spreads."""
    path = with_vision["T5Gemma2Backbone"]
    x = _drawn(path)
    y = {**x, "images": x["images"] + 1.0}
    assert any(not np.allclose(a, b) for a, b in zip(_eager(path, x), _eager(path, y),
                                                       strict=True))
    result = dropctl.mc_predict(path, synthetic=2, samples=4, seed=0)
    static = [s.path for s in dropctl.inspect(path).sites]
    assert static and [s.path for s in result.sites if s.switched] == static
    assert max(float(np.max(o.std)) for o in result.outputs) > 0


@pytest.mark.parametrize("command", ["mc-predict", "diff"])
def test_a_model_that_fails_only_when_traced_says_so_in_one_line(
        command: str, with_vision: dict[str, Path], cli_runner, tmp_path: Path) -> None:
    """keras_hub 0.32's Qwen3.5 vision encoder calls ``int()`` on ``image_grid_thw``, so
    under TensorFlow its predict() fails in a graph while a bare ``model(x)`` runs the same
    inputs (Keras, eagerly, is the oracle): dropctl says the inputs are fine and the trace
    is what fails, in one line, exit code 2. A file whose ``vision_indices`` miss an image
    token is the inputs' fault: that line names the file and Keras' eager reason."""
    from dropctl.cli import app

    path = with_vision["Qwen3_5Backbone"]
    x = _drawn(path)
    assert _eager(path, x)  # Keras runs the draw eagerly
    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    from dropctl.runtime.compat import as_model_inputs

    names = [str(t.name).split(":")[0] for t in model.inputs]
    with pytest.raises(TypeError, match="SymbolicTensor"):
        model.predict(as_model_inputs(model, [x[k] for k in names]), verbose=0)
    run = cli_runner.invoke(app, [command, str(path), "--synthetic", "2", "--samples", "2"])
    lines = run.stderr.strip().splitlines()
    assert run.exit_code == 2 and len(lines) == 1, run.stderr
    assert ("model 'qwen3_5_backbone' runs these inputs eagerly (model(x)) but fails when "
            "traced into a graph") in lines[0] and "SymbolicTensor" in lines[0]
    np.savez(tmp_path / "short.npz", **{**x, "vision_indices": x["vision_indices"][:, :3]})
    run = cli_runner.invoke(app, [command, str(path), "--input", str(tmp_path / "short.npz"),
                                  "--samples", "2"])
    lines = run.stderr.strip().splitlines()
    assert run.exit_code == 2 and len(lines) == 1, run.stderr
    assert f"rejects the inputs in {tmp_path / 'short.npz'}" in lines[0]
    assert "vision_indices (2, 3) int32" in lines[0] and "Interleave" in lines[0]


@pytest.mark.parametrize("name", ["DINOV2Backbone", "SwinTransformerBackbone"])
def test_a_drop_path_whose_noise_is_not_a_drop_is_reported(name: str, built: Built) -> None:
    """keras_hub 0.32's DINOV2DropPath adds uniform noise to keep_prob and never floors it,
    Swin's DropPath floors it. Keras is the oracle: each drop path of the built model, called
    with training=True on ones (its batch-sized noise filled in, as mc-predict calls it),
    multiplies DINOv2's rows by continuous values averaging above 1 and Swin's by 0 or
    1/(1-rate) only; inspect reports DC306 exactly at the first kind, saying so."""
    from dropctl.runtime.compat import batch_sized_noise

    path = built(name)
    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    continuous = set()
    raising = _release_fails(dropctl.inspect(path).sites, name)  # keras-hub 0.31.1's Swin
    for site_path, (layer, rate) in _stochastic_layers(model).items():
        if "DropPath" not in type(layer).__name__ or site_path in raising:
            continue
        shape = [4096, *(layer.input.shape[1:] if hasattr(layer, "input") else [1])]
        own = batch_sized_noise(layer, lambda v, _l=layer, **kw: type(_l).call(_l, v, **kw))
        got = np.asarray(own(keras.ops.ones([d or 1 for d in shape]), training=True)).ravel()
        drop = np.isclose(got, 0) | np.isclose(got, 1 / (1 - rate), rtol=1e-5)
        if not drop.all():
            assert got.min() >= 1 - 1e-6 and got.mean() > 1.2, (site_path, got.mean())
            continuous.add(site_path)
    findings = [f for f in dropctl.inspect(path).findings if f.code == "DC306"]
    assert {f.path for f in findings} == continuous
    assert bool(continuous) == (name == "DINOV2Backbone")
    assert all("its training noise is not a drop" in f.message for f in findings)
