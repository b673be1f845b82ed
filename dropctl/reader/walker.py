"""THE walker of a model config tree: every layer, its path, trainable flags and call pins.

One walk serves every reader of a config: ``inspect`` (sites, findings), the runtime loader's
legacy rescue (:mod:`dropctl.reader.rescue`) and ``convert``'s planner. Each :class:`Layer`
keeps a reference to its raw entry and to the list or dict that holds it, so the rewriting
callers mutate the same tree the walk described and a site has one path everywhere
(``model/sub_model/dropout``; the root model's name first).

It reads configs of every vintage (Keras 1 list-form Sequential, Keras 2 / tf.keras list-form
inbound nodes, Keras 3 dict nodes) and is iterative with a layer and depth cap, so hostile
nesting cannot exhaust the Python stack; it reads dicts and lists only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dropctl.errors import ArtifactError, UsageError
from dropctl.reader.classes import BUILTIN_CLASSES, CONTAINER_CLASSES, TRUSTED_MODULE_ROOTS
from dropctl.reader.lambdas import LambdaInfo, analyze_lambda
from dropctl.reader.resolve import Resolution, resolve

MAX_LAYERS = 50_000
"""Most layers walked statically (EfficientNetB7: 813); keeps the largest readable model under
the 2 s static-read budget (199,990 Dropout layers took over 10 s on a loaded 2-core machine)."""
MAX_MODEL_DEPTH = 64


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
    parent: int | None = None
    """Index of the enclosing layer in the walk's list (None for the root)."""
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The raw config entry this layer was read from (a reference into the walked tree)."""
    holder: list[Any] | dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """The list or dict holding ``entry`` (``holder[key] is entry``); None for the root."""
    key: int | str | None = field(default=None, compare=False, repr=False)
    """Index or key of ``entry`` inside ``holder``."""
    resolution: Resolution | None = None
    """How Keras finds the class (:func:`dropctl.reader.resolve.resolve`); ``class_name`` and
    ``module`` above already describe the class Keras builds."""
    stored_class_name: str | None = None
    """The ``class_name`` written in the file when it differs from the class Keras builds."""

    @property
    def trusted(self) -> bool:
        """Built-in Keras class (or dropctl's own), judged by module or by class name."""
        if self.module is not None:
            return self.module.split(".", 1)[0] in TRUSTED_MODULE_ROOTS
        return self.class_name in BUILTIN_CLASSES or always_on_stock(self) is not None


def always_on_stock(layer: Layer) -> str | None:
    """The stock class a dropctl always-on layer behaves like, or None for other layers."""
    from dropctl.reader.layer_names import ALWAYS_ON_CLASSES

    res = layer.resolution
    if res is None or res.package != "dropctl" or res.problem == "unresolvable":
        return None
    return ALWAYS_ON_CLASSES.get(res.class_name)


def bidirectional_aliases(path: str) -> tuple[str, ...]:
    """The older name of a site inside a ``Bidirectional`` wrapper, for ``--sites`` globs.

    Every format is named as Keras builds it (:func:`bidirectional_name`):
    ``<wrapper>/forward_<name>`` and ``<wrapper>/backward_<name>``. A glob written against
    the wrapped layer's own name (``<wrapper>/<name>``, what a Keras 2 / tf.keras config
    stores and what dropctl printed for such files before) still selects both directions.
    """
    head, _, leaf = path.rpartition("/")
    for prefix in ("forward_", "backward_"):
        if leaf.startswith(prefix):
            return (f"{head}/{leaf[len(prefix):]}",)
    return ()


def bidirectional_name(name: str, role: str | None) -> str:
    """The name Keras gives a direction of a ``Bidirectional`` (Keras 3 and tf.keras alike):
    ``forward_<name>`` for the wrapped ``layer``, ``backward_<name>`` for ``backward_layer``
    (an existing prefix is not doubled). One path scheme whichever Keras wrote the config."""
    prefix = "backward_" if role == "backward_layer" else "forward_"
    return name if name.startswith(prefix) else prefix + name


def backward_twin(layer: Layer, layers: list[Layer]) -> str | None:
    """Path of the backward direction Keras builds as a copy of ``layer``, or None.

    A Keras 2 / tf.keras ``Bidirectional`` config stores only the wrapped ``layer``; Keras
    creates ``backward_<name>`` from it, with the same config. (A Keras 3 config, or one with
    an explicit ``backward_layer``, lists both directions: no twin.)
    """
    if layer.wrapper_role not in ("layer", "forward_layer") or layer.parent is None:
        return None
    wrapper = layers[layer.parent]
    if wrapper.class_name != "Bidirectional" or isinstance(
            wrapper.config.get("backward_layer"), dict):
        return None
    head, _, leaf = layer.path.rpartition("/")
    base = leaf[len("forward_"):] if leaf.startswith("forward_") else leaf
    return f"{head}/backward_{base}"


def site_matches(path: str, pattern: str, aliases: tuple[str, ...] = ()) -> bool:
    """THE ``--sites`` glob test (inspect, mc-predict, diff, convert, check --probe): the
    glob matches the path as inspect prints it, or the path without the model's name, or
    one of ``aliases`` (:func:`bidirectional_aliases`) in either form."""
    import fnmatch

    for p in (path, *aliases):
        below_root = p.split("/", 1)[1] if "/" in p else p
        if fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(below_root, pattern):
            return True
    return False


def no_site_error(pattern: str, paths: Iterable[str], classes: Iterable[str] = ()
                  ) -> UsageError:
    """THE error for a ``--sites`` glob that selects nothing (inspect, mc-predict, diff,
    convert): it lists the sites, and when the glob selects a path that another recorded
    keras_hub release builds for one of ``classes`` (a glob written against that release),
    it says so (:func:`dropctl.reader.semantics.path_changes`)."""
    import fnmatch

    from dropctl.reader.semantics import path_changes

    known = ", ".join(paths) or "none"
    message = f"--sites '{pattern}' matches no stochastic site (sites: {known})"
    tail = pattern.split("/", 1)[-1]
    for change in (c for name in dict.fromkeys(classes) for c in path_changes(name)):
        old = [p for p in change.then if fnmatch.fnmatchcase(p, pattern)
               or fnmatch.fnmatchcase(p, tail)]
        if old:
            message += (f"; it selects {', '.join(old[:3])}, which keras-hub {change.keras_hub} "
                        f"builds in {change.class_name} (this keras_hub: "
                        f"{', '.join(change.now[:3]) or 'none'})")
            break
    return UsageError(message)


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
    module = entry.get("module")
    if isinstance(cls, str) and isinstance(module, str) and module.split(".", 1)[0] in (
            "keras_hub", "keras_nlp"):
        # A keras_hub model whose get_config() stores no name (MobileNetV5Backbone, 0.32) is
        # named by Keras from its class (its naming module's to_snake_case).
        return _snake_case(cls)
    return cls if isinstance(cls, str) else "?"


def _snake_case(name: str) -> str:
    """Keras' ``to_snake_case`` (utils/naming.py in Keras 3.6-3.15): ``MobileNetV5Backbone``
    -> ``mobile_net_v5_backbone``."""
    import re

    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def children_of(entry: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(wrapper role, child entry) for nested layer lists, wrapped layers and RNN cells."""
    return [(role, holder[key]) for role, holder, key in child_slots(entry)]


def child_slots(entry: dict[str, Any]) -> list[tuple[str | None, list[Any] | dict[str, Any], Any]]:
    """(wrapper role, holder, key) of every child entry, in the order of :func:`children_of`.

    ``holder[key]`` is the child: rewriting callers replace a child in place through it.
    """
    cfg = entry.get("config")
    out: list[tuple[str | None, list[Any] | dict[str, Any], Any]] = []
    if isinstance(cfg, list):  # Keras 1 / 2.0-2.2.2 list-form Sequential
        return [(None, cfg, i) for i, c in enumerate(cfg) if isinstance(c, dict)]
    if not isinstance(cfg, dict):
        return out
    layers = cfg.get("layers")
    if isinstance(layers, list):
        out.extend((None, layers, i) for i, c in enumerate(layers) if isinstance(c, dict))
    for role in ("layer", "backward_layer", "forward_layer", "cell"):
        child = cfg.get(role)
        if isinstance(child, dict) and isinstance(child.get("class_name"), str):
            out.append((role, cfg, role))
        elif isinstance(child, list):
            out.extend((role, child, i) for i, c in enumerate(child)
                       if isinstance(c, dict) and "class_name" in c)
    cells = cfg.get("cells")
    if isinstance(cells, list):
        out.extend(("cell", cells, i) for i, c in enumerate(cells)
                   if isinstance(c, dict) and "class_name" in c)
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


def _refuse_too_many_layers(model_config: dict[str, Any]) -> None:
    """Count layers cheaply before the real walk does its per-layer work (a flat list of
    199,990 layers is refused at once instead of after 50,000 expensive steps)."""
    count = 0
    stack = [model_config]
    while stack:
        entry = stack.pop()
        count += 1
        if count > MAX_LAYERS:
            raise ArtifactError(f"model has more than {MAX_LAYERS:,} layers (hostile config?)")
        cfg = entry.get("config")
        layers = cfg.get("layers") if isinstance(cfg, dict) else cfg
        if isinstance(layers, list):
            if count + len(layers) > MAX_LAYERS and all(isinstance(c, dict) for c in layers):
                raise ArtifactError(
                    f"model has more than {MAX_LAYERS:,} layers (hostile config?)")
            stack.extend(c for c in layers if isinstance(c, dict))


def walk(model_config: dict[str, Any]) -> list[Layer]:
    """Every layer under the root model, pre-order, with paths qualified from the root.

    The root model itself is returned first (depth 0), so its name starts every path.
    """
    _refuse_too_many_layers(model_config)
    out: list[Layer] = []
    # (entry, parent path, depth, parent effective trainable, frozen_by, pin, pin_from, role,
    #  holder, key, parent index)
    stack: list[tuple[Any, ...]] = [(model_config, "", 0, True, None, None, None, None,
                                     None, None, None)]
    while stack:
        (entry, parent, depth, parent_trainable, frozen_by, pin, pin_from, role,
         holder, key, parent_index) = stack.pop()
        if len(out) >= MAX_LAYERS:
            raise ArtifactError(f"model has more than {MAX_LAYERS:,} layers (hostile config?)")
        if depth > MAX_MODEL_DEPTH:
            raise ArtifactError(f"models nest deeper than {MAX_MODEL_DEPTH} levels (hostile config?)")
        name = layer_name(entry)
        leaf = name
        if parent_index is not None and out[parent_index].class_name == "Bidirectional" and (
                role in ("layer", "forward_layer", "backward_layer")):
            leaf = bidirectional_name(name, role)
        path = f"{parent}/{leaf}" if parent else leaf
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
        kids = child_slots(entry)
        stored_class = str(entry.get("class_name"))
        res = resolve(entry)
        module = entry.get("module")
        if res.via == "registered_name" and res.package is not None and (
                not isinstance(module, str) or module.split(".", 1)[0] != res.package):
            module = res.package  # the registry wins over the stored module
        # the legacy registered spelling (dropctl>AlwaysDropout) stays as written
        class_name = stored_class if stored_class.rpartition(">")[2] == res.class_name else (
            res.class_name)
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
                class_name=class_name,
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
                parent=parent_index,
                entry=entry,
                holder=holder,
                key=key,
                resolution=res,
                stored_class_name=stored_class if class_name != stored_class else None,
            )
        )
        index = len(out) - 1
        for child_role, child_holder, child_key in reversed(kids):
            stack.append((child_holder[child_key], path, depth + 1, eff,
                          frozen if not eff else None, eff_pin, eff_pin_from, child_role,
                          child_holder, child_key, index))
    return out

