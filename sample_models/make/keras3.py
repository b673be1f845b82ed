"""The Keras 3 build process: the untrained model samples, saved as .keras and Keras 3's .h5.

``python -m sample_models.make.keras3 models OUT [--only STEM,...]``. Models are not trained
(weights come from seeded initialisers); layer and model names are all given explicitly so
configs do not depend on Keras' global name counters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sample_models.make.catalogue import SAMPLES, SEED
from sample_models.make.process import error_line, inputs_of, step_main


def build_models(here: Path, only: set[str] | None = None) -> dict[str, Any]:
    """Build and save the Keras 3 model samples (``only``: just these stems)."""
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
    wanted = {s.stem: s.files for s in SAMPLES if s.builder == "keras3:models"}
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
        info = {"inputs": inputs_of(model), "model_name": model.name, "save_errors": {}}
        for fname in wanted[stem]:
            try:
                model.save(str(here / fname))
            except Exception as exc:  # noqa: BLE001 - recorded, not fatal: "can Keras 3 save it" is a fact
                info["save_errors"][fname] = error_line(exc)
        out[stem] = info
    return out


if __name__ == "__main__":
    step_main({"models": build_models})
