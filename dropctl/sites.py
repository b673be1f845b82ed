"""Walking a model config tree: layers, paths, trainable flags, pinned calls, stochastic sites.

Owns the semantics of *when a site acts* (KERAS_NOTES.md section 1), derived statically:

* Dropout-family layers, RNN ``dropout``/``recurrent_dropout`` and attention ``dropout``
  act only when their call gets ``training=True``: ``fit()`` passes True, ``predict()``
  passes False, a bare ``model(x)`` passes None (layers then use their default, off).
* ``trainable=False`` does not switch dropout off: a frozen sub-model still drops units
  while the outer model trains.
* A pinned call ``Dropout(r)(x, training=True)`` is honoured by tf.keras / Keras 2
  everywhere, but Keras 3.15's ``functional.operation_fn`` overwrites a node's
  ``training`` with the outer value whenever that is not None (verified in
  keras/src/models/functional.py): pinned True acts under ``model(x)`` and not under
  ``predict()``; pinned False is overridden by ``fit()``. A pin on a nested model's call
  applies to every layer inside it.
* Lambda ``K.dropout`` (PermaDropout) and dropctl's own always-on layers act always.

The walk is iterative with a depth and node cap, so hostile nesting cannot exhaust the
Python stack; it reads dicts and lists only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dropctl.errors import ArtifactError
from dropctl.lambdas import LambdaInfo, analyze_lambda
from dropctl.report import Phase, SiteKind

MAX_LAYERS = 200_000
MAX_MODEL_DEPTH = 64

TRUSTED_MODULE_ROOTS = ("keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "dropctl")
"""Modules whose classes are built into Keras (or dropctl's own registered layers)."""

CONTAINER_CLASSES = frozenset({"Sequential", "Functional", "Model", "Network"})

STOCK_KINDS: dict[str, SiteKind] = {
    "Dropout": SiteKind.DROPOUT,
    "SpatialDropout1D": SiteKind.SPATIAL_DROPOUT,
    "SpatialDropout2D": SiteKind.SPATIAL_DROPOUT,
    "SpatialDropout3D": SiteKind.SPATIAL_DROPOUT,
    "GaussianDropout": SiteKind.GAUSSIAN_DROPOUT,
    "AlphaDropout": SiteKind.ALPHA_DROPOUT,
    "GaussianNoise": SiteKind.GAUSSIAN_NOISE,
    "StochasticDepth": SiteKind.STOCHASTIC_DEPTH,
}
RECURRENT_CLASSES = frozenset(
    {
        "LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
        "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTMCell", "ConvLSTM1DCell",
        "ConvLSTM2DCell", "ConvLSTM3DCell", "PeepholeLSTMCell",
    }
)
ATTENTION_CLASSES = frozenset(
    {"MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention",
     "AdditiveAttention"}
)
UNSAFE_CLASSES = frozenset({"TorchModuleWrapper", "TFSMLayer", "JaxLayer", "FlaxLayer"})
LOOKUP_CLASSES = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})

# Layer classes Keras 1, Keras 2, tf.keras and Keras 3 ship (legacy .h5 files carry no module).
_BUILTIN_NAMES = """
AbstractRNNCell Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add
AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D
AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization Bidirectional
CategoryEncoding CenterCrop Concatenate Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D
Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose Convolution2D
Convolution2DTranspose Convolution3D Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix
Dense DenseFeatures DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense
Embedding Equalization Flatten Functional GRU GRUCell GaussianDropout GaussianNoise
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D
GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D
GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization GroupQueryAttention GroupedQueryAttention
HashedCrossing Hashing Identity InputLayer IntegerLookup LSTM LSTMCell Lambda Layer LayerNormalization
LeakyReLU LocallyConnected1D LocallyConnected2D Masking MaxPool1D MaxPool2D MaxPool3D MaxPooling1D
MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp Model MultiHeadAttention Multiply
Network Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment RandomBrightness
RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop RandomElasticTransform
RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale RandomHeight RandomHue RandomInvert
RandomPerspective RandomPosterization RandomRotation RandomSaturation RandomSharpness RandomShear
RandomTranslation RandomWidth RandomZoom ReLU RepeatVector Rescaling Reshape Resizing
ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SeparableConvolution1D
SeparableConvolution2D Sequential SimpleRNN SimpleRNNCell Softmax Solarization SpatialDropout1D
SpatialDropout2D SpatialDropout3D SpectralNormalization StackedRNNCells StringLookup Subtract
TextVectorization ThresholdedReLU TimeDistributed Wrapper ZeroPadding1D ZeroPadding2D ZeroPadding3D
TFSMLayer TorchModuleWrapper JaxLayer FlaxLayer
TFOpLambda SlicingOpLambda TensorFlowOpLayer CuDNNLSTM CuDNNGRU PeepholeLSTMCell ConvLSTM2DCell
Merge Highway MaxoutDense TimeDistributedDense AtrousConvolution1D AtrousConvolution2D
Deconvolution2D Deconvolution3D Convolution1D ParametricSoftplus SReLU LocallyConnected
UpSampling1D UpSampling2D UpSampling3D StochasticDepth LayerScale
"""
BUILTIN_CLASSES = frozenset(_BUILTIN_NAMES.split())

