"""The static readers of deployment formats refuse truncated and garbled files in one line."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dropctl.errors import ArtifactError
from dropctl.reader.deployed import DeployedFormat, detect, read_deployed


def test_truncated_tflite_is_an_artifact_error(tmp_path: Path) -> None:
    f = tmp_path / "m.tflite"
    f.write_bytes(struct.pack("<I", 4096) + b"TFL3" + b"\0" * 8)
    with pytest.raises(ArtifactError, match="not a valid TFLite flatbuffer"):
        read_deployed(f)


def test_tflite_without_identifier_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "m.tflite"
    f.write_bytes(b"\x10\0\0\0XXXX" + b"\0" * 32)
    with pytest.raises(ArtifactError, match="no TFL3 identifier"):
        read_deployed(f)


def test_onnx_with_a_lying_length_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(b"\x3a\xff\xff\x03" + b"\0" * 10)  # field 7 (graph) claims 65 kB
    with pytest.raises(ArtifactError, match="truncated or corrupt"):
        read_deployed(f)


def test_onnx_dropout_training_mode_is_read(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    t = helper.make_tensor("tm", TensorProto.BOOL, [], [False])
    nodes = [helper.make_node("Dropout", ["x", "", "tm"], ["y1"], name="off"),
             helper.make_node("Dropout", ["y1"], ["y2"], name="absent"),
             helper.make_node("Dropout", ["y2", "", "on"], ["y"], name="caller")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, [1]),
                                           helper.make_tensor_value_info("on", 9, [])],
                              [helper.make_tensor_value_info("y", 1, [1])], initializer=[t])
    f = tmp_path / "d.onnx"
    onnx.save(helper.make_model(graph), str(f))
    g = read_deployed(f)
    assert g.dropout_nodes == (("off", "false"), ("absent", "absent"), ("caller", "input"))
    assert g.stochastic and g.random_ops == ()


def test_detect_by_name_and_magic(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"\x10\0\0\0TFL3")
    assert detect(f) is DeployedFormat.LITERT
    (tmp_path / "x.onnx").write_bytes(b"")
    assert detect(tmp_path / "x.onnx") is DeployedFormat.ONNX
    assert detect(tmp_path / "missing.onnx") is None  # the model reader says "no such file"


def test_a_fifo_named_like_an_export_does_not_hang_inspect(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    for name in ("pipe.onnx", "pipe.tflite", "pipe.bin"):
        fifo = tmp_path / name
        os.mkfifo(fifo)
        proc = subprocess.run([sys.executable, "-m", "dropctl", "inspect", str(fifo)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("Error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_onnx_subgraph_nesting_is_bounded(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    body = helper.make_graph([helper.make_node("RandomUniform", [], ["r"], shape=[1])], "b",
                             [], [helper.make_tensor_value_info("r", 1, [1])])
    for _ in range(6):  # If(then=If(then=...)) six deep
        node = helper.make_node("If", ["c"], ["r"], then_branch=body, else_branch=body)
        body = helper.make_graph([node], "b", [], [helper.make_tensor_value_info("r", 1, [1])])
    f = tmp_path / "deep.onnx"
    onnx.save(helper.make_model(body), str(f))
    with pytest.raises(ArtifactError, match="nests subgraphs deeper than 4"):
        read_deployed(f)


def test_flex_random_op_is_a_dc802_finding() -> None:
    from dropctl.reader.deployed import DeployedFormat, DeployedGraph, RandomOp

    g = DeployedGraph(DeployedFormat.LITERT, 3, (RandomOp("m", "FlexRandomUniform", True),),
                      flex_ops=("RandomUniform",))
    assert g.stochastic
