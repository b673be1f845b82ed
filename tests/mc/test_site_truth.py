"""One truth about sites: what ``inspect`` lists is what ``mc-predict`` switches on.

Every sample and every real corpus file that loads goes through both; the lists must be equal,
path for path (a Keras 2 Bidirectional is named as Keras builds it, ``forward_``/``backward_``).
keras.applications' StochasticDepth (ConvNeXt ``drop_path_rate``) and keras_hub's
TransformerEncoder, which ``inspect`` always listed but MC never switched on, now give spread
with BatchNormalization kept in inference mode. A site that cannot be switched is named, and
never reported as "no site acts".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dropctl
from dropctl.errors import DropctlError
from dropctl.mc.resolve import static_gaps
from tests.support import LazyModule, real_model_files, sample_files

keras = LazyModule("keras")


def _runnable(paths: list[Path]) -> list[Any]:
    return [p for p in paths if p.suffix != ".json" and not p.name.startswith("keras1_style")]


@pytest.mark.parametrize("path", _runnable(sample_files()) + real_model_files(),
                         ids=lambda p: getattr(p, "name", str(p)))
def test_mc_switches_exactly_the_sites_inspect_lists(path: Path) -> None:
    from dropctl.runtime.loader import load

    try:
        loaded = load(path)
    except DropctlError:
        assert path.parent.name == "real_models", f"{path.name} must load"
        return  # a real file dropctl refuses (weights only, unknown Lambda): tested elsewhere
    result = dropctl.mc_predict(loaded, synthetic=2, samples=2, seed=0)
    switched = [s.path for s in result.sites if s.switched]
    assert result.missing_sites == ()
    assert result.complete
    static = [s.path for s in dropctl.inspect(path).sites]
    assert static_gaps(path, switched) == ()
    # ...and the runtime switches exactly what inspect lists, by the same paths, in order
    # (one walker, one path scheme: keras_hub inner layers, Bidirectional forward_/backward_).
    assert switched == static


@pytest.fixture(scope="module")
def convnext_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny keras.applications ConvNeXt with stochastic depth (saved by Keras 3)."""
    from keras.src.applications.convnext import ConvNeXt  # the public ones are 28M+ params

    keras.utils.set_random_seed(0)
    model = ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 32, 64], drop_path_rate=0.5,
                     layer_scale_init_value=1.0,  # residual branches that matter untrained
                     name="convnext_micro", include_preprocessing=False, weights=None,
                     input_shape=(32, 32, 3), classes=3)
    path = tmp_path_factory.mktemp("convnext") / "convnext.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def hub_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Functional model with a keras_hub TransformerEncoder(dropout=0.3) after BatchNorm."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 8), name="x")
    x = keras.layers.BatchNormalization(name="batch_normalization")(inp)
    x = keras_hub.layers.TransformerEncoder(intermediate_dim=16, num_heads=2, dropout=0.3,
                                            name="encoder")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(x), name="hub_encoder")
    bn = model.get_layer("batch_normalization")
    bn.moving_mean.assign(np.full((8,), 0.5, "float32"))
    bn.moving_variance.assign(np.full((8,), 2.0, "float32"))
    path = tmp_path_factory.mktemp("hub") / "hub_encoder.keras"
    model.save(path)
    return path


def test_convnext_stochastic_depth_gives_spread(convnext_file: Path) -> None:
    static = [s.path for s in dropctl.inspect(convnext_file).sites]
    assert len(static) == 3 and all("stochastic_depth" in p for p in static)
    result = dropctl.mc_predict(convnext_file, synthetic=4, samples=40, seed=0)
    assert [s.path for s in result.sites if s.switched] == static
    assert {s.kind.value for s in result.sites} == {"stochastic_depth"}
    assert float(np.max(result.outputs[0].std)) > 0
    again = dropctl.mc_predict(convnext_file, synthetic=4, samples=40, seed=0)
    assert again.outputs[0].mean.tobytes() == result.outputs[0].mean.tobytes()


