"""Static analysis of Lambda bytecode payloads: recognise dropout without running anything.

Keras stores a Python lambda as ``[code, defaults, closure]`` where ``code`` is
``base64(marshal(code object))`` (Keras >= 2.1.2) or the raw marshal bytes as text
(older Keras 1/2), and Keras 3 wraps the same triple as
``{"class_name": "__lambda__", "config": {"code"|"value", ...}}``. Loading such a payload
means running attacker-controlled bytecode (CVE-2024-3660), so this module never
unmarshals, evals or imports anything: it base64-decodes the payload and looks at its
*bytes*. Identifier names (``dropout``, ``random_normal``...) sit in a marshalled code
object as plain ASCII, and float constants as ``'g'`` + 8 little-endian bytes, which is
enough to recognise the classic forum recipe::

    def PermaDropout(rate):
        return Lambda(lambda x: K.dropout(x, level=rate))   # closure == [rate]
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

_DROPOUT_NAMES = frozenset({"dropout", "random_binomial", "binomial", "bernoulli"})
_NOISE_NAMES = frozenset({"random_normal", "normal", "gaussian_noise", "randn"})
# A phase switch around the draw: the Lambda acts only while training (K.in_train_phase(
# K.dropout(x, r), x), K.in_test_phase(x, ...), tf.cond/K.switch on K.learning_phase(), or a
# `training` argument the function reads).
_PHASE_NAMES = frozenset({"in_train_phase", "in_test_phase", "learning_phase", "training",
                          "is_training"})
# Control flow whose condition cannot be read from the bytes: the phase is unknown.
_BRANCH_NAMES = frozenset({"cond", "switch", "where", "case", "while_loop", "select"})
_RATE_KEYS = ("rate", "level", "p", "dropout", "drop_rate", "dropout_rate")
_KEEP_KEYS = ("keep_prob",)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_SHORT_STR = (0x7A, 0x5A)  # TYPE_SHORT_ASCII 'z', TYPE_SHORT_ASCII_INTERNED 'Z' (Python >= 3.4)
_LONG_STR = (0x61, 0x41, 0x75, 0x74, 0x73)  # 'a', 'A', 'u', 't', 's' with a 4-byte length
_MARSHAL_FLOAT = (0x67, 0xE7)  # TYPE_BINARY_FLOAT, with and without FLAG_REF


@dataclass(frozen=True)
class LambdaInfo:
    """What a Lambda's stored function reveals without being run."""

    has_bytecode: bool
    """True when a marshalled code object is stored (a code-execution risk on load)."""
    payload_bytes: int
    """Size of the decoded bytecode payload(s) in bytes (0 without bytecode)."""
    function_type: str | None
    """Keras 2 ``function_type`` ("lambda", "function", "raw") or "__lambda__" for Keras 3."""
    is_dropout: bool
    """The payload calls a dropout (``K.dropout``, ``tf.nn.dropout``, a Bernoulli draw)."""
    is_noise: bool
    """The payload draws Gaussian noise (``random_normal``)."""
    rate: float | None
    """Recovered drop rate, if any."""
    rate_source: str | None
    """Where the rate came from: "closure", "arguments", "defaults" or "constant"."""
    names: tuple[str, ...]
    """Identifiers seen in the payload that explain the verdict (e.g. ``("K", "dropout")``)."""
    function_name: str | None = None
    """For ``function_type == "function"``: the named function (no bytecode stored)."""
    phase: str | None = None
    """For a dropout/noise payload, when it acts: ``"always"`` (a draw outside any phase
    switch: PermaDropout), ``"training"`` (inside ``K.in_train_phase``/``in_test_phase``, a
    ``tf.cond``/``K.switch`` on ``K.learning_phase()``, or reading a ``training`` argument),
    ``"unknown"`` (other control flow, or no bytecode to read). None for other Lambdas."""


@dataclass(frozen=True)
class Payload:
    """One stored function: decoded code bytes plus its JSON defaults and closure."""

    code: bytes
    defaults: Any
    closure: Any


def decode_code(code: Any) -> bytes:
    """The marshal bytes of a stored code string (base64, or raw text from old Keras)."""
    if not isinstance(code, str):
        return b""
    compact = "".join(code.split())
    try:
        raw = base64.b64decode(compact, validate=True)
        # A marshalled code object starts with TYPE_CODE ('c'), possibly with FLAG_REF.
        if raw[:1] in (b"c", b"\xe3"):
            return raw
    except (binascii.Error, ValueError):
        pass
    # Keras < 2.1.2 stored marshal output as a latin-1 string.
    return code.encode("latin-1", errors="replace")


def payload_of(value: Any) -> Payload | None:
    """Interpret a stored function in any of its forms; None when it holds no bytecode."""
    if isinstance(value, dict) and value.get("class_name") == "__lambda__":
        cfg = value.get("config")
        if not isinstance(cfg, dict):
            return Payload(b"", None, None)
        if "value" in cfg and isinstance(cfg["value"], list | tuple):
            return payload_of(list(cfg["value"]))
        return Payload(decode_code(cfg.get("code")), cfg.get("defaults"), cfg.get("closure"))
    if isinstance(value, list | tuple) and value and isinstance(value[0], str):
        rest = list(value[1:]) + [None, None]
        return Payload(decode_code(value[0]), rest[0], rest[1])
    return None