_RATE_KEYS = ("rate", "p", "dropout_rate", "drop_rate", "drop_path_rate")
_DROPOUT_WORDS = ("dropout", "drop_path", "droppath", "stochasticdepth", "noise", "dropconnect",
                  "dropblock", "mcdropout", "permadropout", "perma_dropout")


@dataclass(frozen=True)
class Layer:
    """One layer found by the walk, with the context its ancestors give it."""

    path: str
    name: str
    class_name: str
    config: dict[str, Any]
    depth: int
    module: str | None
    registered_name: str | None
    trainable: bool
    effective_trainable: bool
    frozen_by: str | None
    """Path of the outermost frozen ancestor (or the layer itself) when not effectively trainable."""
    own_pin: bool | None
    """``training`` stored in this layer's own call node(s)."""
    pin: bool | None
    """Effective pin: own, else inherited from the nearest pinned enclosing call."""
    pin_from: str | None
    """Path whose call carries the effective pin."""
    container: bool
    """True for nested models and wrappers."""
    opaque: bool = False
    """A subclassed model or unknown container whose inside is not in the config."""
    wrapper_role: str | None = None
    """"layer", "backward_layer", "cell" when the layer sits inside a wrapper."""
    lambdas: tuple[LambdaInfo, ...] = field(default=())
    """Bytecode payloads stored anywhere in this layer's own config."""
    foreign_modules: tuple[str, ...] = field(default=())
    """Objects inside the layer's config (initializers...) naming an untrusted module."""

    @property
    def trusted(self) -> bool:
        """Built-in Keras class (or dropctl's own), judged by module or by class name."""
        if self.module is not None:
            return self.module.split(".", 1)[0] in TRUSTED_MODULE_ROOTS
        return self.class_name in BUILTIN_CLASSES or always_on_stock(self) is not None


def always_on_stock(layer: Layer) -> str | None:
    """The stock class a dropctl always-on layer behaves like, or None for other layers."""
    from dropctl.layer_names import ALWAYS_ON_CLASSES, always_on_class

    ours = always_on_class(layer.class_name, layer.registered_name)
    return ALWAYS_ON_CLASSES[ours] if ours else None


# ---- reading configs of every vintage --------------------------------------------------------
def layer_name(entry: dict[str, Any]) -> str:
    """The layer's name; list-form Sequential (Keras 1 / 2.0) stored none: "sequential"."""
    cfg = entry.get("config")
    if isinstance(cfg, list) and not isinstance(entry.get("name"), str):
        return "sequential"
    name = entry.get("name")
    if not isinstance(name, str) and isinstance(cfg, dict):
        name = cfg.get("name")
    if isinstance(name, str) and name:
        return name
    cls = entry.get("class_name")
    return cls if isinstance(cls, str) else "?"


