"""Loading a saved model into Keras 3 with safe mode on, rescuing legacy files without running code.

One entry point, :func:`load_model` (also ``dropctl.load_model``), used by ``mc-predict``,
``diff``, ``convert`` and ``check --probe``. It never hands the file to
``keras.models.load_model``; instead it

1. reads the config statically with :func:`dropctl.artifact.read_artifact` (size and depth
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

import copy
import fnmatch
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError, UnsupportedModelError
from dropctl.report import ArtifactFormat, SiteKind

__all__ = [
    "DROPPED_KEYS",
    "RENAMED_KEYS",
    "LoadedModel",
    "ModelSite",
    "Rescue",
    "load",
    "load_model",
    "model_sites",
    "rescue_config",
]

RENAMED_KEYS: dict[str, dict[str, str]] = {
    # Keras 1 spellings with the same meaning in Keras 3.
    "Dropout": {"p": "rate"},
    "SpatialDropout1D": {"p": "rate"},
    "SpatialDropout2D": {"p": "rate"},
    "SpatialDropout3D": {"p": "rate"},
    "GaussianDropout": {"p": "rate"},
    "GaussianNoise": {"sigma": "stddev"},
    "Dense": {"output_dim": "units", "init": "kernel_initializer", "bias": "use_bias",
              "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
              "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint"},
    "LSTM": {"output_dim": "units", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
             "init": "kernel_initializer", "inner_init": "recurrent_initializer",
             "inner_activation": "recurrent_activation"},
    "GRU": {"output_dim": "units", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
            "init": "kernel_initializer", "inner_init": "recurrent_initializer",
            "inner_activation": "recurrent_activation"},
    "SimpleRNN": {"output_dim": "units", "dropout_W": "dropout", "dropout_U": "recurrent_dropout",
                  "init": "kernel_initializer", "inner_init": "recurrent_initializer"},
}
"""class name -> {old config key: Keras 3 key}, applied only when the new key is absent."""

DROPPED_KEYS: dict[str, frozenset[str]] = {
    # tf.keras RNN layers save `time_major`; Keras 3's constructors reject it (measured).
    "LSTM": frozenset({"time_major"}),
    "GRU": frozenset({"time_major", "reset_after_"}),
    "SimpleRNN": frozenset({"time_major"}),
    "RNN": frozenset({"time_major"}),
    "Bidirectional": frozenset({"time_major"}),
    # Keras 1 leftovers without a Keras 3 meaning (the input shape comes from batch_input_shape).
    "Dense": frozenset({"input_dtype", "input_dim"}),
    "Dropout": frozenset({"input_dtype"}),
    # Keras 2.x Embedding: `input_length` is gone in Keras 3 (shape comes from the input).
    "Embedding": frozenset({"input_length"}),
}
"""class name -> config keys Keras 3 refuses and whose value is implied elsewhere."""


@dataclass(frozen=True)
class Rescue:
    """One change :func:`rescue_config` made so that Keras 3 can build the model."""

    path: str
    """Layer path from the outermost model (``lstm_permadropout/lambda``)."""
    action: str
    """Human sentence: what was replaced, renamed or dropped."""


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
    """A stochastic layer of a loaded model (the runtime twin of :class:`dropctl.report.Site`)."""

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


# ---- config rewriting (no Keras) ----------------------------------------------------------------


def _layer_children(entry: dict[str, Any]) -> list[dict[str, Any]]:
    cfg = entry.get("config")
    if isinstance(cfg, list):  # Keras 1 / 2.0-2.2.2 list-form Sequential
        return [c for c in cfg if isinstance(c, dict)]
    if not isinstance(cfg, dict):
        return []
    out = [c for c in cfg.get("layers") or [] if isinstance(c, dict)]
    for role in ("layer", "backward_layer", "forward_layer", "cell"):
        child = cfg.get(role)
        if isinstance(child, dict) and isinstance(child.get("class_name"), str):
            out.append(child)
    cells = cfg.get("cells")
    if isinstance(cells, list):
        out.extend(c for c in cells if isinstance(c, dict) and "class_name" in c)
    return out


def _name(entry: dict[str, Any]) -> str:
    cfg = entry.get("config")
    name = cfg.get("name") if isinstance(cfg, dict) else None
    return str(name or entry.get("name") or entry.get("class_name") or "?")


def _always_dropout_entry(entry: dict[str, Any], rate: float, keras3: bool) -> dict[str, Any]:
    from dropctl.layer_names import MODULE, registered_name

    old = entry.get("config") or {}
    cfg: dict[str, Any] = {"name": _name(entry), "rate": float(rate),
                           "trainable": bool(old.get("trainable", True))}
    if old.get("dtype") is not None:
        cfg["dtype"] = old["dtype"]
    new = {k: v for k, v in entry.items() if k not in ("config", "class_name", "module",
                                                     "registered_name", "build_config")}
    if keras3:
        new.update(module=MODULE, class_name="AlwaysDropout",
                   registered_name=registered_name("AlwaysDropout"))
    else:  # legacy .h5 configs name registered classes by their registered name
        new["class_name"] = registered_name("AlwaysDropout")
    new["config"] = cfg
    return new


def _normalize_sequential(entry: dict[str, Any], path: str, rescues: list[Rescue]) -> None:
    """Keras 1 list-form Sequential -> dict form; a first layer's batch_input_shape -> InputLayer.

    Keras 3 builds an RNN given ``batch_input_shape`` with one dimension too many (measured on a
    Keras 2.3 LSTM file: "expected ndim=3, found ndim=4"), so the shape moves to an explicit
    InputLayer, which is what Keras 3 itself writes.
    """
    cfg = entry.get("config")
    if isinstance(cfg, list):
        entry["config"] = cfg = {"name": _name(entry) if entry.get("name") else "sequential",
                                 "layers": cfg}
        rescues.append(Rescue(path, "Keras 1 list-form Sequential config converted"))
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
        return
    first = cfg["layers"][0]
    fcfg = first.get("config") if isinstance(first, dict) else None
    if not isinstance(fcfg, dict) or first.get("class_name") == "InputLayer":
        return
    shape = fcfg.pop("batch_input_shape", None)
    if isinstance(shape, list):
        fcfg.pop("input_shape", None)
        fcfg.pop("input_dim", None)
        input_cfg = {"batch_shape": shape, "dtype": fcfg.get("dtype") or "float32",
                     "name": f"{_name(first)}_input"}
        dtype = fcfg.pop("input_dtype", None)
        if isinstance(dtype, str):
            input_cfg["dtype"] = dtype
        cfg["layers"].insert(0, {"class_name": "InputLayer", "config": input_cfg})


def rescue_config(model_config: dict[str, Any], *, keras3: bool) -> tuple[dict, list[Rescue]]:
    """A rewritten copy of ``model_config`` that Keras 3 can build in safe mode, and the changes.

    ``keras3`` says whether the config is in the Keras 3 serialization form (``.keras`` files)
    or the legacy one (``.h5``/JSON). Raises :class:`UnsupportedModelError` for a Lambda that
    is not recognisably dropout (dropctl never runs stored bytecode).
    """
    from dropctl.lambdas import analyze_lambda

    config = copy.deepcopy(model_config)
    rescues: list[Rescue] = []
    # (holder list or None, index, entry, parent path); iterative: configs may be deep.
    stack: list[tuple[list | dict | None, Any, dict[str, Any], str]] = [(None, None, config, "")]
    while stack:
        holder, key, entry, parent = stack.pop()
        cls = entry.get("class_name")
        path = f"{parent}/{_name(entry)}" if parent else _name(entry)
        if cls == "Lambda":
            info = analyze_lambda(entry)
            if not (info.is_dropout and info.rate is not None and 0.0 <= info.rate < 1.0):
                what = "recognised as dropout but its rate cannot be recovered" if (
                    info.is_dropout) else "is not recognisably dropout"
                raise UnsupportedModelError(
                    f"Lambda layer '{path}' {what}; dropctl never runs bytecode from a file, "
                    "so this model cannot be loaded (rewrite the Lambda as a real layer)"
                )
            new = _always_dropout_entry(entry, info.rate, keras3)
            if holder is None:
                raise UnsupportedModelError(f"the whole model '{path}' is a Lambda layer")
            holder[key] = new
            rescues.append(Rescue(path, f"Lambda dropout replaced by AlwaysDropout(rate={info.rate:g})"))
            continue
        if cls == "Sequential":
            _normalize_sequential(entry, path, rescues)
        cfg = entry.get("config")
        if isinstance(cfg, dict) and isinstance(cls, str):
            for old, new_key in RENAMED_KEYS.get(cls, {}).items():
                if old in cfg and new_key not in cfg:
                    cfg[new_key] = cfg.pop(old)
                    rescues.append(Rescue(path, f"Keras 1 key '{old}' renamed to '{new_key}'"))
                elif old in cfg:
                    cfg.pop(old)
            for dropped in sorted(DROPPED_KEYS.get(cls, frozenset()) & cfg.keys()):
                cfg.pop(dropped)
                rescues.append(Rescue(path, f"Keras 2 leftover '{dropped}' dropped"))
        kids: list[tuple[list[Any] | dict[str, Any], Any]]  # (holder, index or key) per child
        if isinstance(cfg, list):
            kids = [(cfg, i) for i, c in enumerate(cfg) if isinstance(c, dict)]
        elif isinstance(cfg, dict):
            kids = [(cfg["layers"], i) for i, c in enumerate(cfg.get("layers") or [])
                    if isinstance(c, dict)]
            kids += [(cfg, r) for r in ("layer", "backward_layer", "forward_layer", "cell")
                     if isinstance(cfg.get(r), dict)]
            kids += [(cfg["cells"], i) for i, c in enumerate(cfg.get("cells") or [])
                     if isinstance(c, dict)]
        else:
            kids = []
        for h, k in kids:
            stack.append((h, k, h[k], path))
    return config, rescues


# ---- building and weights (Keras) ---------------------------------------------------------------


def _keras() -> Any:
    from dropctl.runtime import keras_module

    return keras_module()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _build(config: dict[str, Any], keras3: bool) -> Any:
    keras = _keras()
    from keras.src.saving import serialization_lib

    from dropctl.layers import always_on_layer_classes

    custom = always_on_layer_classes()
    cfg = dict(config)
    cfg.pop("compile_config", None)
    # Keras warns about legacy arguments it accepts (input_shape, alpha...): noise for the user.
    with serialization_lib.SafeModeScope(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if keras3:
            return serialization_lib.deserialize_keras_object(
                cfg, custom_objects=custom, safe_mode=True)
        from keras.src.legacy.saving import saving_options, saving_utils

        with saving_options.keras_option_scope(use_legacy_config=True):
            return saving_utils.model_from_config(cfg, custom_objects=custom)
    raise AssertionError(keras)  # pragma: no cover


def _weighted_layer_names(model: Any) -> set[str]:
    return {layer.name for layer in model.layers if layer.weights}


def _load_h5_weights(model: Any, path: Path) -> None:
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "r") as f:
        if "model_weights" not in f:
            raise ArtifactError(f"{path}: the file has a model config but no /model_weights group")
        group = f["model_weights"]
        stored = set(legacy_h5_format.load_attributes_from_hdf5_group(group, "layer_names"))
        missing = sorted(_weighted_layer_names(model) - stored)
        if missing:
            raise UnsupportedModelError(
                f"{path}: no stored weights for layer(s) {', '.join(missing[:5])}")
        legacy_h5_format.load_weights_from_hdf5_group_by_name(group, model)


def load(path: str | Path, *, require_weights: bool = True) -> LoadedModel:
    """Load ``path`` (.keras, .h5/.hdf5, or a model JSON) into Keras 3 without running its code.

    Raises :class:`ArtifactError` (unreadable/hostile file, no architecture) or
    :class:`UnsupportedModelError` (unknown Lambda, a config Keras 3 cannot build, weights that
    do not fit). With ``require_weights`` (the default) a file without weights is refused.
    """
    from dropctl.artifact import read_artifact

    art = read_artifact(path)
    if require_weights and not art.has_weights:
        raise UnsupportedModelError(
            f"{art.path}: the file holds an architecture but no weights; nothing to run")
    keras3 = art.format is ArtifactFormat.KERAS
    config, rescues = rescue_config(art.model_config, keras3=keras3)
    try:
        model = _build(config, keras3)
    except Exception as exc:  # noqa: BLE001 - Keras raises any type for a config it rejects
        raise UnsupportedModelError(
            f"{art.path}: Keras {_keras().__version__} cannot build the model: {_one_line(exc)}"
        ) from None
    if not isinstance(model, _keras().Model):
        raise UnsupportedModelError(f"{art.path}: the config does not describe a model")
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
                f"{art.path}: cannot load the weights: {_one_line(exc)}") from None
    return LoadedModel(model, art.path, art.format, art.keras_version, tuple(rescues))


def load_model(path: str | Path) -> Any:
    """``keras.Model`` from ``path``, safe mode on, legacy Lambda dropout rescued (see :func:`load`)."""
    return load(path).model


# ---- stochastic sites of a loaded model ---------------------------------------------------------


def _site_of(layer: Any, keras: Any) -> tuple[SiteKind, float] | None:
    from dropctl.layer_names import ALWAYS_ON_CLASSES  # noqa: F401  (documentation of the set)

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
        rate = float(getattr(layer, "_dropout", 0.0) or 0.0)
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
    from dropctl.layer_names import always_on_class

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
