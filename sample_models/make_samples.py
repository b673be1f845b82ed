"""(Re)generate dropctl's bundled sample model artifacts and their measured ground truth.

Run from the repository root::

    python sample_models/make_samples.py

What it does, in order:

1. ``--keras3`` subprocess: builds the Keras 3 models and saves each as ``.keras`` and, where the
   artifact list says so, as legacy ``.h5`` (Keras 3's own h5 writer, ``model.save("x.h5")``).
2. ``--tfkeras`` subprocess: builds the tf-keras (Keras 2 API) models and saves them as ``.h5``.
   ``--trained`` subprocess: trains the two small models with MEANING for the uncertainty
   evaluation (``mc-predict --labels --ood``) on data sets that ship inside scikit-learn, and
   writes their held-out inputs, labels and OOD inputs as small ``.npy`` files (see TRAINED).
3. In this (parent) process, with h5py only: writes the hand-made Keras 1-style ``.json``/``.h5``
   (no Keras 1 exists to produce them; they are for the static reader).
4. Checks that every expected site path resolves in the saved config with the expected class and
   parameters (a typo in the hand-written ground truth fails the run instead of shipping).
5. ``--measure keras3`` and ``--measure tfkeras`` subprocesses: load every artifact and RUN it to
   record whether ``predict()`` / ``model(x)`` / ``model(x, training=False|True)`` are
   deterministic. The manifest holds what was observed, not what we believe.
6. Writes ``MANIFEST.json`` and ``README.md`` next to this script.

Keras 3 and tf-keras are never imported in the same process (mixing them is fragile), and the
parent imports neither. Models are not trained (weights come from seeded initialisers),
except ``digits`` and ``diabetes``, trained with fixed seeds and TensorFlow op determinism.
Layer and model names are all given explicitly so configs do not depend on Keras' global name counters.
Running the script twice gives identical configs and weights, with one exception Keras itself
introduces: ``.keras`` config.json stores ``shared_object_id`` (a Python ``id()`` of the shared
dtype policy), and ``metadata.json`` a save date. The ``.h5`` files came out byte-identical.

``--only STEM[,STEM...]`` rebuilds just those artifacts and re-measures everything; the other
files are left as they are (their build facts are read back from the existing manifest).

Site paths in the manifest are layer names below the outermost model, "/"-joined, with wrappers
and nested models included (``time_distributed/dropout``, ``bidirectional/forward_lstm``,
``model_A/dropout``). The outermost model's own name is recorded as ``model_name``; dropctl's
site paths start with it (``model_AB/model_A/dropout``), so they are ``model_name + "/" + path``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 1234
BATCH = 16
VOCAB = 200  # Embedding input_dim of the LSTM model; integer test inputs are drawn below it.
RESULT_MARKER = "@@MAKE_SAMPLES_RESULT@@"

# ---------------------------------------------------------------------------------------------
# Ground truth that does not need running: which stochastic sites each artifact has.
# ``sites`` maps path -> (class name as saved, parameters as saved). The keys under "params" are
# the config keys of the saved file ("p" for Keras 1, "rate" for Keras 2/3...). ``call_kwargs``
# is what the functional graph stores for that layer's call (the pinned training=True case).
# ---------------------------------------------------------------------------------------------

MLP_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.5}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.25}},
}
CNN_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.25}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.25}},
    "dropout_2": {"class_name": "Dropout", "params": {"rate": 0.5}},
}
FROZEN_SITES = {
    "model_A/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "model_B/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
}
PINNED_SITES = {
    "dropout": {
        "class_name": "Dropout",
        "params": {"rate": 0.5},
        "call_kwargs": {"training": True},
    },
}
FAMILY_SITES = {
    "spatial_dropout1d": {"class_name": "SpatialDropout1D", "params": {"rate": 0.1}},
    "gaussian_dropout": {"class_name": "GaussianDropout", "params": {"rate": 0.1}},
    "gaussian_noise": {"class_name": "GaussianNoise", "params": {"stddev": 0.05}},
    "alpha_dropout": {"class_name": "AlphaDropout", "params": {"rate": 0.1}},
    "bidirectional/forward_lstm": {
        "class_name": "LSTM",
        "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
    },
    "bidirectional/backward_lstm": {
        "class_name": "LSTM",
        "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
    },
    "gru": {"class_name": "GRU", "params": {"dropout": 0.2, "recurrent_dropout": 0.0}},
    "multi_head_attention": {"class_name": "MultiHeadAttention", "params": {"dropout": 0.1}},
    "time_distributed/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "spatial_dropout2d": {"class_name": "SpatialDropout2D", "params": {"rate": 0.2}},
}
BN_SITES = {"dropout": {"class_name": "Dropout", "params": {"rate": 0.4}}}
LAMBDA_SITES = {
    # The closure of PermaDropout(0.3) holds the rate as plain JSON.
    "lambda": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
}
KERAS1_SITES = {"dropout_1": {"class_name": "Dropout", "params": {"p": 0.5}}}
DIGITS_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.3}},
}
DIABETES_SITES = {
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "dropout_1": {"class_name": "Dropout", "params": {"rate": 0.2}},
}

# The trained samples: scikit-learn's bundled 8x8 digits (classes 0-7 in distribution, 8 and 9
# held back as out-of-distribution) and its bundled diabetes regression set.
DIGITS_IN_CLASSES = 8
# Digits is easy (98% held-out accuracy from 70% of the data): a model trained on a quarter of
# it makes enough mistakes for the risk-coverage curves to say something.
DIGITS_TEST_SHARE = 0.75
DIABETES_TEST_SHARE = 0.3
TRAINED = {
    "digits": {
        "inputs": "digits_inputs.npy",
        "labels": "digits_labels.npy",
        "ood": "digits_ood.npy",
    },
    "diabetes": {"inputs": "diabetes_inputs.npy", "labels": "diabetes_labels.npy"},
}

# One entry per artifact stem. ``files`` lists the files written for it; ``shows`` is the
# short README line, ``description`` the longer manifest text.
ARTIFACTS: list[dict[str, Any]] = [
    {
        "stem": "mlp",
        "shows": "plain Dropout in a Sequential MLP",
        "files": ["mlp.keras", "mlp.h5"],
        "saved_by": "keras3",
        "model_name": "mlp",
        "description": "Sequential MLP 20 -> Dense(32, relu) -> Dropout(0.5) -> Dense(16) -> "
        "Dropout(0.25) -> Dense(3, softmax).",
        "sites": MLP_SITES,
    },
    {
        "stem": "cnn",
        "shows": "classic MNIST CNN, three Dropout layers",
        "files": ["cnn.keras", "cnn.h5"],
        "saved_by": "keras3",
        "model_name": "cnn",
        "description": "Classic MNIST CNN (Sequential, 28x28x1) with exactly three Dropout "
        "layers (0.25, 0.25, 0.5).",
        "sites": CNN_SITES,
    },
    {
        "stem": "lstm_permadropout_tfkeras",
        "shows": "always-on Lambda PermaDropout(0.3) (bytecode; LSTM has time_major)",
        "files": ["lstm_permadropout_tfkeras.h5"],
        "saved_by": "tf_keras",
        "model_name": "lstm_permadropout",
        "description": "tf-keras functional text model: 12 int tokens -> Embedding(200, 16) -> "
        "LSTM(16) -> Lambda PermaDropout(0.3) (K.dropout, always on) -> Dense(1, sigmoid). "
        "The LSTM config carries time_major, which Keras 3 refuses; the Lambda holds bytecode.",
        "sites": LAMBDA_SITES,
    },
    {
        "stem": "frozen_merged",
        "shows": "Dropout inside frozen nested models (still acts in training)",
        "files": ["frozen_merged.keras", "frozen_merged.h5"],
        "saved_by": "keras3",
        "model_name": "model_AB",
        "description": "Outer functional model_AB: shared Input(8) -> frozen sub-models model_A "
        "and model_B (each Dense(16) -> Dropout(0.3) -> Dense(8), trainable=False) -> "
        "Concatenate -> trainable Dense(4) head. Frozen dropout still acts in training.",
        "sites": FROZEN_SITES,
    },
    {
        "stem": "pinned_training",
        "shows": "`Dropout(0.5)(x, training=True)` saved by Keras 3",
        "files": ["pinned_training.keras"],
        "saved_by": "keras3",
        "model_name": "pinned_training",
        "description": "Functional Input(10) -> Dense(16) -> Dropout(0.5)(x, training=True) -> "
        "Dense(2), saved by Keras 3.",
        "sites": PINNED_SITES,
    },
    {
        "stem": "pinned_training_tfkeras",
        "shows": "`Dropout(0.5)(x, training=True)` saved by tf-keras",
        "files": ["pinned_training_tfkeras.h5"],
        "saved_by": "tf_keras",
        "model_name": "pinned_training",
        "description": "Functional Input(10) -> Dense(16) -> Dropout(0.5)(x, training=True) -> "
        "Dense(2), saved by tf-keras (Keras 2 API).",
        "sites": PINNED_SITES,
    },
    {
        "stem": "family",
        "shows": "every dropout-family layer, wrappers, RNN, attention",
        "files": ["family.keras", "family.h5"],
        "saved_by": "keras3",
        "model_name": "family",
        "description": "Two-input functional model with the whole dropout family: "
        "SpatialDropout1D, GaussianDropout, GaussianNoise, AlphaDropout, "
        "Bidirectional(LSTM(dropout=0.2, recurrent_dropout=0.1)), GRU(dropout=0.2), "
        "MultiHeadAttention(dropout=0.1), TimeDistributed(Dropout(0.2)) on the 'sequence' "
        "input (6x8) and SpatialDropout2D(0.2) on the 'image' input (8x8x3).",
        "sites": FAMILY_SITES,
    },
    {
        "stem": "bn_dropout",
        "shows": "BatchNormalization + Dropout (MC-dropout trap)",
        "files": ["bn_dropout.keras", "bn_dropout.h5"],
        "saved_by": "keras3",
        "model_name": "bn_dropout",
        "description": "Functional Input(12) -> Dense(16) -> BatchNormalization -> Dropout(0.4) "
        "-> Dense(2): training=True also switches BN to batch statistics.",
        "sites": BN_SITES,
    },
    {
        "stem": "no_dropout",
        "shows": "negative control, nothing stochastic",
        "files": ["no_dropout.keras", "no_dropout.h5"],
        "saved_by": "keras3",
        "model_name": "no_dropout",
        "description": "Negative control: Input(6) -> Dense(8) -> Dense(1), nothing stochastic.",
        "sites": {},
    },
    {
        "stem": "digits",
        "shows": "trained 8x8-digit classifier (classes 0-7; 8 and 9 are OOD)",
        "files": ["digits.keras"],
        "saved_by": "keras3_trained",
        "model_name": "digits",
        "description": "scikit-learn's bundled 8x8 digits, trained on classes 0-7 (25% of them, "
        "seeded split): Input(64) raw pixel values 0..16 -> Rescaling(1/16) -> Dense(64, relu) -> "
        "Dropout(0.3) -> Dense(32, relu) -> Dropout(0.3) -> Dense(8, softmax). Held-out inputs "
        "and labels in digits_inputs.npy / digits_labels.npy (uint8 pixels, int64 labels); "
        "every 8 and 9 in digits_ood.npy.",
        "sites": DIGITS_SITES,
    },
    {
        "stem": "diabetes",
        "shows": "trained regressor on scikit-learn's diabetes data (10 features)",
        "files": ["diabetes.keras"],
        "saved_by": "keras3_trained",
        "model_name": "diabetes",
        "description": "scikit-learn's bundled diabetes regression set (442 patients, 10 "
        "standardised features, disease progression 25..346), trained on 70% (seeded split): "
        "Input(10) -> Dense(64, relu) -> Dropout(0.2) -> Dense(64, relu) -> Dropout(0.2) -> "
        "Dense(1) -> Rescaling back to the target's units. Held-out inputs and targets in "
        "diabetes_inputs.npy / diabetes_labels.npy (float32).",
        "sites": DIABETES_SITES,
    },
    {
        "stem": "keras1_style",
        "shows": "hand-written Keras 1 config (`p`, `output_dim`, list-form Sequential)",
        "files": ["keras1_style.json", "keras1_style.h5"],
        "saved_by": "hand",
        "model_name": None,  # Keras 1 list-form Sequential configs carry no model name.
        "description": "Hand-written Keras 1.2.2-style list-form Sequential (Dense output_dim/"
        "input_dim/init, Dropout p=0.5); the .h5 has Keras 1 weight names (dense_1_W). No "
        "Keras can load it; it exists for the static reader.",
        "sites": KERAS1_SITES,
    },
]


# ---- the tf.keras corpus (sample_models/tfkeras/): legacy patterns the loader must rebuild ----
# Each is saved by tf.keras 2.x twice, as .h5 and as tf.keras' own .keras zip. The builder also
# records what tf.keras computed (``reference``: a digest of every weight tensor and predict()
# on the fixed measurement batch), so tests can prove Keras 3 rebuilt the same model bit for bit.
TFKERAS_DIR = "tfkeras"
TFK_NESTED_SITES = {
    "encoder/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "model_B/dropout": {"class_name": "Dropout", "params": {"rate": 0.3}},
    "head_dropout": {"class_name": "Dropout", "params": {"rate": 0.5}},
}
TFK_TRANSFER_SITES = {"dropout": {"class_name": "Dropout", "params": {"rate": 0.3}}}
TFK_LSTM_SITES = {
    "lstm": {"class_name": "LSTM", "params": {"dropout": 0.2, "recurrent_dropout": 0.1}},
    "dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
}
TFK_CONVS_SITES = {
    "spatial_dropout1d": {"class_name": "SpatialDropout1D", "params": {"rate": 0.2}},
    "spatial_dropout2d": {"class_name": "SpatialDropout2D", "params": {"rate": 0.2}},
    "gaussian_noise": {"class_name": "GaussianNoise", "params": {"stddev": 0.1}},
    "gaussian_dropout": {"class_name": "GaussianDropout", "params": {"rate": 0.1}},
    "alpha_dropout": {"class_name": "AlphaDropout", "params": {"rate": 0.1}},
}
TFK_TEXT_SITES = {
    # Stored once in the Keras 2 config; dropctl names both directions Keras builds from it.
    "bidirectional/lstm": {"class_name": "LSTM", "params": {"dropout": 0.2, "recurrent_dropout": 0.1},
                           "dropctl_paths": ["bidirectional/forward_lstm",
                                             "bidirectional/backward_lstm"]},
    "time_distributed/dropout": {"class_name": "Dropout", "params": {"rate": 0.2}},
    "multi_head_attention": {"class_name": "MultiHeadAttention", "params": {"dropout": 0.1}},
    "gru": {"class_name": "GRU", "params": {"dropout": 0.2}},
    "simple_rnn": {"class_name": "SimpleRNN", "params": {"dropout": 0.1}},
}


def _tfk(stem: str, model_name: str, shows: str, description: str, sites: dict[str, Any]) -> dict[str, Any]:
    return {
        "stem": f"tfk_{stem}",
        "shows": shows,
        "files": [f"{TFKERAS_DIR}/{stem}.h5", f"{TFKERAS_DIR}/{stem}.keras"],
        "saved_by": "tf_keras",
        "model_name": model_name,
        "description": description,
        "sites": sites,
    }


TFKERAS_CORPUS: list[dict[str, Any]] = [
    _tfk("nested", "nested",
         "tf.keras nested models: shared Sequential, frozen sub-model called with training=False",
         "Two inputs a, b (8) -> one Sequential 'encoder' (Dense(8, input_shape) -> Dropout(0.2)) "
         "shared by both; a frozen functional 'model_B' (Dense -> BatchNormalization -> "
         "Dropout(0.3)) called with training=False; Concatenate -> Dropout(0.5) -> Dense(2, softmax).",
         TFK_NESTED_SITES),
    _tfk("transfer", "transfer", "tf.keras frozen keras.applications base (MobileNet) + Dropout head",
         "keras.applications.MobileNet(alpha=0.25, 32x32x3, include_top=False, weights=None), "
         "trainable=False, called with training=False (DepthwiseConv2D, BatchNormalization), "
         "GlobalAveragePooling2D -> Dropout(0.3) -> Dense(5, softmax).",
         TFK_TRANSFER_SITES),
    _tfk("lstm", "lstm_seq", "tf.keras Sequential LSTM with input_shape= (batch_input_shape, time_major)",
         "Sequential LSTM(8, input_shape=(10, 4), dropout=0.2, recurrent_dropout=0.1) -> "
         "Dropout(0.2) -> Dense(1): the config carries batch_input_shape and time_major.",
         TFK_LSTM_SITES),
    _tfk("convs", "convs",
         "tf.keras Conv1D/Conv2D/SeparableConv2D/DepthwiseConv2D, BN, SpatialDropout, noise",
         "Two inputs: signal (16x3) -> Conv1D -> SpatialDropout1D(0.2) -> BatchNormalization -> "
         "GlobalMaxPooling1D; image (12x12x3) -> Conv2D -> SeparableConv2D -> DepthwiseConv2D -> "
         "BatchNormalization -> SpatialDropout2D(0.2) -> GlobalAveragePooling2D; Add -> "
         "GaussianNoise(0.1) -> GaussianDropout(0.1) -> AlphaDropout(0.1) -> Dense(3, softmax).",
         TFK_CONVS_SITES),
    _tfk("text", "text",
         "tf.keras Embedding(mask_zero), Bidirectional/TimeDistributed, attention, GRU, Masking",
         "Two inputs: tokens (10 ints) -> Embedding(200, 8, mask_zero=True) -> "
         "Bidirectional(LSTM(4, dropout=0.2, recurrent_dropout=0.1)) -> TimeDistributed(Dropout(0.2)) "
         "-> TimeDistributed(Dense(4)) -> MultiHeadAttention(2, 4, dropout=0.1) -> GRU(4, dropout=0.2); "
         "series (5x3) -> Masking -> SimpleRNN(4, dropout=0.1); Concatenate -> Dense(2, softmax).",
         TFK_TEXT_SITES),
]
ARTIFACTS.extend(TFKERAS_CORPUS)


# =============================================================================================
# Keras 3 builders (run only inside the ``--keras3`` subprocess)
# =============================================================================================


def _build_keras3(only: set[str] | None = None) -> dict[str, Any]:
    import keras
    from keras import layers

    def seeded() -> None:
        # Reseed before every model so each model's weights do not depend on build order.
        keras.utils.set_random_seed(SEED)

    def mlp() -> keras.Model:
        return keras.Sequential(
            [
                keras.Input((20,), name="features"),
                layers.Dense(32, activation="relu", name="dense"),
                layers.Dropout(0.5, name="dropout"),
                layers.Dense(16, name="dense_1"),
                layers.Dropout(0.25, name="dropout_1"),
                layers.Dense(3, activation="softmax", name="dense_2"),
            ],
            name="mlp",
        )

    def cnn() -> keras.Model:
        return keras.Sequential(
            [
                keras.Input((28, 28, 1), name="image"),
                layers.Conv2D(8, 3, activation="relu", name="conv2d"),
                layers.MaxPooling2D(name="max_pooling2d"),
                layers.Dropout(0.25, name="dropout"),
                layers.Conv2D(16, 3, activation="relu", name="conv2d_1"),
                layers.MaxPooling2D(name="max_pooling2d_1"),
                layers.Dropout(0.25, name="dropout_1"),
                layers.Flatten(name="flatten"),
                layers.Dense(32, activation="relu", name="dense"),
                layers.Dropout(0.5, name="dropout_2"),
                layers.Dense(10, activation="softmax", name="dense_1"),
            ],
            name="cnn",
        )

    def frozen_merged() -> keras.Model:
        def sub(name: str) -> keras.Model:
            inp = keras.Input((8,), name=f"{name}_input")
            x = layers.Dense(16, name="dense")(inp)
            # Same inner name in both sub-models on purpose: names only need to be unique
            # within one model, so paths (model_A/dropout, model_B/dropout) disambiguate.
            x = layers.Dropout(0.3, name="dropout")(x)
            out = layers.Dense(8, name="dense_1")(x)
            m = keras.Model(inp, out, name=name)
            m.trainable = False
            return m

        model_a, model_b = sub("model_A"), sub("model_B")
        inp = keras.Input((8,), name="features")
        merged = layers.Concatenate(name="concatenate")([model_a(inp), model_b(inp)])
        out = layers.Dense(4, name="head")(merged)
        return keras.Model(inp, out, name="model_AB")

    def pinned() -> keras.Model:
        inp = keras.Input((10,), name="features")
        x = layers.Dense(16, name="dense")(inp)
        # training=True is stored in this node's call kwargs: the "pinned" dropout.
        x = layers.Dropout(0.5, name="dropout")(x, training=True)
        out = layers.Dense(2, name="dense_1")(x)
        return keras.Model(inp, out, name="pinned_training")

    def family() -> keras.Model:
        seq = keras.Input((6, 8), name="sequence")
        img = keras.Input((8, 8, 3), name="image")
        x = layers.SpatialDropout1D(0.1, name="spatial_dropout1d")(seq)
        x = layers.GaussianDropout(0.1, name="gaussian_dropout")(x)
        x = layers.GaussianNoise(0.05, name="gaussian_noise")(x)
        x = layers.AlphaDropout(0.1, name="alpha_dropout")(x)
        x = layers.Bidirectional(
            layers.LSTM(4, dropout=0.2, recurrent_dropout=0.1, return_sequences=True, name="lstm"),
            name="bidirectional",
        )(x)
        x = layers.GRU(8, dropout=0.2, return_sequences=True, name="gru")(x)
        x = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1, name="multi_head_attention")(x, x)
        x = layers.TimeDistributed(layers.Dropout(0.2, name="dropout"), name="time_distributed")(x)
        x = layers.GlobalAveragePooling1D(name="global_average_pooling1d")(x)
        y = layers.SpatialDropout2D(0.2, name="spatial_dropout2d")(img)
        y = layers.Conv2D(4, 3, name="conv2d")(y)
        y = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(y)
        z = layers.Concatenate(name="concatenate")([x, y])
        out = layers.Dense(3, activation="softmax", name="dense")(z)
        return keras.Model([seq, img], out, name="family")

    def bn_dropout() -> keras.Model:
        inp = keras.Input((12,), name="features")
        x = layers.Dense(16, name="dense")(inp)
        x = layers.BatchNormalization(name="batch_normalization")(x)
        x = layers.Dropout(0.4, name="dropout")(x)
        out = layers.Dense(2, name="dense_1")(x)
        return keras.Model(inp, out, name="bn_dropout")

    def no_dropout() -> keras.Model:
        inp = keras.Input((6,), name="features")
        x = layers.Dense(8, name="dense")(inp)
        out = layers.Dense(1, name="dense_1")(x)
        return keras.Model(inp, out, name="no_dropout")

    builders = {
        "mlp": (mlp, "categorical_crossentropy"),
        "cnn": (cnn, "categorical_crossentropy"),
        "frozen_merged": (frozen_merged, "mean_squared_error"),
        "pinned_training": (pinned, "mean_squared_error"),
        "family": (family, "categorical_crossentropy"),
        "bn_dropout": (bn_dropout, "mean_squared_error"),
        "no_dropout": (no_dropout, "mean_squared_error"),
    }
    wanted = {a["stem"]: a["files"] for a in ARTIFACTS if a["saved_by"] == "keras3"}
    out: dict[str, Any] = {}
    for stem, (build, loss) in builders.items():
        if only is not None and stem not in only:
            continue
        seeded()
        model = build()
        # Compiled (never fitted) so compile_config / training_config are in the files.
        # Loss names are spelled out: the alias "mse" in an .h5 training_config makes Keras
        # 3.15.1's load_model fail ("Could not deserialize 'keras.metrics.mse'"), which would
        # hide every dropout fact behind an unrelated compile error.
        model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss=loss)
        info = {"inputs": _inputs_of(model), "model_name": model.name, "save_errors": {}}
        for fname in wanted[stem]:
            try:
                model.save(str(HERE / fname))
            except Exception as exc:  # recorded, not fatal: "can Keras 3 save it" is a fact
                info["save_errors"][fname] = _first_line(exc)
        out[stem] = info
    return out


def _split(n: int, rng: Any, test_share: float) -> tuple[Any, Any]:
    """Seeded train/test index split (``test_share`` held out)."""
    order = rng.permutation(n)
    cut = int(round(n * test_share))
    return order[cut:], order[:cut]


def _build_trained(only: set[str] | None) -> dict[str, Any]:
    """Train ``digits`` and ``diabetes`` (fixed seeds, op determinism) and save their data."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers
    from sklearn.datasets import load_diabetes, load_digits

    tf.config.experimental.enable_op_determinism()
    out: dict[str, Any] = {}

    if only is None or "digits" in only:
        keras.utils.set_random_seed(SEED)
        digits = load_digits()
        x_all = digits.data.astype(np.uint8)  # pixel counts 0..16
        y_all = digits.target.astype(np.int64)
        inside = y_all < DIGITS_IN_CLASSES
        x_in, y_in = x_all[inside], y_all[inside]
        train, test = _split(len(y_in), np.random.default_rng(SEED), DIGITS_TEST_SHARE)
        model = keras.Sequential(
            [
                keras.Input((64,), name="pixels"),
                layers.Rescaling(1 / 16, name="rescaling"),
                layers.Dense(64, activation="relu", name="dense"),
                layers.Dropout(0.3, name="dropout"),
                layers.Dense(32, activation="relu", name="dense_1"),
                layers.Dropout(0.3, name="dropout_1"),
                layers.Dense(DIGITS_IN_CLASSES, activation="softmax", name="probabilities"),
            ],
            name="digits",
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-3, name="adam"),
                      loss="sparse_categorical_crossentropy")
        model.fit(x_in[train].astype(np.float32), y_in[train], epochs=60, batch_size=32,
                  shuffle=True, verbose=0)
        model.save(str(HERE / "digits.keras"))
        np.save(HERE / TRAINED["digits"]["inputs"], x_in[test])
        np.save(HERE / TRAINED["digits"]["labels"], y_in[test])
        np.save(HERE / TRAINED["digits"]["ood"], x_all[~inside])
        p = model.predict(x_in[test].astype(np.float32), verbose=0)
        out["digits"] = {
            "inputs": _inputs_of(model), "model_name": model.name, "save_errors": {},
            "training": {
                "data": "sklearn.datasets.load_digits",
                "train": int(len(train)), "test": int(len(test)), "ood": int((~inside).sum()),
                "epochs": 60,
                "test_accuracy_deterministic": round(float(np.mean(p.argmax(1) == y_in[test])), 4),
            },
        }

    if only is None or "diabetes" in only:
        keras.utils.set_random_seed(SEED)
        data = load_diabetes()
        x = data.data.astype(np.float32)
        y = data.target.astype(np.float32)
        train, test = _split(len(y), np.random.default_rng(SEED + 1), DIABETES_TEST_SHARE)
        mu, sd = float(y[train].mean()), float(y[train].std())
        model = keras.Sequential(
            [
                keras.Input((10,), name="features"),
                layers.Dense(64, activation="relu", name="dense"),
                layers.Dropout(0.2, name="dropout"),
                layers.Dense(64, activation="relu", name="dense_1"),
                layers.Dropout(0.2, name="dropout_1"),
                layers.Dense(1, name="dense_2"),
                # Trained on the standardised target; this puts predictions back in its units.
                layers.Rescaling(round(sd, 4), offset=round(mu, 4), name="progression"),
            ],
            name="diabetes",
        )
        model.compile(optimizer=keras.optimizers.Adam(3e-3, name="adam"),
                      loss="mean_squared_error")
        # Targets stay in their own units: with the Rescaling last, the loss is sd^2 times the
        # standardised one, which Adam's per-parameter scaling does not notice.
        model.fit(x[train], y[train], epochs=50, batch_size=32, shuffle=True, verbose=0)
        model.save(str(HERE / "diabetes.keras"))
        np.save(HERE / TRAINED["diabetes"]["inputs"], x[test])
        np.save(HERE / TRAINED["diabetes"]["labels"], y[test])
        pred = model.predict(x[test], verbose=0)[:, 0]
        out["diabetes"] = {
            "inputs": _inputs_of(model), "model_name": model.name, "save_errors": {},
            "training": {
                "data": "sklearn.datasets.load_diabetes",
                "train": int(len(train)), "test": int(len(test)), "epochs": 50,
                "test_rmse_deterministic": round(float(np.sqrt(np.mean((pred - y[test]) ** 2))), 3),
                "target_std_train": round(sd, 3),
            },
        }
    return out


