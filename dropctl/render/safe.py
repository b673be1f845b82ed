"""Making text from a hostile file safe to print: control characters shown, never obeyed.

Layer names, class names, versions and paths come from the file. Printed raw, ESC/BEL/CR/LF/NUL
forge report lines, retitle the terminal or clear it, and a lone surrogate (valid in JSON's
``\\ud800``) makes ``print`` raise UnicodeEncodeError. :func:`escape` turns every such
character into a visible escape (``\\x1b``, ``\\ud800``, ``\\u202e``); :func:`escape_all`
applies it to every string inside a result (frozen dataclasses, tuples, dicts), rebuilding only
the objects that change, so a clean report costs one regex scan per string.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

# C0 controls, DEL, C1 controls, surrogates, the line and paragraph separators U+2028/U+2029
# (JavaScript and many log viewers break lines there), bidi marks, embeddings, overrides and
# isolates (U+061C, U+200E/F, U+202A-E, U+2066-9: Trojan-source tricks), invisible formatting
# characters that hide text (soft hyphen, U+180E, zero-width U+200B-D, U+2060-4, BOM U+FEFF),
# and the XML-forbidden noncharacters U+FFFE/U+FFFF.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                     "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ufffe\uffff"
                     "\U000e0000-\U000e007f]")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str) -> str:
    """``text`` with every control, surrogate and bidi character written as a visible escape."""
    return _UNSAFE.sub(_show, text) if _UNSAFE.search(text) else text


def escape_all(value: Any) -> Any:
    """``value`` with :func:`escape` applied to every string it holds (same object if clean)."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, tuple):
        items = tuple(escape_all(v) for v in value)
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        if not changed:
            return value
        return type(value)(*items) if hasattr(value, "_fields") else items
    if isinstance(value, list):
        return [escape_all(v) for v in value]
    if isinstance(value, dict):
        return {escape_all(k): escape_all(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            if old is None or isinstance(old, bool | int | float):
                continue
            new = escape_all(old)
            if new is not old:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    return value


def finite(value: float | None) -> float | str | None:
    """A float for JSON: NaN and infinities (invalid JSON numbers) become the strings
    ``"NaN"``, ``"Infinity"``, ``"-Infinity"``."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
