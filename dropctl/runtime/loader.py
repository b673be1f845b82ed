"""Loading a saved model into Keras 3 with safe mode on, rescuing legacy files without running code.

One entry point, :func:`load_model` (also ``dropctl.load_model``), used by ``mc-predict``,
``diff``, ``convert`` and ``check --probe``. It never hands the file to
``keras.models.load_model``; instead it

1. reads the config statically with :func:`dropctl.reader.artifact.read_artifact` (size and depth
   limits, hostile-file checks; TensorFlow is not imported before this succeeds);
2. rewrites the config (:func:`rescue_config`): a Lambda recognised as dropout
   (``PermaDropout``: ``Lambda(lambda x: K.dropout(x, level=r))``) becomes dropctl's
   :class:`~dropctl.layers.AlwaysDropout` with the recovered rate, so its bytecode is never
   unmarshalled; any other Lambda raises :class:`UnsupportedModelError` naming its path;
   Keras 1/2 leftovers that Keras 3 rejects are renamed or dropped (see :data:`RENAMED_KEYS`
   and :data:`DROPPED_KEYS`);
3. builds the model from that config with Keras 3 inside a ``SafeModeScope(True)``;
4. loads the weights from the file: ``model.weights.h5`` of a ``.keras`` zip (Keras' own
   object-path matching), or ``/model_weights`` of a legacy ``.h5`` matched by layer name, with
   a check that every layer owning weights found its group (Keras' by-name loader skips
   unmatched layers silently; a model with random weights must never come back).

What a loaded model holds, its stochastic sites, is :mod:`dropctl.runtime.sites`
(:func:`~dropctl.runtime.sites.model_sites`; re-exported here for existing callers).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError, MissingDependencyError, UnsupportedModelError, one_line
from dropctl.reader.report import ArtifactFormat
from dropctl.reader.rescue import DROPPED_KEYS, RENAMED_KEYS, Rescue, renamed_layers, rescue_config
from dropctl.runtime import compat, keras_module
from dropctl.runtime.sites import ModelSite, model_sites

__all__ = [
    "DROPPED_KEYS",
    "RENAMED_KEYS",
    "LoadedModel",
    "ModelSite",
    "Rescue",
    "build_from_config",
    "load",
    "load_artifact",
    "load_model",
    "model_sites",
    "rescue_config",
]

@dataclass(frozen=True)
class LoadedModel:
    """A loaded Keras model with where it came from and what was rescued on the way."""

    model: Any
    """The ``keras.Model``, uncompiled, weights loaded from the file."""
    path: Path
    """The artifact path."""
    format: ArtifactFormat
    """Container format of the artifact."""
    keras_version: str | None
    """Keras version that saved the file, if recorded."""
    rescues: tuple[Rescue, ...]
    """Config rewrites applied before building (empty for a file Keras 3 loads as is)."""


# ---- building and weights (Keras) ---------------------------------------------------------------


def _keras() -> Any:
    return keras_module("running a model")


def build_from_config(config: dict[str, Any], keras3: bool,
                      custom_objects: dict[str, Any] | None = None) -> Any:
    """THE build path: a rescued config -> an uncompiled ``keras.Model``, safe mode on.

    ``config`` must come from :func:`dropctl.reader.rescue.rescue_config` (``load`` and
    ``convert`` both pass through it). Raises :class:`UnsupportedModelError` in one line when
    Keras refuses the config.
    """
    keras = _keras()
    from dropctl.layers import always_on_layer_classes

    custom = {**(custom_objects or {}), **always_on_layer_classes()}
    cfg = dict(config)
    cfg.pop("compile_config", None)
    cfg = compat.config_for_installed_keras(cfg, keras.__version__)
    try:
        # Keras warns about legacy arguments it accepts (input_shape, alpha...): noise for users.
        with compat.safe_mode(), compat.fresh_layer_names(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = (compat.deserialize(cfg, custom) if keras3
                     else compat.model_from_legacy_config(cfg, custom))
    except Exception as exc:  # noqa: BLE001 - Keras raises any type for a config it rejects
        reason = one_line(exc)
        if "unknown class" in reason and not custom_objects:
            reason += "; a class of your own: pass its code with --custom-objects PATH.py"
        raise UnsupportedModelError(
            f"Keras {keras.__version__} cannot build the model: {reason}") from None
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError("the config does not describe a model")
    return model


def _weighted_layer_names(model: Any) -> set[str]:
    return {layer.name for layer in model.layers if layer.weights}


def _load_h5_weights(model: Any, path: Path, renamed: dict[str, str]) -> None:
    """``renamed``: model layer name -> the file's name (:func:`dropctl.reader.rescue.renamed_layers`)."""
    import h5py

    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise ArtifactError(f"{path}: the file has a model config but no /model_weights group")
        group = f["model_weights"]
        stored = set(compat.h5_layer_names(group))
        missing = sorted(n for n in _weighted_layer_names(model) if renamed.get(n, n) not in stored)
        if missing:
            raise UnsupportedModelError(
                f"{path}: no stored weights for layer(s) {', '.join(missing[:5])}")
        compat.load_h5_weights_by_name(group, model, renamed)


WEIGHTS_MEMBER = "model.weights.h5"
WEIGHT_SLACK = 1024 * 1024
"""Bytes a stored dataset may exceed the model's largest weight by (dtype and padding)."""


def _weights_prefix(art: Any) -> str:
    return "" if art.format is ArtifactFormat.KERAS else "model_weights/"