def children_of(entry: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(wrapper role, child entry) for nested layer lists, wrapped layers and RNN cells."""
    cfg = entry.get("config")
    out: list[tuple[str | None, dict[str, Any]]] = []
    if isinstance(cfg, list):  # Keras 1 / 2.0-2.2.2 list-form Sequential
        out.extend((None, c) for c in cfg if isinstance(c, dict))
        return out
    if not isinstance(cfg, dict):
        return out
    layers = cfg.get("layers")
    if isinstance(layers, list):
        out.extend((None, c) for c in layers if isinstance(c, dict))
    for role in ("layer", "backward_layer", "forward_layer", "cell"):
        child = cfg.get(role)
        if isinstance(child, dict) and isinstance(child.get("class_name"), str):
            out.append((role, child))
        elif isinstance(child, list):
            out.extend((role, c) for c in child if isinstance(c, dict) and "class_name" in c)
    cells = cfg.get("cells")
    if isinstance(cells, list):
        out.extend(("cell", c) for c in cells if isinstance(c, dict) and "class_name" in c)
    return out


def _node_kwargs(node: Any) -> list[dict[str, Any]]:
    """Call kwargs stored in one inbound node, in the Keras 1, 2 and 3 forms."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        kw = node.get("kwargs")
        return [kw] if isinstance(kw, dict) else []
    out = []
    if isinstance(node, list):  # Keras 1/2: [[name, node_idx, tensor_idx, {kwargs}], ...]
        for tensor in node:
            if isinstance(tensor, list) and len(tensor) >= 4 and isinstance(tensor[3], dict):
                out.append(tensor[3])
    return out


def pinned_training(entry: dict[str, Any]) -> bool | None:
    """``training`` pinned in the layer's call node(s): True wins over False; None if unpinned."""
    nodes = entry.get("inbound_nodes")
    if not isinstance(nodes, list):
        return None
    seen: set[bool] = set()
    for node in nodes:
        for kw in _node_kwargs(node):
            value = kw.get("training")
            # Keras 3 writes the *resolved default* `training: false` into every node of a
            # layer that takes `training` (measured: a plain Dropout(x) in a Keras 3
            # functional model saves {"training": false}), so in the dict form only True
            # is a real pin. Keras 2's list form stores only what the user passed.
            if value is True or (value is False and not isinstance(node, dict)):
                seen.add(value)
    if True in seen:
        return True
    if False in seen:
        return False
    return None


def scan_config(value: Any, skip_keys: frozenset[str]) -> tuple[list[LambdaInfo], list[str]]:
    """Bytecode payloads and untrusted ``module`` names anywhere inside ``value``.

    Does not descend into ``skip_keys`` at the top level (child layers are walked on
    their own, so each finding lands on the layer that holds it).
    """
    lambdas: list[LambdaInfo] = []
    modules: list[str] = []
    stack: list[tuple[Any, bool]] = [(value, True)]
    while stack:
        item, top = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "__lambda__":
                lambdas.append(analyze_lambda({"function": item}))
                continue
            module = item.get("module")
            if (not top and isinstance(module, str)
                    and module.split(".", 1)[0] not in TRUSTED_MODULE_ROOTS):
                modules.append(f"{item.get('class_name')} from {module}")
            for key, child in item.items():
                if top and key in skip_keys:
                    continue
                stack.append((child, False))
        elif isinstance(item, list):
            stack.extend((child, False) for child in item)
    return lambdas, modules


_CHILD_KEYS = frozenset({"layers", "layer", "backward_layer", "forward_layer", "cell", "cells"})


def _is_opaque(entry: dict[str, Any], has_children: bool, depth: int) -> bool:
    """A model whose layers are not in its config: subclassed, or an unknown container."""
    if has_children:
        return False
    cls = entry.get("class_name")
    cfg = entry.get("config")
    if cls in CONTAINER_CLASSES:
        return True  # a model class with no layers listed: nothing can be seen inside
    if depth == 0:
        return True  # the root is always a model; with no layer list it is subclassed
    module = entry.get("module")
    if isinstance(module, str) and module.split(".", 1)[0] in TRUSTED_MODULE_ROOTS:
        return False
    name = str(cls).lower()
    return name.endswith(("model", "network", "net")) or (
        isinstance(cfg, dict) and "build_config" in entry and not cfg and name.endswith("block")
    )


def walk(model_config: dict[str, Any]) -> list[Layer]:
    """Every layer under the root model, pre-order, with paths qualified from the root.

    The root model itself is returned first (depth 0), so its name starts every path.
    """
    out: list[Layer] = []
    # (entry, parent path, depth, parent effective trainable, frozen_by, pin, pin_from, role)
    stack: list[tuple[dict[str, Any], str, int, bool, str | None, bool | None, str | None,
                      str | None]] = [(model_config, "", 0, True, None, None, None, None)]
    while stack:
        entry, parent, depth, parent_trainable, frozen_by, pin, pin_from, role = stack.pop()
        if len(out) >= MAX_LAYERS:
            raise ArtifactError(f"model has more than {MAX_LAYERS:,} layers (hostile config?)")
        if depth > MAX_MODEL_DEPTH:
            raise ArtifactError(f"models nest deeper than {MAX_MODEL_DEPTH} levels (hostile config?)")
        name = layer_name(entry)
        path = f"{parent}/{name}" if parent else name
        if not isinstance(entry.get("class_name"), str):
            raise ArtifactError(f"layer {path} has no valid class_name (corrupt config)")
        cfg = entry.get("config")
        cfg_dict = cfg if isinstance(cfg, dict) else {}
        own_trainable = cfg_dict.get("trainable", entry.get("trainable", True))
        own_trainable = own_trainable if isinstance(own_trainable, bool) else True
        eff = parent_trainable and own_trainable
        frozen = frozen_by if frozen_by else (None if own_trainable else path)
        own_pin = pinned_training(entry)
        eff_pin, eff_pin_from = (own_pin, path) if own_pin is not None else (pin, pin_from)
        kids = children_of(entry)
        module = entry.get("module")
        registered = entry.get("registered_name")
        lambdas: list[LambdaInfo] = []
        scanned = cfg_dict
        if entry.get("class_name") == "Lambda":
            info = analyze_lambda(entry)
            if info.has_bytecode:
                lambdas.append(info)
            scanned = {k: v for k, v in cfg_dict.items()
                       if k not in ("function", "output_shape", "mask")}
        nested_lambdas, foreign = scan_config(scanned, _CHILD_KEYS)
        lambdas.extend(nested_lambdas)
        out.append(
            Layer(
                path=path,
                name=name,
                class_name=str(entry.get("class_name")),
                config=cfg_dict,
                depth=depth,
                module=module if isinstance(module, str) else None,
                registered_name=registered if isinstance(registered, str) else None,
                trainable=own_trainable,
                effective_trainable=eff,
                frozen_by=frozen if not eff else None,
                own_pin=own_pin,
                pin=eff_pin,
                pin_from=eff_pin_from if eff_pin is not None else None,
                container=bool(kids),
                opaque=_is_opaque(entry, bool(kids), depth),
                wrapper_role=role,
                lambdas=tuple(lambdas),
                foreign_modules=tuple(foreign),
            )
        )
        for child_role, child in reversed(kids):
            stack.append((child, path, depth + 1, eff, frozen if not eff else None,
                          eff_pin, eff_pin_from, child_role))
    return out


# ---- classification -------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteSpec:
    """How one layer is stochastic, before phase semantics are applied."""

    kind: SiteKind
    rate: float | None
    recurrent_rate: float | None
    stddev: float | None
    always_on: bool
    """Ignores ``training``: acts in every phase (Lambda dropout, dropctl's layers)."""
    unknown: bool
    """Behaviour cannot be known statically (custom classes)."""
    note: str | None = None


def _num(cfg: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        v = cfg.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def _noise_shape_note(cfg: dict[str, Any]) -> str | None:
    """Explain a ``noise_shape`` that shares one mask across axes (e.g. stochastic depth)."""
    shape = cfg.get("noise_shape")
    if not isinstance(shape, list) or not shape:
        return None
    shown = "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
    if len(shape) > 1 and shape[0] is None and all(d == 1 for d in shape[1:]):
        return f"noise_shape {shown}: drops whole examples (stochastic depth), not single units"
    return f"noise_shape {shown}: one mask shared along the axes of size 1"


def _stock_spec(cls: str, cfg: dict[str, Any]) -> SiteSpec | None:
    kind = STOCK_KINDS.get(cls)
    if kind is SiteKind.GAUSSIAN_NOISE:
        return SiteSpec(kind, None, None, _num(cfg, "stddev", "sigma"), False, False)
    if kind is SiteKind.STOCHASTIC_DEPTH:
        return SiteSpec(kind, _num(cfg, "drop_path_rate", "rate"), None, None, False, False)
    if kind is not None:
        return SiteSpec(kind, _num(cfg, "rate", "p"), None, None, False, False, _noise_shape_note(cfg))
    if cls in RECURRENT_CLASSES:
        rate = _num(cfg, "dropout", "dropout_W")
        rec = _num(cfg, "recurrent_dropout", "dropout_U")
        if (rate or 0.0) == 0.0 and (rec or 0.0) == 0.0:
            return None
        return SiteSpec(SiteKind.RECURRENT, rate or 0.0, rec or 0.0, None, False, False)
    if cls in ATTENTION_CLASSES:
        rate = _num(cfg, "dropout", "attention_dropout")
        if not rate:
            return None
        return SiteSpec(SiteKind.ATTENTION, rate, None, None, False, False)
    return None


def classify(layer: Layer) -> SiteSpec | None:
    """The layer's stochastic behaviour, or None for a deterministic layer."""
    cls, cfg = layer.class_name, layer.config
    if layer.container and not (cls in RECURRENT_CLASSES or cls in ATTENTION_CLASSES):
        return None  # a wrapper or nested model: its children are classified instead
    stock = always_on_stock(layer)
    if stock is not None:
        spec = _stock_spec(stock, cfg)
        if spec is None:  # e.g. an always-on LSTM saved with rates 0
            return None
        return SiteSpec(spec.kind, spec.rate, spec.recurrent_rate, spec.stddev, True, False,
                        "dropctl always-on layer: acts in every phase")
    if cls == "Lambda":
        info = analyze_lambda({"class_name": cls, "config": cfg})
        if info.is_dropout:
            return SiteSpec(SiteKind.LAMBDA, info.rate, None, None, True, False,
                            f"Lambda dropout (rate from {info.rate_source or 'nowhere'})")
        if info.is_noise:
            return SiteSpec(SiteKind.LAMBDA, None, None, info.rate, True, False,
                            "Lambda Gaussian noise")
        return None
    if layer.trusted:
        spec = _stock_spec(cls, cfg)
        if spec is not None:
            return spec
        module_root = (layer.module or "").split(".", 1)[0]
        if module_root in ("keras_hub", "keras_nlp", "keras_cv"):
            rate = _num(cfg, "dropout", "dropout_rate", "attention_dropout", "drop_rate",
                        "drop_path_rate")
            if rate:
                kind = (SiteKind.ATTENTION
                        if any(w in cls.lower() for w in ("attention", "transformer"))
                        else SiteKind.DROPOUT)
                return SiteSpec(kind, rate, None, None, False, False,
                                f"{module_root} layer with a dropout parameter")
        return None
    # A custom class: its name or rate-like parameters suggest randomness, its code is unknown.
    lowered = cls.lower().replace("_", "")
    rate = _num(cfg, *_RATE_KEYS, "dropout")
    stddev = _num(cfg, "stddev", "sigma")
    if any(w.replace("_", "") in lowered for w in _DROPOUT_WORDS) or rate or stddev:
        kind = SiteKind.CUSTOM
        return SiteSpec(kind, rate, _num(cfg, "recurrent_dropout"), stddev, False, True,
                        "custom class: behaviour unknown without its code")
    return None


@dataclass(frozen=True)
class Phases:
    """When a site acts under each way of running the model."""

    in_fit: bool
    in_predict: Phase
    in_predict_keras2: Phase
    in_call: Phase
    note: str | None


def phases(layer: Layer, spec: SiteSpec) -> Phases:
    """Apply KERAS_NOTES.md section 1 to one site (see the module docstring)."""
    noop = spec.kind is not SiteKind.CUSTOM and not (
        (spec.rate or 0.0) > 0 or (spec.recurrent_rate or 0.0) > 0 or (spec.stddev or 0.0) > 0
    )
    if spec.unknown:
        return Phases(True, Phase.UNKNOWN, Phase.UNKNOWN, Phase.UNKNOWN, spec.note)
    if noop:
        return Phases(False, Phase.NEVER, Phase.NEVER, Phase.NEVER, "rate 0: a no-op")
    if spec.always_on:
        keras2 = Phase.ALWAYS if spec.kind is SiteKind.LAMBDA else Phase.UNKNOWN
        return Phases(True, Phase.ALWAYS, keras2, Phase.ALWAYS, spec.note)
    if layer.pin is True:
        where = "" if layer.pin_from == layer.path else f" (inherited from {layer.pin_from})"
        return Phases(
            True, Phase.NEVER, Phase.ALWAYS, Phase.ALWAYS,
            f"training=True pinned{where}: Keras 3 predict() overrides it, Keras 2 honours it",
        )
    if layer.pin is False:
        where = "" if layer.pin_from == layer.path else f" (inherited from {layer.pin_from})"
        return Phases(
            True, Phase.NEVER, Phase.NEVER, Phase.NEVER,
            f"training=False pinned{where}: Keras 3 fit() overrides it, Keras 2 never drops",
        )
    return Phases(True, Phase.NEVER, Phase.NEVER, Phase.NEVER, spec.note)
