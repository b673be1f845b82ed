"""dropctl's always-on layers: stochastic in every mode, nothing else changed, reloadable."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.support import LazyModule

keras = LazyModule("keras")
L = LazyModule("dropctl.layers")

from dropctl.reader.layer_names import (  # noqa: E402
    ALWAYS_ON_CLASSES,
    STOCK_TO_ALWAYS,
    always_on_class,
    registered_name,
)

# class name -> (constructor kwargs, input shape without batch, how to call it)
CASES: dict[str, tuple[dict, tuple[int, ...], str]] = {
    "AlwaysDropout": ({"rate": 0.5}, (16,), "one"),
    "AlwaysSpatialDropout1D": ({"rate": 0.5}, (6, 8), "one"),
    "AlwaysSpatialDropout2D": ({"rate": 0.5}, (4, 4, 8), "one"),
    "AlwaysSpatialDropout3D": ({"rate": 0.5}, (3, 3, 3, 8), "one"),
    "AlwaysGaussianDropout": ({"rate": 0.3}, (16,), "one"),
    "AlwaysGaussianNoise": ({"stddev": 0.3}, (16,), "one"),
    "AlwaysAlphaDropout": ({"rate": 0.3}, (16,), "one"),
    "AlwaysSimpleRNN": ({"units": 4, "dropout": 0.4, "recurrent_dropout": 0.4}, (5, 3), "one"),
    "AlwaysLSTM": ({"units": 4, "dropout": 0.4, "recurrent_dropout": 0.4}, (5, 3), "one"),
    "AlwaysGRU": ({"units": 4, "dropout": 0.4}, (5, 3), "one"),
    "AlwaysMultiHeadAttention": ({"num_heads": 2, "key_dim": 4, "dropout": 0.5}, (5, 8), "qv"),
    "AlwaysGroupQueryAttention": (
        {"head_dim": 4, "num_query_heads": 2, "num_key_value_heads": 1, "dropout": 0.5},
        (5, 8),
        "qv",
    ),
    "AlwaysAttention": ({"dropout": 0.5}, (5, 8), "list"),
}


def _build(cls_name: str, *, stock: bool = False) -> keras.Model:
    kwargs, shape, how = CASES[cls_name]
    cls = getattr(keras.layers, ALWAYS_ON_CLASSES[cls_name]) if stock else getattr(L, cls_name)
    inp = keras.Input(shape)
    # A BatchNormalization before the site: it must stay in inference mode throughout.
    h = keras.layers.BatchNormalization(name="bn")(inp)
    layer = cls(**kwargs, name="site")
    out = layer(h, h) if how == "qv" else layer([h, h]) if how == "list" else layer(h)
    return keras.Model(inp, out, name=f"m_{cls_name}")


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    rng = np.random.default_rng(0)
    built = {}
    for name in CASES:
        model = _build(name)
        bn = model.get_layer("bn")
        # Non-trivial moving statistics, so inference and batch statistics differ visibly.
        n = bn.moving_mean.shape[0]
        bn.moving_mean.assign(rng.normal(size=n).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 2.0, size=n).astype("float32"))
        built[name] = model
    return built


def _probe(model: keras.Model) -> np.ndarray:
    shape = (4, *model.input.shape[1:])
    return np.random.default_rng(1).normal(size=shape).astype("float32")


def test_name_table_matches_classes() -> None:
    assert set(L.always_on_layer_classes()) == {f"dropctl>{n}" for n in (*ALWAYS_ON_CLASSES,
                                                                       *L.CALIBRATION_LAYERS)}
    assert set(ALWAYS_ON_CLASSES) == set(CASES)
    for name, stock in ALWAYS_ON_CLASSES.items():
        cls = getattr(L, name)
        assert issubclass(cls, getattr(keras.layers, stock))
        assert keras.saving.get_registered_name(cls) == registered_name(name) == f"dropctl>{name}"
        assert keras.saving.get_registered_object(f"dropctl>{name}") is cls
        assert STOCK_TO_ALWAYS[stock] == name


def test_always_on_class_accepts_every_spelling() -> None:
    assert always_on_class("AlwaysDropout", "dropctl>AlwaysDropout") == "AlwaysDropout"
    assert always_on_class("dropctl>AlwaysLSTM") == "AlwaysLSTM"
    assert always_on_class("AlwaysDropout") == "AlwaysDropout"
    assert always_on_class("AlwaysDropout", "other>AlwaysDropout") is None
    assert always_on_class("dropctl>Nope") is None
    assert always_on_class("Dropout") is None
    assert always_on_class(None) is None


def test_layer_names_module_does_not_import_keras() -> None:
    code = (
        "import sys, dropctl.reader.layer_names; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", list(CASES))
def test_stochastic_in_every_mode(models: dict[str, keras.Model], name: str) -> None:
    model = models[name]
    x = _probe(model)
    runs = {
        "predict": lambda: model.predict(x, verbose=0),
        "call": lambda: keras.ops.convert_to_numpy(model(x)),
        "call_training_false": lambda: keras.ops.convert_to_numpy(model(x, training=False)),
        "call_training_true": lambda: keras.ops.convert_to_numpy(model(x, training=True)),
    }
    for mode, run in runs.items():
        a, b = run(), run()
        assert a.shape == b.shape
        assert not np.array_equal(a, b), f"{name} deterministic under {mode}"


@pytest.mark.parametrize("name", list(CASES))
def test_config_and_variables_match_stock(models: dict[str, keras.Model], name: str) -> None:
    ours = models[name].get_layer("site")
    stock_model = _build(name, stock=True)
    stock = stock_model.get_layer("site")
    assert ours.get_config() == stock.get_config()
    assert [(w.path, w.shape) for w in ours.weights] == [(w.path, w.shape) for w in stock.weights]
    # Bit-for-bit transfer both ways, and the stock model is deterministic under predict().
    stock_model.set_weights(models[name].get_weights())
    for a, b in zip(stock_model.get_weights(), models[name].get_weights(), strict=True):
        assert np.array_equal(a, b)
    x = _probe(stock_model)
    assert np.array_equal(stock_model.predict(x, verbose=0), stock_model.predict(x, verbose=0))


def test_batchnorm_stays_in_inference_mode() -> None:
    inp = keras.Input((8,))
    bn = keras.layers.BatchNormalization()
    out = L.AlwaysDropout(0.5)(bn(inp))
    model = keras.Model(inp, out)
    bn.moving_mean.assign(np.full(8, 3.0, "float32"))
    bn.moving_variance.assign(np.full(8, 4.0, "float32"))
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(2).normal(size=(1, 8)).astype("float32")  # batch of one
    expected = (x - 3.0) / np.sqrt(4.0 + bn.epsilon) * 2.0  # inference BN, then 1/(1-rate)
    for run in (lambda: model.predict(x, verbose=0), lambda: keras.ops.convert_to_numpy(model(x))):
        y = run()
        kept = y != 0
        assert kept.any() and (~kept).any() or y.size < 4
        np.testing.assert_allclose(y[kept], expected[kept], rtol=1e-5, atol=1e-6)
    for a, b in zip(before, model.get_weights(), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_save_load_round_trip(ext: str, tmp_path) -> None:
    inp = keras.Input((5, 3))
    h = L.AlwaysLSTM(6, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)(inp)
    h = keras.layers.Bidirectional(L.AlwaysGRU(3, dropout=0.3, return_sequences=True))(h)
    h = L.AlwaysMultiHeadAttention(2, 3, dropout=0.3)(h, h)
    h = keras.layers.BatchNormalization()(h)
    h = L.AlwaysSpatialDropout1D(0.2)(h)
    h = keras.layers.TimeDistributed(L.AlwaysGaussianNoise(0.1))(h)
    out = L.AlwaysDropout(0.4)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    # loss="mse" would not reload from .h5 under Keras 3.15 (keras.metrics.mse is refused).
    model.compile(optimizer="adam", loss="mean_squared_error")
    path = tmp_path / f"perma.{ext}"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]
    assert type(loaded.layers[2].forward_layer) is L.AlwaysGRU
    assert type(loaded.layers[6].layer) is L.AlwaysGaussianNoise
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    assert not np.array_equal(loaded.predict(x, verbose=0), loaded.predict(x, verbose=0))
    if ext == "h5":
        return
    # A fresh process needs only `import dropctl.layers` to load it (one subprocess is enough).
    code = (
        "import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras, dropctl.layers; "
        f"m = keras.models.load_model({str(path)!r}); "
        "assert type(m.layers[-1]).__name__ == 'AlwaysDropout'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
