"""A Dropout its holder calls only ``if training:`` is still switched, and nothing else acts.

keras_hub 0.32's Gemma3nAttention calls its attention Dropout only under ``if training:``, so
under predict()'s training=False the Dropout is never called and patching it alone leaves the
Monte Carlo passes deterministic. The engine sees the call was never made and calls the holder
with training=True when the site is on, pinning every other layer inside it that takes
``training`` to False. The oracle is Keras: the holder below also passes ``training`` to a
BatchNormalization whose moving statistics are far from the batch's, so a leak of
training=True would move that branch away from what Keras' own predict() gives.
"""

from __future__ import annotations

import numpy as np
import pytest

import dropctl
from tests.support import LazyModule

keras = LazyModule("keras")


def _holder_class() -> type:
    class GuardedDropout(keras.layers.Layer):
        """Gemma3nAttention's shape: the Dropout only under ``if training:``, and a
        BatchNormalization given ``training`` explicitly."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = keras.layers.BatchNormalization(name="norm")
            self.dropout = keras.layers.Dropout(0.5, name="dropout")

        def build(self, input_shape):
            self.norm.build(input_shape)
            self.norm.moving_mean.assign(np.full(input_shape[-1:], 5.0, "float32"))
            self.norm.moving_variance.assign(np.full(input_shape[-1:], 0.01, "float32"))

        def call(self, x, training=False):
            a = self.norm(x, training=training)
            b = x
            if training:
                b = self.dropout(b, training=training)
            return keras.ops.concatenate([a, b], axis=-1)

    return GuardedDropout


@pytest.fixture(scope="module")
def guarded():
    x = keras.Input((6,))
    model = keras.Model(x, _holder_class()(name="guarded")(x), name="guarded_model")
    data = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    return model, data


def test_the_guarded_dropout_is_switched_and_spreads(guarded) -> None:
    model, data = guarded
    res = dropctl.mc_predict(model, data, samples=40, seed=1)
    [site] = res.sites  # the custom layer is the site, its Dropout the part switched
    assert (site.path, site.switched) == ("guarded_model/guarded", True), site
    dropped = res.outputs[0].std[:, 6:]
    assert float(dropped.min()) > 0  # every unit of the dropped branch varies


def test_only_the_dropout_acts(guarded) -> None:
    """The BatchNormalization branch equals Keras' predict() in every pass, and it would not
    if training=True reached it (its batch statistics are far from the moving ones)."""
    model, data = guarded
    res = dropctl.mc_predict(model, data, samples=20, seed=2, save_samples=True)
    inference = model.predict(data, verbose=0)[:, :6]
    training = keras.ops.convert_to_numpy(model(data, training=True))[:, :6]
    assert float(np.abs(training - inference).max()) > 1.0  # the test can fail
    samples = res.outputs[0].samples
    assert samples is not None
    np.testing.assert_allclose(samples[:, :, :6], np.broadcast_to(inference, samples[:, :, :6].shape),
                               rtol=1e-6, atol=1e-6)


def test_predict_is_untouched_afterwards(guarded) -> None:
    """The holder's and the BatchNormalization's patched calls go when the run ends."""
    model, data = guarded
    dropctl.mc_predict(model, data, samples=4, seed=3)
    assert not any("call" in vars(layer) for layer in model._flatten_layers())
    np.testing.assert_array_equal(model.predict(data, verbose=0)[:, 6:], data)
