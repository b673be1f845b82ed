"""Weights of a tf.keras SavedModel, read from its variables checkpoint into a Keras 3 model.

The SavedModel's own graph functions are never loaded or run. ``tf.train.load_checkpoint``
reads tensors from ``variables/variables.{index,data-*}``; which tensor belongs to which
layer comes from two object graphs that dropctl parses itself:

* ``keras_metadata.pb`` names every Keras layer and gives its object path
  (``root.layer_with_weights-1``, see :mod:`dropctl.reader.savedmodel`);
* the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH`` (a ``TrackableObjectGraph``: nodes with
  named children and, for variables, the checkpoint key of their value) resolves that path
  to the layer's variables. A checkpoint stores each variable once, under its shortest path
  (an LSTM's kernel may sit under ``variables/1``), so keys are never guessed from names.

Each Keras 3 layer that owns weights is matched to the tf.keras layer with the same name
path; each of its weights to the variable with the same name (``kernel``, ``recurrent_kernel``,
``gamma``...), ties broken by the words of the sub-object path (``forward_layer``,
``_query_dense``). Every Keras 3 weight must find a variable of the same shape and dtype, and
every variable of a matched layer must be used (random-generator state excepted), or the
load fails: a model with random weights never comes back. Values are assigned and then
compared bit for bit.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import UnsupportedModelError, one_line
from dropctl.reader.protowire import LEN, Budget, fields, text
from dropctl.reader.savedmodel import MetaNode, node_metadata, read_metadata
from dropctl.runtime.imports import tf_module

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VALUE_ATTRIBUTE = "VARIABLE_VALUE"
MAX_OBJECT_FIELDS = 50_000_000
_SAVEDMODEL_CHILDREN = frozenset({
    "variables", "trainable_variables", "non_trainable_variables", "regularization_losses",
    "keras_api", "__call__", "call_and_return_all_conditional_losses", "_default_save_signature",
    "signatures", "optimizer", "state_spec",
})
"""Children the SavedModel adds to every layer (lists of the same variables, functions)."""
_RNG_STATE = re.compile(r"(^|/)(_random_generator|_generator|seed_generator|state)(/|$)")


@dataclass(frozen=True)
class TrackedVariable:
    """A variable found under a layer in the checkpoint's object graph."""

    rel_path: str
    """Child names from the layer to the variable (``cell/kernel``)."""
    key: str
    """Checkpoint key of its value (``variables/1/.ATTRIBUTES/VARIABLE_VALUE``)."""
    node: int
    """Its node id in the object graph."""


class ObjectGraph:
    """The checkpoint's ``TrackableObjectGraph``: children by name, and value keys."""

    def __init__(self, data: bytes, what: str) -> None:
        budget = Budget(MAX_OBJECT_FIELDS, what)
        self.children: list[list[tuple[str, int]]] = []
        self.value_key: list[str | None] = []
        for number, wire, node in fields(data, 0, len(data), what, budget):
            if number != 1 or wire != LEN or not isinstance(node, tuple):
                continue
            kids: list[tuple[str, int]] = []
            value: str | None = None
            for n2, w2, v2 in fields(data, node[0], node[1], what, budget):
                if w2 != LEN or not isinstance(v2, tuple):
                    continue
                if n2 == 1:  # ObjectReference {node_id = 1, local_name = 2}
                    ref, name = 0, ""
                    for n3, w3, v3 in fields(data, v2[0], v2[1], what, budget):
                        if n3 == 1 and isinstance(v3, int):
                            ref = v3
                        elif n3 == 2 and w3 == LEN and isinstance(v3, tuple):
                            name = text(data, v3, what, 4096)
                    kids.append((name, ref))
                elif n2 == 2:  # SerializedTensor {name = 1, full_name = 2, checkpoint_key = 3}
                    attr, key = "", ""
                    for n3, w3, v3 in fields(data, v2[0], v2[1], what, budget):
                        if w3 == LEN and isinstance(v3, tuple):
                            if n3 == 1:
                                attr = text(data, v3, what, 4096)
                            elif n3 == 3:
                                key = text(data, v3, what, 4096)
                    if attr == VALUE_ATTRIBUTE:
                        value = key
            self.children.append(kids)
            self.value_key.append(value)
        if not self.children:
            raise UnsupportedModelError(f"{what} has an empty object graph")

    def resolve(self, names: list[str]) -> int | None:
        """The node reached from the root by following child ``names``, or None."""
        node = 0
        for name in names:
            nxt = next((ref for child, ref in self.children[node] if child == name), None)
            if nxt is None or not 0 <= nxt < len(self.children):
                return None
            node = nxt
        return node

    def variables_under(self, node: int) -> list[TrackedVariable]:
        """Every variable reachable from ``node`` by attribute names, each once, shortest path.

        The lists a SavedModel adds (``variables``, ``trainable_variables``...) are not
        followed: they hold the same variables under numbers instead of names.
        """
        out: list[TrackedVariable] = []
        seen = {node}
        queue: deque[tuple[int, str]] = deque([(node, "")])
        while queue:
            current, rel = queue.popleft()
            for name, ref in self.children[current]:
                if (ref in seen or not 0 <= ref < len(self.children)
                        or name in _SAVEDMODEL_CHILDREN):
                    continue
                seen.add(ref)
                path = f"{rel}/{name}" if rel else name
                key = self.value_key[ref]
                if key is not None:
                    out.append(TrackedVariable(path, key, ref))
                queue.append((ref, path))
        return out

    def listed_variables(self, node: int) -> list[int]:
        """Node ids in the layer's own ``variables`` list (every variable it owns)."""
        listed = next((ref for name, ref in self.children[node] if name == "variables"), None)
        if listed is None or not 0 <= listed < len(self.children):
            return []
        return [ref for _, ref in self.children[listed] if 0 <= ref < len(self.children)
                and self.value_key[ref] is not None]


