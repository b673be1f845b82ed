"""Legacy rescue, the container half: graph-level rewrites of a Keras 2 / tf.keras model config.

Where :mod:`dropctl.reader.rescue` fixes one layer entry at a time, these fix how a model's
layers refer to each other, each on one container (a Functional, Sequential or nested model):

* ``batch_input_shape`` on a layer that is not the first of its model is dropped (the
  InputLayer carries the shape);
* layer names with ``/`` (tf.keras ``Conv/BatchNorm``), which Keras 3 refuses, are renamed and
  every reference follows (:func:`renamed_layers` maps them back to the weights' names);
* tensors passed as call keyword arguments in list-form nodes are revived as Keras 3 tensor
  references;
* references to a nested model's calls are renumbered: Keras 2 gives a built model a node of
  its own at index 0, Keras 3 reads list-form references literally.

Each change is recorded as a :class:`Rescue`. Pure config surgery on dicts and lists, no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropctl.reader.walker import Layer, layer_name


@dataclass(frozen=True)
class Rescue:
    """One change :func:`rescue_config` made so that Keras 3 can build the model."""

    path: str
    """Layer path from the outermost model (``lstm_permadropout/lambda``)."""
    action: str
    """Human sentence: what was replaced, renamed or dropped."""
    renamed: tuple[tuple[str, str], ...] = ()
    """(new name, name in the file) of the layers this rescue renamed (weights are stored under
    the file's names: the loaders translate, see :func:`renamed_layers`)."""


def drop_inner_input_shapes(container: Layer, rescues: list[Rescue]) -> None:
    """``batch_input_shape`` on any layer but a Sequential's first: the InputLayer holds it.

    tf.keras writes the first layer's ``input_shape=`` as ``batch_input_shape`` on that layer
    even after an explicit InputLayer (``.keras`` files) and on layers inside functional
    models; Keras 3 refuses the keyword on RNNs (measured: "Unrecognized keyword arguments
    passed to LSTM: {'batch_input_shape': ...}").
    """
    cfg = container.entry.get("config")
    layers = cfg.get("layers") if isinstance(cfg, dict) else None
    if not isinstance(layers, list):
        return
    functional = isinstance(cfg, dict) and "input_layers" in cfg
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict) or entry.get("class_name") == "InputLayer":
            continue
        if i == 0 and not functional:
            continue  # a Sequential's own input shape (moved to an InputLayer before this)
        lcfg = entry.get("config")
        if isinstance(lcfg, dict) and "batch_input_shape" in lcfg:
            lcfg.pop("batch_input_shape")
            rescues.append(Rescue(f"{container.path}/{layer_name(entry)}",
                                  "Keras 2 leftover 'batch_input_shape' dropped "
                                  "(the model's InputLayer holds the shape)"))


def _rename_refs(node: Any, mapping: dict[str, str]) -> None:
    """Every ``[layer, node, tensor(, kwargs)]`` reference inside ``node`` renamed in place."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if tensor_ref(item) is not None and item[0] in mapping:
                item[0] = mapping[item[0]]
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def rename_slashes(container: Layer, rescues: list[Rescue]) -> None:
    """Layer names with ``/`` (tf.keras MobileNetV3's ``Conv/BatchNorm``, DenseNet's
    ``conv1/conv``) -> ``_``: Keras 3 refuses them ("Argument `name` must be a string and cannot
    contain character `/`", measured on tf_keras 2.21 files). Every reference inside the model
    follows; the weights stay under the file's names (:func:`renamed_layers`)."""
    cfg = container.entry.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        return
    layers = cfg["layers"]
    names = _layer_names(cfg)
    mapping: dict[str, str] = {}
    for name in sorted(n for n in names if "/" in n):
        new = base = name.replace("/", "_")
        i = 1
        while new in names or new in mapping.values():
            new, i = f"{base}_{i}", i + 1
        mapping[name] = new
    if not mapping:
        return
    for entry in layers:
        if not isinstance(entry, dict):
            continue
        name = layer_name(entry)
        if name in mapping:
            entry["name"] = mapping[name]
            if isinstance(entry.get("config"), dict):
                entry["config"]["name"] = mapping[name]
        _rename_refs(entry.get("inbound_nodes"), mapping)
    for key in ("input_layers", "output_layers"):
        _rename_refs(cfg.get(key), mapping)
    first = next(iter(mapping.items()))
    rescues.append(Rescue(container.path, f"{len(mapping)} layer name(s) with '/' renamed "
                                          f"('/' -> '_', e.g. '{first[0]}' -> '{first[1]}'): "
                                          "Keras 3 refuses '/' in a name",
                          tuple((new, old) for old, new in mapping.items())))


def renamed_layers(rescues: list[Rescue] | tuple[Rescue, ...]) -> dict[str, str]:
    """New layer name -> the name the file stores its weights under, over every rescue."""
    out: dict[str, str] = {}
    for r in rescues:
        for new, old in r.renamed:
            out.setdefault(new, old)
    return out



_MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


def tensor_ref(item: Any) -> list[Any] | None:
    if (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)
            and isinstance(item[1], int) and not isinstance(item[1], bool)):
        return item
    return None


