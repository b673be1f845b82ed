"""``dropctl convert``'s planner: what each selected site becomes, as edits on a copied config.

The rewrite happens on the config tree read statically by :func:`dropctl.reader.artifact.read_artifact`
(no Keras, nothing from the file executed). :func:`plan_conversion` walks the sites once; for each
one :func:`_site` gathers what the static reader knows into a frozen :class:`SiteContext`, and one
function per mode decides its fate: :func:`_perma` (dropctl's always-on class), :func:`_standard`
(the stock class, pins removed), :func:`_strip` (cut out of the graph, or its rate set to 0 where
the layer holds weights or a residual branch). ``--rate`` is :func:`_new_rate`, shared by the two
modes that keep a rate; ``--perma --calibration`` wraps a ``--perma`` result
(:mod:`dropctl.conversion.calibrated`); keras_hub models change a constructor parameter instead
(:mod:`dropctl.conversion.hub`). The edits themselves are :mod:`dropctl.conversion.surgery`, the
vocabulary :mod:`dropctl.conversion.report`.

Only then is Keras imported (:mod:`dropctl.conversion.build`): it builds the model from the
rewritten config with ``safe_mode`` on, copies every weight tensor from the source model, writes
OUT atomically and verifies it by reloading and predicting.

Site paths are the ones ``dropctl inspect`` prints (:func:`dropctl.reader.sites.walk`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dropctl.conversion import surgery
from dropctl.conversion.hub import plan_hub
from dropctl.conversion.report import (
    CUSTOM_LEFT_NOTE,
    Action,
    ConvertMode,
    CustomVerdict,
    SiteChange,
)
from dropctl.errors import UnsupportedModelError
from dropctl.reader.artifact import Artifact
from dropctl.reader.classes import ATTENTION_CLASSES, RECURRENT_CLASSES
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.layer_names import STOCK_TO_ALWAYS
from dropctl.reader.report import SiteKind
from dropctl.reader.sites import SiteSpec, classify
from dropctl.reader.walker import (
    Layer,
    always_on_stock,
    backward_twin,
    bidirectional_aliases,
    site_matches,
    walk,
)

NO_CUSTOM_CODE = ("its code is unknown without --custom-objects YOUR_CODE.py (a subclass of a "
                  "Keras dropout layer is then converted as that layer)")


@dataclass(frozen=True)
class Plan:
    """The rewritten config and what changed; nothing written yet."""

    artifact: Artifact
    config: dict[str, Any]
    changes: tuple[SiteChange, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class SiteContext:
    """One selected site as the mode functions see it (its entry is the copy being edited)."""

    node: surgery.MutableNode
    spec: SiteSpec | None
    """The static reader's view (None for an always-on layer saved with rate 0)."""
    stock: str
    """The stock Keras class it behaves like (``Dropout`` for a Lambda PermaDropout, an
    ``AlwaysDropout`` or a measured ``MCDropout``)."""
    ours: bool
    """It is one of dropctl's always-on classes."""
    custom: CustomVerdict | None
    """The measured verdict on a custom class that is ``stock`` (None otherwise)."""
    before: float | None
    """Its rate (stddev for GaussianNoise) in IN."""
    rate: float | None
    """``--rate``, when given."""
    twin: str | None
    """The backward direction a Keras 2 Bidirectional builds from the same config."""

    @property
    def layer(self) -> Layer:
        return self.node.layer

    @property
    def cfg(self) -> dict[str, Any]:
        return surgery.config_of(self.node.entry)

    @property
    def is_lambda(self) -> bool:
        return self.spec is not None and self.spec.kind is SiteKind.LAMBDA

    def change(self, action: Action, class_after: str | None, rate_after: float | None,
               pinned_after: bool | None, note: str = "") -> list[SiteChange]:
        """The plan's rows for this site (two for a Keras 2 Bidirectional's one config)."""
        note = note or _custom_note(self.custom)
        return [SiteChange(path, action, self.layer.class_name, class_after, self.before,
                           rate_after, self.layer.pin, pinned_after, note)
                for path in (self.layer.path, *((self.twin,) if self.twin else ()))]


