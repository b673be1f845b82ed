"""The tf.keras (Keras 2 API, tf-keras 2.x) build process: the Lambda PermaDropout and pinned
``training=True`` samples, and the tf.keras corpus in ``tfkeras/`` (legacy patterns the loader
must rebuild), each with what tf.keras computed (``reference``).

``python -m sample_models.make.tfkeras models|corpus OUT``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sample_models.make.catalogue import BATCH, SAMPLES, SEED, TFKERAS_DIR, VOCAB
from sample_models.make.oracle import batch
from sample_models.make.process import inputs_of, step_main

# The forum recipe looks ``K`` up as a module global when the lambda runs. It is bound to
# tf_keras.backend inside the tf-keras subprocess only, so the lambda's closure holds just the
# rate ([0.3]) and not a module object (which could not be serialised).
K: Any = None


def PermaDropout(rate: float) -> Any:  # the forum recipe's own name, hence not snake_case
    """The classic always-on dropout recipe: ``Lambda(lambda x: K.dropout(x, level=rate))``."""
    from tf_keras.layers import Lambda

    return Lambda(lambda x: K.dropout(x, level=rate))


# The marshalled lambda records its code object's file name (which Python makes absolute), name,
# qualified name, first line and column offsets, and the Lambda config its module. The committed
# files carry those of the script the recipe was first written in, at the line it stood on when
# each file was made (the line of code above and the function's name are kept exactly as they
# stood there), so a rebuild stays byte-identical wherever the repo is checked out.
LAMBDA_FILE = "sample_models/make_samples.py"
LAMBDA_LINES = {"lstm_permadropout_tfkeras": 364, "seed_lstm_savedmodel": 521}


def perma_dropout(rate: float, sample: str) -> Any:
    """:func:`PermaDropout` with the code object's file name and line ``sample``'s file holds."""
    perma = PermaDropout(rate)
    perma.function.__code__ = perma.function.__code__.replace(
        co_filename=LAMBDA_FILE, co_firstlineno=LAMBDA_LINES[sample])
    # tf-keras stores the function's module in the Lambda config: the script ran as __main__.
    perma.function.__module__ = "__main__"
    return perma


def build_models(here: Path, only: set[str] | None = None) -> dict[str, Any]:  # noqa: ARG001 - step_main passes only=
    """The two tf-keras model samples (always both: ``only`` is ignored, they are tiny)."""
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
    perma = perma_dropout(0.3, "lstm_permadropout_tfkeras")  # auto-named "lambda" (first one)
    x = perma(x)
    y = layers.Dense(1, activation="sigmoid", name="dense")(x)
    model = keras.Model(tokens, y, name="lstm_permadropout")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="binary_crossentropy")
    model.save(str(here / "lstm_permadropout_tfkeras.h5"))
    out["lstm_permadropout_tfkeras"] = {"inputs": inputs_of(model), "model_name": model.name}

    seeded()
    inp = keras.Input((10,), name="features")
    x = layers.Dense(16, name="dense")(inp)
    x = layers.Dropout(0.5, name="dropout")(x, training=True)
    y = layers.Dense(2, name="dense_1")(x)
    model = keras.Model(inp, y, name="pinned_training")
    model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="mean_squared_error")
    model.save(str(here / "pinned_training_tfkeras.h5"))
    out["pinned_training_tfkeras"] = {"inputs": inputs_of(model), "model_name": model.name}
    return out


# =============================================================================================
# Other artifact forms: SavedModel, keras_hub presets and classes, weights + config pairs.
# Generated on their own (``--formats``) so the files above stay byte-identical.
def weights_digest(weights: list[Any]) -> str:
    """Order-free digest of every weight tensor (dtype, shape and bytes): equal digests mean the
    same tensors, bit for bit, whatever order a Keras version lists them in."""
    import hashlib

    import numpy as np

    parts = sorted(
        hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()
        for a in (np.ascontiguousarray(np.asarray(w)) for w in weights)
    )
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def build_corpus(here: Path, only: set[str] | None = None) -> dict[str, Any]:  # noqa: ARG001 - step_main passes only=
    """The tf.keras corpus (``tfkeras/``): every model, as .h5 and tf.keras' .keras."""
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import layers

    out_dir = here / TFKERAS_DIR
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
    for art in (s for s in SAMPLES if s.builder == "tfkeras:corpus"):
        keras.utils.set_random_seed(SEED)
        tf.random.set_seed(SEED)
        model = builders[art.stem]()
        model.compile(optimizer=keras.optimizers.Adam(name="adam"), loss="categorical_crossentropy")
        for fname in art.files:
            model.save(str(here / fname))
        inputs = inputs_of(model)
        xs = batch(inputs)
        y = model.predict(xs[0] if len(xs) == 1 else xs, batch_size=BATCH, verbose=0)
        out[art.stem] = {
            "inputs": inputs,
            "model_name": model.name,
            "reference": {"weights_sha256": weights_digest(model.weights),
                          "weight_tensors": len(model.weights),
                          "predict": [[float(v) for v in row] for row in y.reshape(BATCH, -1)]},
        }
    return out


if __name__ == "__main__":
    step_main({"models": build_models, "corpus": build_corpus})