# =============================================================================================
# tf-keras (Keras 2 API) builders (run only inside the ``--tfkeras`` subprocess)
# =============================================================================================

# The forum recipe looks ``K`` up as a module global when the lambda runs. It is bound to
# tf_keras.backend inside the tf-keras subprocess only, so the lambda's closure holds just the
# rate ([0.3]) and not a module object (which could not be serialised).
K: Any = None


def PermaDropout(rate: float) -> Any:  # noqa: N802 - the recipe's own name
    """The classic always-on dropout recipe: ``Lambda(lambda x: K.dropout(x, level=rate))``."""
    from tf_keras.layers import Lambda

    return Lambda(lambda x: K.dropout(x, level=rate))


def _build_tfkeras() -> dict[str, Any]:
    global K
    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import backend, layers

    K = backend

    def seeded() -> None:
        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)

    out: dict[str, Any] = {}

    seeded()
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    x = layers.Embedding(VOCAB, 16, name="embedding")(tokens)
    x = layers.LSTM(16, name="lstm")(x)
    perma = PermaDropout(0.3)  # auto-named "lambda" (fresh process, first Lambda)
    # The marshalled lambda records its code object's file name, which Python makes absolute;
    # a repo-relative name keeps the artifact independent of where the repo is checked out.
    perma.function.__code__ = perma.function.__code__.replace(co_filename="sample_models/make_samples.py")
    x = perma(x)
    y = layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(tokens, y, name="lstm_permadropout")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="binary_crossentropy")
    model.save(str(HERE / "lstm_permadropout_tfkeras.h5"))
    out["lstm_permadropout_tfkeras"] = {"inputs": _inputs_of(model), "model_name": model.name}

    seeded()
    inp = keras.Input((10,), name="features")
    x = layers.Dense(16, name="dense")(inp)
    x = layers.Dropout(0.5, name="dropout")(x, training=True)
    y = layers.Dense(2, name="dense_1")(x)
    model = keras.Model(inp, y, name="pinned_training")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="mean_squared_error")
    model.save(str(HERE / "pinned_training_tfkeras.h5"))
    out["pinned_training_tfkeras"] = {"inputs": _inputs_of(model), "model_name": model.name}
    return out


