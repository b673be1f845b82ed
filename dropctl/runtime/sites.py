"""The stochastic sites of a loaded ``keras.Model``: the runtime twin of ``dropctl inspect``'s list.

:func:`model_sites` walks a model Keras built (by :mod:`dropctl.runtime.loader` or by the
user) and lists every layer that injects randomness, with the same ``/``-joined paths
``dropctl inspect`` prints (``cnn/dropout``, ``family/bidirectional/forward_lstm``,
``model_AB/model_A/dropout``, ``gpt2_backbone/transformer_layer_0/self_attention_dropout``),
and for each site the layers the Monte Carlo engine switches (:attr:`ModelSite.parts`).
The loader turns a file into a model; this module only reads the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropctl.reader.report import SiteKind
from dropctl.runtime import compat, keras_module

__all__ = ["ModelSite", "model_sites"]


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
    parts: tuple[Any, ...] = ()
    """The layers the Monte Carlo engine switches for this site: ``(layer,)`` for a stock
    layer; for a block whose dropout lives in sub-layers (keras_hub ``TransformerEncoder``,
    ``CachedMultiHeadAttention``...) its dropout-family leaves, so BatchNormalization and
    everything else in the block stay in inference mode; for a custom leaf layer whose
    ``call`` takes ``training`` (keras-io CCT's ``StochasticDepth``), the layer itself, called
    with ``training=True``. Empty: nothing can be switched."""
    blocked: str | None = None
    """Why ``parts`` is empty, when the walk knows (None: it is not, or no reason known)."""


def _keras() -> Any:
    return keras_module("running a model")


_HUB_ROOTS = ("keras_hub", "keras_nlp", "keras_cv")
_HUB_RATE_ATTRS = ("dropout", "dropout_rate", "attention_dropout", "drop_rate", "drop_path_rate",
                   "_dropout", "_dropout_rate")


def _leaf_site(layer: Any, keras: Any) -> tuple[SiteKind, float] | None:
    """A stock stochastic layer (Dropout family, RNN, attention, StochasticDepth)."""
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
    if compat.is_stochastic_depth(layer):
        rate = float(layer.drop_path_rate or 0.0)
        return (SiteKind.STOCHASTIC_DEPTH, rate) if rate > 0 else None
    return None


def _hub_block(layer: Any, keras: Any) -> tuple[SiteKind, float, tuple[Any, ...]] | None:
    """A layer whose dropout lives inside it, named as one site at its own path: a keras_hub
    layer ``inspect`` does not expand (:func:`dropctl.reader.semantics.opens`) or a user's custom
    layer (``--custom-objects``), as ``inspect`` lists them. Not a model.

    The engine switches the Dropout-family leaves inside it, never the whole block (which
    would also switch any normalization inside to training mode).
    """
    if isinstance(layer, keras.Model):
        return None
    root = type(layer).__module__.split(".", 1)[0]
    custom = root not in ("keras", "dropctl", *_HUB_ROOTS)
    if root not in _HUB_ROOTS and not custom:
        return None
    rates = [float(v) for v in (getattr(layer, a, None)
                                for a in (*_HUB_RATE_ATTRS, *(("rate",) if custom else ())))
             if isinstance(v, int | float) and not isinstance(v, bool)]
    leaves = tuple(sub for sub in compat.sublayers(layer)
                   if isinstance(sub, keras.layers.Dropout | keras.layers.GaussianDropout
                                 | keras.layers.AlphaDropout | keras.layers.GaussianNoise)
                   and _leaf_site(sub, keras) is not None)
    leaf_rates = [_leaf_site(sub, keras)[1] for sub in leaves]  # type: ignore[index]
    rate = max(rates + leaf_rates, default=0.0)
    if rate <= 0:
        return None
    name = type(layer).__name__.lower()
    kind = (SiteKind.CUSTOM if custom
            else SiteKind.ATTENTION if any(w in name for w in ("attention", "transformer"))
            else SiteKind.DROPOUT)
    return kind, rate, leaves


def _hub_leaf(layer: Any, keras: Any) -> tuple[SiteKind, float] | None:
    """A keras_hub layer that drops by itself (Swin's ``DropPath``...): a class the generated
    catalogue found as a site (:func:`dropctl.reader.semantics.leaf_classes`), with a rate."""
    from dropctl.reader.semantics import leaf_classes

    if isinstance(layer, keras.Model) or not _is_hub(layer) or compat.direct_sublayers(layer):
        return None
    kind = leaf_classes().get(type(layer).__name__)
    if kind is None:
        return None
    rates = [float(v) for v in (getattr(layer, a, None) for a in _HUB_LEAF_ATTRS)
             if isinstance(v, int | float) and not isinstance(v, bool)]
    rate = max(rates, default=0.0)
    return (SiteKind(kind), rate) if rate > 0 else None


_HUB_LEAF_ATTRS = ("rate", "drop_rate", "drop_prob", "drop_path_rate", "drop_path", "_rate",
                   "_drop_rate", "_drop_prob")


_CUSTOM_RATE_ATTRS = ("rate", "p", "dropout_rate", "drop_rate", "drop_path_rate", "dropout",
                      "drop_prob", "drop_prop", "drop_path", "_rate", "_drop_rate", "_drop_prob")
"""Attributes a custom layer keeps its rate in (keras-io CCT: ``self.drop_prob = drop_prop``)."""


def _is_custom(layer: Any) -> bool:
    return type(layer).__module__.split(".", 1)[0] not in ("keras", "dropctl", *_HUB_ROOTS)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _custom_leaf(layer: Any, keras: Any
                 ) -> tuple[SiteKind, float, tuple[Any, ...], str | None] | None:
    """A custom layer that draws its own randomness when its ``call`` gets ``training=True``
    (keras-io CCT's ``StochasticDepth(layers.Layer)``: ``if training: ... keras.random.uniform``).

    It is a site when ``inspect`` lists it (:func:`dropctl.reader.sites.classify`: a stochastic
    word in the class name, or a rate in its config) and its ``call`` takes ``training``; one
    holding a Dropout-family layer is :func:`_hub_block`'s. The engine switches it by calling it
    with ``training=True``, which Keras passes down to every layer inside it: so it is
    switchable only when nothing inside takes ``training`` (a BatchNormalization inside would
    run on batch statistics); otherwise it is listed with no parts and that reason. The rate
    is its config's (the keys ``inspect`` reads), else its attributes' (CCT keeps
    ``self.drop_prob``), else 0.0.
    """
    from dropctl.reader.classes import DROPOUT_WORDS, RATE_KEYS

    if isinstance(layer, keras.Model) or not _is_custom(layer) or not compat.takes_training(layer):
        return None
    inside = compat.sublayers(layer)
    if any(isinstance(sub, keras.layers.Dropout | keras.layers.GaussianDropout
                      | keras.layers.AlphaDropout | keras.layers.GaussianNoise) for sub in inside):
        return None
    try:
        cfg = layer.get_config()
    except Exception:  # noqa: BLE001 - the user's get_config may raise anything
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    configured = [v for v in (_number(cfg.get(k)) for k in (*RATE_KEYS, "dropout")) if v]
    lowered = type(layer).__name__.lower().replace("_", "")
    if not (configured or _number(cfg.get("stddev")) or _number(cfg.get("sigma"))
            or any(w.replace("_", "") in lowered for w in DROPOUT_WORDS)):
        return None
    held = [v for v in (_number(getattr(layer, a, None)) for a in _CUSTOM_RATE_ATTRS) if v]
    rate = (configured + held + [0.0])[0]
    trained = sorted({type(sub).__name__ for sub in inside if compat.takes_training(sub)})
    if trained:
        return (SiteKind.CUSTOM, rate, (),
                "cannot be switched: calling it with training=True would also run "
                f"{', '.join(trained)} inside it in training mode")
    return SiteKind.CUSTOM, rate, (layer,), None


def _site_of(layer: Any, keras: Any
             ) -> tuple[SiteKind, float, tuple[Any, ...], str | None] | None:
    """(kind, rate, the layers the engine switches, why none) for a stochastic layer, else None."""
    leaf = _leaf_site(layer, keras) or _hub_leaf(layer, keras)
    if leaf is not None:
        return leaf[0], leaf[1], (layer,), None
    custom = _custom_leaf(layer, keras)
    if custom is not None:
        return custom
    block = _hub_block(layer, keras)
    return None if block is None else (*block, None)


def _is_hub(layer: Any) -> bool:
    return type(layer).__module__.split(".", 1)[0] in _HUB_ROOTS


def _opens_hub_layer(layer: Any, keras: Any, in_hub_model: bool) -> bool:
    """Whether the walk goes inside a keras_hub layer to its own Dropout/attention layers.

    The one path scheme (:mod:`dropctl.reader.hub`): inside a keras_hub model, and for the
    keras_hub layers ``inspect`` expands (:func:`dropctl.reader.semantics.opens`), a site is the
    inner layer that drops (``transformer_layer_0/self_attention_dropout``); any other keras_hub
    layer with a dropout parameter is one site at its own path (:func:`_hub_block`).
    """
    from dropctl.reader.semantics import opens

    if (isinstance(layer, keras.Model) or not _is_hub(layer) or _leaf_site(layer, keras)
            or _hub_leaf(layer, keras)):
        return False  # a keras_hub attention layer (CachedMultiHeadAttention) is a site itself
    return in_hub_model or opens(type(layer).__name__)


def _children(layer: Any, keras: Any) -> list[Any]:
    if isinstance(layer, keras.layers.Bidirectional):
        return [layer.forward_layer, layer.backward_layer]
    if isinstance(layer, keras.layers.Wrapper):  # TimeDistributed and other wrappers
        return [layer.layer]
    if isinstance(layer, keras.Model) and not isinstance(layer, keras.layers.InputLayer):
        # A keras_hub model in the order its constructor made its layers (what Keras'
        # _flatten_layers() walks, and the catalogue behind ``inspect`` records): its ``layers``
        # are the graph's topological order, which interleaves BART's and T5's decoder
        # embedding dropout between the encoder layers.
        inner = compat.direct_sublayers(layer) if _is_hub(layer) else (
            getattr(layer, "layers", []) or [])
        return [lyr for lyr in inner if not isinstance(lyr, keras.layers.InputLayer)]
    return []


def model_sites(model: Any, sites: str | None = None) -> list[ModelSite]:
    """Stochastic layers of ``model`` in walk order, optionally only paths matching glob ``sites``.

    Paths start with the model's own name, as in ``dropctl inspect``. A layer shared by
    several paths is listed once (first path). Inside keras_hub models and the keras_hub
    layers inspect expands, sites are the inner Dropout/attention layers; ``sites`` is matched
    by :func:`dropctl.reader.walker.site_matches`, the matcher every command uses.
    """
    keras = _keras()
    from dropctl.reader.layer_names import always_on_class
    from dropctl.reader.walker import bidirectional_aliases, site_matches

    out: list[ModelSite] = []
    aliases: dict[str, tuple[str, ...]] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, str, bool]] = [(model, "", False)]
    while stack:
        layer, parent, in_hub = stack.pop()
        path = f"{parent}/{layer.name}" if parent else layer.name
        if _opens_hub_layer(layer, keras, in_hub):
            inner = compat.direct_sublayers(layer)
            stack.extend((child, path, True) for child in reversed(inner))
            continue
        found = _site_of(layer, keras)
        if found is not None and id(layer) not in seen:
            seen.add(id(layer))
            kind, rate, parts, blocked = found
            registered = keras.saving.get_registered_name(type(layer))
            out.append(ModelSite(path, layer, kind, rate,
                                 always_on_class(type(layer).__name__, registered) is not None,
                                 parts, blocked))
            continue  # a site's inside (a keras_hub block's leaves) is the site itself
        children = _children(layer, keras)
        if isinstance(layer, keras.layers.Bidirectional):
            for child in children:
                aliases[f"{path}/{child.name}"] = bidirectional_aliases(f"{path}/{child.name}")
        in_hub = in_hub or (isinstance(layer, keras.Model) and _is_hub(layer))
        stack.extend((child, path, in_hub) for child in reversed(children))
    if sites is not None:
        out = [s for s in out if site_matches(s.path, sites, aliases.get(s.path, ()))]
    return out


def failing_loudly(path: str, layer: Any, call: Any) -> Any:
    """``call`` (a site's own code, run when Monte Carlo dropout switches it on) with an error
    it raises under ``training=True`` reported as what it is: the layer's code fails there,
    so no pass can switch it, and ``fit()`` fails the same way (keras_hub 0.31.1's Swin
    ``DropPath`` calls ``keras.ops.random.uniform``, which no Keras has; measured by the
    catalogue's history, finding DC408). One line naming the site, its class and package
    version, and Keras' reason, instead of an internal error."""
    from dropctl.errors import UnsupportedModelError, one_line

    def checked(*args: Any, training: Any = None, **kwargs: Any) -> Any:
        if training is not True:
            return call(*args, training=training, **kwargs)
        try:
            return call(*args, training=training, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any error of the layer's own code
            cls = type(layer)
            root = cls.__module__.split(".", 1)[0]
            version = _version_of(root)
            where = f"{root} {version}" if version else root
            raise compat.as_raised(UnsupportedModelError(
                f"site '{path}': {cls.__name__} ({where}) raises when called with "
                f"training=True, so Monte Carlo dropout cannot switch it and fit() fails "
                f"there too: {one_line(exc)}; leave it out with --sites, or use a {root} "
                f"whose {cls.__name__} works")) from None

    return checked


def _version_of(package: str) -> str | None:
    """The installed version of a top-level package, None for a module of no distribution
    (a user's ``--custom-objects`` file)."""
    import importlib.metadata as metadata
    import sys

    module = sys.modules.get(package)
    found = getattr(module, "__version__", None)
    if isinstance(found, str):
        return found
    try:
        return metadata.version(package.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None
