"""dropctl's exception hierarchy and exit codes.

The core raises these; ``dropctl.cli`` turns every one of them into a single
``Error: ...`` line on stderr and an exit code, in one place. A message is
always a complete sentence about *which* file and *what* is wrong with it.
"""

from __future__ import annotations

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
