"""``dropctl inspect``: read an artifact statically and answer "is dropout active when...?"."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dropctl.cli._app import (
    ConfigOpt,
    FailOnOpt,
    JsonOpt,
    SitesOpt,
    err_console,
    handle_errors,
    out_console,
)
from dropctl.errors import DropctlError, ExitCode


@handle_errors
def inspect_command(
    model: Annotated[Path, typer.Argument(
        help="A .keras, .h5/.hdf5 or model .json file, a SavedModel or preset directory, "
        "or a *.weights.h5 with --config.", show_default=False)],
    json_out: JsonOpt = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list non-stochastic layers, as a tree.")
    ] = False,
    fail_on: FailOnOpt = None,
    config: ConfigOpt = None,
    keras: Annotated[
        str | None,
        typer.Option("--keras", metavar="VERSION",
                     help="Verdicts for this Keras version (e.g. 3.16), or 'installed' for the "
                          "installed Keras; default: 3.15, whatever is installed."),
    ] = None,
    sites: SitesOpt = None,
) -> None:
    """List every stochastic layer and say when it acts: fit, predict(), bare model(x).

    Reads the file statically: TensorFlow is not imported and nothing stored in the
    file is executed.

    --sites GLOB lists only the sites the glob selects: exactly the ones mc-predict, diff
    and convert --sites GLOB act on (the verdicts then speak for those sites only).
    """
    import dropctl
    from dropctl.reader.inspection import select_sites
    from dropctl.reader.versions import resolve_target
    from dropctl.render.inspect_json import error_dict, inspect_dict

    target = resolve_target(keras)  # a bad --keras is a usage error before the file is read
    try:
        report = dropctl.inspect(model, config=config, keras=target)
        if sites is not None:
            report = select_sites(report, sites)
    except DropctlError as exc:
        if json_out:
            print(json.dumps(error_dict(str(model), " ".join(str(exc).split()))))
        raise
    if json_out:
        print(json.dumps(inspect_dict(report, include_layers=show_all), indent=2))
    else:
        from dropctl.render.inspect_text import is_large, render_inspect, render_inspect_plain
        from dropctl.render.safe import escape_all

        shown = escape_all(report)
        if is_large(shown, show_all=show_all):
            sys.stdout.write(render_inspect_plain(shown, show_all=show_all))
            sys.stdout.flush()
        else:
            out_console().print(render_inspect(shown, show_all=show_all))
    if fail_on is not None:
        hits = report.findings_at_or_above(fail_on)
        if hits:
            if not json_out:
                err_console().print(
                    f"{len(hits)} finding(s) at or above {fail_on.value}: exit {int(ExitCode.FINDINGS)}",
                    style="dim",
                )
            raise typer.Exit(ExitCode.FINDINGS)
