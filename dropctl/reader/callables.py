"""Code that would run on load, anywhere in a file: bytecode and callables named by module path.

A layer's own config is scanned by the walker; this module scans the rest of the document the
same way - Keras 3 ``compile_config`` (optimizer, loss, metrics, loss weights) and any other
top-level key beside ``config``, and the legacy ``training_config`` attribute - so a
``__lambda__`` loss or ``{"module": "builtins", "config": "exec"}`` metric cannot hide outside
the layer tree. Every hit carries its path inside the document (``compile_config/loss``).
Nothing is imported or resolved: names are compared as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DANGEROUS_MODULES = frozenset({
    "builtins", "__builtin__", "os", "posix", "nt", "subprocess", "importlib", "sys", "shutil",
    "socket", "pty", "runpy", "code", "codeop", "pickle", "marshal", "ctypes", "multiprocessing",
    "webbrowser", "pydoc", "platform", "signal", "tempfile", "io", "pathlib", "glob", "urllib",
    "http", "ftplib", "telnetlib", "smtplib", "asyncio", "threading", "_thread", "types",
    "inspect", "operator", "functools", "commands", "popen2", "dill", "cloudpickle", "joblib",
})
"""Module roots whose callables execute code, touch files, processes or the network."""

_DOTTED = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,63})(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,8}")
MAX_HITS = 50
"""Most hits reported per document (a hostile file can hold millions)."""


@dataclass(frozen=True)
class CodeHit:
    """One piece of loadable code found in a config document."""

    path: str
    """Where it sits, e.g. ``compile_config/loss`` or ``training_config/metrics/0``."""
    kind: str
    """``"bytecode"`` (a marshalled lambda) or ``"callable"`` (a dangerous module path)."""
    detail: str
    """What was found, e.g. ``os.system`` or ``412 bytes of bytecode``."""


def dangerous_root(module: str) -> bool:
    return module.split(".", 1)[0] in DANGEROUS_MODULES


def _callable_name(item: dict[str, Any]) -> str | None:
    """``module.name`` of a serialized object whose module root is dangerous."""
    module = item.get("module")
    if not isinstance(module, str) or not dangerous_root(module):
        return None
    name = item.get("config") if item.get("class_name") == "function" else item.get("class_name")
    if not isinstance(name, str):
        name = item.get("registered_name") if isinstance(item.get("registered_name"), str) else "?"
    return f"{module}.{name}"[:120]


def _dotted_string(text: str) -> str | None:
    """``"os.system"`` style strings (a loss or metric given by import path)."""
    if len(text) > 200:
        return None
    m = _DOTTED.fullmatch(text)
    if m and m.group(1) in DANGEROUS_MODULES:
        return text
    return None


def scan_document(doc: Any, root: str, *, strings: bool = True,
                  skip: frozenset[str] = frozenset()) -> list[CodeHit]:
    """Bytecode payloads and dangerous callables anywhere in ``doc``, iteratively.

    ``root`` prefixes every path; ``skip`` names top-level keys not to enter; ``strings``
    also flags plain strings naming a dangerous callable (``"os.system"``).
    """
    from dropctl.reader.lambdas import analyze_lambda

    hits: list[CodeHit] = []
    stack: list[tuple[Any, str, bool]] = [(doc, root, True)]
    while stack and len(hits) < MAX_HITS:
        item, path, top = stack.pop()
        if isinstance(item, dict):
            cls = item.get("class_name")
            if cls == "__lambda__" or item.get("function_type") == "lambda":
                info = analyze_lambda({"function": item} if cls == "__lambda__" else item)
                hits.append(CodeHit(path, "bytecode", f"{info.payload_bytes:,} bytes of bytecode"))
                continue
            name = None if top else _callable_name(item)  # the root's own class: the walker's
            if name is not None:
                hits.append(CodeHit(path, "callable", name))
            for key, child in item.items():
                if top and key in skip:
                    continue
                if isinstance(child, dict | list) or (strings and isinstance(child, str)):
                    stack.append((child, f"{path}/{key}", False))
        elif isinstance(item, list):
            stack.extend((c, f"{path}/{i}", False) for i, c in enumerate(item)
                         if isinstance(c, dict | list) or (strings and isinstance(c, str)))
        elif isinstance(item, str):
            name = _dotted_string(item)
            if name is not None:
                hits.append(CodeHit(path, "callable", name))
    return hits
