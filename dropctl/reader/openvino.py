"""A bounded reader of OpenVINO IR ``.xml`` files: which layers (ops) the model runs.

The IR is XML: ``<net name version><layers><layer id name type version>...</layers><edges>
<edge from-layer from-port to-layer to-port/></edges></net>`` (its weights are in the ``.bin``
beside it, never read here). XML brings its own attacks, so before anything is parsed the file
must be within :data:`MAX_BYTES` and hold no ``<!DOCTYPE``/``<!ENTITY`` (entity expansion,
external entities: an IR never has them); the parse is incremental (``iterparse``, elements
cleared as they end) with caps on nesting depth, layers and edges, and every failure is an
:class:`~dropctl.errors.ArtifactError`, never "clean". Random layer types of the opsets:
``RandomUniform`` (opset8) and ``Multinomial`` (opset13).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from xml.etree import ElementTree

from dropctl.errors import ArtifactError

MAX_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64
MAX_LAYERS = 1_000_000
MAX_EDGES = 4_000_000
MAX_NAME = 4096
RANDOM_TYPES = frozenset({"RandomUniform", "Multinomial"})
"""OpenVINO op types that draw random numbers."""
MASK_TYPES = frozenset({"GreaterEqual", "Greater", "Less", "LessEqual", "Select", "Convert",
                        "Multiply", "Floor"})
"""Ops a dropout mask is made with (a random op feeding one within two steps makes a mask)."""
RESHAPE_TYPES = frozenset({"StridedSlice", "Slice", "Reshape", "Squeeze", "Unsqueeze"})
"""Ops that only move values; not counted as steps between a random op and its mask."""


@dataclass(frozen=True)
class IRLayer:
    """One layer (op) of the IR."""

    id: str
    """Its ``id`` attribute (what edges refer to)."""
    name: str
    """Its ``name`` attribute."""
    type: str
    """Op type (``RandomUniform``, ``MatMul``...)."""


def is_ir(head: bytes) -> bool:
    """The first bytes of a file look like an OpenVINO IR (an XML ``<net`` root)."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml"):
        end = text.find(b"?>")
        text = text[end + 2:].lstrip() if end >= 0 else b""
    return text.startswith(b"<net ") or text.startswith(b"<net>")


def read_ir(data: bytes | memoryview, what: str) -> tuple[list[IRLayer], list[tuple[str, str]]]:
    """(layers, edges as (from id, to id)) of an IR's XML bytes, within the limits."""
    if len(data) > MAX_BYTES:
        raise ArtifactError(f"{what} is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit")
    raw = bytes(data)
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ArtifactError(f"{what}: an XML DOCTYPE/ENTITY declaration (an OpenVINO IR has "
                            "none; refused, never expanded)")
    if not is_ir(raw[:4096]):
        raise ArtifactError(f"{what} is not an OpenVINO IR (no <net> root element)")
    layers: list[IRLayer] = []
    edges: list[tuple[str, str]] = []
    depth = 0
    path: list[str] = []
    try:
        for event, elem in ElementTree.iterparse(io.BytesIO(raw), events=("start", "end")):
            if event == "start":
                depth += 1
                path.append(elem.tag)
                if depth > MAX_DEPTH:
                    raise ArtifactError(f"{what}: XML nested deeper than {MAX_DEPTH} levels")
                if elem.tag == "layer" and path[-2:-1] == ["layers"] and len(path) == 3:
                    if len(layers) >= MAX_LAYERS:
                        raise ArtifactError(f"{what}: more than {MAX_LAYERS:,} layers")
                    layers.append(IRLayer(_attr(elem, "id", what), _attr(elem, "name", what),
                                          _attr(elem, "type", what)))
                elif elem.tag == "edge" and len(path) == 3 and path[1] == "edges":
                    if len(edges) >= MAX_EDGES:
                        raise ArtifactError(f"{what}: more than {MAX_EDGES:,} edges")
                    edges.append((_attr(elem, "from-layer", what), _attr(elem, "to-layer", what)))
            else:
                depth -= 1
                path.pop()
                elem.clear()  # bounded memory: nothing below is kept
    except ElementTree.ParseError as exc:
        raise ArtifactError(f"{what} is not valid XML ({exc})") from None
    if not layers:
        raise ArtifactError(f"{what}: an OpenVINO IR with no layers")
    return layers, edges


def _attr(elem: ElementTree.Element, key: str, what: str) -> str:
    value = elem.get(key)
    if value is None:
        raise ArtifactError(f"{what}: a <{elem.tag}> without '{key}'")
    if len(value) > MAX_NAME:
        raise ArtifactError(f"{what}: a '{key}' longer than {MAX_NAME} characters")
    return value


def masked_random(layers: list[IRLayer], edges: list[tuple[str, str]]
                  ) -> list[tuple[IRLayer, bool]]:
    """Every random layer and whether it feeds a mask op within two steps."""
    by_id = {layer.id: layer for layer in layers}
    consumers: dict[str, list[str]] = {}
    for src, dst in edges:
        consumers.setdefault(src, []).append(dst)
    out = []
    for layer in layers:
        if layer.type not in RANDOM_TYPES:
            continue
        frontier, masked = [(c, 1) for c in consumers.get(layer.id, [])], False
        while frontier and not masked:
            node, steps = frontier.pop()
            kind = by_id[node].type if node in by_id else ""
            masked = kind in MASK_TYPES
            # Slicing/reshaping moves the values, it does not use them: not a step (dropctl's
            # OpenVINO draws are cut and reshaped before the mask compare).
            if not masked and (steps < 2 or kind in RESHAPE_TYPES) and steps < 6:
                frontier += [(c, steps + (kind not in RESHAPE_TYPES))
                             for c in consumers.get(node, [])]
        out.append((layer, masked))
    return out
