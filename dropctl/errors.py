"""dropctl's exception hierarchy and exit codes.

The core raises these; ``dropctl.cli`` turns every one of them into a single
``Error: ...`` line on stderr and an exit code, in one place. A message is
always a complete sentence about *which* file and *what* is wrong with it.
:func:`one_line` is the one way a library's exception (Keras, h5py, json, zipfile, an
import) becomes the reason inside such a sentence.
"""

from __future__ import annotations

import re
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, the same for every command (see the README table)."""

    OK = 0
    """Nothing wrong: the report was produced and no gate tripped."""
    FINDINGS = 1
    """Findings or policy violations at or above the requested severity, or a failed gate."""
    ERROR = 2
    """Could not run: usage error, unreadable or unsupported artifact, bad input data."""


class DropctlError(Exception):
    """Base class of every error dropctl reports to the user (exit code 2)."""

    exit_code: ExitCode = ExitCode.ERROR


class ArtifactError(DropctlError):
    """The artifact cannot be read: missing, not a model, corrupt, hostile, or over a limit."""


class MissingDependencyError(DropctlError):
    """An optional dependency (Keras/TensorFlow, JAX, torch, Ray...) is not installed.

    The message names the extra that installs it: ``pip install 'dropctl[tensorflow]'``.
    """


class UnsupportedModelError(DropctlError):
    """The artifact was read but dropctl cannot do what was asked with it (e.g. an unknown Lambda)."""


class InputDataError(DropctlError):
    """Input arrays, labels or output paths given to a command are unusable."""


class UsageError(DropctlError):
    """Options that contradict each other or are out of range."""


class VerificationError(DropctlError):
    """A written artifact failed its post-write verification (exit code 1)."""

    exit_code = ExitCode.FINDINGS


EXIT_MEANINGS: dict[int, str] = {
    ExitCode.OK: "the report was produced; nothing reached the gate you asked for",
    ExitCode.FINDINGS: "findings or policy violations at or above `--fail-on` (inspect, check), a "
                       "`diff --fail-if-*` gate tripped, or a written file failed verification (convert)",
    ExitCode.ERROR: "could not run: usage error, missing/unreadable/unsupported/hostile artifact, bad "
                    "input data, nothing matched. One line `Error: ...` on stderr, never a traceback "
                    "(`--debug` or `DROPCTL_DEBUG=1` shows one), never a changed or partial file",
    130: "interrupted (Ctrl-C): one line on stderr, the command's own temporary files removed",
    141: "stdout closed early (`dropctl ... | head`), as for any tool killed by SIGPIPE",
}
"""Every exit status a dropctl process can end with -> what it means (the docs' table)."""


# ---- a library's exception as one line ---------------------------------------------------------

_DESERIALIZING = re.compile(r"deserializing class '([^']+)' using config=\{'name': '([^']*)'")
_CALLING = re.compile(r"Exception encountered when calling (?:layer )?['\"]?([\w.]+)")
# "Could not locate class 'X'" (Keras 3.8+); Keras 3.6-3.7 say "Could not deserialize class 'X'
# because its parent module m cannot be imported" for a class whose module is not importable.
_LOCATE = re.compile(r"Could not (?:locate|deserialize) (?:class|function) '([^']+)'")
_KERAS_ADVICE = re.compile(r"\s*(Make sure custom classes|Full object config|Arguments received"
                           r"|If they are already decorated).*$", re.S)
MAX_ERROR = 240
"""The longest reason :func:`one_line` returns (a little more with the ``layer ...`` head)."""


def _shorten(text: str, limit: int = MAX_ERROR) -> str:
    """``text`` cut at a word boundary with an ellipsis, never mid-word."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:({[")
    return cut + " ..."


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NODE = re.compile(r"\{\{node ([^}]+)\}\}")


def _graph_error(raw: str) -> str | None:
    """TensorFlow's "Graph execution error: Detected at node X defined at (most recent call
    last): <a Python traceback> <the reason> [[{{node X}}]] [Op:...]" as "node X: reason"."""
    if not raw.startswith("Graph execution error"):
        return None
    chunks = [c.strip() for c in raw.split("\n\n") if c.strip()]
    reasons = [c for c in chunks if not c.startswith(("File ", "Detected at node",
                                                       "Graph execution error"))]
    if not reasons:
        return None
    reason = " ".join(reasons[-1].split("[[", 1)[0].split())
    node = _NODE.search(raw)
    return _shorten(f"node {node.group(1)}: {reason}" if node else reason)


def one_line(exc: BaseException, *, typed: bool = True) -> str:
    """An exception summarised to one line that keeps what failed and why.

    Keras wraps a layer's constructor error as "Error when deserializing class 'X' using
    config={...<the whole config>...}. Exception encountered: <reason>"; the summary is
    "layer 'name' (X): <reason>". Keras' advice paragraphs and config dumps are dropped, white
    space (newlines included) collapses to single spaces and the rest is shortened at a word
    boundary. Any other exception reads "TypeName: message"; ``typed=False`` leaves the type
    out, for a sentence that already says what failed ("... is not valid JSON (<reason>)").
    """
    raw = _ANSI.sub("", str(exc))  # Keras bolds the reason in its call errors
    graph = _graph_error(raw)
    if graph is not None:
        return f"{type(exc).__name__}: {graph}" if typed else graph
    text = " ".join(raw.split())
    found = _DESERIALIZING.search(text)
    reason = text.split("Exception encountered:", 1)[-1].strip() if (
        "Exception encountered:" in text) else None
    if found and reason:
        head = f"layer '{found.group(2)}' ({found.group(1)})"
        return f"{head}: {_shorten(_KERAS_ADVICE.sub('', reason))}"
    located = _LOCATE.search(text)
    if located:
        # the first name *after* the message: Keras 3.6 puts the whole model's config before it
        where = re.search(r"'name': '([^']+)'", text[located.end():])
        extra = f" (layer '{where.group(1)}')" if where else ""
        return f"{type(exc).__name__}: unknown class '{located.group(1)}'{extra}"
    called = _CALLING.search(text)
    if called and reason:
        return f"layer {called.group(1)}: {_shorten(_KERAS_ADVICE.sub('', reason))}"
    text = _shorten(_KERAS_ADVICE.sub("", text).strip())
    if not text:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}" if typed else text
