"""keras_hub models read statically: the Dropout layers their code builds, from their config.

A keras_hub backbone (``BertBackbone``, ``GPT2Backbone``, ``ViTBackbone``...) is saved as one
config object (``module: keras_hub.src.models...``) with parameters such as ``num_layers`` and
``dropout``; the Dropout layers live inside ``TransformerEncoder`` / ``TransformerDecoder`` /
attention layers that the constructor creates, so they never appear as layers in
``config.json`` (KERAS_NOTES.md section 7). For the classes below, dropctl knows where the
constructor puts each dropout and which parameter sets its rate (read from keras_hub 0.32's
sources and checked against a built model's ``_flatten_layers()`` paths in the tests), so
``inspect`` lists them with the layer paths a loaded model has. Every one is a standard
Keras dropout: it acts in ``fit()`` only.

The same holds for keras_hub *layers* used in a user's own Keras model
(:data:`LAYERS`: ``TransformerEncoder``, ``TransformerDecoder``): their sites are the layers
inside them (``encoder/self_attention_dropout``), the paths the runtime walks to
(:func:`dropctl.runtime.loader.model_sites`), so one block is several sites in every command.

A keras_hub task (``BertTextClassifier``...) stores its backbone's config under ``backbone``;
the backbone is expanded below the task's path. Any other keras_hub model with a
dropout-like parameter gets one ``custom`` site (behaviour unknown statically) and stays
opaque (finding DC402): it is never skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dropctl.reader.report import SiteKind
from dropctl.reader.walker import Layer, walk

HUB_ROOTS = ("keras_hub", "keras_nlp")
_RATE_PARAMS = ("dropout", "dropout_rate", "attention_dropout", "drop_rate", "drop_path_rate",
                "hidden_dropout", "attention_probs_dropout", "classifier_dropout")
MAX_HUB_LAYERS = 10_000
"""Most transformer layers expanded for one model (a hostile ``num_layers`` cannot blow up)."""


@dataclass(frozen=True)
class HubSite:
    """One dropout inside a keras_hub model, relative to the model."""

    rel_path: str
    """Layer names below the model (``transformer_layer_0/feedforward_dropout``)."""
    class_name: str
    """The Keras class of the layer that drops (``Dropout``, ``MultiHeadAttention``...)."""
    kind: SiteKind
    rate: float | None
    """The rate from the config; None when unknown (custom sites)."""
    known: bool = True
    """False for a keras_hub class dropctl does not model (a ``custom`` site)."""
    param: str = "dropout"
    """The config parameter that sets the rate (what ``convert --rate`` changes)."""
    owner: tuple[str, ...] = ()
    """Config keys from the model's config to the dict holding ``param`` (``("backbone",
    "config")`` for a task's backbone)."""


def _num(cfg: dict[str, Any], key: str) -> float:
    v = cfg.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def _layers(cfg: dict[str, Any]) -> int:
    n = cfg.get("num_layers")
    return min(n, MAX_HUB_LAYERS) if isinstance(n, int) and n > 0 else 0


def _transformer(prefix: str, attention: str, rate: float, param: str = "dropout",
                 attention_class: str = "MultiHeadAttention") -> list[HubSite]:
    head = f"{prefix}/" if prefix else ""
    return [
        HubSite(f"{head}{attention}", attention_class, SiteKind.ATTENTION, rate, param=param),
        HubSite(f"{head}self_attention_dropout", "Dropout", SiteKind.DROPOUT, rate, param=param),
        HubSite(f"{head}feedforward_dropout", "Dropout", SiteKind.DROPOUT, rate, param=param),
    ]


def _encoder_layer(cfg: dict[str, Any]) -> list[HubSite]:
    """A ``TransformerEncoder`` used as a layer (in a user's functional model)."""
    return _transformer("", "self_attention_layer", _num(cfg, "dropout"))


def _decoder_layer(cfg: dict[str, Any]) -> list[HubSite]:
    """A ``TransformerDecoder`` used as a layer; called with an encoder sequence it builds a
    cross-attention block too (Keras 3 stores ``encoder_sequence_shape`` in its config)."""
    rate = _num(cfg, "dropout")
    self_att, self_drop, ff_drop = _transformer("", "self_attention", rate,
                                                attention_class="CachedMultiHeadAttention")
    build = cfg.get("build_config")
    shapes = build.get("shapes_dict") if isinstance(build, dict) else None
    cross = cfg.get("encoder_sequence_shape") is not None or (
        isinstance(shapes, dict) and shapes.get("encoder_sequence_shape") is not None)
    out = [self_att, self_drop]
    if cross:
        out += [HubSite("cross_attention", "CachedMultiHeadAttention", SiteKind.ATTENTION, rate),
                HubSite("cross_attention_dropout", "Dropout", SiteKind.DROPOUT, rate)]
    return [*out, ff_drop]


def _bert(cfg: dict[str, Any]) -> list[HubSite]:
    """BertBackbone (also RoBERTa/DistilBERT-style encoders built the same way)."""
    rate = _num(cfg, "dropout")
    out = [HubSite("embeddings_dropout", "Dropout", SiteKind.DROPOUT, rate)]
    for i in range(_layers(cfg)):
        out += _transformer(f"transformer_layer_{i}", "self_attention_layer", rate)
    return out