def _layer_names(cfg: dict[str, Any]) -> set[str]:
    return {layer_name(e) for e in cfg.get("layers") or [] if isinstance(e, dict)}


def _kwarg_refs(kwargs: Any, names: set[str]) -> list[list[Any]]:
    """Tensor references Keras 2 stored inside call kwargs (``value``, ``mask``,
    ``initial_state``...) as ``[layer, node, tensor]`` lists naming a layer of the model."""
    found: list[list[Any]] = []
    stack = list(kwargs.values()) if isinstance(kwargs, dict) else []
    while stack:
        item = stack.pop()
        ref = tensor_ref(item)
        if ref is not None and len(ref) == 3 and ref[0] in names:
            found.append(ref)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _keras_tensor(ref: list[Any]) -> dict[str, Any]:
    # The shape and dtype only seed a placeholder: Keras 3 replaces it by the output of the
    # referenced node (functional.deserialize_node's convert_revived_tensor).
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None], "dtype": "float32", "keras_history": list(ref[:3])}}


def revive_kwarg_tensors(container: Layer, rescues: list[Rescue]) -> None:
    """Keras 2 nodes with tensors in their kwargs -> the Keras 3 node form.

    Keras 3 passes a list-form node's kwargs through untouched, so ``MultiHeadAttention``
    would get ``value=["dense", 0, 0]`` (measured: "build() missing ... 'value_shape'");
    in the dict form each reference becomes the tensor it names.
    """
    cfg = container.entry.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        return
    names = _layer_names(cfg)
    for entry in cfg["layers"]:
        nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
        if not isinstance(nodes, list):
            continue
        for i, node in enumerate(nodes):
            if not (isinstance(node, list) and node and all(tensor_ref(t) is not None for t in node)):
                continue
            kwargs = node[-1][3] if len(node[-1]) >= 4 and isinstance(node[-1][3], dict) else {}
            if not _kwarg_refs(kwargs, names):
                continue

            def revive(value: Any) -> Any:
                ref = tensor_ref(value)
                if ref is not None and len(ref) == 3 and ref[0] in names:
                    return _keras_tensor(ref)
                return [revive(v) for v in value] if isinstance(value, list) else value

            tensors = [_keras_tensor(t) for t in node]
            nodes[i] = {"args": [tensors[0] if len(tensors) == 1 else tensors],
                        "kwargs": {k: revive(v) for k, v in kwargs.items()}}
            rescues.append(Rescue(f"{container.path}/{layer_name(entry)}",
                                  "Keras 2 tensor arguments in a call rewritten in the Keras 3 form"))


def _tensor_refs(cfg: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """Keras 1/2 list-form ``[layer, node, tensor(, kwargs)]`` references of a functional
    config: (inbound nodes of its layers, its ``input_layers``/``output_layers``)."""
    inbound: list[list[Any]] = []
    ends: list[list[Any]] = []
    names = _layer_names(cfg)
    for entry in cfg.get("layers") or []:
        if not isinstance(entry, dict):
            continue
        for node in entry.get("inbound_nodes") or []:
            if isinstance(node, list):
                inbound.extend(r for r in map(tensor_ref, node) if r is not None)
                for tensor in node:
                    if isinstance(tensor, list) and len(tensor) >= 4:
                        inbound.extend(_kwarg_refs(tensor[3], names))
    for key in ("output_layers", "input_layers"):
        value = cfg.get(key)
        single = tensor_ref(value)
        if single is not None:
            ends.append(single)
        elif isinstance(value, list):
            ends.extend(r for r in map(tensor_ref, value) if r is not None)
    return inbound, ends


def renumber_submodel_calls(container: Layer, rescues: list[Rescue]) -> None:
    """tf.keras / Keras 2 nested models: call references one lower (see the module docstring).

    Keras 2 gives every built model a node of its own at index 0, so a nested model's first
    call is node 1. Keras 3 reads list-form inbound references literally and creates no such
    node (it subtracts one itself only for a Functional named in ``output_layers``). Applied
    only when every reference to the sub-model is >= 1.
    """
    cfg = container.entry.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
        return
    models = {layer_name(e): e.get("class_name") for e in cfg["layers"]
              if isinstance(e, dict) and e.get("class_name") in _MODEL_CLASSES}
    if not models:
        return
    inbound, ends = _tensor_refs(cfg)
    for name in sorted(models):
        calls = [r for r in inbound if r[0] == name]
        outs = [r for r in ends if r[0] == name]
        if not calls and not outs:
            continue
        if min(r[1] for r in calls + outs) < 1:
            continue
        for r in calls if models[name] != "Sequential" else calls + outs:
            r[1] -= 1
        rescues.append(Rescue(f"{container.path}/{name}",
                              "Keras 2 nested-model call indices renumbered from 0"))
