"""A bounded reader of LiteRT/TFLite flatbuffers: which operators a ``.tflite`` file runs.

No ``tflite`` or ``flatbuffers`` import: the few fields needed are read straight from the
buffer, every offset checked against the file before it is followed (a truncated or garbled
file raises :class:`~dropctl.errors.ArtifactError`, never reads out of bounds), with caps on
subgraphs, operators and string lengths. Schema (tensorflow/lite/schema/schema.fbs):
``Model``: 1 operator_codes, 2 subgraphs; ``OperatorCode``: 0 deprecated_builtin_code (int8),
1 custom_code, 3 builtin_code (int32; the real code is the larger of the two);
``SubGraph``: 0 tensors, 3 operators; ``Operator``: 0 opcode_index, 2 outputs;
``Tensor``: 3 name.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dropctl.errors import ArtifactError

IDENTIFIER = b"TFL3"
"""File identifier at bytes 4..8 of a TFLite flatbuffer."""
MAX_BYTES = 2 * 1024 * 1024 * 1024
MAX_SUBGRAPHS = 1_000
MAX_OPERATORS = 1_000_000
MAX_OPCODES = 10_000
MAX_NAME = 4096

BUILTIN_NAMES = {146: "RANDOM_STANDARD_NORMAL", 148: "RANDOM_UNIFORM", 149: "MULTINOMIAL",
                 32: "CUSTOM", 51: "DELEGATE"}
"""Builtin operator codes dropctl names (BuiltinOperator in schema.fbs); others print as numbers."""
RANDOM_BUILTINS = frozenset({146, 148, 149})


@dataclass(frozen=True)
class LiteOp:
    """One operator of a subgraph."""

    op: str
    """``RANDOM_UNIFORM``, ``BUILTIN_<code>`` or a custom code such as ``FlexRandomUniform``."""
    name: str
    """Name of its first output tensor (TFLite operators have no names of their own)."""
    subgraph: int
    """Index of its subgraph."""
    builtin: int | None
    """Builtin code, None for a custom (incl. Flex) operator."""


class _Buffer:
    def __init__(self, data: bytes | memoryview, what: str) -> None:
        self.data = data
        self.what = what
        # Flatbuffers may point many fields at ONE string: decode each offset once, so the
        # names read never take more memory than the file (1M operators x one 4 KB name).
        self._strings: dict[int, str] = {}

    def _fail(self, why: str) -> ArtifactError:
        return ArtifactError(f"{self.what} is not a valid TFLite flatbuffer ({why})")

    def u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.data):
            raise self._fail("an offset points past the end")
        return int(struct.unpack_from("<I", self.data, pos)[0])

    def i32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.data):
            raise self._fail("an offset points past the end")
        return int(struct.unpack_from("<i", self.data, pos)[0])

    def u16(self, pos: int) -> int:
        if pos < 0 or pos + 2 > len(self.data):
            raise self._fail("a vtable points past the end")
        return int(struct.unpack_from("<H", self.data, pos)[0])

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, None if absent."""
        vtable = table - self.i32(table)
        size = self.u16(vtable)
        slot = 4 + 2 * index
        if slot + 2 > size:
            return None
        off = self.u16(vtable + slot)
        return table + off if off else None

    def ref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def vector(self, table: int, index: int, cap: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.ref(pos)
        n = self.u32(vec)
        if n > cap:
            raise ArtifactError(f"{self.what} declares {n:,} entries where dropctl reads at "
                                f"most {cap:,} (hostile or corrupt)")
        if vec + 4 + 4 * n > len(self.data):
            raise self._fail("a vector runs past the end")
        return vec + 4, n

    def string(self, pos: int) -> str:
        start = self.ref(pos)
        cached = self._strings.get(start)
        if cached is not None:
            return cached
        n = self.u32(start)
        if n > MAX_NAME or start + 4 + n > len(self.data):
            raise self._fail("a string is too long or runs past the end")
        text = bytes(self.data[start + 4:start + 4 + n]).decode("utf-8", "replace")
        self._strings[start] = text
        return text

    def scalar(self, table: int, index: int, fmt: str, default: int) -> int:
        pos = self.field(table, index)
        if pos is None:
            return default
        size = struct.calcsize(fmt)
        if pos + size > len(self.data):
            raise self._fail("a scalar runs past the end")
        return int(struct.unpack_from(fmt, self.data, pos)[0])


def is_tflite(head: bytes) -> bool:
    """True when the first 8 bytes carry the TFLite file identifier."""
    return len(head) >= 8 and head[4:8] == IDENTIFIER


def read_ops(data: bytes | memoryview, what: str) -> list[LiteOp]:
    """Every operator of every subgraph, in file order (see the module docstring)."""
    if len(data) > MAX_BYTES:
        raise ArtifactError(f"{what} is over the {MAX_BYTES:,}-byte limit")
    if len(data) < 8 or not is_tflite(bytes(data[:8])):
        raise ArtifactError(f"{what} is not a TFLite flatbuffer (no TFL3 identifier)")
    buf = _Buffer(data, what)
    root = buf.ref(0)
    codes: list[tuple[str, int | None]] = []
    start, n = buf.vector(root, 1, MAX_OPCODES)
    for i in range(n):
        code = buf.ref(start + 4 * i)
        builtin = max(buf.scalar(code, 0, "<b", 0), buf.scalar(code, 3, "<i", 0))
        custom_pos = buf.field(code, 1)
        if builtin == 32 and custom_pos is not None:
            codes.append((buf.string(custom_pos), None))
        else:
            codes.append((BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"), builtin))
    ops: list[LiteOp] = []
    sub_start, subs = buf.vector(root, 2, MAX_SUBGRAPHS)
    for s in range(subs):
        sub = buf.ref(sub_start + 4 * s)
        t_start, n_tensors = buf.vector(sub, 0, MAX_OPERATORS)
        o_start, n_ops = buf.vector(sub, 3, MAX_OPERATORS - len(ops))
        for k in range(n_ops):
            op = buf.ref(o_start + 4 * k)
            index = buf.scalar(op, 0, "<I", 0)
            if index >= len(codes):
                raise buf._fail(f"operator {k} names opcode {index} of {len(codes)}")
            name = ""
            out_start, n_out = buf.vector(op, 2, MAX_OPERATORS)
            if n_out:
                tensor = buf.i32(out_start)
                if 0 <= tensor < n_tensors:
                    name_pos = buf.field(buf.ref(t_start + 4 * tensor), 3)
                    name = buf.string(name_pos) if name_pos is not None else ""
            ops.append(LiteOp(codes[index][0], name, s, codes[index][1]))
    return ops
