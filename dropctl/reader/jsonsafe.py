"""JSON from untrusted files, shape-checked around parsing: size, node count, nesting depth.

Python's ``json`` parser and any recursive walker die on deep nesting, and a hostile config can
hold millions of nodes (KERAS_NOTES.md section 4), so every document a reader takes from a file
goes through :func:`parse_json`: size and node count are checked before ``json.loads`` sees the
text (linear time, no regular expression), depth after it (iteratively). Every failure is an
:class:`~dropctl.errors.ArtifactError`.
"""

from __future__ import annotations

import json
from typing import Any

from dropctl.errors import ArtifactError, one_line

MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest config/metadata JSON accepted (EfficientNetB0's config is ~0.3 MB)."""
MAX_JSON_DEPTH = 256
"""Deepest nesting accepted; real configs with several nested models stay under 40."""
MAX_JSON_NODES = 4_000_000
"""Most containers + scalars in one JSON document."""


def check_json_shape(text: str, what: str) -> None:
    """Reject JSON that is too large or has too many nodes, in linear time and no extra memory.

    Counts every ``,``, ``[`` and ``{`` (inside strings too, which only errs on the safe
    side) with ``str.count``: no regular expression, so no backtracking on hostile escapes.
    Depth is checked after parsing (:func:`check_json_depth`); ``json.loads`` itself stops
    at Python's recursion limit with a RecursionError.
    """
    if len(text) > MAX_JSON_BYTES:
        raise ArtifactError(f"{what} is {len(text):,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
    nodes = text.count(",") + text.count("[") + text.count("{")
    if nodes > MAX_JSON_NODES:
        raise ArtifactError(f"{what} has more than {MAX_JSON_NODES:,} JSON nodes")


def check_json_depth(doc: Any, what: str) -> None:
    """Reject a parsed document nested deeper than :data:`MAX_JSON_DEPTH`.

    Level by level and iterative, with every per-node step done by C iterators (``map``,
    ``chain``, ``compress``): no Python bytecode runs per node, so the 4,000,000-node worst
    case costs about as much as copying the pointers (measured: 0.65 s -> 0.1 s on the
    199,990-layer config of bench/hostile_limits.py --big).
    """
    from itertools import chain, compress, repeat
    from operator import is_

    dicts: list[Any] = [doc] if type(doc) is dict else []
    lists: list[Any] = [doc] if type(doc) is list else []
    depth = 1
    while dicts or lists:
        if depth > MAX_JSON_DEPTH:
            raise ArtifactError(
                f"{what} nests deeper than {MAX_JSON_DEPTH} levels (hostile or corrupt config)")
        children = list(chain(chain.from_iterable(map(dict.values, dicts)),
                              chain.from_iterable(lists)))
        kinds = list(map(type, children))
        dicts = list(compress(children, map(is_, kinds, repeat(dict))))
        lists = list(compress(children, map(is_, kinds, repeat(list))))
        depth += 1


def parse_json(data: bytes | str, what: str) -> Any:
    """Decode, shape-check and parse one JSON document; every failure is an ArtifactError."""
    if isinstance(data, bytes):
        if len(data) > MAX_JSON_BYTES:
            raise ArtifactError(f"{what} is {len(data):,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Keras 1/2 on Python 2 wrote latin-1 in places; JSON itself is ASCII-safe.
            text = data.decode("latin-1")
    else:
        text = data
    check_json_shape(text, what)
    import gc

    frozen = gc.isenabled()
    gc.disable()  # JSON makes no cycles; collecting during a 4M-node parse costs up to a third
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ArtifactError(
            f"{what} nests deeper than {MAX_JSON_DEPTH} levels (hostile or corrupt config)"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int() over 4,300 digits
        raise ArtifactError(f"{what} is not valid JSON ({one_line(exc, typed=False)})") from None
    finally:
        if frozen:
            gc.enable()
    if isinstance(doc, dict | list):
        check_json_depth(doc, what)
    return doc
