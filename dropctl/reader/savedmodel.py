"""TensorFlow SavedModel directories (tf.keras 2.x ``model.save("dir")``), read statically.

A SavedModel written by tf.keras holds ``keras_metadata.pb``: a protobuf ``SavedMetadata``
(``repeated SavedObject nodes = 1``; each node has ``node_id = 2``, ``node_path = 3``
such as ``root.layer_with_weights-1.cell``, ``identifier = 4`` such as ``_tf_keras_layer``
and ``metadata = 5``, a JSON string). The root node's JSON carries the whole model config
(``model_config``, the same legacy form a tf.keras ``.h5`` stores), ``keras_version``,
``backend`` and ``training_config``; Lambda bytecode sits inside it exactly as in ``.h5``,
so the walker and the Lambda analysis see it the same way and nothing is unmarshalled.

Nothing here imports TensorFlow or the ``protobuf`` package: :mod:`dropctl.reader.protowire`
walks the wire format with declared-size, field-count and depth limits. The JSON encoder
tf.keras used writes tuples as ``{"class_name": "__tuple__", "items": [...]}``; they become
lists here, as in an ``.h5`` config. A SavedModel without Keras metadata (``tf.saved_model.save``,
TF1 exports) has no layer config: it is refused with the dropout-like random ops of its graph
named, so the user learns what is inside without anything being run.

The runtime reads the weights from ``variables/`` (TensorFlow checkpoint) by the node paths
read here (:func:`read_metadata`); see :mod:`dropctl.runtime.savedmodel`.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError
from dropctl.reader.protowire import LEN, Budget, count_top_level, fields, text

MAX_METADATA_BYTES = 256 * 1024 * 1024
"""Largest keras_metadata.pb accepted (EfficientNetB7's is ~20 MB)."""
MAX_GRAPH_BYTES = 2 * 1024 * 1024 * 1024
"""Largest saved_model.pb scanned for dropout-like ops (protobuf's own 2 GB limit)."""
MAX_NODES = 50_000
"""Most SavedObject nodes in one keras_metadata.pb (one per Keras layer, cell or metric:
a 150-layer ResNet has a few hundred)."""
MAX_FIELDS = 20_000_000
"""Most protobuf fields visited in one file."""
MAX_NODE_PATH_PARTS = 256
"""Deepest object path (``root.a.b...``) accepted."""
MAX_STRING_BYTES = 64 * 1024 * 1024
"""Longest metadata JSON / name string accepted (the JSON limit of the other formats)."""

METADATA_FILE = "keras_metadata.pb"
GRAPH_FILE = "saved_model.pb"

_LAYER_IDENTIFIERS = frozenset({
    "_tf_keras_layer", "_tf_keras_input_layer", "_tf_keras_network", "_tf_keras_model",
    "_tf_keras_sequential", "_tf_keras_rnn_layer",
})
"""SavedObject identifiers of layers and models (metrics and others are skipped)."""


@dataclass(frozen=True)
class MetaNode:
    """One Keras object of a SavedModel (``keras_metadata.pb`` node)."""

    node_id: int
    """Object id in the SavedModel's object graph (0 for the root)."""
    node_path: str
    """Object path from the root: ``root.layer_with_weights-0.cell``."""
    identifier: str
    """Kind of object: ``_tf_keras_layer``, ``_tf_keras_sequential``, ``_tf_keras_metric``..."""
    metadata: str
    """The node's JSON metadata, unparsed (parse with :func:`node_metadata`)."""

    @property
    def is_layer(self) -> bool:
        return self.identifier in _LAYER_IDENTIFIERS

    @property
    def checkpoint_prefix(self) -> str:
        """The node's key prefix in the variables checkpoint (``layer_with_weights-0/cell``)."""
        return "/".join(self.node_path.split(".")[1:])


@dataclass(frozen=True)
class SavedModelMetadata:
    """What ``keras_metadata.pb`` holds: every node, and the root's parsed metadata."""

    nodes: tuple[MetaNode, ...]
    root: dict[str, Any]


def is_savedmodel_dir(p: Path) -> bool:
    """A directory holding a SavedModel (``saved_model.pb`` or ``saved_model.pbtxt``)."""
    return (p / GRAPH_FILE).exists() or (p / "saved_model.pbtxt").exists()


def member(p: Path, name: str) -> Path:
    """``p/name`` as a regular file inside the directory (no symlink, FIFO or device)."""
    f = p / name
    if f.is_symlink():
        raise ArtifactError(f"{p}: {name} is a symbolic link; refusing a model directory "
                            "that points elsewhere")
    if not f.is_file():
        raise ArtifactError(f"{p}: {name} is not a regular file")
    return f


def _read_bytes(f: Path, limit: int, what: str) -> bytes:
    size = f.stat().st_size
    if size > limit:
        raise ArtifactError(f"{what} is {size:,} bytes, over the {limit:,}-byte limit")
    try:
        with f.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ArtifactError(f"{what} cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ArtifactError(f"{what} grew past the {limit:,}-byte limit while being read")
    return data


def untuple(value: Any) -> Any:
    """tf.keras' JSON encoding of tuples (``{"class_name": "__tuple__", "items"}``) as lists.

    Iterative, so the result of a depth-checked JSON document never meets the recursion limit.
    """
    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            if v.get("class_name") == "__tuple__" and isinstance(v.get("items"), list):
                return list(v["items"])
            return dict(v)
        if isinstance(v, list):
            return list(v)
        return v

    root = conv(value)
    stack = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                new = conv(v)
                item[k] = new
                if isinstance(new, dict | list):
                    stack.append(new)
        elif isinstance(item, list):
            for i, v in enumerate(item):
                new = conv(v)
                item[i] = new
                if isinstance(new, dict | list):
                    stack.append(new)
    return root


def parse_metadata(data: bytes, what: str) -> list[MetaNode]:
    """The nodes of a ``SavedMetadata`` message (see the module docstring for the fields)."""
    if count_top_level(data, what, MAX_NODES) > MAX_NODES:
        raise ArtifactError(f"{what} has more than {MAX_NODES:,} nodes (hostile or corrupt)")
    budget = Budget(MAX_FIELDS, what)
    nodes: list[MetaNode] = []
    for number, wire, value in fields(data, 0, len(data), what, budget):
        if number != 1 or wire != LEN:
            raise ArtifactError(f"{what} is not a Keras SavedMetadata message "
                                f"(unexpected field {number})")
        if len(nodes) >= MAX_NODES:
            raise ArtifactError(f"{what} has more than {MAX_NODES:,} nodes (hostile or corrupt)")
        assert isinstance(value, tuple)
        node_id, path, ident, meta = 0, "", "", ""
        for n2, w2, v2 in fields(data, value[0], value[1], what, budget):
            if w2 == LEN and isinstance(v2, tuple):
                if n2 == 3:
                    path = text(data, v2, what, MAX_STRING_BYTES)
                elif n2 == 4:
                    ident = text(data, v2, what, MAX_STRING_BYTES)
                elif n2 == 5:
                    meta = text(data, v2, what, MAX_STRING_BYTES)
            elif n2 == 2 and isinstance(v2, int):
                node_id = v2
        parts = path.split(".")
        if parts[0] != "root" or len(parts) > MAX_NODE_PATH_PARTS:
            raise ArtifactError(f"{what} has a node path {path[:80]!r} that is not "
                                f"root.<attr>... within {MAX_NODE_PATH_PARTS} parts")
        nodes.append(MetaNode(node_id, path, ident, meta))
    if not nodes:
        raise ArtifactError(f"{what} holds no nodes (empty or not a Keras metadata file)")
    return nodes


def node_metadata(node: MetaNode, what: str) -> dict[str, Any]:
    """A node's metadata JSON, shape-checked, parsed and with tuples turned into lists."""
    from dropctl.reader.artifact import parse_json

    doc = parse_json(node.metadata, f"{what}: metadata of {node.node_path}")
    if not isinstance(doc, dict):
        raise ArtifactError(f"{what}: metadata of {node.node_path} is not a JSON object")
    result = untuple(doc)
    assert isinstance(result, dict)
    return result


def read_metadata(p: Path) -> SavedModelMetadata:
    """Every node of ``p/keras_metadata.pb`` and the root node's parsed metadata."""
    what = f"{p}: {METADATA_FILE}"
    data = _read_bytes(member(p, METADATA_FILE), MAX_METADATA_BYTES, what)
    nodes = parse_metadata(data, what)
    roots = [n for n in nodes if n.node_path == "root"]
    if len(roots) != 1:
        raise ArtifactError(f"{what} has {len(roots)} root nodes; expected one")
    if not roots[0].is_layer:
        raise ArtifactError(f"{what}: the root object is {roots[0].identifier or 'unnamed'}, "
                            "not a Keras model")
    return SavedModelMetadata(tuple(nodes), node_metadata(roots[0], str(p)))


def model_config_of(p: Path, root: dict[str, Any]) -> dict[str, Any]:
    """The model config a SavedModel's root metadata carries, in the legacy (.h5) form.

    Functional and Sequential models store ``model_config``; a subclassed model stores only
    its class name and (if it defines one) its ``get_config()``, which the walker reports
    as opaque: its layers are not in any config.
    """
    cfg = root.get("model_config")
    if isinstance(cfg, dict) and isinstance(cfg.get("class_name"), str) and "config" in cfg:
        return cfg
    cls = root.get("class_name")
    if not isinstance(cls, str):
        raise ArtifactError(f"{p}: {METADATA_FILE} root has no class_name (corrupt)")
    inner = root.get("config")
    name = root.get("name")
    config = dict(inner) if isinstance(inner, dict) else {}
    if isinstance(name, str):
        config.setdefault("name", name)
    return {"class_name": cls, "config": config}


# ---- saved_model.pb without Keras metadata ---------------------------------------------------
_RANDOM_OP = re.compile(r"^(RandomUniform|RandomStandardNormal|TruncatedNormal|"
                        r"StatelessRandom\w*|StatelessTruncatedNormal\w*|RandomBinomial)$")
_MASK_OPS = frozenset({"Mul", "SelectV2", "Select", "GreaterEqual", "Greater", "Less",
                       "LessEqual", "Cast", "RealDiv"})


@dataclass(frozen=True)
class GraphOp:
    """A node of a GraphDef or FunctionDef body: name, op type and input names."""

    name: str
    op: str
    inputs: tuple[str, ...]


def _node_def(data: memoryview | bytes, span: tuple[int, int], what: str,
              budget: Budget) -> GraphOp:
    name, op = "", ""
    inputs: list[str] = []
    for number, wire, value in fields(data, span[0], span[1], what, budget):
        if wire != LEN or not isinstance(value, tuple):
            continue
        if number == 1:
            name = text(data, value, what, 4096)
        elif number == 2:
            op = text(data, value, what, 4096)
        elif number == 3 and len(inputs) < 4096:
            inputs.append(text(data, value, what, 4096))
    return GraphOp(name, op, tuple(inputs))


def _graph_bodies(data: memoryview | bytes, what: str) -> list[tuple[str, list[GraphOp]]]:
    """(function name or "graph", its nodes) for the top-level graph and every library function.

    SavedModel.meta_graphs = 2 -> MetaGraphDef.graph_def = 2 -> GraphDef.node = 1 (NodeDef)
    and GraphDef.library = 2 -> FunctionDefLibrary.function = 1 -> FunctionDef.signature = 1
    (OpDef.name = 1), FunctionDef.node_def = 3 (NodeDef).
    """
    budget = Budget(MAX_FIELDS, what)
    bodies: list[tuple[str, list[GraphOp]]] = []
    for n1, w1, meta in fields(data, 0, len(data), what, budget):
        if n1 != 2 or w1 != LEN or not isinstance(meta, tuple):
            continue
        for n2, w2, graph in fields(data, meta[0], meta[1], what, budget):
            if n2 != 2 or w2 != LEN or not isinstance(graph, tuple):
                continue
            top: list[GraphOp] = []
            for n3, w3, v3 in fields(data, graph[0], graph[1], what, budget):
                if w3 != LEN or not isinstance(v3, tuple):
                    continue
                if n3 == 1:
                    top.append(_node_def(data, v3, what, budget))
                elif n3 == 2:
                    for n4, w4, fn in fields(data, v3[0], v3[1], what, budget):
                        if n4 != 1 or w4 != LEN or not isinstance(fn, tuple):
                            continue
                        fname, body = "", []
                        for n5, w5, v5 in fields(data, fn[0], fn[1], what, budget):
                            if w5 != LEN or not isinstance(v5, tuple):
                                continue
                            if n5 == 1:
                                for n6, w6, v6 in fields(data, v5[0], v5[1], what, budget):
                                    if n6 == 1 and w6 == LEN and isinstance(v6, tuple):
                                        fname = text(data, v6, what, 4096)
                            elif n5 == 3:
                                body.append(_node_def(data, v5, what, budget))
                        bodies.append((fname, body))
            bodies.append(("graph", top))
    return bodies


def dropout_like_ops(data: memoryview | bytes, what: str) -> list[str]:
    """Name scopes of random ops that look like dropout, deduplicated, in graph order.

    A random op counts when its name mentions dropout or it feeds a mask (a comparison,
    cast, Mul or Select) directly or through one step.
    """
    scopes: dict[str, None] = {}
    for _fname, body in _graph_bodies(data, what):
        consumers: dict[str, list[GraphOp]] = {}
        for node in body:
            for inp in node.inputs:
                consumers.setdefault(inp.split(":", 1)[0].lstrip("^"), []).append(node)
        for node in body:
            if not _RANDOM_OP.match(node.op):
                continue
            near = consumers.get(node.name, [])
            second = [c2 for c in near for c2 in consumers.get(c.name, [])]
            masked = any(c.op in _MASK_OPS for c in near + second)
            if "dropout" in node.name.lower() or masked:
                scope = node.name.rsplit("/", 2)[0] if "/" in node.name else node.name
                scopes.setdefault(f"{scope} ({node.op})", None)
    return list(scopes)


def refuse_without_metadata(p: Path) -> None:
    """Raise the ArtifactError for a SavedModel with no ``keras_metadata.pb``, naming its ops."""
    if not (p / GRAPH_FILE).exists():
        raise ArtifactError(f"{p}: SavedModel in text form (saved_model.pbtxt) without Keras "
                            "metadata; dropctl reads SavedModels written by tf.keras model.save()")
    what = f"{p}: {GRAPH_FILE}"
    f = member(p, GRAPH_FILE)
    size = f.stat().st_size
    if size > MAX_GRAPH_BYTES:
        raise ArtifactError(f"{what} is {size:,} bytes, over the {MAX_GRAPH_BYTES:,}-byte limit")
    if size == 0:
        raise ArtifactError(f"{what} is empty")
    with f.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            ops = dropout_like_ops(view, what)
        finally:
            view.release()
    found = (f"its graph has {len(ops)} dropout-like random op(s): {', '.join(ops[:5])}"
             + (f" and {len(ops) - 5} more" if len(ops) > 5 else "")) if ops else \
        "its graph has no dropout-like random ops"
    raise ArtifactError(
        f"{p}: SavedModel without keras_metadata.pb (not written by tf.keras model.save), so it "
        f"has no layer config to inspect; {found}")