# =============================================================================================
# Other artifact forms: SavedModel, keras_hub presets and classes, weights + config pairs.
# Generated on their own (``--formats``) so the files above stay byte-identical.
# =============================================================================================

SEED_SM_SITES = {
    "lambda": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
    "lambda_1": {"class_name": "Lambda", "params": {"function_type": "lambda"}, "closure": [0.3]},
}
def _transformer_sites(prefix: str, attention: str, attention_class: str, rate: float
                       ) -> dict[str, Any]:
    return {
        f"{prefix}/{attention}": {"class_name": attention_class, "params": {"dropout": rate}},
        f"{prefix}/self_attention_dropout": {"class_name": "Dropout", "params": {"rate": rate}},
        f"{prefix}/feedforward_dropout": {"class_name": "Dropout", "params": {"rate": rate}},
    }


# keras_hub backbones: the Dropout layers their constructors create (paths as in
# _flatten_layers(); the attention layers' own inner Dropout is the attention site).
BERT_SITES = {"embeddings_dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
              **_transformer_sites("transformer_layer_0", "self_attention_layer",
                                   "MultiHeadAttention", 0.1),
              **_transformer_sites("transformer_layer_1", "self_attention_layer",
                                   "MultiHeadAttention", 0.1)}
GPT2_SITES = {"embeddings_dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
              **_transformer_sites("transformer_layer_0", "self_attention",
                                   "CachedMultiHeadAttention", 0.1),
              **_transformer_sites("transformer_layer_1", "self_attention",
                                   "CachedMultiHeadAttention", 0.1)}
