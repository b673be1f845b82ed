"""A small, bounded reader of the protobuf wire format (no protobuf dependency).

dropctl reads two TensorFlow protobuf files statically: ``keras_metadata.pb`` (a
``SavedMetadata``: repeated nodes, each with a path, an identifier and a JSON string) and,
when that is missing, ``saved_model.pb`` (only to name the dropout-like ops of its graph).
Both need a handful of fields, so instead of the ``protobuf`` runtime (and generated stubs
that must match TensorFlow's) this module walks the wire format itself:

* a message is a byte range; :func:`fields` yields ``(field number, wire type, value)``
  where a length-delimited value is a ``(start, end)`` range into the same buffer, so
  nothing is copied until a caller asks for a string;
* every declared length is checked against the end of the enclosing message before it is
  used (a truncated or garbled file raises :class:`~dropctl.errors.ArtifactError`, it never
  reads past the buffer or allocates what a length claims);
* varints are capped at 10 bytes, field number 0 and the deprecated group wire types are
  refused, and callers descend only into message fields they know, to a fixed depth, with
  a cap on how many fields they visit (:class:`Budget`).
"""

from __future__ import annotations

from collections.abc import Iterator

from dropctl.errors import ArtifactError

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5


class Budget:
    """How many fields one file may make the reader visit in total (a node-count limit)."""

    def __init__(self, limit: int, what: str) -> None:
        self.left = limit
        self.limit = limit
        self.what = what

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise ArtifactError(
                f"{self.what} has more than {self.limit:,} protobuf fields (hostile or corrupt)")


def _varint(buf: bytes | memoryview, pos: int, end: int, what: str) -> tuple[int, int]:
    if pos < end and buf[pos] < 0x80:  # one-byte numbers (keys, short lengths): most of them
        return buf[pos], pos + 1
    result = 0
    shift = 0
    for _ in range(10):
        if pos >= end:
            raise ArtifactError(f"{what} is truncated (a number runs past the end of its message)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise ArtifactError(f"{what} is corrupt (a number longer than 10 bytes)")


def fields(buf: bytes | memoryview, start: int, end: int, what: str,
           budget: Budget) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """Fields of the message in ``buf[start:end]``; see the module docstring."""
    pos = start
    while pos < end:
        budget.spend()
        key, pos = _varint(buf, pos, end, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ArtifactError(f"{what} is corrupt (field number 0): not a protobuf file")
        if wire == VARINT:
            value, pos = _varint(buf, pos, end, what)
            yield number, wire, value
        elif wire == LEN:
            length, pos = _varint(buf, pos, end, what)
            if length > end - pos:
                raise ArtifactError(
                    f"{what} is truncated or corrupt (a field declares {length:,} bytes, "
                    f"{end - pos:,} remain)")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == FIXED64:
            if pos + 8 > end:
                raise ArtifactError(f"{what} is truncated (a fixed64 field runs past the end)")
            yield number, wire, int.from_bytes(bytes(buf[pos:pos + 8]), "little")
            pos += 8
        elif wire == FIXED32:
            if pos + 4 > end:
                raise ArtifactError(f"{what} is truncated (a fixed32 field runs past the end)")
            yield number, wire, int.from_bytes(bytes(buf[pos:pos + 4]), "little")
            pos += 4
        else:
            raise ArtifactError(f"{what} is corrupt (wire type {wire}): not a protobuf file")


def count_top_level(buf: bytes | memoryview, what: str, limit: int) -> int:
    """How many fields the outermost message has, stopping past ``limit`` (a cheap pre-scan
    that rejects a huge node count before any node is parsed)."""
    pos, end, count = 0, len(buf), 0
    while pos < end:
        count += 1
        if count > limit:
            return count
        key, pos = _varint(buf, pos, end, what)
        wire = key & 7
        if wire == LEN:
            length, pos = _varint(buf, pos, end, what)
            pos += length
        elif wire == VARINT:
            _, pos = _varint(buf, pos, end, what)
        elif wire == FIXED64:
            pos += 8
        elif wire == FIXED32:
            pos += 4
        else:
            raise ArtifactError(f"{what} is corrupt (wire type {wire}): not a protobuf file")
    if pos > end:
        raise ArtifactError(f"{what} is truncated (its last field runs past the end)")
    return count


def text(buf: bytes | memoryview, span: tuple[int, int], what: str, limit: int) -> str:
    """A string field as text (UTF-8), refusing one longer than ``limit`` bytes."""
    start, end = span
    if end - start > limit:
        raise ArtifactError(f"{what} holds a {end - start:,}-byte string, over the "
                            f"{limit:,}-byte limit")
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError(f"{what} is corrupt (a string field is not UTF-8)") from None
