"""The exported graph, written in each format (runtime: TensorFlow, tf2onnx, the LiteRT
converter, OpenVINO's converter), each writer silencing the converters' C++ output and turning
their failures into one line naming the op and what to do.

:data:`WRITERS` maps an :class:`~dropctl.deploy.plan.ExportFormat` to its writer; the graph comes
from :func:`dropctl.deploy.build.build_graph`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dropctl.deploy.build import WHAT, Graph
from dropctl.deploy.plan import SEED_SIGNATURE, ExportFormat
from dropctl.errors import UnsupportedModelError, one_line
from dropctl.runtime.imports import optional_module, tf_module

ONNX_OPSET = 17
"""ONNX opset written (onnxruntime >= 1.12 runs it; RandomUniformLike is opset 1)."""


# ---- writers ------------------------------------------------------------------------------


def write_savedmodel(graph: Graph, model: Any, path: Path) -> None:
    """A SavedModel with ``serving_default`` (and ``seeded``) through Keras' ExportArchive."""
    keras = compat_keras()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", graph.serve)
    if graph.seeded is not None:
        archive.add_endpoint(SEED_SIGNATURE, graph.seeded)
    with _quiet():
        archive.write_out(str(path), verbose=False)


def write_onnx(graph: Graph, path: Path) -> None:
    """ONNX through tf2onnx's ``from_function`` (it freezes the variables)."""
    tf2onnx = optional_module("tf2onnx", "dropctl export --format onnx")
    sig = graph.serve.input_signature
    with _quiet(), _no_merging_of_random_nodes():
        try:
            tf2onnx.convert.from_function(graph.serve, input_signature=sig, opset=ONNX_OPSET,
                                          output_path=str(path))
        except Exception as exc:  # noqa: BLE001 - tf2onnx raises bare exceptions; say which op
            raise UnsupportedModelError(
                f"tf2onnx cannot convert this model to ONNX ({one_line(exc, typed=False)}); export "
                "--format savedmodel instead") from None
    _unseed_onnx(path)


ONNX_RANDOM = frozenset({"RandomUniform", "RandomUniformLike", "RandomNormal",
                         "RandomNormalLike", "Bernoulli", "Multinomial"})


def _unseed_onnx(path: Path) -> None:
    """Drop the ``seed`` attribute tf2onnx writes on every random node (``seed=0.0`` from TF's
    unseeded op), in subgraphs (Loop/If bodies) too.

    Measured with onnxruntime 1.32: a node with a ``seed`` attribute starts the same sequence
    in every process; without one, it draws from onnxruntime's process seed, which is fresh per
    process and fixed by ``onnxruntime.set_seed(n)`` before the session is created (two nodes
    still draw different streams). So replicas of a server sample independently, and a caller
    who wants reproducible calls gets them from ``set_seed`` (ONNX random ops take no seed input).
    """
    onnx = optional_module("onnx", "dropctl export --format onnx")
    model = onnx.load(str(path))
    graphs = [model.graph]
    changed = False
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.op_type in ONNX_RANDOM and any(a.name == "seed" for a in node.attribute):
                keep = [a for a in node.attribute if a.name != "seed"]
                del node.attribute[:]
                node.attribute.extend(keep)
                changed = True
            for a in node.attribute:
                graphs.extend([a.g] if a.HasField("g") else [])
                graphs.extend(a.graphs)
    if changed:
        onnx.save(model, str(path))


@contextmanager
def _no_merging_of_random_nodes() -> Iterator[None]:
    """tf2onnx 1.17 without its ``merge_duplication`` optimizer while converting.

    That pass merges nodes with the same op type, inputs and attributes, random ones included:
    two dropout masks of the same shape become ONE RandomUniformLike (measured: family.keras
    has 29 random ops in TF and LiteRT, 15 in the ONNX file; its LSTM masks then correlate and
    the MC mean moved 4.4 standard errors). ``from_function`` takes no optimizer list, so the
    entry is removed from tf2onnx's optimizer table and restored afterwards. If a tf2onnx
    release renames the table, nothing is removed and the random-op count check in
    :mod:`dropctl.deploy.verify` refuses a merged file.
    """
    import importlib

    # The submodule itself: ``import tf2onnx`` does not bind ``tf2onnx.optimizer``, and reading
    # it as an attribute found nothing, so the pass stayed on and the merges depended on node
    # order (family.keras: 15 of 29 random ops, a different survivor per run; issue 23).
    try:
        table = getattr(importlib.import_module("tf2onnx.optimizer"), "_optimizers", None)
    except ImportError:
        table = None
    removed = table.pop("merge_duplication", None) if isinstance(table, dict) else None
    try:
        yield
    finally:
        if removed is not None and isinstance(table, dict):
            # Put it back in its place: the order of tf2onnx's passes matters.
            items = list(table.items())
            table.clear()
            for name, cls in items:
                if name == "reshape_optimizer":
                    table["merge_duplication"] = removed
                table[name] = cls
            table.setdefault("merge_duplication", removed)