VIT_SITES = {
    **{k: v for i in (1, 2) for k, v in {
        f"vit_encoder/transformer_block_{i}/mha": {"class_name": "MultiHeadAttention",
                                                   "params": {"dropout": 0.05}},
        f"vit_encoder/transformer_block_{i}/dropout": {"class_name": "Dropout",
                                                       "params": {"rate": 0.1}},
        f"vit_encoder/transformer_block_{i}/mlp/dropout": {"class_name": "Dropout",
                                                           "params": {"rate": 0.1}},
    }.items()},
    "vit_encoder/dropout": {"class_name": "Dropout", "params": {"rate": 0.1}},
}
FORMAT_ARTIFACTS: list[dict[str, Any]] = [
    {
        "stem": "seed_lstm_savedmodel",
        "shows": "the seed case as a TF SavedModel: two Lambda PermaDropout(0.3)",
        "files": ["seed_lstm_savedmodel"],
        "saved_by": "tf_keras",
        "model_name": "seed_lstm",
        "description": "tf-keras Sequential text model saved with model.save(dir) (SavedModel): "
        "12 int tokens -> Embedding(200, 16) -> LSTM(16) -> Lambda PermaDropout(0.3) -> "
        "Dense(8, relu) -> Lambda PermaDropout(0.3) -> Dense(1, sigmoid).",
        "sites": SEED_SM_SITES,
    },
    {
        "stem": "bert_tiny_preset",
        "shows": "keras_hub preset directory: tiny BertBackbone(dropout=0.1)",
        "files": ["bert_tiny_preset"],
        "saved_by": "keras3",
        "model_name": "bert_backbone",
        "description": "keras_hub BertBackbone(vocabulary_size=100, num_layers=2, num_heads=2, "
        "hidden_dim=8, intermediate_dim=16, dropout=0.1, max_sequence_length=16), "
        "save_to_preset(dir): config.json, metadata.json, model.weights.h5.",
        "sites": BERT_SITES,
    },
    {
        "stem": "gpt2_tiny",
        "shows": "keras_hub GPT2Backbone(dropout=0.1) inside a .keras file",
        "files": ["gpt2_tiny.keras"],
        "saved_by": "keras3",
        "model_name": "gpt2_backbone",
        "description": "keras_hub GPT2Backbone(vocabulary_size=100, num_layers=2, num_heads=2, "
        "hidden_dim=8, intermediate_dim=16, dropout=0.1, max_sequence_length=16), model.save().",
        "sites": GPT2_SITES,
    },
    {
        "stem": "vit_tiny",
        "shows": "keras_hub ViTBackbone (image) with dropout and attention dropout",
        "files": ["vit_tiny.keras"],
        "saved_by": "keras3",
        "model_name": "vit_backbone",
        "description": "keras_hub ViTBackbone(image_shape=(16, 16, 3), patch_size=8, "
        "num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16, dropout_rate=0.1, "
        "attention_dropout=0.05), model.save().",
        "sites": VIT_SITES,
    },
    {
        "stem": "mlp_pair",
        "shows": "model.json + model.weights.h5 side by side (save_weights)",
        "files": ["mlp_pair"],
        "saved_by": "keras3",
        "model_name": "mlp",
        "description": "The mlp sample as a directory: model.to_json() in model.json and "
        "model.save_weights() in model.weights.h5.",
        "sites": MLP_SITES,
    },
]


