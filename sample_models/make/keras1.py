"""The Keras 1 "build": hand-made Keras 1.2.2-style ``.json``/``.h5`` files, written with h5py
alone (no Keras 1 exists to produce them; they are for the static reader). Runs in the parent
process: it imports neither Keras.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sample_models.make.catalogue import SEED


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


def build_models(here: Path, only: set[str] | None = None) -> dict[str, Any]:  # noqa: ARG001 - step_main passes only=
    """Write keras1_style.json and keras1_style.h5 (h5py only)."""
    import h5py
    import numpy as np

    config = _keras1_config()
    config_json = json.dumps(config)
    (here / "keras1_style.json").write_text(config_json + "\n")

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

    path = here / "keras1_style.h5"
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