def write_litert(graph: Graph, model: Any, path: Path) -> None:
    """LiteRT with builtin ops only: via a temporary SavedModel, as Keras' own export does."""
    tf = tf_module(WHAT)
    with tempfile.TemporaryDirectory(prefix="dropctl-export-") as tmp:
        write_savedmodel(Graph(graph.serve, None, graph.inputs, graph.keys), model,
                         Path(tmp) / "sm")
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(Path(tmp) / "sm"), signature_keys=["serving_default"])
        # Builtins only: a Flex op would need the Flex delegate, which the plain LiteRT
        # interpreter (and most devices) lack. Refusing here beats a file that fails there.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            with _quiet():
                data = converter.convert()
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError & co
            raise UnsupportedModelError(_litert_failure(exc)) from None
    path.write_bytes(data)


IR_NAME = "model.xml"
"""The IR's name inside its temporary directory (OpenVINO writes ``model.bin`` beside it)."""


def write_openvino(graph: Graph, model: Any, path: Path) -> None:
    """An OpenVINO IR converted by OpenVINO's TensorFlow frontend from the SavedModel.

    Not Keras' ``Model.export(format="openvino")``: Keras 3.15's OpenVINO backend no longer
    applies dropout in predict (keras #22761); not from the ONNX file either: OpenVINO's ONNX
    frontend refuses ``Dropout`` with ``training_mode=true`` (openvino #37767) and tf2onnx's
    random-op losses would carry over. Measured with OpenVINO 2026.4: two unseeded
    ``RandomUniform`` ops of the same shape become ONE in the IR (diabetes.keras: 2 in the
    SavedModel, 1 in the IR; the masks then coincide). Op seeds keep them apart but make every
    ``compile_model`` start the same sequence (measured), so instead each draw gets an input of
    its own (:meth:`_GraphRandom._distinct`): unseeded, distinct, fresh per compile. The
    random-op count check still refuses a merged file.
    Weights stay float32 (``compress_to_fp16=False``: ``--standard`` must equal ``predict()``).
    ``path`` is the IR's ``.xml``; the ``.bin`` is written beside it.
    """
    ov = optional_module("openvino", "dropctl export --format openvino")
    with tempfile.TemporaryDirectory(prefix="dropctl-export-") as tmp:
        write_savedmodel(Graph(graph.serve, None, graph.inputs, graph.keys), model,
                         Path(tmp) / "sm")
        try:
            with _quiet():
                converted = ov.convert_model(str(Path(tmp) / "sm"))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises OpConversionFailure & co
            raise UnsupportedModelError(_openvino_failure(exc)) from None
    with _quiet():
        ov.save_model(converted, str(path), compress_to_fp16=False)


def _openvino_failure(exc: BaseException) -> str:
    """One line naming the op OpenVINO failed on: an op its TF frontend has no rule for
    (``No conversion rule found for operations: RandomStandardNormal``, measured with 2026.4),
    or the node a transformation pass threw on (``node: opset1::ReverseSequence NAME``, seen
    on family.keras' Bidirectional LSTM while its random ops still carried op seeds)."""
    import re

    text = str(exc)
    missing = re.search(r"No conversion rule found for operations: ([A-Za-z0-9_, ]+)", text)
    if missing:
        return (f"OpenVINO's TensorFlow frontend has no conversion for {missing.group(1).strip()}"
                ": export --format savedmodel, onnx or litert for this model")
    node = re.search(r"node: (?:opset\d+::)?([A-Z][A-Za-z0-9_]*) (\S+)", text)
    if node is None:
        node = re.search(r"(?:operation|Op|op)[: ]+(?:type )?['\"]?([A-Z][A-Za-z0-9_]+)['\"]?"
                         r"(?: with name | )?['\"]?([^\s'\"]*)", text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    why = lines[-1][:200] if lines else type(exc).__name__
    if node is not None:
        where = f"{node.group(1)} {node.group(2)}".strip()
        return (f"OpenVINO's converter fails on {where} ({why}): export --format savedmodel, "
                "onnx or litert for this model")
    return (f"OpenVINO cannot convert this model ({why}); export --format savedmodel, onnx or "
            "litert")


def _litert_failure(exc: BaseException) -> str:
    import re

    text = str(exc)
    ops = sorted(set(re.findall(r"'(tf\.[A-Za-z0-9_]+)'", text)))
    if ops:
        return (f"LiteRT has no builtin kernel for {', '.join(ops)} (the model needs it; "
                "only the Flex delegate would run it, which the LiteRT interpreter lacks): "
                "export --format savedmodel or onnx for this model")
    return (f"the LiteRT converter failed ({one_line(exc, typed=False)}); export --format "
            "savedmodel or onnx")


def compat_keras() -> Any:
    from dropctl.runtime import keras_module

    return keras_module(WHAT)


@contextmanager
def _quiet() -> Iterator[None]:
    """Converters print to fd 1/2 from C++ and Python; the report owns stdout."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


WRITERS: dict[ExportFormat, Callable[[Graph, Any, Path], None]] = {
    ExportFormat.SAVEDMODEL: write_savedmodel,
    ExportFormat.ONNX: lambda graph, _model, path: write_onnx(graph, path),
    ExportFormat.LITERT: write_litert,
    ExportFormat.OPENVINO: lambda graph, model, path: write_openvino(graph, model, path),
}