def _build_formats_tfkeras() -> dict[str, Any]:
    global K
    import shutil

    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import backend, layers

    K = backend
    keras.utils.set_random_seed(SEED)
    tf.random.set_seed(SEED)
    lambdas = [PermaDropout(0.3), PermaDropout(0.3)]
    for perma in lambdas:
        perma.function.__code__ = perma.function.__code__.replace(
            co_filename="sample_models/make_samples.py")
    model = keras.Sequential([
        keras.Input((12,), dtype="int32", name="tokens"),
        layers.Embedding(VOCAB, 16, name="embedding"),
        layers.LSTM(16, name="lstm"),
        lambdas[0],
        layers.Dense(8, activation="relu", name="dense"),
        lambdas[1],
        layers.Dense(1, activation="sigmoid", name="dense_1"),
    ], name="seed_lstm")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="binary_crossentropy")
    target = HERE / "seed_lstm_savedmodel"
    shutil.rmtree(target, ignore_errors=True)
    model.save(str(target))  # no extension: tf.keras 2.x writes a SavedModel directory
    return {"seed_lstm_savedmodel": {"inputs": _inputs_of(model), "model_name": model.name}}


def _build_formats_keras3() -> dict[str, Any]:
    import shutil

    import keras
    import keras_hub

    out: dict[str, Any] = {}
    keras.utils.set_random_seed(SEED)
    bert = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        dropout=0.1, max_sequence_length=16, name="bert_backbone")
    target = HERE / "bert_tiny_preset"
    shutil.rmtree(target, ignore_errors=True)
    bert.save_to_preset(str(target))
    out["bert_tiny_preset"] = {"inputs": _inputs_of(bert), "model_name": bert.name}
    keras.utils.set_random_seed(SEED)
    gpt2 = keras_hub.models.GPT2Backbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        dropout=0.1, max_sequence_length=16, name="gpt2_backbone")
    gpt2.save(str(HERE / "gpt2_tiny.keras"))
    out["gpt2_tiny"] = {"inputs": _inputs_of(gpt2), "model_name": gpt2.name}
    keras.utils.set_random_seed(SEED)
    vit = keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=8,
        mlp_dim=16, dropout_rate=0.1, attention_dropout=0.05, name="vit_backbone")
    vit.save(str(HERE / "vit_tiny.keras"))
    out["vit_tiny"] = {"inputs": _inputs_of(vit), "model_name": vit.name}
    mlp = keras.models.load_model(HERE / "mlp.keras")
    target = HERE / "mlp_pair"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    (target / "model.json").write_text(mlp.to_json())
    mlp.save_weights(str(target / "model.weights.h5"))
    out["mlp_pair"] = {"inputs": _inputs_of(mlp), "model_name": mlp.name}
    return out


def _measure_formats(flavour: str, manifest_in: dict[str, Any]) -> dict[str, Any]:
    """Run every new-format artifact the way its users would (the MANIFEST's measured facts)."""
    import numpy as np

    results: dict[str, Any] = {}
    if flavour == "tfkeras":
        import tensorflow as tf
        import tf_keras as keras
        from tf_keras import backend

        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)
        fname = "seed_lstm_savedmodel"
        # OUR OWN directory: loading it runs the stored lambda (acceptable only here).
        model = keras.models.load_model(str(HERE / fname), custom_objects={"K": backend},
                                        safe_mode=False)
        xs = _batch(manifest_in[fname]["inputs"])
        a, b = (model.predict(xs[0], batch_size=BATCH, verbose=0) for _ in range(2))
        results[fname] = {"tfkeras_loads": True,
                          "tfkeras_predict_deterministic": bool(np.array_equal(a, b))}
        return results
    import keras
    import keras_hub  # noqa: F401  registers the keras_hub classes

    keras.utils.set_random_seed(SEED)
    os.chdir(HERE)  # bare names keep error messages free of absolute paths
    for fname, entry in manifest_in.items():
        r: dict[str, Any] = {}
        path = Path(fname)
        try:
            if fname.endswith("_preset"):
                model = keras_hub.models.Backbone.from_preset(str(path))
            elif fname == "mlp_pair":
                model = keras.models.model_from_json((path / "model.json").read_text())
                model.load_weights(str(path / "model.weights.h5"))
            else:
                model = keras.models.load_model(path)
        except Exception as exc:
            r["keras3_loads"] = False
            r["keras3_load_error"] = _first_line(exc)
            results[fname] = r
            continue
        r["keras3_loads"] = True
        # Sequence models take any length: measure on 8 tokens.
        xs = _batch([{**spec, "shape": [None, *(8 if d is None else d for d in spec["shape"][1:])]}
                     for spec in entry["inputs"]])
        if fname.startswith(("bert", "gpt2")):
            xs = [np.ones_like(x) if "mask" in spec["name"] else
                  (x % 2 if "segment" in spec["name"] else x % 100)
                  for x, spec in zip(xs, entry["inputs"], strict=True)]
        x = xs[0] if len(xs) == 1 else {s["name"]: v for s, v in zip(entry["inputs"], xs,
                                                                       strict=True)}

        def run(m: Any = model, x: Any = x) -> Any:
            y = m.predict(x, batch_size=BATCH, verbose=0)
            return y if not isinstance(y, dict) else np.concatenate(
                [np.asarray(v).reshape(BATCH, -1) for _, v in sorted(y.items())], axis=1)

        def call(m: Any = model, x: Any = x) -> Any:
            y = m(x)
            return np.concatenate([np.asarray(v).reshape(BATCH, -1) for _, v in sorted(
                y.items())], axis=1) if isinstance(y, dict) else np.asarray(y)

        r["keras3_predict_deterministic"] = bool(np.array_equal(run(), run()))
        r["keras3_call_deterministic"] = bool(np.array_equal(call(), call()))
        # Sites measured on the built model: the Dropout-family layers it really holds.
        found = []
        for layer in model._flatten_layers(include_self=False, recursive=True):
            rate = getattr(layer, "rate", None)
            if isinstance(layer, keras.layers.Dropout) and rate:
                found.append(layer.name)
        r["keras3_dropout_layers"] = len(found)
        results[fname] = r
    return results


def main_formats() -> None:
    """Build and measure only FORMAT_ARTIFACTS, then merge them into MANIFEST.json/README.md."""
    info: dict[str, Any] = {}
    info.update(_run_child("--formats-build", "tfkeras"))
    info.update(_run_child("--formats-build", "keras3"))
    per_file: dict[str, dict[str, Any]] = {}
    for art in FORMAT_ARTIFACTS:
        built = info[art["stem"]]
        assert built["model_name"] == art["model_name"], (art["stem"], built["model_name"])
        fname = art["files"][0]
        per_file[fname] = {
            "file": fname, "saved_by": art["saved_by"], "description": art["description"],
            "shows": art["shows"], "model_name": art["model_name"], "inputs": built["inputs"],
            "expected_sites": list(art["sites"]), "site_details": art["sites"],
        }
    # Keras 3 is measured on every one (it cannot load a SavedModel: recorded as measured).
    stdin = json.dumps({f: {"inputs": e["inputs"]} for f, e in per_file.items()})
    measured = _run_child("--formats-measure", "keras3", stdin=stdin)
    stdin = json.dumps({"seed_lstm_savedmodel": {
        "inputs": per_file["seed_lstm_savedmodel"]["inputs"]}})
    measured_tk = _run_child("--formats-measure", "tfkeras", stdin=stdin)
    for fname, entry in per_file.items():
        entry["measured"] = {**measured.get(fname, {}), **measured_tk.get(fname, {})}
    manifest = json.loads((HERE / "MANIFEST.json").read_text())
    kept = [a for a in manifest["artifacts"] if a["file"] not in per_file]
    manifest["artifacts"] = kept + list(per_file.values())
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (HERE / "README.md").write_text(_readme(manifest))
    for fname in per_file:
        print(f"{fname:34s} measured {per_file[fname]['measured']}")
