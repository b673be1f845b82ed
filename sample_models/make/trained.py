"""The trained build process: ``digits`` and ``diabetes``, trained with fixed seeds and
TensorFlow op determinism on data sets that ship inside scikit-learn, and their held-out inputs,
labels and OOD inputs as small ``.npy`` files (for ``mc-predict --labels --ood``).

``python -m sample_models.make.trained models OUT [--only STEM,...]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sample_models.make.catalogue import (
    DIABETES_TEST_SHARE,
    DIGITS_IN_CLASSES,
    DIGITS_TEST_SHARE,
    SEED,
    TRAINED,
)
from sample_models.make.process import inputs_of, step_main


def _split(n: int, rng: Any, test_share: float) -> tuple[Any, Any]:
    """Seeded train/test index split (``test_share`` held out)."""
    order = rng.permutation(n)
    cut = int(round(n * test_share))
    return order[cut:], order[:cut]


def build_models(here: Path, only: set[str] | None = None) -> dict[str, Any]:
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
        model.save(str(here / "digits.keras"))
        np.save(here / TRAINED["digits"]["inputs"], x_in[test])
        np.save(here / TRAINED["digits"]["labels"], y_in[test])
        np.save(here / TRAINED["digits"]["ood"], x_all[~inside])
        p = model.predict(x_in[test].astype(np.float32), verbose=0)
        out["digits"] = {
            "inputs": inputs_of(model), "model_name": model.name, "save_errors": {},
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
        model.save(str(here / "diabetes.keras"))
        np.save(here / TRAINED["diabetes"]["inputs"], x[test])
        np.save(here / TRAINED["diabetes"]["labels"], y[test])
        pred = model.predict(x[test], verbose=0)[:, 0]
        out["diabetes"] = {
            "inputs": inputs_of(model), "model_name": model.name, "save_errors": {},
            "training": {
                "data": "sklearn.datasets.load_diabetes",
                "train": int(len(train)), "test": int(len(test)), "epochs": 50,
                "test_rmse_deterministic": round(float(np.sqrt(np.mean((pred - y[test]) ** 2))), 3),
                "target_std_train": round(sd, 3),
            },
        }
    return out


if __name__ == "__main__":
    step_main({"models": build_models})
