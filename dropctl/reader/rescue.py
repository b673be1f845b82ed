"""Legacy rescue: rewrite a Keras 1/2 / tf.keras config so Keras 3 can build it, without Keras.

Pure config surgery on a copy, driven by the one walker (:mod:`dropctl.reader.walker`), so every
rescue names a layer by the same path ``dropctl inspect`` prints:

* a Lambda recognised as dropout (``PermaDropout``: ``Lambda(lambda x: K.dropout(x, level=r))``)
  becomes dropctl's ``AlwaysDropout`` with the recovered rate, so its bytecode is never
  unmarshalled; any other Lambda raises :class:`UnsupportedModelError` naming its path;
* Keras 1 list-form Sequential configs become dict form, and a first layer's
  ``batch_input_shape`` becomes an explicit InputLayer;
* Keras 1/2 keys Keras 3 rejects are renamed (:data:`RENAMED_KEYS`) or dropped
  (:data:`DROPPED_KEYS`, :data:`DROPPED_IF_DEFAULT`), looked up by the stock class (so
  dropctl's ``AlwaysLSTM`` sheds ``time_major`` like ``LSTM``);
* ``batch_input_shape`` on a layer that is not the first of its model (tf.keras writes it on
  the first layer after an explicit InputLayer) is dropped: the InputLayer carries the shape;
* references to a tf.keras / Keras 2 nested model's calls are renumbered: Keras 2 gives a
  built model a node of its own at index 0 (its first call is node 1), Keras 3 reads the
  list-form references literally, so they are one too high and Keras 3 reports "Invalid
  Functional model configuration" (measured on tf.keras 2.21 files).

A ``.keras`` zip written by tf.keras 2.13+ holds a Keras 2 style config (list-form nodes,
``batch_input_shape``, ``module`` names from tf_keras' engine package); :func:`keras3_form`
tells the build path to read it as the legacy form it is.

The graph-level rescues (nested-model renumbering, ``/`` in names, kwarg tensors, inner input
shapes) are :mod:`dropctl.reader.rescue_graph`. The runtime loader
(:mod:`dropctl.runtime.loader`) builds the result in safe mode; ``convert``
builds its rewritten config through the same function.
"""

from __future__ import annotations

import copy
from typing import Any

from dropctl.errors import UnsupportedModelError
from dropctl.reader.classes import BUILTIN_CLASSES
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.layer_names import MODULE, registered_name
from dropctl.reader.report import ArtifactFormat
from dropctl.reader.rescue_graph import (
    Rescue,
    drop_inner_input_shapes,
    rename_slashes,
    renamed_layers,
    renumber_submodel_calls,
    revive_kwarg_tensors,
    tensor_ref,
)
from dropctl.reader.walker import Layer, always_on_stock, layer_name, walk

# Rescue and renamed_layers live with the graph rescues that produce renames; the runtime
# loader imports them from here, the rescue's one entry point.
__all__ = ["DROPPED_IF_DEFAULT", "DROPPED_KEYS", "RENAMED_KEYS", "Rescue", "keras3_form",
           "renamed_layers", "rescue_config"]

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

_SPATIAL_DROPOUT_LEFTOVERS = frozenset({"trainable", "noise_shape"})

DROPPED_KEYS: dict[str, frozenset[str]] = {
    # tf.keras RNN layers save `time_major`; Keras 3's constructors reject it (measured).
    "LSTM": frozenset({"time_major"}),
    "GRU": frozenset({"time_major", "reset_after_"}),
    "SimpleRNN": frozenset({"time_major"}),
    "RNN": frozenset({"time_major"}),
    "Bidirectional": frozenset({"time_major"}),
    "ConvLSTM1D": frozenset({"time_major"}),
    "ConvLSTM2D": frozenset({"time_major"}),
    "ConvLSTM3D": frozenset({"time_major"}),
    # Keras 3's SpatialDropout*D.__init__ takes no **kwargs: tf.keras' `trainable` (a dropout
    # has no weights, so it changes nothing) and `noise_shape` (always derived) are refused.
    "SpatialDropout1D": _SPATIAL_DROPOUT_LEFTOVERS,
    "SpatialDropout2D": _SPATIAL_DROPOUT_LEFTOVERS,
    "SpatialDropout3D": _SPATIAL_DROPOUT_LEFTOVERS,
    # tf.keras' MultiHeadAttention records the shapes it was built with and a masking flag
    # that Keras 3 does not take; Keras 3 builds from the first call instead.
    "MultiHeadAttention": frozenset({"query_shape", "key_shape", "value_shape"}),
    # Keras 1 leftovers without a Keras 3 meaning (the input shape comes from batch_input_shape).
    "Dense": frozenset({"input_dtype", "input_dim"}),
    "Dropout": frozenset({"input_dtype"}),
    # Keras 2.x Embedding: `input_length` is gone in Keras 3 (shape comes from the input).
    "Embedding": frozenset({"input_length"}),
    # tf.keras' image augmentation layers save `rng_type` ("stateful", "stateless",
    # "legacy_stateful": which TF random op draws); Keras 3 refuses it ("Unrecognized keyword
    # arguments passed to RandomFlip: {'rng_type': 'stateful'}", measured on tf_keras 2.21) and
    # draws from its own SeedGenerator. The layers still act in training only.
    **{name: frozenset({"rng_type"}) for name in (
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
        "RandomCrop", "RandomHeight", "RandomWidth", "RandomBrightness")},
}
"""class name -> config keys Keras 3 refuses and whose value is implied elsewhere."""

