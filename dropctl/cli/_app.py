"""The Typer application object, the command table's vocabulary, shared option aliases and the
one error handler.

Commands are attached to :data:`app` in one place, the table ``COMMANDS`` of
:mod:`dropctl.cli` (:func:`register`), never by importing a module: a command's name, help panel
and examples are data there, and the same data writes its ``--help`` epilog (:func:`epilog`) and
its section of the generated CLI reference (:mod:`dropctl.cli.reference`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from dropctl._version import __version__
from dropctl.errors import DropctlError, ExitCode, one_line
from dropctl.rules import Severity

app = typer.Typer(
    name="dropctl",
    help=(
        "Dropout behaviour of saved Keras models: inspect it, sample it (MC dropout), "
        "convert it, gate it in CI.\n\n"
        "Example: dropctl inspect model.keras"
    ),
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell.
    add_completion=True,
    # A crash must never dump local variables (weight arrays, configs) to the terminal.
    pretty_exceptions_show_locals=False,
    rich_markup_mode="markdown",  # paragraphs reflow; "[tool.dropctl]" stays literal
    context_settings={"help_option_names": ["-h", "--help"]},
)

_invocation = {"debug": False}
"""``--debug`` of the invocation being run. The root callback sets it on EVERY invocation
(True or False), so a notebook or test runner that invokes the app several times in one
process never inherits an earlier call's ``--debug``."""


def _debug() -> bool:
    return _invocation["debug"] or bool(os.environ.get("DROPCTL_DEBUG"))


def _version_callback(value: bool) -> None:
    if value:
        print(f"dropctl {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    version: Annotated[  # noqa: ARG001 - Typer option acted on by its eager callback
        bool,
        typer.Option("--version", "-V", callback=_version_callback, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks for errors (or DROPCTL_DEBUG=1).")
    ] = False,
) -> None:
    """dropctl: dropout behaviour of saved Keras models."""
    _invocation["debug"] = debug


@dataclass(frozen=True)
class Example:
    """One example of a command, shown in its ``--help`` epilog and in the CLI reference."""

    command: str
    """The command line exactly as a user types it (``dropctl ...``)."""
    does: str
    """What it does, in one sentence."""


@dataclass(frozen=True)
class Command:
    """One row of the command table: what ``dropctl NAME`` runs and how its help presents it."""

    name: str
    """The subcommand name (``dropctl NAME``)."""
    function: Callable[..., object]
    """The command body (its parameters are the options; its docstring the help text)."""
    panel: str
    """The ``dropctl --help`` panel listing the command."""
    examples: tuple[Example, ...]
    """At least one example: every command's help shows how to call it."""
    help: str | None = None
    """Help text when it is not the function's docstring."""


def epilog(examples: Iterable[Example]) -> str:
    """The ``--help`` epilog: one paragraph per example (Markdown: the command as code, so a
    glob like ``'*dropout*'`` is printed as typed, not as emphasis)."""
    return "\n\n".join(f"Example: `{e.command}`\\\n{e.does}." for e in examples)


def register(target: typer.Typer, commands: Iterable[Command]) -> None:
    """Attach every command of the table to ``target``, in table order (the ``--help`` order)."""
    for c in commands:
        if not c.examples:
            raise ValueError(f"dropctl {c.name}: a command needs at least one example")
        target.command(c.name, help=c.help, epilog=epilog(c.examples),
                       rich_help_panel=c.panel)(c.function)


def fail(exc: DropctlError) -> NoReturn:
    """Print ``Error: <message>`` as one line on stderr and exit with the error's code."""
    from dropctl.render.safe import escape

    # Escape before collapsing whitespace, so a CR or LF in a file name shows as \r, \n.
    message = " ".join(escape(str(exc)).split()) or type(exc).__name__
    print(f"Error: {message}", file=sys.stderr)
    raise typer.Exit(int(exc.exit_code))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (tests)
        pass


F = TypeVar("F", bound=Callable[..., object])


def handle_errors(func: F) -> F:
    """Decorator for command bodies: map dropctl's errors to one stderr line and exit code.

    Anything that is not a :class:`DropctlError` is a bug in dropctl; it still gets a
    one-line message (and exit 2) unless ``--debug`` asks for the traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except DropctlError as exc:
            if _debug():
                raise
            fail(exc)
        except BrokenPipeError:
            # `dropctl ... | head`: the reader went away. Behave like a Unix tool killed by
            # SIGPIPE (exit 141) instead of printing an internal error.
            _silence_stdout()
            raise typer.Exit(141) from None
        except MemoryError:
            print("Error: out of memory (try a smaller --batch-size or input)", file=sys.stderr)
            raise typer.Exit(ExitCode.ERROR) from None
        except Exception as exc:  # last line of defence (see docstring); re-raised under --debug
            if _debug():
                raise
            from dropctl.render.safe import escape

            print(
                f"Error: internal error {escape(one_line(exc))} "
                "(rerun with --debug for a traceback and please report it)",
                file=sys.stderr,
            )
            raise typer.Exit(ExitCode.ERROR) from None

    return wrapper  # type: ignore[return-value]


# ---- shared option aliases (defined once, used by every command) -------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress bar or hints on stderr.")
]
SitesOpt = Annotated[
    str | None,
    typer.Option(
        "--sites",
        metavar="GLOB",
        help="Only sites whose path matches this glob (e.g. '*dropout_2', 'encoder/*').",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="MODEL.json",
        help="Architecture for a weights-only MODEL (*.weights.h5): a model JSON (or .keras/.h5).",
    ),
]
CustomObjectsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--custom-objects",
        metavar="PATH.py|MODULE",
        help="Import this .py file or module (RUNS its code) and build the model with the "
             "Keras classes and functions it defines or registers; for custom layers and "
             "subclassed models. Repeatable.",
    ),
]
SeedOpt = Annotated[int, typer.Option(
    "--seed", min=0, max=2**32 - 1, help="Random seed (same seed, same machine: same bytes).")]


class _ReportConsole(Console):
    """Rich's ``on_broken_pipe`` raises ``SystemExit(1)``; here EPIPE stays a
    ``BrokenPipeError``, which :func:`handle_errors` ends with exit 141 (the ``dropctl``
    process never gets there: :mod:`dropctl.cli.pipes` swallows EPIPE first)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def out_console() -> Console:
    """Console for the report on stdout: ``COLUMNS`` when set, else the terminal's width,
    else (piped) 160; tables wrap their path columns to fit and never cut a number."""
    import os
    import shutil

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) >= 40:
        width = int(columns)
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((140, 24)).columns if tty else 160
    return _ReportConsole(file=sys.stdout, width=width, soft_wrap=False, highlight=False)


def err_console() -> Console:
    """Console for progress and hints on stderr."""
    return Console(file=sys.stderr, highlight=False)


@contextlib.contextmanager
def progress_bar(label: str, *, enabled: bool,
                 console: Console | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """The one progress helper: a transient Rich bar on stderr fed by the core's callback.

    Yields ``callback(done, total)`` for the core, or None when disabled (``--quiet``, JSON
    output, or stderr is not a terminal), so pipes and CI logs never see bar frames. Pass the
    ``console`` that prints hints while the bar runs, so the two do not garble each other.
    """
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    bar = Progress(label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console or err_console(), transient=True)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    bar.start()
    try:
        yield update
    finally:
        bar.stop()


FailOnOpt = Annotated[
    Severity | None,
    typer.Option(
        "--fail-on",
        help="Exit 1 when a finding reaches this severity: info, warning or error.",
        case_sensitive=False,
    ),
]
