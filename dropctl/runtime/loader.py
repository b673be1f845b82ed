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

:func:`model_sites` lists the stochastic layers of a loaded model with the same
``/``-joined paths ``dropctl inspect`` prints (``cnn/dropout``, ``family/bidirectional/
forward_lstm``, ``model_AB/model_A/dropout``).
"""

from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError, UnsupportedModelError
from dropctl.reader.report import ArtifactFormat, SiteKind
from dropctl.reader.rescue import DROPPED_KEYS, RENAMED_KEYS, Rescue, rescue_config
from dropctl.runtime import compat, keras_module

__all__ = [
    "DROPPED_KEYS",
    "RENAMED_KEYS",
    "LoadedModel",
    "ModelSite",
    "Rescue",
    "build_from_config",
    "load",
    "load_model",
    "model_sites",
    "one_line",
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


@dataclass(frozen=True)
class ModelSite:
    """A stochastic layer of a loaded model (the runtime twin of :class:`dropctl.reader.report.Site`)."""

    path: str
    """Layer names from the outermost model, ``/``-joined, as ``dropctl inspect`` prints them."""
    layer: Any
    """The Keras layer object (for Bidirectional: the forward or backward RNN)."""
    kind: SiteKind
    """What randomness it injects."""
    rate: float
    """Drop probability (or recurrent dropout when only that is set; noise stddev for noise)."""
    always_on: bool
    """A dropctl always-on layer: it acts even under ``predict()``."""


# ---- building and weights (Keras) ---------------------------------------------------------------


def _keras() -> Any:
    return keras_module("running a model")


def one_line(exc: BaseException) -> str:
    """A Keras exception as one line: its type and its first 300 characters, whitespace folded."""
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def build_from_config(config: dict[str, Any], keras3: bool) -> Any:
    """THE build path: a rescued config -> an uncompiled ``keras.Model``, safe mode on.

    ``config`` must come from :func:`dropctl.reader.rescue.rescue_config` (``load`` and
    ``convert`` both pass through it). Raises :class:`UnsupportedModelError` in one line when
    Keras refuses the config.
    """
    keras = _keras()
    from dropctl.layers import always_on_layer_classes

    custom = always_on_layer_classes()
    cfg = dict(config)
    cfg.pop("compile_config", None)
    cfg = compat.config_for_installed_keras(cfg, keras.__version__)
    try:
        # Keras warns about legacy arguments it accepts (input_shape, alpha...): noise for users.
        with compat.safe_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = (compat.deserialize(cfg, custom) if keras3
                     else compat.model_from_legacy_config(cfg, custom))
    except Exception as exc:  # noqa: BLE001 - Keras raises any type for a config it rejects
        raise UnsupportedModelError(
            f"Keras {keras.__version__} cannot build the model: {one_line(exc)}") from None
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError("the config does not describe a model")
    return model


def _weighted_layer_names(model: Any) -> set[str]:
    return {layer.name for layer in model.layers if layer.weights}


def _load_h5_weights(model: Any, path: Path) -> None:
    import h5py

    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise ArtifactError(f"{path}: the file has a model config but no /model_weights group")
        group = f["model_weights"]
        stored = set(compat.h5_layer_names(group))
        missing = sorted(_weighted_layer_names(model) - stored)
        if missing:
            raise UnsupportedModelError(
                f"{path}: no stored weights for layer(s) {', '.join(missing[:5])}")
        compat.load_h5_weights_by_name(group, model)


def load(path: str | Path, *, require_weights: bool = True) -> LoadedModel:
    """Load ``path`` (.keras, .h5/.hdf5, or a model JSON) into Keras 3 without running its code.

    Raises :class:`ArtifactError` (unreadable/hostile file, no architecture) or
    :class:`UnsupportedModelError` (unknown Lambda, a config Keras 3 cannot build, weights that
    do not fit). With ``require_weights`` (the default) a file without weights is refused.
    """
    from dropctl.reader.artifact import read_artifact

    art = read_artifact(path)
    if require_weights and not art.has_weights:
        raise UnsupportedModelError(
            f"{art.path}: the file holds an architecture but no weights; nothing to run")
    keras3 = art.format is ArtifactFormat.KERAS
    config, rescues = rescue_config(art.model_config, keras3=keras3)
    try:
        model = build_from_config(config, keras3)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"{art.path}: {exc}") from None
    if art.has_weights:
        try:
            if keras3:
                # Keras' own .keras weight loader: reads the zip member model.weights.h5 in
                # place, matching variables by object path (layers/<class>[_N]/vars/<i>).
                model.load_weights(str(art.path))
            else:
                _load_h5_weights(model, art.path)
        except (ArtifactError, UnsupportedModelError):
            raise
        except Exception as exc:  # noqa: BLE001
            raise UnsupportedModelError(
                f"{art.path}: cannot load the weights: {one_line(exc)}") from None
    return LoadedModel(model, art.path, art.format, art.keras_version, tuple(rescues))


def load_model(path: str | Path) -> Any:
    """``keras.Model`` from ``path``, safe mode on, legacy Lambda dropout rescued (see :func:`load`)."""
    return load(path).model


# ---- stochastic sites of a loaded model ---------------------------------------------------------


def _site_of(layer: Any, keras: Any) -> tuple[SiteKind, float] | None:
    layers = keras.layers
    if isinstance(layer, layers.SpatialDropout1D | layers.SpatialDropout2D
                  | layers.SpatialDropout3D):
        return (SiteKind.SPATIAL_DROPOUT, float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, layers.Dropout):
        return (SiteKind.DROPOUT, float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, layers.GaussianDropout):
        return (SiteKind.GAUSSIAN_DROPOUT, float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, layers.AlphaDropout):
        return (SiteKind.ALPHA_DROPOUT, float(layer.rate)) if layer.rate > 0 else None
    if isinstance(layer, layers.GaussianNoise):
        return (SiteKind.GAUSSIAN_NOISE, float(layer.stddev)) if layer.stddev > 0 else None
    if isinstance(layer, layers.RNN):
        cells = getattr(layer.cell, "cells", None) or [layer.cell]
        rates = [float(getattr(c, a, 0.0) or 0.0) for c in cells
                 for a in ("dropout", "recurrent_dropout")]
        return (SiteKind.RECURRENT, max(rates)) if max(rates, default=0.0) > 0 else None
    if isinstance(layer, layers.MultiHeadAttention):
        rate = compat.attention_dropout(layer)
        return (SiteKind.ATTENTION, rate) if rate > 0 else None
    if isinstance(layer, layers.GroupQueryAttention | layers.Attention):
        rate = float(getattr(layer, "dropout", 0.0) or 0.0)
        return (SiteKind.ATTENTION, rate) if rate > 0 else None
    return None


def _children(layer: Any, keras: Any) -> list[Any]:
    if isinstance(layer, keras.layers.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    if isinstance(layer, keras.layers.Wrapper):  # TimeDistributed and other wrappers
        return [layer.layer]
    if isinstance(layer, keras.Model) and not isinstance(layer, keras.layers.InputLayer):
        return [lyr for lyr in getattr(layer, "layers", []) or []
                if not isinstance(lyr, keras.layers.InputLayer)]
    return []


def model_sites(model: Any, sites: str | None = None) -> list[ModelSite]:
    """Stochastic layers of ``model`` in walk order, optionally only paths matching glob ``sites``.

    Paths start with the model's own name, as in ``dropctl inspect``. A layer shared by
    several paths is listed once (first path).
    """
    keras = _keras()
    from dropctl.reader.layer_names import always_on_class

    out: list[ModelSite] = []
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(model, "")]
    while stack:
        layer, parent = stack.pop()
        path = f"{parent}/{layer.name}" if parent else layer.name
        found = _site_of(layer, keras)
        if found is not None and id(layer) not in seen:
            seen.add(id(layer))
            kind, rate = found
            registered = keras.saving.get_registered_name(type(layer))
            out.append(ModelSite(path, layer, kind, rate,
                                 always_on_class(type(layer).__name__, registered) is not None))
        stack.extend((child, path) for child in reversed(_children(layer, keras)))
    if sites is not None:
        out = [s for s in out if fnmatch.fnmatchcase(s.path, sites)]
    return out
