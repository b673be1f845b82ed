"""keras_hub models read statically: the Dropout layers their code builds, from their config.

A keras_hub backbone (``BertBackbone``, ``FalconBackbone``, ``SwinTransformerBackbone``...) is
saved as one config object (``module: keras_hub.src.models...``) with parameters such as
``num_layers`` and ``attention_dropout_rate``; the Dropout layers live inside the blocks the
constructor creates, so they never appear as layers in ``config.json`` (KERAS_NOTES.md
section 7). Where each one lands and which parameter sets its rate comes from the generated
catalogue (:mod:`dropctl.reader.semantics`, made by ``scripts/gen_semantics.py`` by building
keras_hub's own tiny test configs and walking ``_flatten_layers()``), so ``inspect`` lists
them with the layer paths a loaded model has. Every one is a standard Keras dropout (or a
keras_hub drop-path layer): it acts in ``fit()`` only.

The same holds for keras_hub *layers* used in a user's own Keras model (``TransformerEncoder``,
``TransformerDecoder``, ``FNetEncoder``: the catalogue's ``hub_layers``, built by the generator
from the ``run_layer_test`` configs of keras_hub's own tests, once per way a test calls them):
their sites are the layers inside them (``encoder/self_attention_dropout``), the paths the
runtime walks to (:func:`dropctl.runtime.sites.model_sites`), so one block is several sites
in every command.

A keras_hub task (``BertTextClassifier``...) stores its backbone's config under ``backbone``;
the backbone is expanded below the task's path. Any other keras_hub model with a
dropout-like parameter gets one ``custom`` site (behaviour unknown statically) and stays
opaque (finding DC402): it is never skipped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from dropctl.reader.report import SiteKind
from dropctl.reader.walker import Layer, layer_name, walk

HUB_ROOTS = ("keras_hub", "keras_nlp")
_RATE_NAME = re.compile(r"drop")
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
    called: bool = True
    """False for a layer keras_hub builds and never calls (catalogued: measured by the
    generator with ``training=True``): it acts in no phase."""
    fails: str | None = None
    """Keras' reason when the layer's own ``call`` raises under ``training=True`` (catalogued:
    keras_hub 0.32's DINOV2DropPath), so ``fit()`` fails there."""
    noise: str | None = None
    """How its training noise differs from a drop (catalogued, measured by the generator)."""


def _num(cfg: dict[str, Any], key: str) -> float:
    v = cfg.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def is_hub(layer: Layer) -> bool:
    """A class from keras_hub (or its predecessor keras_nlp), judged by module or registration."""
    module = (layer.module or "").split(".", 1)[0]
    registered = (layer.registered_name or "").split(">", 1)[0]
    return module in HUB_ROOTS or registered in HUB_ROOTS


def _catalogued(cls: str, cfg: dict[str, Any], layout: dict[str, Any] | None = None
                ) -> list[HubSite] | None:
    """The sites of a catalogued keras_hub class built from ``cfg`` (relative paths);
    ``layout``: the catalogue entry to read it by (a task's ``backbone_layout``)."""
    from dropctl.reader.semantics import expand, expand_item

    found = (expand(cls, cfg, MAX_HUB_LAYERS) if layout is None
             else expand_item(layout, cfg, MAX_HUB_LAYERS))
    if found is None:
        return None
    return [HubSite(s.path, s.class_name, SiteKind(s.kind), s.rate, True, s.param or "",
                    s.owner, s.called, s.fails, s.noise) for s in found]


def _sites_of(cls: str, cfg: dict[str, Any], depth: int = 0) -> list[HubSite] | None:
    from dropctl.reader.semantics import entry

    item = entry(cls)
    if item is not None and item.get("kind") == "backbone":
        return _catalogued(cls, cfg)
    backbone = cfg.get("backbone")
    if depth == 0 and isinstance(backbone, dict) and isinstance(backbone.get("class_name"), str):
        inner_cfg = backbone.get("config")
        inner_cfg = inner_cfg if isinstance(inner_cfg, dict) else {}
        inner = _sites_of(backbone["class_name"], inner_cfg, depth + 1)
        layout = (item or {}).get("backbone_layout")
        if inner is None and layout is not None and backbone["class_name"] == (item or {}).get(
                "backbone"):
            # the backbone the task's own test builds (VGG's head needs a bigger one)
            inner = _catalogued(backbone["class_name"], inner_cfg, layout)
        prefix = layer_name(backbone)  # the name Keras gives it (from its class when unset)
        out = [replace(s, rel_path=f"{prefix}/{s.rel_path}",
                        owner=("backbone", "config", *s.owner)) for s in inner or []]
        own = _catalogued(cls, cfg) if item is not None else None
        if own is not None:  # the task's head dropout (``classifier_dropout``...)
            out += own
        elif _rate_keys(cfg):
            k = _rate_keys(cfg)[0]
            out.append(HubSite("", cls, SiteKind.CUSTOM, _num(cfg, k), False, k))
        return out if inner is not None else None
    return None


def hub_sites(layer: Layer) -> list[HubSite] | None:
    """The dropout sites inside a keras_hub model, or inside a keras_hub layer the catalogue
    holds with sites inside it (:func:`dropctl.reader.semantics.opens`), or None when
    ``layer`` is not one of those (any other keras_hub layer inside a Keras model is
    classified like any layer: one site at its own path)."""
    if not is_hub(layer):
        return None
    if layer.depth > 0 and not layer.opaque:
        from dropctl.reader.semantics import hub_layer_sites, opens

        if not opens(layer.class_name):
            return None
        found = hub_layer_sites(layer.class_name, {"config": layer.config,
                                                   "build_config": layer.entry.get("build_config")})
        return [HubSite(s.path, s.class_name, SiteKind(s.kind), s.rate, True, s.param or "",
                        s.owner, s.called, s.fails, s.noise) for s in found or [] if s.rate > 0]
    return _sites_of(layer.class_name, layer.config)


def uses_keras_hub(model_config: dict[str, Any]) -> bool:
    """Whether any layer of the model comes from keras_hub (or keras_nlp)."""
    return any(is_hub(layer) for layer in walk(model_config))


def _rate_keys(cfg: dict[str, Any]) -> list[str]:
    """Config keys that set a drop rate, by name (``dropout``, ``attention_dropout_rate``,
    ``proj_drop``, ``drop_path``...), with a positive value."""
    return [k for k in cfg if _RATE_NAME.search(k) and not k.startswith(("use_", "num_"))
            and _num(cfg, k) > 0]


def unknown_hub_site(layer: Layer) -> HubSite | None:
    """A ``custom`` site for a keras_hub model dropctl cannot read (a class the catalogue
    lacks, or a layout other than the catalogued one), if it has a rate."""
    if not is_hub(layer) or not (layer.depth == 0 or layer.opaque):
        return None
    own = _rate_keys(layer.config)
    if not own:
        return None
    return HubSite("", layer.class_name, SiteKind.CUSTOM, max(_num(layer.config, k) for k in own),
                   False, own[0])