def _weights_digest(weights: list[Any]) -> str:
    """Order-free digest of every weight tensor (dtype, shape and bytes): equal digests mean the
    same tensors, bit for bit, whatever order a Keras version lists them in."""
    import hashlib

    import numpy as np

    parts = sorted(
        hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()
        for a in (np.ascontiguousarray(np.asarray(w)) for w in weights)
    )
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _build_tfkeras_corpus() -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import layers

    out_dir = HERE / TFKERAS_DIR
    out_dir.mkdir(exist_ok=True)

    def nested() -> Any:
        a = keras.Input((8,), name="a")
        b = keras.Input((8,), name="b")
        encoder = keras.Sequential([layers.Dense(8, input_shape=(8,), name="dense"),
                                    layers.Dropout(0.2, name="dropout")], name="encoder")
        inner = keras.Input((8,), name="model_B_input")
        x = layers.Dense(8, name="dense")(inner)
        x = layers.BatchNormalization(name="batch_normalization")(x)
        x = layers.Dropout(0.3, name="dropout")(x)
        model_b = keras.Model(inner, x, name="model_B")
        model_b.trainable = False
        x = layers.Concatenate(name="concatenate")([encoder(a), encoder(b), model_b(a, training=False)])
        x = layers.Dropout(0.5, name="head_dropout")(x)
        y = layers.Dense(2, activation="softmax", name="head")(x)
        return keras.Model([a, b], y, name="nested")

    def transfer() -> Any:
        base = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, include_top=False,
                                            weights=None)
        base.trainable = False
        # Untrained BatchNormalization (mean 0, variance 1, beta 0) drives every feature of
        # this tiny base to 0 after ReLU6, which would make the head see only zeros. Seeded
        # statistics give it non-trivial features (and BN in inference mode something to do).
        rng = np.random.default_rng(SEED)
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                gamma, beta, mean, var = layer.get_weights()
                layer.set_weights([gamma, rng.uniform(0.05, 0.3, beta.shape).astype("float32"),
                                   rng.normal(0.0, 0.1, mean.shape).astype("float32"),
                                   rng.uniform(0.5, 1.5, var.shape).astype("float32")])
        image = keras.Input((32, 32, 3), name="image")
        x = base(image, training=False)
        x = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(x)
        x = layers.Dropout(0.3, name="dropout")(x)
        y = layers.Dense(5, activation="softmax", name="head")(x)
        return keras.Model(image, y, name="transfer")

    def lstm() -> Any:
        return keras.Sequential([
            layers.LSTM(8, input_shape=(10, 4), dropout=0.2, recurrent_dropout=0.1, name="lstm"),
            layers.Dropout(0.2, name="dropout"),
            layers.Dense(1, name="dense"),
        ], name="lstm_seq")

    def convs() -> Any:
        signal = keras.Input((16, 3), name="signal")
        x = layers.Conv1D(4, 3, name="conv1d")(signal)
        x = layers.SpatialDropout1D(0.2, name="spatial_dropout1d")(x)
        x = layers.BatchNormalization(name="batch_normalization")(x)
        x = layers.GlobalMaxPooling1D(name="global_max_pooling1d")(x)
        image = keras.Input((12, 12, 3), name="image")
        z = layers.Conv2D(4, 3, name="conv2d")(image)
        z = layers.SeparableConv2D(4, 3, name="separable_conv2d")(z)
        z = layers.DepthwiseConv2D(3, name="depthwise_conv2d")(z)
        z = layers.BatchNormalization(name="batch_normalization_1")(z)
        z = layers.SpatialDropout2D(0.2, name="spatial_dropout2d")(z)
        z = layers.GlobalAveragePooling2D(name="global_average_pooling2d")(z)
        x = layers.Add(name="add")([x, z])
        x = layers.GaussianNoise(0.1, name="gaussian_noise")(x)
        x = layers.GaussianDropout(0.1, name="gaussian_dropout")(x)
        x = layers.AlphaDropout(0.1, name="alpha_dropout")(x)
        y = layers.Dense(3, activation="softmax", name="head")(x)
        return keras.Model([signal, image], y, name="convs")

    def text() -> Any:
        tokens = keras.Input((10,), dtype="int32", name="tokens")
        x = layers.Embedding(VOCAB, 8, mask_zero=True, name="embedding")(tokens)
        x = layers.Bidirectional(layers.LSTM(4, dropout=0.2, recurrent_dropout=0.1,
                                             return_sequences=True, name="lstm"),
                                 name="bidirectional")(x)
        x = layers.TimeDistributed(layers.Dropout(0.2, name="dropout"), name="time_distributed")(x)
        x = layers.TimeDistributed(layers.Dense(4, name="dense"), name="time_distributed_1")(x)
        x = layers.MultiHeadAttention(2, 4, dropout=0.1, name="multi_head_attention")(x, x)
        x = layers.GRU(4, dropout=0.2, name="gru")(x)
        series = keras.Input((5, 3), name="series")
        w = layers.Masking(0.0, name="masking")(series)
        w = layers.SimpleRNN(4, dropout=0.1, name="simple_rnn")(w)
        x = layers.Concatenate(name="concatenate")([x, w])
        y = layers.Dense(2, activation="softmax", name="head")(x)
        return keras.Model([tokens, series], y, name="text")

    builders = {"tfk_nested": nested, "tfk_transfer": transfer, "tfk_lstm": lstm,
                "tfk_convs": convs, "tfk_text": text}
    out: dict[str, Any] = {}
    for art in TFKERAS_CORPUS:
        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)
        model = builders[art["stem"]]()
        model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="categorical_crossentropy")
        for fname in art["files"]:
            model.save(str(HERE / fname))
        inputs = _inputs_of(model)
        xs = _batch(inputs)
        y = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=BATCH, verbose=0)
        out[art["stem"]] = {
            "inputs": inputs,
            "model_name": model.name,
            "reference": {"weights_sha256": _weights_digest(model.weights),
                          "weight_tensors": len(model.weights),
                          "predict": [[float(v) for v in row] for row in y.reshape(BATCH, -1)]},
        }
    return out


def _inputs_of(model: Any) -> list[dict[str, Any]]:
    """Name, shape (batch dim null) and dtype of each model input, in model.inputs order."""
    res = []
    for t in model.inputs:
        name = getattr(t, "name", None)
        # tf-keras symbolic tensors are named like "tokens" or "tokens:0"; keep the layer name.
        if isinstance(name, str):
            name = name.split(":")[0]
        dtype = t.dtype if isinstance(t.dtype, str) else t.dtype.name
        res.append({"name": name, "shape": [None, *list(t.shape)[1:]], "dtype": dtype})
    return res


# =============================================================================================
# Hand-made Keras 1-style artifacts (parent process, h5py only)
# =============================================================================================


def _keras1_config() -> dict[str, Any]:
    """A Keras 1.2.2-style list-form Sequential config, as ``model.to_json()`` wrote it."""

    def dense(name: str, out_dim: int, activation: str, in_dim: int | None) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "name": name,
            "trainable": True,
            "output_dim": out_dim,
            "init": "glorot_uniform",
            "activation": activation,
            "W_regularizer": None,
            "b_regularizer": None,
            "activity_regularizer": None,
            "W_constraint": None,
            "b_constraint": None,
            "bias": True,
            "input_dim": in_dim,
        }
        if in_dim is not None:
            cfg["batch_input_shape"] = [None, in_dim]
            cfg["input_dtype"] = "float32"
        return {"class_name": "Dense", "config": cfg}

    return {
        "class_name": "Sequential",
        "config": [
            dense("dense_1", 32, "relu", 20),
            {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "p": 0.5}},
            dense("dense_2", 3, "softmax", None),
        ],
    }