def _scan_weights(art: Any) -> Any:
    """Every weight dataset's declared and stored size, its bytes read once, in a bounded
    child (:func:`dropctl.reader.h5read.read_h5`): fill-value and compression bombs, external
    storage and libhdf5 loops are refused before Keras reads a byte in this process."""
    from dropctl.reader.h5read import read_h5

    if art.format is ArtifactFormat.KERAS:
        import zipfile

        with zipfile.ZipFile(art.path) as zf:
            names = set(zf.namelist())
        if WEIGHTS_MEMBER not in names:
            return None  # another weights format (npz...): Keras' own loader decides
        return read_h5(art.path, member=WEIGHTS_MEMBER, scan_weights=True)
    return read_h5(art.path, scan_weights=True)


def _check_weights_fit(path: Path, model: Any, contents: Any, prefix: str) -> None:
    """The file's datasets must be the size of the model's weights: none larger than the
    largest weight, all together at most 4x the model (Adam keeps two moments per weight)."""
    import numpy as np

    sizes = [int(np.prod(w.shape)) * np.dtype(str(getattr(w.dtype, "name", w.dtype))).itemsize
             for w in model.weights]
    biggest = 2 * max(sizes, default=0) + WEIGHT_SLACK
    total = 4 * sum(sizes) + 16 * WEIGHT_SLACK
    stored = [d for d in contents.datasets if d.name.startswith(prefix)]
    for d in stored:
        if d.declared > biggest:
            raise ArtifactError(
                f"{path}: weight dataset /{d.name} declares {d.declared:,} bytes "
                f"{list(d.shape)} {d.dtype}, more than any weight of the model needs "
                f"({max(sizes, default=0):,} bytes); refusing it")
    declared = sum(d.declared for d in stored)
    if declared > total:
        raise ArtifactError(f"{path}: weight datasets declare {declared:,} bytes, the model "
                            f"needs {sum(sizes):,}; refusing it")


def load(path: str | Path, *, require_weights: bool = True,
         config: str | Path | None = None,
         custom_objects: Sequence[str] = ()) -> LoadedModel:
    """Load ``path`` (.keras, .h5/.hdf5, or a model JSON) into Keras 3 without running its code.

    Raises :class:`ArtifactError` (unreadable/hostile file, no architecture) or
    :class:`UnsupportedModelError` (unknown Lambda, a config Keras 3 cannot build, weights that
    do not fit). With ``require_weights`` (the default) a file without weights is refused.
    ``custom_objects``: ``.py`` files or module names holding the model's own classes
    (``--custom-objects``); they are imported, which runs their code
    (:mod:`dropctl.runtime.custom`).
    """
    from dropctl.reader.formats import read_model

    return load_artifact(read_model(path, config=config), require_weights=require_weights,
                         custom_objects=custom_objects)


def load_artifact(art: Any, *, require_weights: bool = True,
                  custom_objects: Sequence[str] = ()) -> LoadedModel:
    """:func:`load` for an artifact already read statically (``dropctl.reader.formats``)."""
    from dropctl.reader.formats import is_keras3_config
    from dropctl.runtime.formats import require_hub

    if require_weights and not art.has_weights:
        raise UnsupportedModelError(
            f"{art.path}: the file holds an architecture but no weights; nothing to run")
    keras3 = is_keras3_config(art)
    require_hub(art)
    # Weights stored in the file itself are scanned in a bounded child before Keras reads them
    # (SavedModel checkpoints and external weight files take their own path).
    in_file = (art.has_weights and getattr(art, "weights_path", None) is None
               and art.format in (ArtifactFormat.KERAS, ArtifactFormat.H5))
    contents = _scan_weights(art) if in_file else None
    from dropctl.reader.budget import check_build_budget
    from dropctl.reader.walker import walk

    layers = walk(art.model_config)
    from dropctl.reader.resolve import refuse_forged_classes

    refuse_forged_classes(art.path, layers)
    check_build_budget(art.path, layers,
                       contents.declared_bytes(_weights_prefix(art)) if contents else 0)
    rescued, rescues = rescue_config(art.model_config, keras3=keras3)
    from dropctl.runtime.custom import import_custom_objects

    objects = import_custom_objects(custom_objects)
    try:
        model = build_from_config(rescued, keras3, objects)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"{art.path}: {exc}") from None
    if contents is not None:
        _check_weights_fit(art.path, model, contents, _weights_prefix(art))
    if art.has_weights:
        try:
            if art.format is ArtifactFormat.SAVEDMODEL or art.weights_path is not None:
                from dropctl.runtime.formats import load_external_weights

                load_external_weights(model, art, renamed_layers(rescues))
            elif keras3 or art.format is ArtifactFormat.KERAS:  # tf.keras .keras zips too
                # Keras' own .keras weight loader: reads the zip member model.weights.h5 in
                # place, matching variables by object path (layers/<class>[_N]/vars/<i>).
                model.load_weights(str(art.path))
            else:
                _load_h5_weights(model, art.path, renamed_layers(rescues))
        except (ArtifactError, UnsupportedModelError, MissingDependencyError):
            raise  # already one line (a missing extra names the extra)
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedModelError(
                f"{art.path}: cannot load the weights: {one_line(exc)}") from None
    return LoadedModel(model, art.path, art.format, art.keras_version, tuple(rescues))


def load_model(path: str | Path) -> Any:
    """``keras.Model`` from ``path``, safe mode on, legacy Lambda dropout rescued (see :func:`load`)."""
    return load(path).model
