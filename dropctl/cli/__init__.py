"""The ``dropctl`` command line: options -> core call -> renderer -> exit code.

This package is the only place that imports Typer. Each command family lives in
its own module and registers itself on :data:`app`; errors from the core
(:class:`dropctl.errors.DropctlError`) become one ``Error: ...`` line on stderr
and exit code 2 here, in :func:`main`, and nowhere else.
"""

from __future__ import annotations

import os
import sys

from dropctl.cli._app import app, fail

# Importing the command modules registers their commands on ``app``.
from dropctl.cli import inspect_cmd  # noqa: F401,E402  isort: skip

for _name in ("mc_cmd", "check_cmd", "convert_cmd"):
    # Commands land one issue at a time; a module that is not there yet is simply absent.
    try:
        __import__(f"dropctl.cli.{_name}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a command is unbuilt
        if _exc.name != f"dropctl.cli.{_name}":
            raise

__all__ = ["app", "fail", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from dropctl.errors import DropctlError

    try:
        app(args=argv, prog_name="dropctl", standalone_mode=True)
    except DropctlError as exc:  # raised outside a command body (e.g. during parsing)
        fail(exc)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    if os.environ.get("DROPCTL_DEBUG"):  # pragma: no cover
        pass
