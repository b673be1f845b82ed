"""Deployment formats read statically: is dropout (or any random op) active when the file runs?

One entry point, :func:`read_deployed`, for the formats ``dropctl export`` writes and
their peers from other exporters: ONNX (:mod:`dropctl.reader.onnx`), LiteRT/TFLite
(:mod:`dropctl.reader.tflite`), OpenVINO IR ``.xml`` (:mod:`dropctl.reader.openvino`) and
SavedModel graphs without Keras metadata (``saved_model.pb``'s graph and function library,
through :mod:`dropctl.reader.savedmodel`'s bounded protobuf walk).
Nothing is imported from TensorFlow, onnx or LiteRT and nothing in the file is run; the same
size, field and depth limits as every reader apply.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from dropctl.errors import ArtifactError

if TYPE_CHECKING:
    from dropctl.reader.report import InspectReport


class DeployedFormat(StrEnum):
    """A deployment format dropctl reads statically."""

    ONNX = "onnx"
    LITERT = "litert"
    SAVEDMODEL_GRAPH = "savedmodel-graph"
    OPENVINO = "openvino"


@dataclass(frozen=True)
class RandomOp:
    """One random op of the deployed graph."""

    name: str
    """Node name (TFLite: its first output tensor's name)."""
    op: str
    """Op type: ``RandomUniformLike``, ``RANDOM_UNIFORM``, ``FlexRandomUniform``..."""
    needs_flex: bool = False
    """A TFLite Flex (TensorFlow) op: runs only with the Flex delegate."""
    feeds_mask: bool = True
    """Feeds a comparison/cast/multiply within two steps (how dropout masks are made)."""


@dataclass(frozen=True)
class DeployedGraph:
    """What :func:`read_deployed` found."""

    format: DeployedFormat
    """Which format the file is."""
    ops: int
    """Number of nodes/operators read."""
    random_ops: tuple[RandomOp, ...]
    """Every random op: any of them makes a call stochastic."""
    dropout_nodes: tuple[tuple[str, str], ...] = ()
    """ONNX ``Dropout`` nodes: (name, training_mode ``true``/``false``/``absent``/``input``)."""
    flex_ops: tuple[str, ...] = ()
    """TFLite Flex ops of any kind (names of their TF ops)."""

    @property
    def stochastic(self) -> bool:
        """A call draws random numbers (a random op, or a Dropout whose training_mode is on)."""
        return bool(self.random_ops) or any(m in ("true", "input") for _, m in self.dropout_nodes)


TF_RANDOM = re.compile(r"^(?!StatelessRandomGet)(RandomUniform\w*|RandomStandardNormal|TruncatedNormal|"
                       r"StatelessRandom\w*|StatelessTruncatedNormal\w*|RandomBinomial|"
                       r"Multinomial|StatelessMultinomial|RandomGamma|RandomPoisson\w*)$")


def detect(p: Path) -> DeployedFormat | None:
    """The deployment format of ``p`` from its name and first bytes, None if it is none."""
    from dropctl.reader.savedmodel import GRAPH_FILE, METADATA_FILE
    from dropctl.reader.tflite import is_tflite

    if p.is_dir():
        if (p / GRAPH_FILE).is_file() and not (p / METADATA_FILE).exists():
            return DeployedFormat.SAVEDMODEL_GRAPH
        return None
    if not p.is_file():  # missing, a FIFO, a device: the model readers say what is wrong
        return None      # (opening a FIFO to sniff it would block)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return DeployedFormat.ONNX
    if suffix in (".tflite", ".litert"):
        return DeployedFormat.LITERT
    from dropctl.reader.openvino import is_ir

    try:
        with p.open("rb") as fh:
            head = fh.read(256 if suffix == ".xml" else 8)
    except OSError:
        return None
    if suffix == ".xml":  # any XML file may end so: only an IR's <net> root makes it one
        return DeployedFormat.OPENVINO if is_ir(head) else None
    return DeployedFormat.LITERT if is_tflite(head) else None


def _mapped(f: Path, limit: int) -> tuple[object, memoryview]:
    size = f.stat().st_size
    if size > limit:
        raise ArtifactError(f"{f} is {size:,} bytes, over the {limit:,}-byte limit")
    if size == 0:
        raise ArtifactError(f"{f} is empty")
    fh = f.open("rb")
    mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    fh.close()
    return mm, memoryview(mm)


def read_deployed(path: str | Path) -> DeployedGraph:
    """Read an ONNX file, a TFLite flatbuffer or a metadata-less SavedModel directory."""
    p = Path(path)
    fmt = detect(p)
    if fmt is None:
        raise ArtifactError(f"{p}: not an ONNX file, a TFLite flatbuffer, an OpenVINO IR or a "
                            "SavedModel graph")
    if fmt is DeployedFormat.SAVEDMODEL_GRAPH:
        from dropctl.reader.savedmodel import GRAPH_FILE, MAX_GRAPH_BYTES, member

        f = member(p, GRAPH_FILE)
        mm, view = _mapped(f, MAX_GRAPH_BYTES)
        try:
            return _savedmodel_graph(view, f"{p}: {GRAPH_FILE}")
        finally:
            view.release()
            mm.close()  # type: ignore[attr-defined]
    from dropctl.reader.onnx import MAX_BYTES

    if fmt is DeployedFormat.OPENVINO:
        from dropctl.reader.openvino import MAX_BYTES as IR_BYTES

        limit = IR_BYTES
    else:
        limit = MAX_BYTES
    mm, view = _mapped(p, limit)
    try:
        if fmt is DeployedFormat.OPENVINO:
            return _openvino(view, str(p))
        if fmt is DeployedFormat.ONNX:
            return _onnx(view, str(p))
        return _litert(view, str(p))
    finally:
        view.release()
        mm.close()  # type: ignore[attr-defined]


def _onnx(view: memoryview, what: str) -> DeployedGraph:
    from dropctl.reader.onnx import dropout_nodes, masked_random, read_nodes

    nodes, consts = read_nodes(view, what)
    rand = tuple(RandomOp(n.name or (n.outputs[0] if n.outputs else "?"), n.op,
                          feeds_mask=masked) for n, masked in masked_random(nodes))
    drops = tuple((d.name, d.training_mode) for d in dropout_nodes(nodes, consts))
    return DeployedGraph(DeployedFormat.ONNX, len(nodes), rand, drops)


def _openvino(view: memoryview, what: str) -> DeployedGraph:
    from dropctl.reader.openvino import masked_random, read_ir

    layers, edges = read_ir(view, what)
    rand = tuple(RandomOp(layer.name, layer.type, feeds_mask=masked)
                 for layer, masked in masked_random(layers, edges))
    return DeployedGraph(DeployedFormat.OPENVINO, len(layers), rand)


def _litert(view: memoryview, what: str) -> DeployedGraph:
    from dropctl.reader.tflite import RANDOM_BUILTINS, read_ops

    ops = read_ops(view, what)
    rand = []
    flex = []
    for op in ops:
        if op.builtin is None and op.op.startswith("Flex"):
            flex.append(op.op[4:])
            if TF_RANDOM.match(op.op[4:]):
                rand.append(RandomOp(op.name, op.op, needs_flex=True))
        elif op.builtin in RANDOM_BUILTINS:
            rand.append(RandomOp(op.name, op.op))
    return DeployedGraph(DeployedFormat.LITERT, len(ops), tuple(rand),
                         flex_ops=tuple(dict.fromkeys(flex)))


def _savedmodel_graph(view: memoryview, what: str) -> DeployedGraph:
    from dropctl.reader.savedmodel import _MASK_OPS, GraphOp, _graph_bodies

    rand: dict[tuple[str, str], RandomOp] = {}
    total = 0
    for fname, body in _graph_bodies(view, what):
        total += len(body)
        consumers: dict[str, list[GraphOp]] = {}
        for node in body:
            for inp in node.inputs:
                consumers.setdefault(inp.split(":", 1)[0].lstrip("^"), []).append(node)
        for node in body:
            if not TF_RANDOM.match(node.op):
                continue
            near = consumers.get(node.name, [])
            second = [c2 for c in near for c2 in consumers.get(c.name, [])]
            masked = any(c.op in _MASK_OPS for c in near + second)
            name = node.name if fname == "graph" else f"{fname}/{node.name}"
            rand.setdefault((name, node.op), RandomOp(name, node.op, feeds_mask=masked))
    return DeployedGraph(DeployedFormat.SAVEDMODEL_GRAPH, total, tuple(rand.values()))


# ---- the inspect report of a deployed file -----------------------------------------------------

_ARTIFACT = {"onnx": "ONNX", "litert": "LITERT", "savedmodel-graph": "SAVEDMODEL_GRAPH",
             "openvino": "OPENVINO"}


def report_from_deployed(path: str | Path, display_path: str | None = None) -> InspectReport:
    """The :class:`InspectReport` of a deployed file: every random op is a site that acts on
    every call (``predict`` and ``call`` alike; a deployed graph is not trained, so never "fit"),
    a Dropout node whose ``training_mode`` is a graph input is a site the caller decides."""
    from dropctl.reader.findings import make
    from dropctl.reader.report import (
        ArtifactFormat,
        Finding,
        InspectReport,
        ModelInfo,
        Phase,
        Site,
        SiteKind,
    )

    graph = read_deployed(path)
    shown = display_path or str(path)
    info = ModelInfo(path=shown, format=ArtifactFormat[_ARTIFACT[graph.format.value]],
                     keras_version=None, backend=None, name=Path(path).name,
                     class_name=graph.format.value, has_weights=True)

    def site(name: str, op: str, kind: SiteKind, phase: Phase, note: str) -> Site:
        return Site(path=name, class_name=op, kind=kind, rate=None, recurrent_rate=None,
                    stddev=None, trainable=True, effective_trainable=True,
                    training_pinned=None, in_fit=False, in_predict=phase,
                    in_predict_keras2=phase, in_call=phase, note=note)

    sites: list[Site] = []
    findings: list[Finding] = []
    for r in graph.random_ops:
        normal = "Normal" in r.op or "NORMAL" in r.op
        kind = SiteKind.DROPOUT if r.feeds_mask and not normal else SiteKind.GAUSSIAN_NOISE
        sites.append(site(r.name, r.op, kind, Phase.ALWAYS,
                          "random op: samples on every call" + (" (Flex)" if r.needs_flex
                                                               else "")))
        if r.needs_flex:
            findings.append(make("DC802", r.name, r.op))
        if not r.feeds_mask:
            findings.append(make("DC803", r.name, r.op))
    for name, mode in graph.dropout_nodes:
        if mode in ("false", "absent"):
            findings.append(make("DC801", name, f"training_mode {mode}"))
        elif mode == "true":
            sites.append(site(name, "Dropout", SiteKind.DROPOUT, Phase.ALWAYS,
                              "Dropout node with training_mode true"))
        else:
            sites.append(site(name, "Dropout", SiteKind.DROPOUT, Phase.UNKNOWN,
                              "Dropout node: training_mode is a graph input"))
            findings.append(make("DC804", name))
    return InspectReport(model=info, sites=tuple(sites), findings=tuple(findings), opaque=())
