"""keras_hub *layers* inside a user's own Keras model, read through the generated catalogue.

``scripts/gen_semantics.py`` builds each ``keras_hub.layers`` class with a rate parameter
from the ``run_layer_test`` configs of keras_hub's own tests, once per way a test calls it
(TransformerDecoder with and without an ``encoder_sequence``), and records the layers that
drop inside it. The oracle is Keras: the model ``keras.saving.load_model`` builds from the
saved file, each keras_hub layer walked with ``_flatten_layers()``. ``inspect`` (static)
lists exactly those sites and rates, ``mc-predict`` switches every one and spreads, and
``convert --strip``/``--rate`` reach them with the weights bit-exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.reader.semantics import catalogue
from tests.support import LazyModule, fresh_names, needs_hub

keras = LazyModule("keras")
pytestmark = needs_hub


@pytest.fixture(scope="module")
def user_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seq2seq-shaped model of keras_hub layers at distinct rates: FNetEncoder 0.2,
    TransformerEncoder 0.1, TransformerDecoder 0.3 called with the encoder's sequence (cross
    attention) and another at 0.25 without, and a bare CachedMultiHeadAttention at 0.15."""
    import keras_hub

    L = keras_hub.layers
    keras.utils.set_random_seed(0)
    with fresh_names():
        src, tgt = keras.Input((6, 8), name="source"), keras.Input((5, 8), name="target")
        enc = L.FNetEncoder(intermediate_dim=16, dropout=0.2, name="fnet")(src)
        enc = L.TransformerEncoder(intermediate_dim=16, num_heads=2, dropout=0.1,
                                   name="encoder")(enc)
        dec = L.TransformerDecoder(intermediate_dim=16, num_heads=2, dropout=0.3,
                                   name="cross_decoder")(tgt, enc)
        dec = L.TransformerDecoder(intermediate_dim=16, num_heads=2, dropout=0.25,
                                   name="decoder")(dec)
        att = L.CachedMultiHeadAttention(num_heads=2, key_dim=4, dropout=0.15,
                                         name="attention")(dec, dec)
        model = keras.Model([src, tgt], keras.layers.Dense(3, name="head")(att), name="s2s")
    path = tmp_path_factory.mktemp("hub_layers") / "s2s.keras"
    model.save(path)
    return path


def _oracle(path: Path) -> dict[str, float]:
    """{path: rate} of every Dropout and attention dropout Keras builds in the loaded model
    (an attention layer with a rate is one site: its inner Dropout is that site)."""
    L = keras.layers
    with fresh_names():
        model = keras.saving.load_model(path, compile=False)
    out: dict[str, float] = {}
    stack = [(layer, f"{model.name}/{layer.name}") for layer in reversed(model.layers)]
    while stack:
        layer, at = stack.pop()
        if isinstance(layer, L.MultiHeadAttention):
            if float(layer._dropout) > 0:
                out[at] = float(layer._dropout)
            continue
        if isinstance(layer, L.Dropout):
            if layer.rate > 0:
                out[at] = float(layer.rate)
            continue
        kids = list(layer._flatten_layers(include_self=False, recursive=False))
        stack.extend((k, f"{at}/{k.name}") for k in reversed(kids))
    return out


def test_inspect_lists_the_sites_keras_builds_in_each_hub_layer(user_model: Path) -> None:
    truth = _oracle(user_model)
    static = {s.path: s.rate for s in dropctl.inspect(user_model).sites}
    assert static == pytest.approx(truth)
    # the decoder called with the encoder's sequence has a cross-attention block, the other not
    assert "s2s/cross_decoder/cross_attention" in truth
    assert not [p for p in truth if p.startswith("s2s/decoder/cross_attention")]
    assert "s2s/fnet/output_dropout" in truth and "s2s/attention" in truth


def test_mc_predict_switches_every_hub_layer_site(user_model: Path) -> None:
    result = dropctl.mc_predict(user_model, synthetic=2, samples=4, seed=0)
    static = [s.path for s in dropctl.inspect(user_model).sites]
    assert [s.path for s in result.sites] == static
    assert [s.path for s in result.sites if s.switched] == static
    assert result.complete and float(np.max(result.outputs[0].std)) > 0


def test_convert_reaches_every_hub_layer_site(user_model: Path, tmp_path: Path) -> None:
    stripped, rated = tmp_path / "strip.keras", tmp_path / "rate.keras"
    dropctl.convert(user_model, stripped, mode="strip")
    dropctl.convert(user_model, rated, mode="standard", rate=0.4)
    assert _oracle(stripped) == {}
    truth = _oracle(rated)
    assert set(truth) == set(_oracle(user_model)) and set(truth.values()) == {0.4}
    with fresh_names():
        ref = keras.saving.load_model(user_model, compile=False)
        out = keras.saving.load_model(rated, compile=False)
    for a, b in zip(ref.weights, out.weights, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_every_installed_keras_hub_layer_with_a_rate_is_catalogued() -> None:
    """A keras_hub release that adds a layer class with a rate parameter (or renames one)
    fails here, not at a user: each is catalogued with its parameters, or listed with why it
    could not be built from keras_hub's tests."""
    import keras_hub

    from tests.support import gen_semantics

    doc = catalogue()
    known, unbuilt = doc["hub_layers"], doc["hub_layers_unbuilt"]
    missing, changed = [], []
    for name in dir(keras_hub.layers):
        cls = getattr(keras_hub.layers, name)
        if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)) or issubclass(
                cls, keras.Model):
            continue
        params = gen_semantics()._rate_params(cls)
        if not params or cls.__name__ in unbuilt:
            continue
        if cls.__name__ not in known:
            missing.append(cls.__name__)
        elif known[cls.__name__]["params"] != dict(sorted(params.items())):
            changed.append(cls.__name__)
    assert missing == [] and changed == [], (
        f"keras_hub {keras_hub.__version__}: {missing or changed}: run scripts/gen_semantics.py")
    assert set(known) >= {"TransformerEncoder", "TransformerDecoder", "FNetEncoder"}