DROPPED_IF_DEFAULT: dict[str, dict[str, Any]] = {
    # tf.keras' convolution base class writes `groups` (and SeparableConv the unused
    # `kernel_*` arguments) for every subclass; Keras 3 takes them only on Conv1D/2D/3D.
    # Any other value would change the layer: it is left for Keras to refuse by name.
    "DepthwiseConv1D": {"groups": 1},
    "DepthwiseConv2D": {"groups": 1},
    "Conv1DTranspose": {"groups": 1},
    "Conv2DTranspose": {"groups": 1},
    "Conv3DTranspose": {"groups": 1},
    "SeparableConv1D": {"groups": 1, "kernel_initializer": ..., "kernel_regularizer": None,
                        "kernel_constraint": None},
    "SeparableConv2D": {"groups": 1, "kernel_initializer": ..., "kernel_regularizer": None,
                        "kernel_constraint": None},
    "MultiHeadAttention": {"softmax_robust_masking": False},
}
"""class name -> {config key: the only value dropped} (``...``: any value; the key is unused)."""


def _dropout_entry(entry: dict[str, Any], rate: float, keras3: bool,
                   class_name: str = "AlwaysDropout") -> dict[str, Any]:
    """A Dropout-family layer entry replacing a Lambda (same name, inbound nodes, trainable)."""
    old = entry.get("config") or {}
    cfg: dict[str, Any] = {"name": layer_name(entry), "rate": float(rate),
                           "trainable": bool(old.get("trainable", True))}
    if old.get("dtype") is not None:
        cfg["dtype"] = old["dtype"]
    new = {k: v for k, v in entry.items() if k not in ("config", "class_name", "module",
                                                     "registered_name", "build_config")}
    ours = class_name != "Dropout"
    if keras3:
        new.update(module=MODULE if ours else "keras.layers", class_name=class_name,
                   registered_name=registered_name(class_name) if ours else None)
    else:  # legacy .h5 configs name registered classes by their registered name
        new["class_name"] = registered_name(class_name) if ours else class_name
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
    if info.is_dropout and info.phase == "unknown":
        raise UnsupportedModelError(
            f"Lambda layer '{layer.path}' draws dropout behind control flow dropctl cannot "
            "read, so whether it acts at inference is unknown; dropctl never runs bytecode "
            "from a file (rewrite the Lambda as a real layer)")
    if not (info.is_dropout and info.rate is not None and 0.0 <= info.rate < 1.0):
        what = ("recognised as dropout but its rate cannot be recovered" if info.is_dropout
                else "is not recognisably dropout")
        raise UnsupportedModelError(
            f"Lambda layer '{layer.path}' {what}; dropctl never runs bytecode from a file, "
            "so this model cannot be loaded (rewrite the Lambda as a real layer)"
        )
    if layer.holder is None or layer.key is None:
        raise UnsupportedModelError(f"the whole model '{layer.path}' is a Lambda layer")
    if info.phase == "training":  # K.in_train_phase(K.dropout(x, r), x): a standard Dropout
        layer.holder[layer.key] = _dropout_entry(layer.entry, info.rate, keras3, "Dropout")  # type: ignore[index]
        rescues.append(Rescue(layer.path, f"training-only Lambda dropout replaced by "
                                          f"Dropout(rate={info.rate:g})"))
        return
    layer.holder[layer.key] = _dropout_entry(layer.entry, info.rate, keras3)  # type: ignore[index]
    rescues.append(Rescue(layer.path, f"Lambda dropout replaced by AlwaysDropout(rate={info.rate:g})"))