@dataclass
class _Outcome:
    """What one site contributes to the plan."""

    changes: list[SiteChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    remove: bool = False


def _new_rate(site: SiteContext) -> float | None:
    """``--rate``: the converted site's rate (GaussianNoise keeps its stddev)."""
    if site.rate is None or site.stock == "GaussianNoise":
        return site.before
    return site.rate


def _perma(site: SiteContext, pin_after: bool | None, unpinned: bool) -> _Outcome:
    if site.stock not in STOCK_TO_ALWAYS:
        return _Outcome(site.change(Action.SKIPPED, site.layer.class_name, site.before,
                                    pin_after, "no always-on version"),
                        [f"{site.layer.path}: no always-on version of {site.stock}; "
                         "left as it is"])
    target, rate = STOCK_TO_ALWAYS[site.stock], _new_rate(site)
    if site.is_lambda:
        surgery.lambda_as_layer(site.node.entry, target, float(rate or 0.0))
    else:
        surgery.set_class(site.node.entry, target)
        if rate is not None and rate != site.before:
            surgery.set_rate(site.stock, site.cfg, rate)
    same = site.ours and rate == site.before and not unpinned
    return _Outcome(site.change(Action.UNCHANGED if same else Action.ALWAYS_ON, target, rate,
                                pin_after))


def _standard(site: SiteContext, pin_after: bool | None, unpinned: bool) -> _Outcome:
    rate = _new_rate(site)
    if site.is_lambda:
        surgery.lambda_as_layer(site.node.entry, site.stock, float(rate or 0.0))
    else:
        if site.ours or site.custom is not None:
            surgery.set_class(site.node.entry, site.stock)
        if rate is not None and rate != site.before:
            surgery.set_rate(site.stock, site.cfg, rate)
    same = (not site.is_lambda and not site.ours and site.custom is None
            and rate == site.before and not unpinned)
    return _Outcome(site.change(Action.UNCHANGED if same else Action.STANDARD, site.stock, rate,
                                pin_after))


def _strip(site: SiteContext, pin_after: bool | None, unpinned: bool) -> _Outcome:
    del unpinned  # a stripped site keeps no pin to report
    layer = site.layer
    if site.stock in RECURRENT_CLASSES or site.stock in ATTENTION_CLASSES:
        if site.ours:
            surgery.set_class(site.node.entry, site.stock)
        surgery.zero_keys(site.cfg, surgery.ZEROED_KEYS)
        return _Outcome(site.change(Action.ZEROED, site.stock, 0.0, pin_after))
    if site.stock == "StochasticDepth" or _hub_block(layer):
        # Not a pass-through to unhook: a residual branch (StochasticDepth) or a whole
        # keras_hub block (TransformerEncoder...) whose weights must stay. Rate 0 makes it
        # deterministic in every phase, exactly its inference behaviour.
        surgery.zero_keys(site.cfg, surgery.BLOCK_RATE_KEYS, only_set=True)
        return _Outcome(site.change(Action.ZEROED, layer.class_name, 0.0, pin_after))
    if site.spec is not None and site.spec.unknown and site.custom is None:
        return _Outcome(site.change(Action.SKIPPED, layer.class_name, site.before, pin_after,
                                    "cannot be stripped"),
                        [f"{layer.path}: {site.stock} cannot be stripped; left as it is"])
    return _Outcome(site.change(Action.REMOVED, None, None, None), remove=True)


_MODES: dict[ConvertMode, Callable[[SiteContext, bool | None, bool], _Outcome]] = {
    ConvertMode.PERMA: _perma, ConvertMode.STANDARD: _standard, ConvertMode.STRIP: _strip}
"""One function per mode: (site, its pin after unpinning, whether a pin was removed)."""


def plan_conversion(artifact: Artifact, mode: ConvertMode, *, rate: float | None = None,
                    sites: str | None = None,
                    custom: Mapping[str, CustomVerdict] | None = None) -> Plan:
    """Rewrite a copy of ``artifact.model_config`` for ``mode``; pure Python, no Keras.

    ``custom``: what :func:`dropctl.conversion.custom.judge_custom_sites` measured about the
    custom sites (by path); a site judged to be a stock layer is converted as that layer.
    """
    custom = custom or {}
    config = copy.deepcopy(artifact.model_config)
    nodes = surgery.mutable_nodes(config)
    changes, warnings, by_hub = _plan_hub(nodes, mode, rate, sites)
    by_path = {node.layer.path: node for node in nodes}
    walked = [node.layer for node in nodes]
    unpinned_calls: set[str] = set()
    removals: list[surgery.MutableNode] = []
    for node in nodes[1:]:
        if node.layer.path in by_hub:
            continue
        site, selected = _site(node, walked, sites, rate, custom.get(node.layer.path))
        if site is None:
            continue
        if selected is None:  # the two directions of one Bidirectional config, one selected
            warnings.append(f"{node.layer.path.rpartition('/')[0]}: a Keras 2 Bidirectional "
                            "stores one config for both directions; --sites selected one of "
                            "them, both are converted")
        elif not selected:
            changes += _unselected(site)
            continue
        if site.is_lambda and site.before is None:
            raise UnsupportedModelError(f"layer {site.layer.path} is a Lambda dropout whose "
                                        "rate cannot be read statically")
        if site.spec is not None and site.spec.kind is SiteKind.CUSTOM and site.custom is None:
            verdict = custom.get(site.layer.path)
            reason = verdict.reason if verdict is not None else NO_CUSTOM_CODE
            warnings.append(f"{site.layer.path}: custom class {site.layer.class_name} left as "
                            f"it is: {reason}")
            changes += site.change(Action.SKIPPED, site.layer.class_name, site.before,
                                   site.layer.pin, CUSTOM_LEFT_NOTE)
            continue
        if rate is not None and site.stock == "GaussianNoise":
            warnings.append(f"{site.layer.path}: GaussianNoise has a stddev, not a rate; "
                            "--rate not applied")
        if not site.is_lambda:  # Keras 1 names, before a class change
            surgery.rename_keras1_keys(site.cfg)
        unpinned = _unpin(site, by_path, unpinned_calls, warnings)
        outcome = _MODES[mode](site, None if unpinned else site.layer.pin, unpinned)
        changes += outcome.changes
        warnings += outcome.warnings
        if outcome.remove:
            removals.append(node)
    notes = {node.layer.path: note for node in removals if (note := surgery.remove(node))}
    if notes:
        changes = [SiteChange(c.path, c.action, c.class_before, c.class_after, c.rate_before,
                              c.rate_after, c.pinned_before, c.pinned_after,
                              notes.get(c.path, c.note)) for c in changes]
    _refuse_unbuildable(config)
    return Plan(artifact, config, tuple(changes), tuple(warnings))


def _plan_hub(nodes: list[surgery.MutableNode], mode: ConvertMode, rate: float | None,
              sites: str | None) -> tuple[list[SiteChange], list[str], set[str]]:
    """keras_hub models and layers, whose dropout is a constructor parameter: their changes,
    warnings and paths (planned here, so the per-site loop skips them)."""
    changes: list[SiteChange] = []
    warnings: list[str] = []
    planned: set[str] = set()
    for node in nodes:
        hub = plan_hub(node.layer, node.entry, mode.value, rate,
                       lambda p: sites is None or _matches(p, sites))
        if hub is None:
            continue
        planned.add(node.layer.path)
        pin = node.layer.pin
        changes += [SiteChange(c.path, Action(c.action), c.class_name, c.class_name,
                               c.rate_before, c.rate_after, pin, pin, c.note) for c in hub[0]]
        warnings += hub[1]
    return changes, warnings, planned


def _site(node: surgery.MutableNode, walked: list[Layer], sites: str | None, rate: float | None,
          verdict: CustomVerdict | None) -> tuple[SiteContext | None, bool | None]:
    """The site's context (None: not a stochastic site) and whether ``--sites`` selects it
    (None: selected, but only one of a Keras 2 Bidirectional's two directions matched)."""
    layer = node.layer
    spec = classify(layer)
    ours = always_on_stock(layer)
    if spec is None and ours is None:
        return None, False
    cfg = surgery.config_of(node.entry)
    is_lambda = spec is not None and spec.kind is SiteKind.LAMBDA
    stock = ours or ("Lambda" if is_lambda else layer.class_name)
    custom = verdict if verdict is not None and verdict.stock is not None else None
    if custom is not None:
        stock = custom.stock or stock  # measured: a subclass that is this stock layer
    if spec is not None and is_lambda:
        info = analyze_lambda({"class_name": "Lambda", "config": cfg})
        stock = "Dropout" if info.is_dropout else "GaussianNoise"
        before = spec.stddev if spec.stddev is not None else spec.rate
    else:
        before = surgery.rate_of(stock, cfg)
    # A Keras 2 Bidirectional stores one config for both directions: both are listed, either
    # name selects it, and the one change acts on both.
    twin = backward_twin(layer, walked)
    site = SiteContext(node, spec, stock, ours is not None, custom, before, rate, twin)
    if sites is None:
        return site, True
    in_bidi = node.parent is not None and node.parent.layer.class_name == "Bidirectional"
    own = _matches(layer.path, sites, in_bidi)
    other = twin is not None and _matches(twin, sites, in_bidi)
    if twin is not None and own != other:
        return site, None
    return site, own or other


def _unselected(site: SiteContext) -> list[SiteChange]:
    """A site ``--sites`` did not select stays, except a Lambda, which must be rebuilt somehow:
    it keeps its behaviour as dropctl's always-on layer and loses its bytecode."""
    if not site.is_lambda:
        return []
    if site.before is None:
        raise UnsupportedModelError(
            f"layer {site.layer.path} is a Lambda dropout whose rate cannot be read")
    target = STOCK_TO_ALWAYS[site.stock]
    surgery.lambda_as_layer(site.node.entry, target, site.before)
    return site.change(Action.ALWAYS_ON, target, site.before, site.layer.pin,
                       "not selected; Lambda carried over as its always-on equivalent")


def _unpin(site: SiteContext, by_path: dict[str, surgery.MutableNode], unpinned_calls: set[str],
           warnings: list[str]) -> bool:
    """Remove the site's pinned ``training`` (its own, or an enclosing model's call); True when
    a pin went."""
    layer = site.layer
    unpinned = surgery.unpin(site.node.entry)
    if layer.pin is not None and layer.pin_from not in (None, layer.path):
        # `sub(x, training=True)`: the pin sits on the enclosing model's call and applies to
        # everything inside it (BatchNormalization too), so it goes as well.
        container = by_path.get(layer.pin_from or "")
        if container is not None and container.layer.path not in unpinned_calls:
            surgery.unpin(container.entry)
            unpinned_calls.add(container.layer.path)
            warnings.append(f"{container.layer.path}: removed training={layer.pin} from its "
                            "call; it applied to every layer inside it")
        unpinned = True
    return unpinned


def _custom_note(verdict: CustomVerdict | None) -> str:
    """The note of a custom site converted as the stock layer it extends."""
    if verdict is None or verdict.stock is None:
        return ""
    how = "always on" if verdict.always_on else "training only"
    return f"custom subclass of {verdict.stock}, {how} (measured)"


def _hub_block(layer: Layer) -> bool:
    """A keras_hub/keras_nlp/keras_cv layer whose dropout lives inside it (never removed)."""
    return (layer.module or "").split(".", 1)[0] in ("keras_hub", "keras_nlp", "keras_cv")


def _matches(path: str, pattern: str, in_bidirectional: bool = False) -> bool:
    """``--sites`` glob against the path as inspect prints it, or without the model's name
    (inside a Bidirectional also under its other-format names, see bidirectional_aliases)."""
    return site_matches(path, pattern, bidirectional_aliases(path) if in_bidirectional else ())


def _refuse_unbuildable(config: dict[str, Any]) -> None:
    """Refuse what Keras would have to run bytecode or import foreign code for."""
    for layer in walk(config)[1:]:
        if layer.lambdas and any(info.has_bytecode for info in layer.lambdas):
            raise UnsupportedModelError(
                f"layer {layer.path} holds stored Python bytecode that is not recognisable "
                "dropout; convert would have to rebuild it, and dropctl never runs stored code")
        if layer.foreign_modules:
            raise UnsupportedModelError(
                f"layer {layer.path} refers to code outside Keras "
                f"({layer.foreign_modules[0]}); dropctl never imports it")
