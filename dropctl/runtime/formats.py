"""Weights of the artifact forms that keep them outside the config file.

* a tf.keras SavedModel: the variables checkpoint (:mod:`dropctl.runtime.savedmodel`);
* a preset's ``model.weights.h5`` and a Keras 3 ``*.weights.h5``: Keras' own object-path
  loader (it fails on a missing or extra variable);
* a legacy tf.keras ``save_weights`` HDF5 file (``layer_names`` at the root): matched by
  layer name, after checking that every layer owning weights has a group.
"""

from __future__ import annotations

from typing import Any

from dropctl.errors import ArtifactError, UnsupportedModelError
from dropctl.reader.artifact import Artifact
from dropctl.reader.report import ArtifactFormat
from dropctl.runtime import compat


def require_hub(art: Artifact) -> None:
    """A keras_hub model needs keras_hub to be built: name the extra instead of a Keras error."""
    import importlib.util

    from dropctl.reader.hub import uses_keras_hub
    from dropctl.runtime.imports import missing

    if not uses_keras_hub(art.model_config):
        return
    try:
        found = importlib.util.find_spec("keras_hub") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        found = False
    if not found:
        raise missing("keras_hub", f"running the keras_hub model {art.path}")
    from dropctl.runtime.imports import keras_hub_module

    keras_hub_module(f"running the keras_hub model {art.path}")


def load_external_weights(model: Any, art: Artifact,
                          renamed: dict[str, str] | None = None) -> None:
    """Load the weights of ``art`` (SavedModel, preset or weights + config) into ``model``.

    ``renamed``: model layer name -> the name the artifact stores it under (rescued names)."""
    renamed = renamed or {}
    if art.format is ArtifactFormat.SAVEDMODEL:
        from dropctl.runtime.savedmodel import load_savedmodel_weights

        load_savedmodel_weights(model, art.path, renamed)
        return
    weights = art.weights_path
    if weights is None:
        raise ArtifactError(f"{art.path}: no weights file")
    import h5py

    with h5py.File(weights, "r") as f:
        legacy = any(k.startswith("layer_names") for k in f.attrs)
        if legacy:
            stored = set(compat.h5_layer_names(f))
            missing = sorted(layer.name for layer in model.layers
                             if layer.weights and renamed.get(layer.name, layer.name) not in stored)
            if missing:
                raise UnsupportedModelError(
                    f"{weights}: no stored weights for layer(s) {', '.join(missing[:5])}")
            compat.load_h5_weights_by_name(f, model, renamed)
            return
    if not weights.name.lower().endswith(".weights.h5"):
        raise ArtifactError(f"{weights}: a Keras 3 weights file must be named *.weights.h5")
    model.load_weights(str(weights))