_TFOP_BINARY: dict[str, str] = {
    "__operators__.add": "add", "math.add": "add",
    "math.multiply": "multiply", "__operators__.mul": "multiply",
    "math.subtract": "subtract", "__operators__.sub": "subtract",
    "math.truediv": "divide", "__operators__.truediv": "divide", "math.divide": "divide",
}
"""tf.keras ``TFOpLambda`` functions rebuilt from stock Keras 3 layers (the element-wise
arithmetic tf.keras records for ``x + y``, ``x * c``, ``preprocess_input``'s ``x / 127.5 - 1``)."""

_MERGE = {"add": "Add", "multiply": "Multiply", "subtract": "Subtract"}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rescue_tfop(layer: Layer, rescues: list[Rescue]) -> None:
    """A tf.keras ``TFOpLambda`` (a TensorFlow function applied to a Keras tensor) -> the stock
    layer computing it: ``x op y`` on two tensors -> Add/Multiply/Subtract, ``x op c`` with a
    number -> ``Rescaling(scale, offset)`` (``x * scale + offset``: exact for +, -, *; ``x / c``
    becomes ``x * (1/c)``, within one float32 rounding of ``tf.math.truediv``). Anything else
    raises UnsupportedModelError naming the layer and the op (Keras 3 has no TFOpLambda)."""
    entry = layer.entry
    raw = entry.get("config")
    cfg: dict[str, Any] = raw if isinstance(raw, dict) else {}
    function = cfg.get("function")
    op = _TFOP_BINARY.get(function) if isinstance(function, str) else None
    nodes = entry.get("inbound_nodes")
    shown = f"tf.{function}" if isinstance(function, str) else "an unnamed TensorFlow op"
    refused = UnsupportedModelError(
        f"layer '{layer.path}' is a tf.keras TFOpLambda calling {shown}, which Keras 3 cannot "
        f"build and dropctl does not rebuild (it rebuilds tf.math add, subtract, multiply and "
        f"truediv of a tensor and a number or of two tensors)")
    if (op is None or layer.holder is None or layer.key is None or not isinstance(nodes, list)
            or len(nodes) != 1 or not isinstance(nodes[0], list)):
        raise refused
    # tf.keras writes a TFOpLambda's node as one flat reference [layer, node, tensor, kwargs]
    # (measured, tf_keras 2.21), not the list of references other layers have.
    ref = nodes[0] if tensor_ref(nodes[0]) is not None else (nodes[0][0] if len(nodes[0]) == 1 else None)
    if not (isinstance(ref, list) and len(ref) == 4 and tensor_ref(ref) is not None
            and isinstance(ref[3], dict) and set(ref[3]) <= {"y", "name"}):
        raise refused
    kwargs: dict[str, Any] = ref[3]
    y = kwargs.get("y")
    base: dict[str, Any] = {"name": layer_name(entry),
                            "trainable": bool(cfg.get("trainable", True))}
    if cfg.get("dtype") is not None:
        base["dtype"] = cfg["dtype"]
    x_ref = [*ref[:3], {}]
    c = _number(y)
    y_ref = tensor_ref(y)
    if y_ref is not None and op in _MERGE:
        new = {"class_name": _MERGE[op], "config": base, "name": base["name"],
               "inbound_nodes": [[x_ref, [*y_ref[:3], {}]]]}
        what = f"{_MERGE[op]} of its two inputs"
    elif c is not None and not (op == "divide" and c == 0):
        scale, offset = {"add": (1.0, c), "subtract": (1.0, -c), "multiply": (c, 0.0),
                         "divide": (1.0 / c if c else 0.0, 0.0)}[op]
        new = {"class_name": "Rescaling", "config": {**base, "scale": scale, "offset": offset},
               "name": base["name"], "inbound_nodes": [[x_ref]]}
        what = f"Rescaling(scale={scale:g}, offset={offset:g})"
    else:
        raise refused
    layer.holder[layer.key] = new  # type: ignore[index]
    rescues.append(Rescue(layer.path, f"tf.keras TFOpLambda tf.{function} rebuilt as {what}"))


