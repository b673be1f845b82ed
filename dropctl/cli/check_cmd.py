"""``dropctl check``, the CI gate: options -> configuration -> engine -> renderer -> exit code."""

from __future__ import annotations

import sys
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from dropctl.cli._app import (
    CustomObjectsOpt,
    QuietOpt,
    _debug,
    handle_errors,
    out_console,
    progress_bar,
)
from dropctl.errors import UsageError
from dropctl.fileio import clean_stale_temps, write_text_atomic
from dropctl.policy.config import FailOn, Inference
from dropctl.render.formats import CHECK_FORMATS

# The --format choices come from the renderer registry (one place to add a format).
Format = StrEnum("Format", {name.upper(): name for name in CHECK_FORMATS})  # type: ignore[misc]


_HELP = """Gate model artifacts in CI: fail when dropout behaves differently from the policy.

PATHS are files, directories (searched recursively for .keras, .h5, .hdf5) and globs
('models/**/*.h5'). Policies come from [tool.dropctl] in pyproject.toml or a dropctl.toml
(found by walking up from the working directory), with per-path overrides; options here
override the file. Exit codes: 0 all pass, 1 a violation at or above --fail-on,
2 an artifact could not be read or checked, or nothing matched.
"""


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects KEY=VALUE (e.g. frozen_active=error), not {item!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # bare words: error, warn, ignore, on, off
        out[key.strip()] = value
    return out


@handle_errors
def check_command(
    paths: Annotated[list[str], typer.Argument(help="Model files, directories or globs.",
                                               show_default=False)],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.TEXT,  # type: ignore[attr-defined]
    json_: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report to FILE instead of stdout ('-': stdout).",
        metavar="FILE",
        dir_okay=False)] = None,
    fail_on: Annotated[FailOn | None, typer.Option(
        "--fail-on", help="Lowest violation severity that fails the check [default: error].",
        show_default=False)] = None,
    inference: Annotated[Inference | None, typer.Option(
        "--inference", help="predict() must be deterministic (off), stochastic (on), or any.",
        show_default=False)] = None,
    max_rate: Annotated[float | None, typer.Option(
        "--max-rate", min=0.0, max=1.0, help="Largest allowed dropout rate.")] = None,
    min_rate: Annotated[float | None, typer.Option(
        "--min-rate", min=0.0, max=1.0, help="Smallest allowed dropout rate.")] = None,
    require_sites: Annotated[int | None, typer.Option(
        "--require-sites", min=0, help="At least N stochastic sites per model.")] = None,
    forbid_lambda: Annotated[bool | None, typer.Option(
        "--forbid-lambda/--allow-lambda", help="Fail on Lambda bytecode [default: forbid].",
        show_default=False)] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Any policy setting, e.g. --set frozen_active=error --set opaque=ignore.")] = None,
    config_file: Annotated[Path | None, typer.Option(
        "--config", metavar="FILE", help="Use this pyproject.toml / dropctl.toml.",
        dir_okay=False)] = None,
    no_config: Annotated[bool, typer.Option(
        "--no-config", help="Ignore configuration files; defaults and options only.")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Check files in N parallel processes.")] = None,
    probe: Annotated[bool | None, typer.Option(
        "--probe/--no-probe", help="Also load each model (safe mode) and run predict() twice "
        "on synthetic inputs (imports TensorFlow).", show_default=False)] = None,
    keras: Annotated[str | None, typer.Option(
        "--keras", metavar="VERSION", help="Verdicts for this Keras version or range (e.g. 3.16, "
        "'>=3.6'), or 'installed'; overrides the policy's keras; default: 3.15, whatever is "
        "installed.", show_default=False)] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also list info-level observations.")] = False,
    quiet: QuietOpt = False,
    custom_objects: CustomObjectsOpt = None,
    pre_commit: Annotated[bool, typer.Option(
        "--pre-commit", help="PATHS are the files a commit touched (the pre-commit hook): each "
        "is checked as the artifact it belongs to, once; files of no model are passed over.")
    ] = False,
) -> None:
    import dropctl
    from dropctl.policy.config import find_config, load_config
    from dropctl.render.safe import escape_all

    if output is not None and str(output) == "-":  # -o - is stdout, as for every -o
        output = None

    if json_:
        fmt = Format.JSON  # type: ignore[attr-defined]
    if config_file is not None and no_config:
        raise UsageError("--config and --no-config contradict each other")
    notes: list[str] = []
    source = None if no_config else (config_file or find_config(notes=notes))
    config = load_config(source)
    for note in notes if not quiet else ():
        print(escape_all(note), file=sys.stderr)

    cli: dict[str, Any] = _parse_set(settings or [])
    for key, value in (("inference", inference), ("max_rate", max_rate),
                       ("min_rate", min_rate), ("require_sites", require_sites),
                       ("forbid_lambda", forbid_lambda), ("keras", keras)):
        if value is not None:
            cli[key] = value.value if isinstance(value, StrEnum) else value
    for key in ("fail_on", "jobs", "probe"):
        if key in cli:
            raise UsageError(f"--set {key}=...: use the --{key.replace('_', '-')} option")
    config.policy.updated(cli, "command line")  # reject bad --set values before any work
    if output is not None:  # leftovers of a run killed while writing (kill -9)
        clean_stale_temps(output)

    with progress_bar("checking", enabled=not quiet and output is None
                      and fmt == "text") as progress:
        report = dropctl.check(
            paths, config=config, settings=cli, fail_on=fail_on.value if fail_on else None,
            jobs=jobs, probe=probe, progress=progress, custom_objects=custom_objects or (),
            pre_commit=pre_commit,
            debug=_debug(),  # --debug: a failure inside one artifact shows its traceback
        )
    if not report.results:  # --pre-commit only: the commit touched no model
        if not quiet:
            print("dropctl: none of the files belongs to a model; nothing to check",
                  file=sys.stderr)
        if fmt == "text" and output is None:
            raise typer.Exit(report.exit_code)  # files and other formats: an empty report

    from dropctl.render.safe import escape_all

    if fmt in ("json", "sarif"):
        shown = report  # json.dumps escapes every control character and surrogate itself
    else:
        shown = escape_all(report)  # names from the file never drive the terminal or XML
    for r in shown.results:
        if r.error:  # also in the report; stderr makes it visible when stdout goes to a file
            print(f"Error: {escape_all(r.error)}", file=sys.stderr)

    if fmt == "text" and output is None:
        from dropctl.render.check_text import print_text

        print_text(shown, out_console(), verbose=verbose)
    else:
        text = CHECK_FORMATS[str(fmt)].render(shown, verbose=verbose)
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_text_atomic(output, text, label="--output")
            if not quiet:
                from dropctl.render.check_common import summary

                print(f"{summary(shown)}; report written to {output}", file=sys.stderr)
    raise typer.Exit(report.exit_code)