def _write_keras1() -> dict[str, Any]:
    import h5py
    import numpy as np

    config = _keras1_config()
    config_json = json.dumps(config)
    (HERE / "keras1_style.json").write_text(config_json + "\n")

    rng = np.random.default_rng(SEED)
    weights = {
        "dense_1": {
            "dense_1_W": rng.standard_normal((20, 32)).astype(np.float32) * 0.1,
            "dense_1_b": np.zeros((32,), np.float32),
        },
        "dropout_1": {},
        "dense_2": {
            "dense_2_W": rng.standard_normal((32, 3)).astype(np.float32) * 0.1,
            "dense_2_b": np.zeros((3,), np.float32),
        },
    }
    training_config = {
        "optimizer_config": {
            "class_name": "SGD",
            "config": {"lr": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False},
        },
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "sample_weight_mode": None,
        "loss_weights": None,
    }

    # Object timestamps off (file, groups and datasets) so this file is byte-identical across
    # runs; h5py's high-level API only exposes that for datasets, hence the low-level calls.
    def no_times(kind: int) -> Any:
        plist = h5py.h5p.create(kind)
        plist.set_obj_track_times(False)
        return plist

    path = HERE / "keras1_style.h5"
    fid = h5py.h5f.create(str(path).encode(), h5py.h5f.ACC_TRUNC, fcpl=no_times(h5py.h5p.FILE_CREATE))
    with h5py.File(fid) as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["backend"] = b"theano"
        f.attrs["model_config"] = config_json.encode("utf-8")
        f.attrs["training_config"] = json.dumps(training_config).encode("utf-8")
        h5py.h5g.create(f.id, b"model_weights", gcpl=no_times(h5py.h5p.GROUP_CREATE))
        g = f["model_weights"]
        g.attrs["layer_names"] = np.array([n.encode("utf-8") for n in weights], dtype="S")
        for layer_name, arrays in weights.items():
            h5py.h5g.create(g.id, layer_name.encode(), gcpl=no_times(h5py.h5p.GROUP_CREATE))
            lg = g[layer_name]
            lg.attrs["weight_names"] = np.array([n.encode("utf-8") for n in arrays], dtype="S")
            for wname, arr in arrays.items():
                lg.create_dataset(wname, data=arr, track_times=False)
    return {
        "keras1_style": {
            # Keras 1 named the implicit input layer itself; the config does not record a name.
            "inputs": [{"name": None, "shape": [None, 20], "dtype": "float32"}],
            "model_name": None,
        }
    }


# =============================================================================================
# Static check of the hand-written ground truth against the saved configs (no Keras)
# =============================================================================================


def _read_config(path: Path) -> dict[str, Any]:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs["model_config"]
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)


def _children(layer: dict[str, Any]) -> list[dict[str, Any]]:
    """Direct child layer dicts of a layer/model config (nested models and wrappers)."""
    cfg = layer.get("config")
    if isinstance(cfg, list):  # Keras 1 / early Keras 2 list-form Sequential
        return cfg
    if not isinstance(cfg, dict):
        return []
    kids: list[dict[str, Any]] = []
    if isinstance(cfg.get("layers"), list):
        kids.extend(cfg["layers"])
    for key in ("layer", "backward_layer"):
        if isinstance(cfg.get(key), dict):
            kids.append(cfg[key])
    return kids


def _name_of(layer: dict[str, Any]) -> str | None:
    return layer.get("name") or (layer.get("config") or {}).get("name")


def _resolve(root: dict[str, Any], path: str) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Find the layer dict at ``path`` and its position (for ordering sites as in the file)."""
    node, pos = root, ()
    for part in path.split("/"):
        for i, child in enumerate(_children(node)):
            if _name_of(child) == part:
                node, pos = child, (*pos, i)
                break
        else:
            raise AssertionError(f"site path {path!r} not found at {part!r}")
    return pos, node


def _call_kwargs(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Call kwargs of each inbound node: Keras 3 {"args","kwargs"} or Keras 2 [..., {kwargs}]."""
    res = []
    for n in node.get("inbound_nodes") or []:
        if isinstance(n, dict):
            res.append(n.get("kwargs") or {})
        elif isinstance(n, list) and n and isinstance(n[0], list) and len(n[0]) >= 4:
            res.append(n[0][3] or {})
    return res


def _check_sites(art: dict[str, Any], fname: str) -> list[str]:
    """Assert the expected sites exist as described; return them in config order."""
    root = _read_config(HERE / fname)
    ordered = []
    for path, want in art["sites"].items():
        pos, node = _resolve(root, path)
        cfg = node["config"]
        assert node["class_name"] == want["class_name"], (fname, path, node["class_name"])
        for key, val in want["params"].items():
            assert cfg.get(key) == val, (fname, path, key, cfg.get(key), val)
        if "call_kwargs" in want:
            kws = _call_kwargs(node)
            assert kws and all(
                {k: kw.get(k) for k in want["call_kwargs"]} == want["call_kwargs"] for kw in kws
            ), (fname, path, kws)
        if "closure" in want:
            assert cfg["function"][2] == want["closure"], (fname, path, cfg["function"])
        ordered.extend((pos, p) for p in want.get("dropctl_paths", [path]))
    return [p for _, p in sorted(ordered, key=lambda item: item[0])]


# =============================================================================================
# Measurement (run only inside ``--measure keras3`` / ``--measure tfkeras`` subprocesses)
# =============================================================================================


