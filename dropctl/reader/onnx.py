"""A bounded static reader of ONNX files: Dropout nodes and random ops (no onnx import).

Through :mod:`dropctl.reader.protowire`: ``ModelProto`` 7 graph, 25 functions
(``FunctionProto`` 7 node); ``GraphProto`` 1 node, 5 initializer; ``NodeProto`` 1 input,
2 output, 3 name, 4 op_type, 5 attribute; ``AttributeProto`` 1 name, 5 t, 6 g, 11 graphs
(subgraphs of If/Loop/Scan, read to :data:`MAX_DEPTH`); ``TensorProto`` 2 data_type,
5 int32_data, 7 int64_data, 8 name, 9 raw_data.

A ``Dropout`` node's third input ``training_mode`` decides whether it acts: absent (or an
empty name) or a constant false makes it the identity at inference (onnx Operators.md); a
constant true makes it sample; a graph input leaves it to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropctl.errors import ArtifactError
from dropctl.reader.protowire import LEN, Budget, fields, text

MAX_BYTES = 2 * 1024 * 1024 * 1024
MAX_FIELDS = 20_000_000
MAX_DEPTH = 4
MAX_NAME = 4096

RANDOM_OPS = frozenset({"RandomUniform", "RandomUniformLike", "RandomNormal",
                        "RandomNormalLike", "Bernoulli", "Multinomial"})
MASK_OPS = frozenset({"Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Cast", "Mul",
                      "Where", "Not", "Floor", "Round"})


@dataclass(frozen=True)
class OnnxNode:
    """One node of the graph (or of a function or subgraph)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    constant: bool | None = None
    """For a ``Constant`` node with a scalar value: that value as a bool, else None."""


@dataclass(frozen=True)
class DropoutNode:
    """A ``Dropout`` node and whether it acts when the file runs."""

    name: str
    training_mode: str
    """``"true"``, ``"false"``, ``"absent"`` (= false) or ``"input"`` (the caller decides)."""


def _tensor_bool(data: memoryview | bytes, span: tuple[int, int], what: str,
                 budget: Budget) -> tuple[str, bool | None]:
    name, value = "", None
    for number, wire, v in fields(data, span[0], span[1], what, budget):
        if number == 8 and wire == LEN and isinstance(v, tuple):
            name = text(data, v, what, MAX_NAME)
        elif number in (5, 7) and isinstance(v, int):
            value = bool(v)
        elif number in (5, 7) and isinstance(v, tuple) and v[1] > v[0]:
            value = any(bytes(data[v[0]:min(v[1], v[0] + 10)]))  # packed: first varint
        elif number == 9 and isinstance(v, tuple) and 0 < v[1] - v[0] <= 8:
            value = any(bytes(data[v[0]:v[1]]))
    return name, value


def _nodes(data: memoryview | bytes, span: tuple[int, int], what: str, budget: Budget,
           node_field: int, depth: int, out: list[OnnxNode], consts: dict[str, bool]) -> None:
    for number, wire, v in fields(data, span[0], span[1], what, budget):
        if wire != LEN or not isinstance(v, tuple):
            continue
        if number == 5 and node_field == 1:  # GraphProto.initializer
            name, value = _tensor_bool(data, v, what, budget)
            if value is not None and name:
                consts[name] = value
        if number != node_field:
            continue
        name, op = "", ""
        ins: list[str] = []
        outs: list[str] = []
        constant: bool | None = None
        for n2, w2, v2 in fields(data, v[0], v[1], what, budget):
            if w2 != LEN or not isinstance(v2, tuple):
                continue
            if n2 == 1 and len(ins) < MAX_NAME:
                ins.append(text(data, v2, what, MAX_NAME))
            elif n2 == 2 and len(outs) < MAX_NAME:
                outs.append(text(data, v2, what, MAX_NAME))
            elif n2 == 3:
                name = text(data, v2, what, MAX_NAME)
            elif n2 == 4:
                op = text(data, v2, what, MAX_NAME)
            elif n2 == 5:
                for n3, w3, v3 in fields(data, v2[0], v2[1], what, budget):
                    if w3 != LEN or not isinstance(v3, tuple):
                        continue
                    if n3 == 5:
                        constant = _tensor_bool(data, v3, what, budget)[1]
                    elif n3 in (6, 11):
                        if depth >= MAX_DEPTH:
                            raise ArtifactError(f"{what} nests subgraphs deeper than "
                                                f"{MAX_DEPTH} levels (hostile or corrupt)")
                        _nodes(data, v3, what, budget, 1, depth + 1, out, consts)
        node = OnnxNode(name, op, tuple(ins), tuple(outs),
                        constant if op == "Constant" else None)
        if node.constant is not None:
            for o in outs:
                consts[o] = node.constant
        out.append(node)


def read_nodes(data: memoryview | bytes, what: str) -> tuple[list[OnnxNode], dict[str, bool]]:
    """Every node of the main graph, its subgraphs and local functions; boolean constants."""
    if len(data) > MAX_BYTES:
        raise ArtifactError(f"{what} is over the {MAX_BYTES:,}-byte limit")
    budget = Budget(MAX_FIELDS, what)
    out: list[OnnxNode] = []
    consts: dict[str, bool] = {}
    seen_graph = False
    for number, wire, v in fields(data, 0, len(data), what, budget):
        if wire != LEN or not isinstance(v, tuple):
            continue
        if number == 7:
            seen_graph = True
            _nodes(data, v, what, budget, 1, 0, out, consts)
        elif number == 25:
            _nodes(data, v, what, budget, 7, 0, out, consts)
    if not seen_graph:
        raise ArtifactError(f"{what} has no ONNX graph (not an ONNX model file)")
    return out, consts


def dropout_nodes(nodes: list[OnnxNode], consts: dict[str, bool]) -> list[DropoutNode]:
    """Every ``Dropout`` node with its ``training_mode`` (see the module docstring)."""
    found = []
    for n in nodes:
        if n.op != "Dropout":
            continue
        mode = n.inputs[2] if len(n.inputs) > 2 else ""
        if not mode:
            state = "absent"
        elif mode in consts:
            state = "true" if consts[mode] else "false"
        else:
            state = "input"
        found.append(DropoutNode(n.name or (n.outputs[0] if n.outputs else "?"), state))
    return found


def masked_random(nodes: list[OnnxNode]) -> list[tuple[OnnxNode, bool]]:
    """Every random node and whether it feeds a mask (a comparison, cast, Mul or Where within
    two steps)."""
    consumers: dict[str, list[OnnxNode]] = {}
    for n in nodes:
        for i in n.inputs:
            consumers.setdefault(i, []).append(n)
    out = []
    for n in nodes:
        if n.op not in RANDOM_OPS:
            continue
        near = [c for o in n.outputs for c in consumers.get(o, [])]
        second = [c2 for c in near for o in c.outputs for c2 in consumers.get(o, [])]
        out.append((n, any(c.op in MASK_OPS for c in near + second)))
    return out