def test_stochastic_depth_drops_whole_examples(convnext_file: Path) -> None:
    """Masks are per example (the residual branch of one input is kept or dropped whole)."""
    from dropctl.runtime.loader import load

    model = load(convnext_file).model
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype("float32")
    result = dropctl.mc_predict(model, x, samples=200, seed=3, sites="*stage_3*")
    (site,) = [s for s in result.sites if s.selected]
    assert site.effective_rate == pytest.approx(0.5)
    # One branch on or off per pass: the pass outputs take exactly two distinct values.
    samples = dropctl.mc_predict(model, x, samples=64, seed=3, sites="*stage_3*",
                                 save_samples=True).outputs[0].samples
    assert len({row.tobytes() for row in samples[:, 0]}) == 2


def test_keras_hub_transformer_dropout_is_switched_with_bn_in_inference(hub_file: Path) -> None:
    from dropctl.runtime.loader import load

    static = [s.path for s in dropctl.inspect(hub_file).sites]
    # The one path scheme: a keras_hub block's sites are the layers inside it that drop.
    assert static == ["hub_encoder/encoder/self_attention_layer",
                      "hub_encoder/encoder/self_attention_dropout",
                      "hub_encoder/encoder/feedforward_dropout"]
    loaded = load(hub_file)
    bn = loaded.model.get_layer("batch_normalization")
    before = [w.copy() for w in bn.get_weights()]
    result = dropctl.mc_predict(loaded, synthetic=3, samples=30, seed=0)
    assert [s.path for s in result.sites if s.switched] == static and result.complete
    assert [s.class_name for s in result.sites] == ["MultiHeadAttention", "Dropout", "Dropout"]
    assert float(np.max(result.outputs[0].std)) > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, bn.get_weights(), strict=True))
    # BN in inference mode: the deterministic pass of one input alone equals its row in a batch.
    x = np.random.default_rng(0).standard_normal((3, 6, 8)).astype("float32")
    alone = dropctl.mc_predict(loaded.model, x[:1], samples=2, seed=0).outputs[0].deterministic
    batch = dropctl.mc_predict(loaded.model, x, samples=2, seed=0).outputs[0].deterministic
    np.testing.assert_allclose(alone, batch[:1], rtol=1e-5, atol=1e-6)


def test_a_site_that_cannot_be_switched_is_named_not_called_deterministic(
        hub_file: Path, cli_runner) -> None:
    """Sites inspect lists (the block says dropout=0.3) that the loaded block does not drop."""
    from dropctl.cli import app
    from dropctl.runtime.loader import load

    loaded = load(hub_file)
    encoder = loaded.model.get_layer("encoder")
    for sub in list(encoder._flatten_layers(include_self=False)):
        if isinstance(sub, keras.layers.Dropout):
            sub.rate = 0.0  # nothing left to switch, while the block still says dropout=0.3
    result = dropctl.mc_predict(loaded, synthetic=2, samples=4, seed=0)
    assert not result.complete
    assert result.unswitched == ("hub_encoder/encoder/self_attention_dropout",
                                 "hub_encoder/encoder/feedforward_dropout")
    from dropctl.render.mc import mc_tables

    text = " ".join(str(t) for t in mc_tables(result) if isinstance(t, str))
    assert "could not be switched on" in text
    assert "hub_encoder/encoder/feedforward_dropout" in text
    assert "no stochastic site is switched on" not in text
    r = cli_runner.invoke(app, ["diff", str(hub_file), "--synthetic", "2", "--samples", "4",
                                "--json"])
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("fixture", ["convnext_file", "hub_file"])
def test_convert_acts_on_the_same_sites_or_refuses_by_name(fixture: str, request,
                                                           tmp_path: Path) -> None:
    from dropctl.errors import VerificationError

    src = request.getfixturevalue(fixture)
    static = {s.path for s in dropctl.inspect(src).sites}
    with pytest.raises(VerificationError, match="would change nothing.*no always-on (version|form)"):
        dropctl.convert(src, tmp_path / "p.keras", mode="perma")
    assert not (tmp_path / "p.keras").exists()
    std = dropctl.convert(src, tmp_path / "s.keras", mode="standard")
    assert std.verification is not None and std.verification.passed
    strip = dropctl.convert(src, tmp_path / "x.keras", mode="strip")
    assert {c.path for c in strip.changes if c.action.value == "zeroed"} == static
    assert strip.verification is not None and strip.verification.passed
    assert all(not s.in_fit for s in dropctl.inspect(tmp_path / "x.keras").sites)  # rate 0
