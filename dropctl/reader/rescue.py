"""Legacy rescue: rewrite a Keras 1/2 / tf.keras config so Keras 3 can build it, without Keras.

Pure config surgery on a copy, driven by the one walker (:mod:`dropctl.reader.walker`), so every
rescue names a layer by the same path ``dropctl inspect`` prints:

* a Lambda recognised as dropout (``PermaDropout``: ``Lambda(lambda x: K.dropout(x, level=r))``)
  becomes dropctl's ``AlwaysDropout`` with the recovered rate, so its bytecode is never
  unmarshalled; any other Lambda raises :class:`UnsupportedModelError` naming its path;
* Keras 1 list-form Sequential configs become dict form, and a first layer's
  ``batch_input_shape`` becomes an explicit InputLayer;
* Keras 1/2 keys Keras 3 rejects are renamed (:data:`RENAMED_KEYS`) or dropped
  (:data:`DROPPED_KEYS`).

The runtime loader (:mod:`dropctl.runtime.loader`) builds the result in safe mode; ``convert``
builds its rewritten config through the same function.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from dropctl.errors import UnsupportedModelError
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.layer_names import MODULE, registered_name
from dropctl.reader.walker import Layer, layer_name, walk

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




def _always_dropout_entry(entry: dict[str, Any], rate: float, keras3: bool) -> dict[str, Any]:
    old = entry.get("config") or {}
    cfg: dict[str, Any] = {"name": layer_name(entry), "rate": float(rate),
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
    InputLayer, which is what Keras 3 itself writes. The layer list object is kept (the walk
    holds references into it).
    """
    cfg = entry.get("config")
    if isinstance(cfg, list):
        entry["config"] = cfg = {"name": layer_name(entry), "layers": cfg}
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
                     "name": f"{layer_name(first)}_input"}
        dtype = fcfg.pop("input_dtype", None)
        if isinstance(dtype, str):
            input_cfg["dtype"] = dtype
        cfg["layers"].insert(0, {"class_name": "InputLayer", "config": input_cfg})


def _rescue_lambda(layer: Layer, keras3: bool, rescues: list[Rescue]) -> None:
    info = analyze_lambda(layer.entry)
    if not (info.is_dropout and info.rate is not None and 0.0 <= info.rate < 1.0):
        what = ("recognised as dropout but its rate cannot be recovered" if info.is_dropout
                else "is not recognisably dropout")
        raise UnsupportedModelError(
            f"Lambda layer '{layer.path}' {what}; dropctl never runs bytecode from a file, "
            "so this model cannot be loaded (rewrite the Lambda as a real layer)"
        )
    if layer.holder is None or layer.key is None:
        raise UnsupportedModelError(f"the whole model '{layer.path}' is a Lambda layer")
    layer.holder[layer.key] = _always_dropout_entry(layer.entry, info.rate, keras3)  # type: ignore[index]
    rescues.append(Rescue(layer.path, f"Lambda dropout replaced by AlwaysDropout(rate={info.rate:g})"))


def _rescue_keys(layer: Layer, rescues: list[Rescue]) -> None:
    cfg = layer.entry.get("config")
    if not isinstance(cfg, dict):
        return
    for old, new_key in RENAMED_KEYS.get(layer.class_name, {}).items():
        if old in cfg and new_key not in cfg:
            cfg[new_key] = cfg.pop(old)
            rescues.append(Rescue(layer.path, f"Keras 1 key '{old}' renamed to '{new_key}'"))
        elif old in cfg:
            cfg.pop(old)
    for dropped in sorted(DROPPED_KEYS.get(layer.class_name, frozenset()) & cfg.keys()):
        cfg.pop(dropped)
        rescues.append(Rescue(layer.path, f"Keras 2 leftover '{dropped}' dropped"))


def rescue_config(model_config: dict[str, Any], *, keras3: bool) -> tuple[dict, list[Rescue]]:
    """A rewritten copy of ``model_config`` that Keras 3 can build in safe mode, and the changes.

    ``keras3`` says whether the config is in the Keras 3 serialization form (``.keras`` files)
    or the legacy one (``.h5``/JSON). Raises :class:`UnsupportedModelError` for a Lambda that
    is not recognisably dropout (dropctl never runs stored bytecode).
    """
    config = copy.deepcopy(model_config)
    layers = walk(config)
    rescues: list[Rescue] = []
    # Children before parents (reverse pre-order): replacing a Lambda by index happens before
    # its Sequential gains an InputLayer at index 0, so every holder/key pair stays valid.
    for layer in reversed(layers):
        if layer.class_name == "Lambda":
            _rescue_lambda(layer, keras3, rescues)
            continue
        if layer.class_name == "Sequential":
            _normalize_sequential(layer.entry, layer.path, rescues)
        _rescue_keys(layer, rescues)
    rescues.reverse()  # report in walk order
    return config, rescues