def _legacy_entry(layer: Layer) -> bool:
    """A tf.keras ``.keras`` layer entry read in the legacy form: Keras 3 deserializes an entry
    that has a ``module`` with its new-form loader (which cannot find ``Functional`` in
    tf_keras' engine module), so the Keras 2 module names go; dropctl's own
    classes take their legacy ``dropctl>Name`` spelling. True when the entry changed."""
    entry = layer.entry
    module = entry.get("module")
    if "module" not in entry and "registered_name" not in entry:
        return False
    ours = always_on_stock(layer) is not None
    if isinstance(module, str) and not ours and module.split(".", 1)[0] not in _KERAS2_ROOTS:
        return False  # a foreign module: left for the build to refuse by name
    entry.pop("module", None)
    entry.pop("registered_name", None)
    if ours and not layer.class_name.startswith("dropctl>"):
        entry["class_name"] = registered_name(layer.class_name)
    return True


def _wrapped_entry(layer: Layer) -> None:
    """A layer inside a wrapper (Bidirectional, TimeDistributed, RNN ``cell``) in its new form.

    Keras 3's wrappers deserialize their inner layer with the new-form loader even inside a
    legacy config, which cannot find a bare ``"class_name": "LSTM"`` (measured on a tf.keras
    ``.h5``: "Could not locate class 'LSTM'"), so the entry gets the ``module`` Keras 3 writes.
    """
    entry = layer.entry
    ours = always_on_stock(layer)
    if ours is not None:
        name = layer.class_name.split(">", 1)[-1]
        entry.update(class_name=name, module=MODULE, registered_name=registered_name(name))
        return
    module = entry.get("module")
    if layer.class_name in BUILTIN_CLASSES and (
            not isinstance(module, str) or module.split(".", 1)[0] == "tf_keras"):
        entry["module"] = "keras.layers"
        entry["registered_name"] = None


def _rescue_keys(layer: Layer, rescues: list[Rescue]) -> None:
    cfg = layer.entry.get("config")
    if not isinstance(cfg, dict):
        return
    cls = always_on_stock(layer) or layer.class_name
    for old, new_key in RENAMED_KEYS.get(cls, {}).items():
        if old in cfg and new_key not in cfg:
            cfg[new_key] = cfg.pop(old)
            rescues.append(Rescue(layer.path, f"Keras 1 key '{old}' renamed to '{new_key}'"))
        elif old in cfg:
            cfg.pop(old)
    for dropped in sorted(DROPPED_KEYS.get(cls, frozenset()) & cfg.keys()):
        cfg.pop(dropped)
        rescues.append(Rescue(layer.path, f"Keras 2 leftover '{dropped}' dropped"))
    for key, default in DROPPED_IF_DEFAULT.get(cls, {}).items():
        if key in cfg and (default is ... or cfg[key] == default):
            cfg.pop(key)
            rescues.append(Rescue(layer.path, f"Keras 2 leftover '{key}' dropped"))


_KERAS2_ROOTS = frozenset({"keras", "tf_keras"})


def keras3_form(fmt: ArtifactFormat, keras_major: int | None) -> bool:
    """Whether a config is in Keras 3's serialization form: a ``.keras`` zip saved by Keras 3.

    tf.keras 2.13+ writes ``.keras`` zips too, but with a Keras 2 style config, which is
    built like a legacy ``.h5`` config (weights still come from the zip). Unknown version:
    Keras 3.
    """
    return fmt is ArtifactFormat.KERAS and (keras_major is None or keras_major >= 3)


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
        if layer.class_name == "TFOpLambda" and not keras3:
            _rescue_tfop(layer, rescues)
            continue
        if layer.class_name == "Sequential":
            _normalize_sequential(layer.entry, layer.path, rescues)
        if not keras3 and layer.wrapper_role is not None:
            _wrapped_entry(layer)
        elif not keras3 and _legacy_entry(layer) and layer.depth == 0:
            rescues.append(Rescue(layer.path, "tf.keras .keras config read in its Keras 2 "
                                              "form (module names dropped)"))
        if not keras3:
            rename_slashes(layer, rescues)
            drop_inner_input_shapes(layer, rescues)
            renumber_submodel_calls(layer, rescues)
            revive_kwarg_tensors(layer, rescues)
        _rescue_keys(layer, rescues)
    rescues.reverse()  # report in walk order
    return config, rescues