def identifiers(code: bytes) -> set[str]:
    """Identifier strings stored in a marshalled code object (names, attribute names...).

    Reads marshal's string records (type byte, length, ASCII bytes) where they stand;
    qualified names such as ``build_dropout_model.<locals>.<lambda>`` are not
    identifiers, so the enclosing function's or file's name never counts as a call.
    """
    found: set[str] = set()
    n = len(code)
    i = 0
    while i < n - 1:
        kind = code[i] & 0x7F  # strip FLAG_REF
        if kind in _SHORT_STR:
            length = code[i + 1]
            start = i + 2
        elif kind in _LONG_STR and i + 5 <= n:
            length = int.from_bytes(code[i + 1:i + 5], "little")
            start = i + 5
            if length > 256:
                i += 1
                continue
        else:
            i += 1
            continue
        chunk = code[start:start + length]
        if len(chunk) == length and length and chunk.isascii():
            text = chunk.decode("ascii")
            if _IDENT_RE.match(text):
                found.add(text)
                i = start + length
                continue
        i += 1
    return found


def as_float(value: int | float) -> float:
    """``float(value)`` without OverflowError (a 4,000-digit integer is infinite here)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _flatten_numbers(value: Any, limit: int = 64) -> list[float]:
    out: list[float] = []
    stack = [value]
    while stack and len(out) < limit:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int | float):
            out.append(as_float(item))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return out


def _marshal_float_constants(code: bytes) -> list[float]:
    """Float constants in a marshalled code object, read as bytes (never unmarshalled)."""
    found: list[float] = []
    for i in range(len(code) - 8):
        if code[i] in _MARSHAL_FLOAT:
            (value,) = struct.unpack_from("<d", code, i + 1)
            # Only "round" probabilities: random byte runs rarely decode to such values.
            if 0.0 < value < 1.0 and round(value, 6) == value:
                found.append(value)
    return found


def _single_probability(values: list[float]) -> float | None:
    probs = sorted({v for v in values if 0.0 <= v <= 1.0})
    return probs[0] if len(probs) == 1 else None


def _rate_from(config: dict[str, Any], payload: Payload) -> tuple[float | None, str | None]:
    arguments = config.get("arguments")
    if isinstance(arguments, dict):
        args = arguments.get("config", arguments) if "class_name" in arguments else arguments
        if isinstance(args, dict):
            for key in _RATE_KEYS:
                v = args.get(key)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    return as_float(v), "arguments"
            for key in _KEEP_KEYS:
                v = args.get(key)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    return 1.0 - as_float(v), "arguments"
    rate = _single_probability(_flatten_numbers(payload.closure))
    if rate is not None:
        return rate, "closure"
    rate = _single_probability(_flatten_numbers(payload.defaults))
    if rate is not None:
        return rate, "defaults"
    rate = _single_probability(_marshal_float_constants(payload.code))
    if rate is not None:
        return rate, "constant"
    return None, None


def analyze_lambda(layer: dict[str, Any]) -> LambdaInfo:
    """Analyse a Lambda layer (its ``{"class_name", "config"}`` dict or just its config)."""
    config = layer.get("config", layer) if "class_name" in layer else layer
    if not isinstance(config, dict):
        config = {}
    function = config.get("function")
    function_type = config.get("function_type")
    if isinstance(function, dict) and function.get("class_name") == "__lambda__":
        function_type = "__lambda__"
    payloads = [
        p
        for p in (payload_of(config.get(k)) for k in ("function", "output_shape", "mask"))
        if p is not None
    ]
    main = payload_of(function)
    code = main.code if main else b""
    tokens = identifiers(code)
    lowered = {t.lower() for t in tokens}
    is_dropout = bool(lowered & _DROPOUT_NAMES) or any(t.endswith("_dropout") for t in lowered)
    is_noise = not is_dropout and bool(lowered & _NOISE_NAMES)
    names = tuple(sorted(
        t for t in tokens
        if any(k in t.lower() for k in ("dropout", "random", "noise", "binomial", "normal",
                                        "bernoulli", "phase", "training"))
    ))
    rate, source = (None, None)
    if main is not None and (is_dropout or is_noise):
        rate, source = _rate_from(config, main)
    phase = None
    if is_dropout or is_noise:
        if not code:
            phase = "unknown"
        elif tokens & _PHASE_NAMES:
            phase = "training"
        elif lowered & _BRANCH_NAMES:
            phase = "unknown"
        else:
            phase = "always"
    function_name = function if isinstance(function, str) and function_type == "function" else None
    if isinstance(function, dict) and function.get("class_name") == "function":
        function_name = str(function.get("config"))
    return LambdaInfo(
        has_bytecode=any(p.code for p in payloads),
        payload_bytes=sum(len(p.code) for p in payloads),
        function_type=function_type if isinstance(function_type, str) else None,
        is_dropout=is_dropout,
        is_noise=is_noise,
        rate=rate,
        rate_source=source,
        names=names,
        function_name=function_name,
        phase=phase,
    )
