"""A pin on a nested model's call (``inner(x, training=True)``) applies to every layer inside it;
``--standard`` must remove it there, not only on a dropout layer's own call."""

from __future__ import annotations

import numpy as np
import pytest

import dropctl
from dropctl.reader.report import Phase


@pytest.fixture(scope="module")
def nested_pin(tmp_path_factory):
    from dropctl.runtime import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(3)
    inner_in = keras.Input((6,), name="inner_in")
    h = keras.layers.Dense(8, name="dense")(inner_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.5, name="dropout")(h)
    inner = keras.Model(inner_in, h, name="inner")
    x = keras.Input((6,), name="x")
    y = keras.layers.Dense(2, name="head")(inner(x, training=True))
    model = keras.Model(x, y, name="outer")
    path = tmp_path_factory.mktemp("nested") / "nested_pin.keras"
    model.save(path)
    return keras, path


def test_inspect_sees_the_inherited_pin(nested_pin) -> None:
    _, path = nested_pin
    (site,) = dropctl.inspect(path).sites
    assert site.path == "outer/inner/dropout" and site.training_pinned is True
    assert site.in_call is Phase.ALWAYS and site.in_predict is Phase.NEVER


def test_standard_removes_the_pin_on_the_enclosing_call(nested_pin, tmp_path) -> None:
    keras, src = nested_pin
    dst = tmp_path / "standard.keras"
    report = dropctl.convert(src, dst, mode="standard")
    assert any("outer/inner: removed training=True" in w for w in report.warnings)
    (site,) = dropctl.inspect(dst).sites
    assert site.training_pinned is None and site.in_call is Phase.NEVER
    model = keras.models.load_model(dst)
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    a, b = np.asarray(model(x)), np.asarray(model(x))
    assert a.tobytes() == b.tobytes(), "bare model(x) must be deterministic after --standard"
