"""``dropctl convert``'s core: rewrite an artifact so its dropout is always on, standard or gone.

The rewrite happens on the config tree read statically by :func:`dropctl.reader.artifact.read_artifact`
(no Keras, nothing from the file executed): stochastic layers change class (to or from dropctl's
always-on classes in :mod:`dropctl.layers`), pinned ``training`` call kwargs are removed,
recognised Lambda ``PermaDropout`` layers become ``Dropout(rate)``, stripped layers are cut out
of the graph by rewiring their consumers to their input, and RNN/attention dropout is set to 0.
Only then is Keras imported (:mod:`dropctl.conversion.build`): it builds the model from the
rewritten config with ``safe_mode`` on, copies every weight tensor from the source model, writes
OUT atomically and verifies it by reloading and predicting.

Site paths are the ones ``dropctl inspect`` prints (:func:`dropctl.reader.sites.walk`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dropctl.conversion.hub import plan_hub
from dropctl.display import Displayable
from dropctl.errors import UnsupportedModelError
from dropctl.reader.artifact import Artifact
from dropctl.reader.classes import ATTENTION_CLASSES, RECURRENT_CLASSES
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.layer_names import ALWAYS_ON_CLASSES, MODULE, STOCK_TO_ALWAYS, registered_name
from dropctl.reader.report import ArtifactFormat, SiteKind
from dropctl.reader.sites import classify
from dropctl.reader.walker import (
    Layer,
    always_on_stock,
    backward_twin,
    bidirectional_aliases,
    site_matches,
    walk,
)

if TYPE_CHECKING:
    from dropctl.conversion.custom import CustomVerdict

OUT_EXTENSIONS = {".keras": ArtifactFormat.KERAS, ".h5": ArtifactFormat.H5,
                  ".hdf5": ArtifactFormat.H5}


class ConvertMode(StrEnum):
    """What ``convert`` does to the selected stochastic sites."""

    PERMA = "perma"
    """Act at inference too (dropctl's always-on layers)."""
    STANDARD = "standard"
    """Keras' default: act only in training."""
    STRIP = "strip"
    """Remove from the graph (identity); RNN/attention dropout set to 0."""


class Action(StrEnum):
    """What happened to one site."""

    ALWAYS_ON = "always-on"
    STANDARD = "standard"
    REMOVED = "removed"
    ZEROED = "zeroed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SiteChange:
    """One site before and after the conversion (a row of the plan)."""

    path: str
    """Site path as ``dropctl inspect`` prints it."""
    action: Action
    """What was done."""
    class_before: str
    """Class name as saved in IN (``Dropout``, ``Lambda``, ``AlwaysLSTM``...)."""
    class_after: str | None
    """Class name in OUT; None when the layer was removed."""
    rate_before: float | None
    """Drop rate (``rate``/``dropout``; ``stddev`` for GaussianNoise) in IN."""
    rate_after: float | None
    """The same parameter in OUT; None when removed."""
    pinned_before: bool | None
    """``training`` pinned in IN on the layer's call or an enclosing model's (None: not pinned)."""
    pinned_after: bool | None
    """The same in OUT."""
    note: str = ""
    """Why, when it is not obvious (skipped sites, carried-over Lambdas, rewired outputs)."""


@dataclass(frozen=True)
class Verification:
    """Result of reloading OUT and predicting on a probe batch."""

    passed: bool
    """True when every check held."""
    kind: str
    """"deterministic" (--standard/--strip) or "stochastic" (--perma)."""
    max_abs_diff: float
    """Largest |OUT - IN| over the probe batch, with OUT's remaining randomness switched off."""
    tolerance: float
    """Allowed ``max_abs_diff``."""
    passes: int
    """Stochastic passes run (perma) or deterministic runs compared (2)."""
    stochastic: bool
    """Whether two plain ``predict()`` calls on OUT differed."""
    mean_abs_dev: float | None = None
    """Perma: mean |MC mean - deterministic| over all outputs."""
    mean_std: float | None = None
    """Perma: mean standard deviation across passes."""
    message: str = ""
    """One line: what was checked, or why it failed."""


@dataclass(frozen=True)
class ConvertReport(Displayable):
    """What ``dropctl.convert`` changed (or would change, in a dry run)."""

    src: str
    dst: str
    mode: ConvertMode
    src_format: ArtifactFormat
    dst_format: ArtifactFormat
    changes: tuple[SiteChange, ...]
    """Every selected site (and every always-on layer), in walk order."""
    warnings: tuple[str, ...] = field(default=())
    """Things left as they are or not carried over (one line each)."""
    written: bool = False
    """True when OUT was written (and kept)."""
    compiled: bool | None = None
    """Whether IN's compile config was carried over (None: IN had none or nothing written)."""
    verification: Verification | None = None
    """None with ``dry_run`` or ``verify=False``."""
    target_keras: str | None = None
    """The Keras version OUT's config was written for (``--target-keras``)."""
    target_dropped: tuple[str, ...] = ()
    """Default-valued config keys dropped because that Keras rejects them (``path: key``)."""

    @property
    def changed(self) -> tuple[SiteChange, ...]:
        """Only the sites whose class, rate, pin or presence changed."""
        return tuple(c for c in self.changes
                     if c.action not in (Action.UNCHANGED, Action.SKIPPED))


# ---- walking the config with mutable access -------------------------------------------------
@dataclass
class _Node:
    """A layer entry of the (copied) config, next to what the static walker says about it."""

    entry: dict[str, Any]
    layer: Layer
    parent: _Node | None
    role: str | None
    """Wrapper role ("layer", "backward_layer", "cell") or None inside a layer list."""


def _nodes(model_config: dict[str, Any]) -> list[_Node]:
    """Every layer of the (copied) config from the one walker, with its mutable entry."""
    out: list[_Node] = []
    for layer in walk(model_config):
        parent = out[layer.parent] if layer.parent is not None else None
        out.append(_Node(layer.entry, layer, parent, layer.wrapper_role))
    return out


def _config_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's ``config`` dict (an empty one for list-form or missing configs)."""
    cfg = entry.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _is_keras3_entry(entry: dict[str, Any]) -> bool:
    return "module" in entry or "registered_name" in entry


def _set_class(entry: dict[str, Any], class_name: str) -> None:
    """Point a layer entry at a stock Keras class or a dropctl always-on class."""
    ours = class_name in ALWAYS_ON_CLASSES
    if _is_keras3_entry(entry):
        entry["class_name"] = class_name
        entry["module"] = MODULE if ours else "keras.layers"
        entry["registered_name"] = registered_name(class_name) if ours else None
    else:  # legacy .h5 / JSON: Keras resolves "package>Name" through its registry
        entry["class_name"] = registered_name(class_name) if ours else class_name


def _unpin(entry: dict[str, Any]) -> bool:
    """Remove ``training`` from every stored call of the layer; True when one was there."""
    found = False
    for node in entry.get("inbound_nodes") or []:
        if isinstance(node, dict):
            kw = node.get("kwargs")
            # Keras 3 writes the resolved default ``training: false`` into every node; only a
            # True there is a real pin (see dropctl.reader.sites.pinned_training).
            if isinstance(kw, dict) and kw.get("training") is True:
                del kw["training"]
                found = True
        elif isinstance(node, list):
            for tensor in node:
                if (isinstance(tensor, list) and len(tensor) >= 4 and isinstance(tensor[3], dict)
                        and "training" in tensor[3]):
                    del tensor[3]["training"]
                    found = True
    return found


# ---- removing a layer from its container ------------------------------------------------------
def _history(ref: Any) -> list[Any] | None:
    """``[name, node, tensor]`` of a tensor reference in the Keras 1/2 or Keras 3 form."""
    if isinstance(ref, dict) and ref.get("class_name") == "__keras_tensor__":
        hist = (ref.get("config") or {}).get("keras_history")
        return hist if isinstance(hist, list) and len(hist) >= 3 else None
    if isinstance(ref, list) and len(ref) >= 3 and isinstance(ref[0], str):
        return ref
    return None


def _node_inputs(node: Any) -> list[Any]:
    """Every tensor reference among a node's inputs (both forms)."""
    refs: list[Any] = []
    stack = [node.get("args", []) if isinstance(node, dict) else node]
    while stack:
        item = stack.pop()
        if _history(item) is not None:
            refs.append(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict) and not isinstance(node, list):
            stack.extend(item.values())
    return refs


def _redirect(value: Any, name: str, index: int, target: list[Any]) -> int:
    """Point every reference to output ``(name, index, 0)`` inside ``value`` at ``target``."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        hist = _history(item)
        if hist is not None and hist[0] == name and hist[1] == index:
            hist[0], hist[1], hist[2] = target[0], target[1], target[2]
            count += 1
            continue
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return count


_INPUT_SHAPE_KEYS = ("batch_input_shape", "batch_shape", "input_shape", "input_dim")


def _remove(node: _Node) -> str:
    """Cut one single-input, shape-preserving layer out of its container; returns a note."""
    parent = node.parent
    if parent is None:
        raise UnsupportedModelError("cannot remove the model itself")
    if node.role is not None:  # e.g. TimeDistributed(Dropout): the wrapper goes
        return _remove(parent)
    cfg: Any = parent.entry.get("config")
    layers = cfg if isinstance(cfg, list) else (cfg or {}).get("layers")
    if not isinstance(layers, list) or node.entry not in layers:
        raise UnsupportedModelError(f"cannot remove {node.layer.path}: container not understood")
    position = next(i for i, e in enumerate(layers) if e is node.entry)
    name = node.layer.name
    functional = isinstance(cfg, dict) and "output_layers" in cfg
    if not functional:  # Sequential: drop it, keep the input shape it may carry
        rest = layers[position + 1:]
        if not rest:
            if len(layers) == 1:
                raise UnsupportedModelError(
                    f"cannot strip {node.layer.path}: it is the only layer of its model")
        own = _config_of(node.entry)
        carried = {k: own[k] for k in _INPUT_SHAPE_KEYS if k in own}
        if carried and rest and isinstance(rest[0].get("config"), dict):
            for key, val in carried.items():
                rest[0]["config"].setdefault(key, val)
        del layers[position]
        return ""
    sources = []
    for node_cfg in node.entry.get("inbound_nodes") or []:
        refs = _node_inputs(node_cfg)
        if len(refs) != 1:
            raise UnsupportedModelError(
                f"cannot strip {node.layer.path}: a call with {len(refs)} inputs, expected 1")
        sources.append(list(_history(refs[0]) or [])[:3])
    note = ""
    for index, target in enumerate(sources):
        for other in layers:
            if other is not node.entry:
                _redirect(other.get("inbound_nodes"), name, index, target)
        if _redirect(cfg.get("output_layers"), name, index, target):
            note = f"model output now comes from {target[0]}"
    del layers[position]
    return note


# ---- the plan ---------------------------------------------------------------------------------
def _rate_of(stock: str, cfg: dict[str, Any]) -> float | None:
    keys = ("stddev",) if stock == "GaussianNoise" else ("rate", "p", "dropout", "dropout_W")
    for key in keys:
        val = cfg.get(key)
        if isinstance(val, int | float) and not isinstance(val, bool):
            return float(val)
    return None


def _set_rate(stock: str, cfg: dict[str, Any], rate: float) -> None:
    if stock in RECURRENT_CLASSES:
        rec = cfg.get("recurrent_dropout")
        cfg["dropout"] = rate if (cfg.get("dropout") or not rec) else cfg.get("dropout")
        if rec:
            cfg["recurrent_dropout"] = rate
    elif stock in ATTENTION_CLASSES:
        cfg["dropout"] = rate
    else:
        cfg["p" if "p" in cfg and "rate" not in cfg else "rate"] = rate


def _lambda_as_layer(entry: dict[str, Any], class_name: str, rate: float) -> None:
    """Turn a recognised Lambda dropout/noise entry into a plain layer entry, in place."""
    old = _config_of(entry)
    stock = ALWAYS_ON_CLASSES.get(class_name, class_name)
    new: dict[str, Any] = {"name": old.get("name", entry.get("name")),
                           "trainable": old.get("trainable", True)}
    if "dtype" in old:
        new["dtype"] = old["dtype"]
    if stock == "GaussianNoise":
        new.update(stddev=rate, seed=None)
    else:
        new.update(rate=rate, noise_shape=None, seed=None)
    entry["config"] = new
    _set_class(entry, class_name)


_KERAS1_KEYS = {"p": "rate", "dropout_W": "dropout", "dropout_U": "recurrent_dropout"}


_BLOCK_RATE_KEYS = ("drop_path_rate", "dropout", "dropout_rate", "attention_dropout",
                    "drop_rate")


def _hub_block(layer: Layer) -> bool:
    """A keras_hub/keras_nlp/keras_cv layer whose dropout lives inside it (never removed)."""
    return (layer.module or "").split(".", 1)[0] in ("keras_hub", "keras_nlp", "keras_cv")


def _matches(path: str, pattern: str, in_bidirectional: bool = False) -> bool:
    """``--sites`` glob against the path as inspect prints it, or without the model's name
    (inside a Bidirectional also under its other-format names, see bidirectional_aliases)."""
    return site_matches(path, pattern, bidirectional_aliases(path) if in_bidirectional else ())


@dataclass(frozen=True)
class Plan:
    """The rewritten config and what changed; nothing written yet."""

    artifact: Artifact
    config: dict[str, Any]
    changes: tuple[SiteChange, ...]
    warnings: tuple[str, ...]


CUSTOM_LEFT_NOTE = "custom class: left as it is"
"""The note of a custom site convert keeps because it cannot tell what the class does."""
NO_CUSTOM_CODE = ("its code is unknown without --custom-objects YOUR_CODE.py (a subclass of a "
                  "Keras dropout layer is then converted as that layer)")


def plan_conversion(artifact: Artifact, mode: ConvertMode, *, rate: float | None = None,
                    sites: str | None = None,
                    custom: Mapping[str, CustomVerdict] | None = None) -> Plan:
    """Rewrite a copy of ``artifact.model_config`` for ``mode``; pure Python, no Keras.

    ``custom``: what :func:`dropctl.conversion.custom.judge_custom_sites` measured about the
    custom sites (by path); a site judged to be a stock layer is converted as that layer.
    """
    custom = custom or {}
    config = copy.deepcopy(artifact.model_config)
    nodes = _nodes(config)
    changes: list[SiteChange] = []
    warnings: list[str] = []
    removals: list[_Node] = []
    by_path = {node.layer.path: node for node in nodes}
    walked = [node.layer for node in nodes]
    unpinned_calls: set[str] = set()
    by_hub: set[str] = set()
    for node in nodes:
        hub = plan_hub(node.layer, node.entry, mode.value, rate,
                       lambda p: sites is None or _matches(p, sites))
        if hub is not None:  # a keras_hub model or layer: dropout is a constructor parameter
            by_hub.add(node.layer.path)
            changes += [SiteChange(c.path, Action(c.action), c.class_name, c.class_name,
                                   c.rate_before, c.rate_after, node.layer.pin, node.layer.pin,
                                   c.note) for c in hub[0]]
            warnings += hub[1]
    for node in nodes[1:]:
        layer = node.layer
        if layer.path in by_hub:
            continue
        spec = classify(layer)
        ours_stock = always_on_stock(layer)
        if spec is None and ours_stock is None:
            continue
        in_bidi = node.parent is not None and node.parent.layer.class_name == "Bidirectional"
        # A Keras 2 Bidirectional stores one config for both directions: both are listed,
        # either name selects it, and the one change acts on both.
        twin = backward_twin(layer, walked)
        selected = sites is None or _matches(layer.path, sites, in_bidi) or (
            twin is not None and _matches(twin, sites, in_bidi))
        if (selected and twin is not None and sites is not None
                and _matches(layer.path, sites, in_bidi) != _matches(twin, sites, in_bidi)):
            warnings.append(f"{layer.path.rpartition('/')[0]}: a Keras 2 Bidirectional stores one "
                            "config for both directions; --sites selected one of them, both "
                            "are converted")
        cfg = _config_of(node.entry)
        cls_before = layer.class_name
        is_lambda = spec is not None and spec.kind is SiteKind.LAMBDA
        stock = ours_stock or ("Lambda" if is_lambda else layer.class_name)
        verdict = custom.get(layer.path)
        if verdict is not None and verdict.stock is not None:
            stock = verdict.stock  # measured: a subclass that is this stock layer
        if spec is not None and is_lambda:
            info = analyze_lambda({"class_name": "Lambda", "config": cfg})
            stock = "Dropout" if info.is_dropout else "GaussianNoise"
            before = spec.stddev if spec.stddev is not None else spec.rate
        else:
            before = _rate_of(stock, cfg)
        pinned = layer.pin  # own, or inherited from a pinned call of an enclosing model

        def record(action: Action, after_cls: str | None, after_rate: float | None,
                   pin_after: bool | None, note: str = "", *, _layer: Layer = layer,
                   _cls: str = cls_before, _before: float | None = before,
                   _pin: bool | None = pinned, _twin: str | None = twin) -> None:
            for path in (_layer.path, _twin) if _twin else (_layer.path,):
                changes.append(SiteChange(path, action, _cls, after_cls, _before,
                                          after_rate, _pin, pin_after, note))

        if not selected:
            if is_lambda:  # must be rebuilt somehow: keep its behaviour, drop the bytecode
                if before is None:
                    raise UnsupportedModelError(
                        f"layer {layer.path} is a Lambda dropout whose rate cannot be read")
                _lambda_as_layer(node.entry, STOCK_TO_ALWAYS[stock], before)
                record(Action.ALWAYS_ON, STOCK_TO_ALWAYS[stock], before, pinned,
                       "not selected; Lambda carried over as its always-on equivalent")
            continue
        if is_lambda and before is None:
            raise UnsupportedModelError(
                f"layer {layer.path} is a Lambda dropout whose rate cannot be read statically")
        verdict = custom.get(layer.path)
        as_stock = verdict is not None and verdict.stock is not None
        if spec is not None and spec.kind is SiteKind.CUSTOM and not as_stock:
            reason = verdict.reason if verdict is not None else NO_CUSTOM_CODE
            warnings.append(f"{layer.path}: custom class {cls_before} left as it is: {reason}")
            record(Action.SKIPPED, cls_before, before, pinned, CUSTOM_LEFT_NOTE)
            continue
        if rate is not None and stock == "GaussianNoise":
            warnings.append(f"{layer.path}: GaussianNoise has a stddev, not a rate; "
                            "--rate not applied")
        new_rate = before if (rate is None or stock == "GaussianNoise") else rate
        has_twin = stock in STOCK_TO_ALWAYS
        for old_key, new_key in _KERAS1_KEYS.items():  # Keras 1 names, before a class change
            if old_key in cfg and new_key not in cfg and not is_lambda:
                cfg[new_key] = cfg.pop(old_key)
        unpinned = _unpin(node.entry)
        if layer.pin is not None and layer.pin_from not in (None, layer.path):
            # `sub(x, training=True)`: the pin sits on the enclosing model's call and applies
            # to everything inside it (BatchNormalization too), so it goes as well.
            container = by_path.get(layer.pin_from or "")
            if container is not None and container.layer.path not in unpinned_calls:
                _unpin(container.entry)
                unpinned_calls.add(container.layer.path)
                warnings.append(f"{container.layer.path}: removed training={layer.pin} from "
                                "its call; it applied to every layer inside it")
            unpinned = True
        pin_after = None if unpinned else pinned
        if mode is ConvertMode.PERMA:
            if not has_twin:
                warnings.append(f"{layer.path}: no always-on version of {stock}; left as it is")
                record(Action.SKIPPED, cls_before, before, pin_after, "no always-on version")
                continue
            target = STOCK_TO_ALWAYS[stock]
            if is_lambda:
                _lambda_as_layer(node.entry, target, float(new_rate or 0.0))
            else:
                _set_class(node.entry, target)
                if new_rate is not None and new_rate != before:
                    _set_rate(stock, cfg, new_rate)
            same = ours_stock is not None and new_rate == before and not unpinned
            record(Action.UNCHANGED if same else Action.ALWAYS_ON, target, new_rate, pin_after,
                   _custom_note(verdict))
        elif mode is ConvertMode.STANDARD:
            if is_lambda:
                _lambda_as_layer(node.entry, stock, float(new_rate or 0.0))
            elif ours_stock is not None or as_stock:
                _set_class(node.entry, stock)
            if not is_lambda and new_rate is not None and new_rate != before:
                _set_rate(stock, cfg, new_rate)
            same = (not is_lambda and ours_stock is None and not as_stock and new_rate == before
                    and not unpinned)
            record(Action.UNCHANGED if same else Action.STANDARD, stock, new_rate, pin_after,
                   _custom_note(verdict))
        else:  # STRIP
            if stock in RECURRENT_CLASSES or stock in ATTENTION_CLASSES:
                if ours_stock is not None:
                    _set_class(node.entry, stock)
                for key in ("dropout", "recurrent_dropout", "dropout_W", "dropout_U"):
                    if key in cfg:
                        cfg[key] = 0.0
                record(Action.ZEROED, stock, 0.0, pin_after)
            elif stock == "StochasticDepth" or _hub_block(layer):
                # Not a pass-through to unhook: a residual branch (StochasticDepth) or a whole
                # keras_hub block (TransformerEncoder...) whose weights must stay. Rate 0
                # makes it deterministic in every phase, exactly its inference behaviour.
                for key in _BLOCK_RATE_KEYS:
                    if isinstance(cfg.get(key), int | float) and cfg[key]:
                        cfg[key] = 0.0
                record(Action.ZEROED, cls_before, 0.0, pin_after)
            elif spec is not None and spec.unknown and not as_stock:
                warnings.append(f"{layer.path}: {stock} cannot be stripped; left as it is")
                record(Action.SKIPPED, cls_before, before, pin_after, "cannot be stripped")
            else:
                removals.append(node)
                record(Action.REMOVED, None, None, None, _custom_note(verdict))
    notes: dict[str, str] = {}
    for node in removals:
        note = _remove(node)
        if note:
            notes[node.layer.path] = note
    if notes:
        changes = [SiteChange(c.path, c.action, c.class_before, c.class_after, c.rate_before,
                              c.rate_after, c.pinned_before, c.pinned_after,
                              notes.get(c.path, c.note)) for c in changes]
    _refuse_unbuildable(config)
    return Plan(artifact, config, tuple(changes), tuple(warnings))


def _custom_note(verdict: CustomVerdict | None) -> str:
    """The note of a custom site converted as the stock layer it extends."""
    if verdict is None or verdict.stock is None:
        return ""
    how = "always on" if verdict.always_on else "training only"
    return f"custom subclass of {verdict.stock}, {how} (measured)"


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


# ---- the public entry point -------------------------------------------------------------------