def _layer_name_paths(nodes: tuple[MetaNode, ...], what: str) -> dict[str, MetaNode]:
    """``name/name`` path (root excluded) -> the metadata node of that layer."""
    layers = {n.node_path: n for n in nodes if n.is_layer}
    names: dict[str, str] = {}
    for path in sorted(layers, key=lambda s: s.count(".")):
        meta = node_metadata(layers[path], what)
        name = meta.get("name") or (meta.get("config") or {}).get("name")
        names[path] = str(name) if name else path.rsplit(".", 1)[-1]
    out: dict[str, MetaNode] = {}
    for path, node in layers.items():
        if path == "root":
            continue
        chain = []
        parts = path.split(".")
        for i in range(2, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in layers:
                chain.append(names[prefix])
        out.setdefault("/".join(chain), node)
    return out


def _words(path: str) -> set[str]:
    return {w for w in re.split(r"[/_\-.]+", path.lower()) if w and not w.isdigit()}


def _pick(weight_path: str, candidates: list[TrackedVariable]) -> TrackedVariable:
    if len(candidates) == 1:
        return candidates[0]
    words = _words(weight_path)
    return max(candidates, key=lambda c: (len(words & _words(c.rel_path)),
                                          -candidates.index(c)))


_LEAF_ALIASES: dict[tuple[str, str], tuple[str, ...]] = {
    # Keras 3's DepthwiseConv2D calls its kernel `kernel`; tf.keras (and so a tf.keras
    # SavedModel's checkpoint) `depthwise_kernel` (measured: tf.keras MobileNetV2, tf_keras 2.21).
    ("DepthwiseConv1D", "kernel"): ("depthwise_kernel",),
    ("DepthwiseConv2D", "kernel"): ("depthwise_kernel",),
}
"""(Keras 3 class, weight name) -> the names a tf.keras checkpoint stores it under."""


def _weighted_layers(model: Any, keras: Any, prefix: str = "",
                     renamed: dict[str, str] | None = None) -> dict[str, Any]:
    """Layer path (under the names the SavedModel stores: ``renamed`` maps rescued names back)
    -> every layer holding weights."""
    out: dict[str, Any] = {}
    renamed = renamed or {}
    for layer in model.layers:
        path = f"{prefix}{renamed.get(layer.name, layer.name)}"
        if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
            out.update(_weighted_layers(layer, keras, path + "/", renamed))
        elif layer.weights:
            out[path] = layer
    return out


def load_savedmodel_weights(model: Any, directory: Path,
                            renamed: dict[str, str] | None = None) -> int:
    """Assign every weight of ``model`` from the SavedModel at ``directory``; returns the count.

    Raises :class:`UnsupportedModelError` when a layer or weight has no stored value, a shape
    or dtype differs, or stored variables of a matched layer are left over.
    """
    tf = tf_module("reading SavedModel weights")
    import keras

    what = f"{directory}: variables"
    try:
        reader = tf.train.load_checkpoint(str(directory / "variables" / "variables"))
        shapes = reader.get_variable_to_shape_map()
        graph = ObjectGraph(bytes(reader.get_tensor(OBJECT_GRAPH_KEY)), what)
    except UnsupportedModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - TF raises its own error types for bad checkpoints
        raise UnsupportedModelError(
            f"{what}: the checkpoint cannot be read ({one_line(exc)})") from None
    by_name = _layer_name_paths(read_metadata(directory).nodes, str(directory))
    count = 0
    for path, layer in _weighted_layers(model, keras, renamed=renamed).items():
        node = by_name.get(path)
        obj = graph.resolve(node.checkpoint_prefix.split("/")) if node else None
        if node is None or obj is None:
            raise UnsupportedModelError(f"{directory}: no stored weights for layer {path}")
        stored = [v for v in graph.variables_under(obj) if v.key in shapes]
        unused = list(stored)
        for weight in layer.weights:
            leaf = weight.name.rsplit("/", 1)[-1].split(":", 1)[0]
            candidates = [v for v in unused if v.rel_path.rsplit("/", 1)[-1] == leaf] or [
                v for v in unused if v.rel_path.rsplit("/", 1)[-1] in _LEAF_ALIASES.get(
                    (type(layer).__name__, leaf), ())]
            if not candidates:
                raise UnsupportedModelError(
                    f"{directory}: no stored value for weight {leaf!r} of layer {path}")
            var = _pick(getattr(weight, "path", leaf), candidates)
            unused.remove(var)
            value = np.asarray(reader.get_tensor(var.key))
            want = tuple(int(d) for d in weight.shape)
            if tuple(value.shape) != want or value.dtype != np.dtype(weight.dtype):
                raise UnsupportedModelError(
                    f"{directory}: stored {path}/{var.rel_path} is {value.dtype}{list(value.shape)}, "
                    f"the rebuilt layer wants {weight.dtype}{list(want)}")
            weight.assign(value)
            if np.asarray(weight.numpy()).tobytes() != value.tobytes():
                raise UnsupportedModelError(f"{directory}: weight {path}/{leaf} changed on assignment")
            count += 1
        used = {v.node for v in stored} - {v.node for v in unused}
        left = [v.rel_path for v in unused if not _RNG_STATE.search(v.rel_path)]
        named = {v.node for v in stored}
        left += [f"variables/{i}" for i, ref in enumerate(graph.listed_variables(obj))
                 if ref not in used and ref not in named]
        if left:
            raise UnsupportedModelError(
                f"{directory}: stored variable(s) {', '.join(left[:3])} of layer {path} have no "
                "place in the rebuilt Keras 3 layer")
    return count
