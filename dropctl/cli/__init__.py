"""The ``dropctl`` command line: options -> core call -> renderer -> exit code.

This package is the only place that imports Typer. Each command family lives in its own
module and registers itself on :data:`app` when imported; :func:`dropctl.cli._app.handle_errors`
turns the core's :class:`dropctl.errors.DropctlError` into one ``Error: ...`` line on stderr
and exit code 2, for every command in one place.
"""

from __future__ import annotations

import sys

from dropctl.cli._app import app, fail

# Registration order is the order `dropctl --help` lists the commands in.
from dropctl.cli import inspect_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import mc_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import convert_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import check_cmd  # noqa: F401,E402  isort: skip

__all__ = ["app", "fail", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (also ``python -m dropctl``)."""
    from dropctl.errors import DropctlError

    try:
        app(args=argv, prog_name="dropctl", standalone_mode=True)
    except DropctlError as exc:  # raised outside a command body (e.g. during parsing)
        fail(exc)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
