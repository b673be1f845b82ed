"""The ``dropctl`` command line: options -> core call -> renderer -> exit code.

This package is the only place that imports Typer. Each command family lives in its own
module and registers itself on :data:`app` when imported; :func:`dropctl.cli._app.handle_errors`
turns the core's :class:`dropctl.errors.DropctlError` into one ``Error: ...`` line on stderr
and exit code 2, for every command in one place.
"""

from __future__ import annotations

import sys

import typer

from dropctl.cli._app import _debug, app, fail

# Registration order is the order `dropctl --help` lists the commands in.
from dropctl.cli import inspect_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import mc_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import calibrate_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import convert_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import export_cmd  # noqa: F401,E402  isort: skip
from dropctl.cli import check_cmd  # noqa: F401,E402  isort: skip

__all__ = ["app", "fail", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (also ``python -m dropctl``).

    Without ``argv`` this is the ``dropctl`` process: Ctrl-C is taken over by
    :mod:`dropctl.interrupt` and the process ends through :func:`dropctl.interrupt.finish`
    (exit 130 and one line on an interrupt; no interpreter teardown to wait for). With ``argv``
    (tests, notebooks) it raises ``SystemExit`` like any Typer app.
    """
    import dropctl.interrupt as interrupt
    from dropctl.cli import pipes
    from dropctl.errors import DropctlError

    if argv is None:
        interrupt.install()
        pipes.install()  # `dropctl ... | head`: exit 141, nothing on stderr (see dropctl.cli.pipes)
    code: int = 0
    try:
        try:
            app(args=argv, prog_name="dropctl", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except DropctlError as exc:  # outside a command body, or --debug re-raised it
            if _debug():
                import traceback

                traceback.print_exc()
                code = int(exc.exit_code)
            else:
                try:
                    fail(exc)
                except typer.Exit as done:
                    code = done.exit_code
    except KeyboardInterrupt:  # also one raised while handling the above
        code = interrupt.EXIT_INTERRUPTED
    if argv is None and code != interrupt.EXIT_INTERRUPTED and pipes.finish():
        code = pipes.EXIT_BROKEN_PIPE
    if interrupt.installed():
        interrupt.finish(code)
    if code == interrupt.EXIT_INTERRUPTED:
        print(interrupt.MESSAGE, file=sys.stderr)
    raise SystemExit(code)
