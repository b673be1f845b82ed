"""Graph surgery on a copied config tree: ``convert``'s in-place edits, one helper per edit.

Every function mutates the dict it is given (a deep copy :func:`dropctl.conversion.plan.
plan_conversion` made of the artifact's config) and reads dicts and lists only: change a layer's
class (to or from dropctl's always-on classes), remove a pinned ``training`` from its stored
calls, set a rate, turn a recognised Lambda dropout into a plain layer entry, and cut a
single-input, shape-preserving layer out of its container by rewiring its consumers (and the
model's outputs) to its input. Which edit a site gets is the planner's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropctl.errors import UnsupportedModelError
from dropctl.reader.classes import ATTENTION_CLASSES, RECURRENT_CLASSES
from dropctl.reader.layer_names import ALWAYS_ON_CLASSES, MODULE, registered_name
from dropctl.reader.walker import Layer, walk


# ---- walking the config with mutable access -------------------------------------------------
@dataclass
class MutableNode:
    """A layer entry of the (copied) config, next to what the static walker says about it."""

    entry: dict[str, Any]
    layer: Layer
    parent: MutableNode | None
    role: str | None
    """Wrapper role ("layer", "backward_layer", "cell") or None inside a layer list."""


def mutable_nodes(model_config: dict[str, Any]) -> list[MutableNode]:
    """Every layer of the (copied) config from the one walker, with its mutable entry."""
    out: list[MutableNode] = []
    for layer in walk(model_config):
        parent = out[layer.parent] if layer.parent is not None else None
        out.append(MutableNode(layer.entry, layer, parent, layer.wrapper_role))
    return out


def config_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's ``config`` dict (an empty one for list-form or missing configs)."""
    cfg = entry.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _is_keras3_entry(entry: dict[str, Any]) -> bool:
    return "module" in entry or "registered_name" in entry


def set_class(entry: dict[str, Any], class_name: str) -> None:
    """Point a layer entry at a stock Keras class or a dropctl always-on class."""
    ours = class_name in ALWAYS_ON_CLASSES
    if _is_keras3_entry(entry):
        entry["class_name"] = class_name
        entry["module"] = MODULE if ours else "keras.layers"
        entry["registered_name"] = registered_name(class_name) if ours else None
    else:  # legacy .h5 / JSON: Keras resolves "package>Name" through its registry
        entry["class_name"] = registered_name(class_name) if ours else class_name


def unpin(entry: dict[str, Any]) -> bool:
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


def remove(node: MutableNode) -> str:
    """Cut one single-input, shape-preserving layer out of its container; returns a note."""
    parent = node.parent
    if parent is None:
        raise UnsupportedModelError("cannot remove the model itself")
    if node.role is not None:  # e.g. TimeDistributed(Dropout): the wrapper goes
        return remove(parent)
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
        own = config_of(node.entry)
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


# ---- rates and classes ------------------------------------------------------------------------
def rate_of(stock: str, cfg: dict[str, Any]) -> float | None:
    keys = ("stddev",) if stock == "GaussianNoise" else ("rate", "p", "dropout", "dropout_W")
    for key in keys:
        val = cfg.get(key)
        if isinstance(val, int | float) and not isinstance(val, bool):
            return float(val)
    return None


def set_rate(stock: str, cfg: dict[str, Any], rate: float) -> None:
    if stock in RECURRENT_CLASSES:
        rec = cfg.get("recurrent_dropout")
        cfg["dropout"] = rate if (cfg.get("dropout") or not rec) else cfg.get("dropout")
        if rec:
            cfg["recurrent_dropout"] = rate
    elif stock in ATTENTION_CLASSES:
        cfg["dropout"] = rate
    elif "rate" not in cfg and "p" not in cfg and (keys := _block_keys(cfg)):
        # a residual branch or keras_hub block (CachedMultiHeadAttention, TransformerEncoder):
        # its own rate parameters, the ones --strip zeroes (a "rate" key would not build)
        for key in keys:
            cfg[key] = rate
    else:
        cfg["p" if "p" in cfg and "rate" not in cfg else "rate"] = rate


def _block_keys(cfg: dict[str, Any]) -> list[str]:
    """The :data:`BLOCK_RATE_KEYS` ``cfg`` sets to a number: the non-zero ones, else the first."""
    present = [k for k in BLOCK_RATE_KEYS
               if isinstance(cfg.get(k), int | float) and not isinstance(cfg.get(k), bool)]
    return [k for k in present if cfg[k]] or present[:1]


def lambda_as_layer(entry: dict[str, Any], class_name: str, rate: float) -> None:
    """Turn a recognised Lambda dropout/noise entry into a plain layer entry, in place."""
    old = config_of(entry)
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
    set_class(entry, class_name)


KERAS1_KEYS = {"p": "rate", "dropout_W": "dropout", "dropout_U": "recurrent_dropout"}



def rename_keras1_keys(cfg: dict[str, Any]) -> None:
    """Keras 1 parameter names (``p``, ``dropout_W``/``dropout_U``) to the Keras 2+ ones."""
    for old_key, new_key in KERAS1_KEYS.items():
        if old_key in cfg and new_key not in cfg:
            cfg[new_key] = cfg.pop(old_key)


BLOCK_RATE_KEYS = ("drop_path_rate", "dropout", "dropout_rate", "attention_dropout", "drop_rate")
"""The rate parameters of a residual-branch or keras_hub block (zeroed, never unhooked)."""

ZEROED_KEYS = ("dropout", "recurrent_dropout", "dropout_W", "dropout_U")
"""The RNN/attention dropout parameters ``--strip`` sets to 0."""


def zero_keys(cfg: dict[str, Any], keys: tuple[str, ...], *, only_set: bool = False) -> None:
    """Set each of ``keys`` present in ``cfg`` to 0 (``only_set``: only non-zero numbers)."""
    for key in keys:
        if key not in cfg:
            continue
        if only_set and not (isinstance(cfg[key], int | float) and cfg[key]):
            continue
        cfg[key] = 0.0
