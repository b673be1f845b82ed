"""Hostile deployment files: mutants of ONNX, TFLite and OpenVINO IR read by the static readers.

Each seed file is built here with the format's own tooling, no TensorFlow: ``onnx.helper``
(a random op feeding a mask, and a ``Loop`` whose body holds another: nesting), LiteRT's
generated flatbuffer object API (``RANDOM_UNIFORM`` + ``LESS``), and the IR's XML as OpenVINO
writes it. Mutants: bit flips, zeroed blocks, truncations, oversized length fields, deep nesting
and huge repeated fields. The property, per mutant: ``dropctl inspect`` (the CLI, so the user's
view) exits 0 with a report or 2 with exactly one ``Error:`` line, never a traceback, and never
a hang (:func:`tests.support.hang_guard`: a hang fails, a busy machine does not).
"""

from __future__ import annotations

import importlib.util
import random
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import hang_guard

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnx", "ai_edge_litert", "flatbuffers")),
    reason="needs the [onnx] and [litert] extras")

MUTANTS = 60
HANG_SECONDS = 60
"""Seconds before an inspect counts as hung (a mutant takes well under one alone)."""


def _onnx_seed() -> bytes:
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("RandomUniformLike", ["v"], ["r"], name="inner_random"),
         helper.make_node("Less", ["r", "v"], ["c"], name="inner_mask"),
         helper.make_node("Identity", ["cond"], ["cond_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [4])])
    nodes = [helper.make_node("RandomUniformLike", ["x"], ["u"], name="mask_random"),
             helper.make_node("Less", ["u", "x"], ["m"], name="mask"),
             helper.make_node("Where", ["m", "x", "x"], ["y"], name="select"),
             helper.make_node("Loop", ["", "", "x"], ["z"], name="loop", body=body)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return helper.make_model(graph).SerializeToString()


def _tflite_seed() -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT()
    model.version = 3
    codes = []
    for code in (s.BuiltinOperator.RANDOM_UNIFORM, s.BuiltinOperator.LESS):
        oc = s.OperatorCodeT()
        oc.builtinCode = code
        oc.deprecatedBuiltinCode = min(code, 127)
        codes.append(oc)
    model.operatorCodes = codes
    sub = s.SubGraphT()
    tensors = []
    for name in ("shape", "u", "x", "m"):
        t = s.TensorT()
        t.name = name.encode()
        t.shape = [4]
        tensors.append(t)
    sub.tensors = tensors
    ops = []
    for index, inputs, outputs in ((0, [0], [1]), (1, [1, 2], [3])):
        op = s.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = index, inputs, outputs
        ops.append(op)
    sub.operators, sub.inputs, sub.outputs = ops, [0, 2], [3]
    model.subgraphs = [sub]
    model.buffers = [s.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


IR_SEED = b"""<?xml version="1.0"?>
<net name="TensorFlow_Frontend_IR" version="11">
\t<layers>
\t\t<layer id="0" name="x" type="Parameter" version="opset1"><data shape="?,4" element_type="f32" /></layer>
\t\t<layer id="1" name="drop/RandomUniform" type="RandomUniform" version="opset8">
\t\t\t<data output_type="f32" op_seed="1" global_seed="87654321" /></layer>
\t\t<layer id="2" name="drop/GreaterEqual" type="GreaterEqual" version="opset1" />
\t\t<layer id="3" name="drop/Select" type="Select" version="opset1" />
\t\t<layer id="4" name="y" type="Result" version="opset1" />
\t</layers>
\t<edges>
\t\t<edge from-layer="0" from-port="0" to-layer="1" to-port="0" />
\t\t<edge from-layer="1" from-port="3" to-layer="2" to-port="0" />
\t\t<edge from-layer="2" from-port="2" to-layer="3" to-port="0" />
\t\t<edge from-layer="3" from-port="3" to-layer="4" to-port="0" />
\t</edges>
</net>
"""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _structural(fmt: str, seed: bytes) -> list[tuple[str, bytes]]:
    """Mutants aimed at the parsers' limits rather than at random bytes; the ones named
    "N random ..." must be read (exit 0), those marked "(any)" may go either way, every other
    one is refused (exit 2)."""
    if fmt == "onnx":
        from onnx import helper

        deep = b""  # Loop bodies nested 200 deep, encoded by hand (protobuf's own encoder
        for _ in range(200):  # refuses to build it: its decode depth limit is 100)
            attr = _field(1, b"body") + _field(6, deep) + b"\xa0\x01\x05"  # type GRAPH
            deep = _field(1, _field(4, b"Loop") + _field(5, attr))
        many = helper.make_graph([helper.make_node("RandomUniformLike", ["x"], [f"r{k}"])
                                  for k in range(20_000)], "many", [], [])
        return [("oversized length", b"\x3a" + b"\xff" * 9 + seed[10:]),
                ("graph length past the end", b"\x3a\xff\xff\xff\x07" + seed[5:]),
                ("deep nesting", _field(7, deep)),
                ("20,000 random nodes", helper.make_model(many).SerializeToString())]
    if fmt == "tflite":
        return [("root offset past the end", struct.pack("<I", 2**31) + seed[4:]),
                ("bytes 8-12 set to 2^31 (any)", seed[:8] + struct.pack("<I", 2**31) + seed[12:]),
                ("only the header", seed[:8])]
    layers = b"".join(b'<layer id="%d" name="r%d" type="RandomUniform" version="opset8" />'
                      % (k, k) for k in range(20_000))
    return [("DOCTYPE with entities", b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY a "aaaa">'
             b'<!ENTITY b "&a;&a;&a;&a;">]><net name="x" version="11"><layers>'
             b'<layer id="0" name="&b;" type="RandomUniform"/></layers></net>'),
            ("deep nesting", b'<?xml version="1.0"?><net name="x" version="11">'
             + b"<a>" * 5000 + b"</a>" * 5000 + b"</net>"),
            ("20,000 random layers", b'<net name="x" version="11"><layers>' + layers
             + b"</layers><edges /></net>"),
            ("unclosed", seed[: len(seed) // 2]),
            ("layer without a type", seed.replace(b' type="Select"', b""))]


def _byte_mutants(seed: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for _ in range(MUTANTS):
        buf = bytearray(seed)
        kind = rng.choice(("flips", "zero", "truncate"))
        if kind == "flips":
            for _ in range(rng.randint(1, 16)):
                buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        elif kind == "zero":
            start = rng.randrange(len(buf))
            buf[start:start + 64] = bytes(len(buf[start:start + 64]))
        else:
            buf = buf[:rng.randrange(1, len(buf))]
        out.append((kind, bytes(buf)))
    return out


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("tflite", ".tflite"),
                                         ("ir", ".xml")])
def test_every_mutant_is_a_report_or_one_error_line(tmp_path: Path, fmt: str,
                                                    suffix: str) -> None:
    from dropctl.cli import app

    seed = {"onnx": _onnx_seed, "tflite": _tflite_seed, "ir": lambda: IR_SEED}[fmt]()
    target = tmp_path / f"m{suffix}"
    target.write_bytes(seed)
    runner = CliRunner()
    clean = runner.invoke(app, ["inspect", str(target)])
    assert clean.exit_code == 0, clean.stderr
    assert "predict() is deterministic: no" in clean.stdout  # the seed itself is read right
    outcomes = {0: 0, 2: 0}
    structural = _structural(fmt, seed)
    for what, blob in structural + _byte_mutants(seed, random.Random(23)):
        target.write_bytes(blob)
        with hang_guard(HANG_SECONDS):
            result = runner.invoke(app, ["inspect", str(target)])
        assert result.exit_code in (0, 2), (what, result.exception, result.stderr[-500:])
        if result.exit_code == 2:
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (what, result.stderr)
            assert "Traceback" not in result.stderr
        outcomes[result.exit_code] += 1
        if (what, blob) in structural and not what.endswith("(any)"):
            assert result.exit_code == (0 if " random " in what else 2), (what, result.stdout)