def _first_line(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {msg[0] if msg else ''}"
    text = re.sub(r"0x[0-9a-fA-F]+", "0x...", text)  # object addresses differ run to run
    return text[:300]


def _batch(inputs: list[dict[str, Any]]) -> list[Any]:
    """A fixed random batch of BATCH rows per input (ints below VOCAB for integer inputs)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    xs = []
    for spec in inputs:
        shape = (BATCH, *spec["shape"][1:])
        if "int" in spec["dtype"]:
            xs.append(rng.integers(0, VOCAB, size=shape).astype(spec["dtype"]))
        else:
            xs.append(rng.standard_normal(shape).astype(spec["dtype"]))
    return xs


def _measure(flavour: str, manifest_in: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    if flavour == "keras3":
        import keras

        def load(fname: str, **kw: Any) -> Any:
            return keras.models.load_model(fname, **kw)  # safe_mode default (True)

        def to_np(y: Any) -> Any:
            return np.asarray(keras.ops.convert_to_numpy(y))

        keras.utils.set_random_seed(SEED)
    else:
        import tensorflow as tf
        import tf_keras as keras
        from tf_keras import backend

        def load(fname: str, **kw: Any) -> Any:
            if fname == "lstm_permadropout_tfkeras.h5":
                # OUR OWN file: legacy h5 loading runs the stored lambda, which is acceptable
                # only here, to measure the Keras 2 ground truth. The lambda looks up ``K``.
                return keras.models.load_model(fname, custom_objects={"K": backend}, safe_mode=False, **kw)
            return keras.models.load_model(fname, **kw)

        def to_np(y: Any) -> Any:
            return np.asarray(y)

        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)

    prefix = "keras3" if flavour == "keras3" else "tfkeras"
    os.chdir(HERE)  # bare file names keep error messages free of absolute paths
    results: dict[str, Any] = {}
    for fname, entry in manifest_in.items():
        r: dict[str, Any] = {}
        try:
            model = load(fname)
        except Exception as exc:
            r[f"{prefix}_loads"] = False
            r[f"{prefix}_load_error"] = _first_line(exc)
            # Tells "the compile config is the problem" apart from "the model itself is".
            try:
                load(fname, compile=False)
                r[f"{prefix}_loads_compile_false"] = True
            except Exception:
                r[f"{prefix}_loads_compile_false"] = False
            results[fname] = r
            continue
        r[f"{prefix}_loads"] = True
        xs = _batch(entry["inputs"])
        x = xs[0] if len(xs) == 1 else xs

        def same(run: Any) -> bool | str:
            try:
                return bool(np.array_equal(to_np(run()), to_np(run())))
            except Exception as exc:
                return f"error: {_first_line(exc)}"

        r[f"{prefix}_predict_deterministic"] = same(
            lambda m=model, x=x: m.predict(x, batch_size=BATCH, verbose=0)
        )
        r[f"{prefix}_call_deterministic"] = same(lambda m=model, x=x: m(x))
        r[f"{prefix}_call_training_false_deterministic"] = same(lambda m=model, x=x: m(x, training=False))
        r[f"{prefix}_training_true_deterministic"] = same(lambda m=model, x=x: m(x, training=True))
        results[fname] = r
    return results


# =============================================================================================
# Parent orchestration
# =============================================================================================


def _run_child(*args: str, stdin: str | None = None) -> dict[str, Any]:
    """Run this script in a fresh interpreter and return the JSON it prints after the marker."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER) :])
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
    raise SystemExit(f"child {' '.join(args)} failed (exit {proc.returncode})")


def _readme(manifest: dict[str, Any]) -> str:
    def cell(m: dict[str, Any], prefix: str, what: str) -> str:
        if not m.get(f"{prefix}_loads"):
            return "does not load"
        v = m.get(f"{prefix}_{what}_deterministic")
        return {True: "yes", False: "**no**"}.get(v, str(v))

    rows = [
        "| file | what it shows | sites | Keras 3 predict deterministic? | Keras 3 `model(x)` "
        "deterministic? | tf.keras predict deterministic? |",
        "|---|---|---|---|---|---|",
    ]
    for a in manifest["artifacts"]:
        m = a["measured"]
        rows.append(
            f"| `{a['file']}` | {a['shows']} | {len(a['expected_sites'])} "
            f"| {cell(m, 'keras3', 'predict')} | {cell(m, 'keras3', 'call')} "
            f"| {cell(m, 'tfkeras', 'predict')} |"
        )
    trained = []
    for a in manifest["artifacts"]:
        t = a.get("training")
        if t is None:
            continue
        stem = a["file"].split(".")[0]
        files = ", ".join(f"`{f}`" for f in TRAINED[stem].values())
        score = (f"held-out accuracy {t['test_accuracy_deterministic']:.1%}"
                 if "test_accuracy_deterministic" in t
                 else f"held-out RMSE {t['test_rmse_deterministic']:g} (target std "
                      f"{t['target_std_train']:g})")
        trained.append(f"- `{a['file']}`: {a['description']} Trained {t['epochs']} epochs on "
                       f"{t['train']} inputs; {score} without dropout. Data: {files}.")
    return (
        "# Sample models\n\n"
        "Small models for dropctl's tests and docs: untrained (seeded initialisers) except\n"
        "the two trained ones below. Do not edit\n"
        "by hand: regenerate with `python sample_models/make_samples.py` from the repo root.\n"
        "`MANIFEST.json` holds the ground truth: expected stochastic sites (paths below the\n"
        "outermost model; dropctl prefixes them with the model's name) and facts MEASURED by "
        "loading and running each file with\n"
        f"Keras {manifest['versions']['keras']} and tf-keras {manifest['versions']['tf_keras']}"
        " (predict twice on a fixed batch of 16 and compare bitwise).\n\n"
        + "\n".join(rows)
        + "\n\n`keras1_style.*` and the tf-keras Lambda file are meant for the static reader;\n"
        "the tf-keras Lambda file was only ever loaded by this script (our own file) with\n"
        "`safe_mode=False` to measure the Keras 2 behaviour. Never do that with files you did\n"
        "not make.\n\n"
        "## Trained samples (for `mc-predict --labels --ood`)\n\n"
        "Trained by `make_samples.py --only digits,diabetes` on data sets that ship inside\n"
        "scikit-learn (no download), fixed seeds and TensorFlow op determinism (a rerun\n"
        "reproduces the weights bit for bit on the same machine):\n\n"
        + "\n".join(trained) + "\n"
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("keras", "tf_keras", "tensorflow", "h5py", "numpy")}


def main_parent(only: set[str] | None = None) -> None:
    # 1-3: build everything (or only the stems asked for; the rest keep their files and their
    # build facts are read back from the existing manifest).
    stems = {a["stem"] for a in ARTIFACTS}
    if only is not None and only - stems:
        raise SystemExit(f"--only: unknown stem(s) {sorted(only - stems)}; known: {sorted(stems)}")
    by = {a["stem"]: a["saved_by"] for a in ARTIFACTS}
    wanted = stems if only is None else only
    info: dict[str, Any] = {}
    if only is not None:
        old = json.loads((HERE / "MANIFEST.json").read_text())
        for a in ARTIFACTS:
            entry = next((e for e in old["artifacts"] if e["file"] in a["files"]), None)
            if a["stem"] not in only and entry is not None:
                info[a["stem"]] = {"inputs": entry["inputs"], "model_name": entry["model_name"],
                                   **({"training": entry["training"]} if "training" in entry
                                      else {})}
    only_arg = ["--only", ",".join(sorted(wanted))]
    if any(by[s] == "keras3" for s in wanted):
        info.update(_run_child("--keras3", *only_arg))
    if any(by[s] == "keras3_trained" for s in wanted):
        info.update(_run_child("--trained", *only_arg))
    corpus = {a["stem"] for a in TFKERAS_CORPUS}  # sample_models/tfkeras/, built on its own
    if any(by[s] == "tf_keras" for s in wanted - corpus):
        info.update(_run_child("--tfkeras"))
    if wanted & corpus:
        info.update(_run_child("--tfkeras-corpus"))
    if "keras1_style" in wanted:
        info.update(_write_keras1())

    # 4: per file, static facts + checked ground truth.
    per_file: dict[str, dict[str, Any]] = {}
    for art in ARTIFACTS:
        if art["stem"] not in info:
            continue
        built = info[art["stem"]]
        assert built["model_name"] == art["model_name"], (art["stem"], built["model_name"])
        for fname in art["files"]:
            if fname in built.get("save_errors", {}):
                print(f"not produced: {fname}: {built['save_errors'][fname]}", file=sys.stderr)
                continue
            per_file[fname] = {
                "file": fname,
                "saved_by": art["saved_by"],
                "description": art["description"],
                "shows": art["shows"],
                "model_name": art["model_name"],
                "inputs": built["inputs"],
                "expected_sites": _check_sites(art, fname),
                "site_details": art["sites"],
                **({"training": built["training"]} if "training" in built else {}),
            }
            if "reference" in built:
                per_file[fname]["reference"] = built["reference"]

    # 5: measure by running.
    stdin = json.dumps({f: {"inputs": e["inputs"]} for f, e in per_file.items()})
    measured_k3 = _run_child("--measure", "keras3", stdin=stdin)
    measured_tk = _run_child("--measure", "tfkeras", stdin=stdin)
    for fname, entry in per_file.items():
        entry["measured"] = {**measured_k3[fname], **measured_tk[fname]}

    # 6: write.
    manifest = {
        "generator": "sample_models/make_samples.py",
        "seed": SEED,
        "versions": _versions(),
        "site_path_convention": "layer names below the outermost model, '/'-joined, nested "
        "models and wrappers included (time_distributed/dropout, bidirectional/forward_lstm, "
        "model_A/dropout); dropctl's site paths prepend the outermost model's name (model_name): "
        "model_AB/model_A/dropout",
        "measurement": f"fixed seeded batch of {BATCH} per input (int inputs drawn in "
        f"[0, {VOCAB})); each *_deterministic is whether two successive runs are bitwise equal "
        "(a string 'error: ...' if the run raised). keras3_* loads with "
        "keras.models.load_model(path) (safe_mode default); tfkeras_* with "
        "tf_keras.models.load_model(path), except lstm_permadropout_tfkeras.h5 which is loaded "
        "with safe_mode=False and custom_objects={'K': tf_keras.backend} (our own file).",
        "artifacts": list(per_file.values()),
    }
    # The --formats samples (SavedModel, keras_hub, weights + config) are made and measured by
    # main_formats(); a run of this function keeps their entries as they are.
    formats = {a["files"][0] for a in FORMAT_ARTIFACTS}
    old = HERE / "MANIFEST.json"
    if old.exists():
        manifest["artifacts"] += [a for a in json.loads(old.read_text())["artifacts"]
                                  if a["file"] in formats]
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (HERE / "README.md").write_text(_readme(manifest))
    for fname in per_file:
        print(f"{fname:34s} {(HERE / fname).stat().st_size:8d} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keras3", action="store_true", help="(internal) build Keras 3 models")
    group.add_argument("--tfkeras", action="store_true", help="(internal) build tf-keras models")
    group.add_argument("--trained", action="store_true", help="(internal) train digits/diabetes")
    group.add_argument("--tfkeras-corpus", action="store_true",
                       help="(internal) build the tf.keras corpus in sample_models/tfkeras/")
    group.add_argument("--only-tfkeras-corpus", action="store_true",
                       help="regenerate only the tf.keras corpus and merge it into MANIFEST.json")
    group.add_argument("--measure", choices=["keras3", "tfkeras"], help="(internal) load+run every artifact")
    group.add_argument("--formats", action="store_true",
                       help="only (re)generate the SavedModel / keras_hub / weights+config samples")
    group.add_argument("--formats-build", choices=["keras3", "tfkeras"], help="(internal)")
    group.add_argument("--formats-measure", choices=["keras3", "tfkeras"], help="(internal)")
    parser.add_argument("--only", metavar="STEM[,STEM...]",
                        help="rebuild only these artifacts (re-measure all, rewrite the manifest)")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if args.formats:
        main_formats()
        return
    if args.formats_build:
        result = (_build_formats_keras3() if args.formats_build == "keras3"
                  else _build_formats_tfkeras())
    elif args.formats_measure:
        result = _measure_formats(args.formats_measure, json.loads(sys.stdin.read()))
    elif args.keras3:
        result = _build_keras3(only)
    elif args.trained:
        result = _build_trained(only)
    elif args.tfkeras:
        result = _build_tfkeras()
    elif args.tfkeras_corpus:
        result = _build_tfkeras_corpus()
    elif args.measure:
        result = _measure(args.measure, json.loads(sys.stdin.read()))
    else:
        if args.only_tfkeras_corpus:
            only = {a["stem"] for a in TFKERAS_CORPUS}
        main_parent(only)
        return
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
