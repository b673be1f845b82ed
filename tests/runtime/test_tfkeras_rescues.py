"""tf.keras files that tf.keras loads run in dropctl (issue 19): the transfer pattern with an
augmentation front (``rng_type`` on RandomFlip/RandomRotation, ``preprocess_input``'s
TFOpLambda arithmetic) in .h5, .keras and SavedModel; MobileNetV3Small and DenseNet121 (layer
names with ``/``); RegNetX (TFOpLambda ``x + y``); any other TFOpLambda op is one line naming it.

The models are built once per session with tf_keras itself (weights=None, 32x32 inputs, seeded),
and tf_keras' own ``predict()`` is the oracle for what each file computes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.errors import UnsupportedModelError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None or importlib.util.find_spec("tensorflow") is None,
    reason="tf_keras (the dev extra) builds the tf.keras files; not in the matrix venvs")

X = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def _transfer(tk):
    aug = tk.Sequential([tk.layers.RandomFlip("horizontal"), tk.layers.RandomRotation(0.1)],
                        name="augment")
    base = tk.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False,
                                       weights=None, alpha=0.35)
    base.trainable = False
    inp = tk.Input((32, 32, 3))
    x = tk.applications.mobilenet_v2.preprocess_input(aug(inp))  # x / 127.5 - 1: TFOpLambda
    x = tk.layers.GlobalAveragePooling2D()(base(x, training=False))
    x = tk.layers.Dropout(0.2)(x)
    return tk.Model(inp, tk.layers.Dense(3)(x), name="transfer")


@pytest.fixture(scope="session")
def tfkeras_files(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (file, tf_keras' predict(X) on the model it was saved from)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as tk

    tf.random.set_seed(0)
    out = tmp_path_factory.mktemp("tfkeras_rescues")
    made: dict[str, tuple[Path, np.ndarray]] = {}
    models = {
        "transfer": (_transfer(tk), ("h5", "keras", "savedmodel")),
        "mobilenetv3small": (tk.applications.MobileNetV3Small(
            input_shape=(32, 32, 3), weights=None, classes=3, dropout_rate=0.2),
            ("h5", "savedmodel")),
        "densenet121": (tk.applications.DenseNet121(input_shape=(32, 32, 3), weights=None,
                                                   classes=3), ("h5",)),
        "regnetx002": (tk.applications.RegNetX002(input_shape=(32, 32, 3), weights=None,
                                                 classes=3), ("h5", "keras")),
    }
    for name, (model, formats) in models.items():
        want = model.predict(X, verbose=0)
        for fmt in formats:
            path = out / (f"{name}_sm" if fmt == "savedmodel" else f"{name}.{fmt}")
            model.save(str(path), save_format="tf" if fmt == "savedmodel" else None)
            made[f"{name}.{fmt}"] = (path, want)
    inp = tk.Input((4,))
    summed = tf.math.reduce_sum(tk.layers.Dense(4)(inp), axis=-1, keepdims=True)
    tk.Model(inp, summed).save(str(out / "reduce_sum.h5"))
    made["reduce_sum.h5"] = (out / "reduce_sum.h5", np.zeros(0))
    return made


CASES = ["transfer.h5", "transfer.keras", "transfer.savedmodel", "mobilenetv3small.h5",
         "mobilenetv3small.savedmodel", "densenet121.h5", "regnetx002.h5", "regnetx002.keras"]


@pytest.mark.parametrize("case", CASES)
def test_tfkeras_file_runs_as_tfkeras_ran_it(case: str, tfkeras_files) -> None:
    path, want = tfkeras_files[case]
    from dropctl.runtime.loader import load

    loaded = load(path)
    got = loaded.model.predict(X, verbose=0)
    # Rescaling(1/127.5) for x / 127.5 is one float32 rounding from tf.math.truediv.
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    actions = " | ".join(r.action for r in loaded.rescues)
    if case.startswith("transfer"):
        assert "'rng_type' dropped" in actions and "TFOpLambda tf.math.truediv rebuilt" in actions
    if case.startswith(("mobilenetv3small", "densenet121")):
        assert "with '/' renamed" in actions
    if case.startswith("regnetx002"):
        assert "TFOpLambda tf.__operators__.add rebuilt as Add" in actions


@pytest.mark.parametrize("case", ["transfer.h5", "mobilenetv3small.h5"])
def test_tfkeras_dropout_is_switched_by_mc_predict(case: str, tfkeras_files) -> None:
    path, _ = tfkeras_files[case]
    static = dropctl.inspect(path, include_layers=False)
    result = dropctl.mc_predict(path, X, samples=8, seed=0)
    assert {s.path for s in static.sites} == {s.path for s in result.sites}
    assert any(s.class_name == "Dropout" for s in result.sites)
    if case.startswith("transfer"):  # the untrained MobileNetV3 head gives equal logits
        assert result.outputs[0].std.max() > 0


def test_unknown_tfoplambda_is_one_line_naming_the_op(tfkeras_files) -> None:
    from dropctl.runtime.loader import load

    path, _ = tfkeras_files["reduce_sum.h5"]
    with pytest.raises(UnsupportedModelError) as info:
        load(path)
    message = str(info.value)
    assert "TFOpLambda calling tf.math.reduce_sum" in message and "\n" not in message