def _gpt2(cfg: dict[str, Any]) -> list[HubSite]:
    rate = _num(cfg, "dropout")
    out = [HubSite("embeddings_dropout", "Dropout", SiteKind.DROPOUT, rate)]
    for i in range(_layers(cfg)):
        out += _transformer(f"transformer_layer_{i}", "self_attention", rate,
                            attention_class="CachedMultiHeadAttention")
    return out


def _vit(cfg: dict[str, Any]) -> list[HubSite]:
    rate, att = _num(cfg, "dropout_rate"), _num(cfg, "attention_dropout")
    out: list[HubSite] = []
    for i in range(1, _layers(cfg) + 1):
        block = f"vit_encoder/transformer_block_{i}"
        out += [
            HubSite(f"{block}/mha", "MultiHeadAttention", SiteKind.ATTENTION, att,
                    param="attention_dropout"),
            HubSite(f"{block}/dropout", "Dropout", SiteKind.DROPOUT, rate, param="dropout_rate"),
            HubSite(f"{block}/mlp/dropout", "Dropout", SiteKind.DROPOUT, rate,
                    param="dropout_rate"),
        ]
    out.append(HubSite("vit_encoder/dropout", "Dropout", SiteKind.DROPOUT, rate,
                       param="dropout_rate"))
    return out


BACKBONES: dict[str, Callable[[dict[str, Any]], list[HubSite]]] = {
    "BertBackbone": _bert,
    "GPT2Backbone": _gpt2,
    "ViTBackbone": _vit,
}
"""keras_hub classes whose dropout layout dropctl knows (class name -> sites from config)."""

LAYERS: dict[str, Callable[[dict[str, Any]], list[HubSite]]] = {
    "TransformerEncoder": _encoder_layer,
    "TransformerDecoder": _decoder_layer,
}
"""keras_hub *layers* (used inside a user's Keras model) whose inner Dropout layers dropctl
knows: their sites are those inner layers (``encoder/self_attention_dropout``), as for the
blocks of a backbone. Any other keras_hub layer with a dropout parameter is one site at its
own path (the runtime switches the dropout layers inside it as that one site)."""


def is_hub(layer: Layer) -> bool:
    """A class from keras_hub (or its predecessor keras_nlp), judged by module or registration."""
    module = (layer.module or "").split(".", 1)[0]
    registered = (layer.registered_name or "").split(">", 1)[0]
    return module in HUB_ROOTS or registered in HUB_ROOTS


def _sites_of(cls: str, cfg: dict[str, Any], depth: int = 0) -> list[HubSite] | None:
    expand = BACKBONES.get(cls)
    if expand is not None:
        return [s for s in expand(cfg) if (s.rate or 0.0) > 0]
    backbone = cfg.get("backbone")
    if depth == 0 and isinstance(backbone, dict) and isinstance(backbone.get("class_name"), str):
        inner_cfg = backbone.get("config")
        inner_cfg = inner_cfg if isinstance(inner_cfg, dict) else {}
        inner = _sites_of(backbone["class_name"], inner_cfg, depth + 1)
        name = inner_cfg.get("name")
        prefix = name if isinstance(name, str) and name else "backbone"
        out = [HubSite(f"{prefix}/{s.rel_path}", s.class_name, s.kind, s.rate, s.known, s.param,
                       ("backbone", "config", *s.owner)) for s in inner or []]
        own = [k for k in _RATE_PARAMS if _num(cfg, k) > 0]
        if own:  # the task's own head dropout: built in code dropctl does not model
            out.append(HubSite("", cls, SiteKind.CUSTOM, _num(cfg, own[0]), False, own[0]))
        return out if inner is not None else None
    return None


def hub_sites(layer: Layer) -> list[HubSite] | None:
    """The dropout sites inside a keras_hub model or a keras_hub layer of :data:`LAYERS`, or
    None when ``layer`` is not one dropctl understands (any other keras_hub layer inside a
    Keras model is classified like any layer: one site at its own path)."""
    if not is_hub(layer):
        return None
    if layer.depth > 0 and not layer.opaque:
        expand = LAYERS.get(layer.class_name)
        if expand is None:
            return None
        cfg = dict(layer.config)
        if isinstance(layer.entry.get("build_config"), dict):
            cfg["build_config"] = layer.entry["build_config"]
        return [s for s in expand(cfg) if (s.rate or 0.0) > 0]
    return _sites_of(layer.class_name, layer.config)


def uses_keras_hub(model_config: dict[str, Any]) -> bool:
    """Whether any layer of the model comes from keras_hub (or keras_nlp)."""
    return any(is_hub(layer) for layer in walk(model_config))


def unknown_hub_site(layer: Layer) -> HubSite | None:
    """A ``custom`` site for a keras_hub model dropctl does not model, if it has a rate."""
    if not is_hub(layer) or not (layer.depth == 0 or layer.opaque):
        return None
    own = [k for k in _RATE_PARAMS if _num(layer.config, k) > 0]
    if not own:
        return None
    return HubSite("", layer.class_name, SiteKind.CUSTOM, _num(layer.config, own[0]), False,
                   own[0])
