"""(Re)generate dropctl's bundled sample model artifacts and their measured ground truth.

Run from the repository root::

    python sample_models/make_samples.py

What it does, in order:

1. ``--keras3`` subprocess: builds the Keras 3 models and saves each as ``.keras`` and, where the
   artifact list says so, as legacy ``.h5`` (Keras 3's own h5 writer, ``model.save("x.h5")``).
2. ``--tfkeras`` subprocess: builds the tf-keras (Keras 2 API) models and saves them as ``.h5``.
3. In this (parent) process, with h5py only: writes the hand-made Keras 1-style ``.json``/``.h5``
   (no Keras 1 exists to produce them; they are for the static reader).
4. Checks that every expected site path resolves in the saved config with the expected class and
   parameters (a typo in the hand-written ground truth fails the run instead of shipping).
5. ``--measure keras3`` and ``--measure tfkeras`` subprocesses: load every artifact and RUN it to
   record whether ``predict()`` / ``model(x)`` / ``model(x, training=False|True)`` are
   deterministic. The manifest holds what was observed, not what we believe.
6. Writes ``MANIFEST.json`` and ``README.md`` next to this script.

Keras 3 and tf-keras are never imported in the same process (mixing them is fragile), and the
parent imports neither. Models are not trained: weights come from seeded initialisers. Layer and
model names are all given explicitly so configs do not depend on Keras' global name counters.
Running the script twice gives identical configs and weights, with one exception Keras itself
introduces: ``.keras`` config.json stores ``shared_object_id`` (a Python ``id()`` of the shared
dtype policy), and ``metadata.json`` a save date. The ``.h5`` files came out byte-identical.

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
    "bidirectional/lstm": {"class_name": "LSTM", "params": {"dropout": 0.2, "recurrent_dropout": 0.1}},
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


def _build_keras3() -> dict[str, Any]:
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
        ordered.append((pos, path))
    return [p for _, p in sorted(ordered)]


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
    return (
        "# Sample models\n\n"
        "Small untrained models (seeded initialisers) for dropctl's tests and docs. Do not edit\n"
        "by hand: regenerate with `python sample_models/make_samples.py` from the repo root.\n"
        "`MANIFEST.json` holds the ground truth: expected stochastic sites (paths below the\n"
        "outermost model) and facts MEASURED by loading and running each file with\n"
        f"Keras {manifest['versions']['keras']} and tf-keras {manifest['versions']['tf_keras']}"
        " (predict twice on a fixed batch of 16 and compare bitwise).\n\n"
        + "\n".join(rows)
        + "\n\n`keras1_style.*` and the tf-keras Lambda file are meant for the static reader;\n"
        "the tf-keras Lambda file was only ever loaded by this script (our own file) with\n"
        "`safe_mode=False` to measure the Keras 2 behaviour. Never do that with files you did\n"
        "not make.\n"
    )


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("keras", "tf_keras", "tensorflow", "h5py", "numpy")}


def main_parent(only_tfkeras_corpus: bool = False) -> None:
    # 1-3: build everything (or only the tf.keras corpus, merged into the existing manifest).
    info: dict[str, Any] = {}
    if not only_tfkeras_corpus:
        info.update(_run_child("--keras3"))
        info.update(_run_child("--tfkeras"))
        info.update(_write_keras1())
    info.update(_run_child("--tfkeras-corpus"))

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
    if only_tfkeras_corpus:
        manifest = json.loads((HERE / "MANIFEST.json").read_text())
        kept = [a for a in manifest["artifacts"] if a["file"] not in per_file]
        manifest["artifacts"] = kept + list(per_file.values())
        (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (HERE / "README.md").write_text(_readme(manifest))
        for fname in per_file:
            print(f"{fname:34s} {(HERE / fname).stat().st_size:8d} bytes")
        return
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
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (HERE / "README.md").write_text(_readme(manifest))
    for fname in per_file:
        print(f"{fname:34s} {(HERE / fname).stat().st_size:8d} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keras3", action="store_true", help="(internal) build Keras 3 models")
    group.add_argument("--tfkeras", action="store_true", help="(internal) build tf-keras models")
    group.add_argument("--tfkeras-corpus", action="store_true",
                       help="(internal) build the tf.keras corpus in sample_models/tfkeras/")
    group.add_argument("--only-tfkeras-corpus", action="store_true",
                       help="regenerate only the tf.keras corpus and merge it into MANIFEST.json")
    group.add_argument("--measure", choices=["keras3", "tfkeras"], help="(internal) load+run every artifact")
    args = parser.parse_args()
    if args.keras3:
        result = _build_keras3()
    elif args.tfkeras:
        result = _build_tfkeras()
    elif args.tfkeras_corpus:
        result = _build_tfkeras_corpus()
    elif args.measure:
        result = _measure(args.measure, json.loads(sys.stdin.read()))
    else:
        main_parent(only_tfkeras_corpus=args.only_tfkeras_corpus)
        return
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
