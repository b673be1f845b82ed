"""``dropctl convert``: rewrite an artifact so its dropout is always on, standard or stripped."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dropctl.cli._app import (
    ConfigOpt,
    CustomObjectsOpt,
    JsonOpt,
    QuietOpt,
    SitesOpt,
    err_console,
    handle_errors,
    out_console,
)
from dropctl.errors import UsageError


@handle_errors
def convert_command(
    src: Annotated[Path, typer.Argument(
        metavar="IN", help="A .keras or .h5/.hdf5 model, a SavedModel or preset directory, or a "
        "*.weights.h5 with --config.", show_default=False)],
    dst: Annotated[Path, typer.Argument(
        metavar="OUT", help="Where to write; .keras or .h5 picks the format.", show_default=False)],
    perma: Annotated[bool, typer.Option(
        "--perma", help="Dropout acts at inference too (predict(), model(x)); BN stays "
        "in inference mode.")] = False,
    standard: Annotated[bool, typer.Option(
        "--standard", help="Keras' default: dropout only in training (unpins training=True, "
        "replaces Lambda PermaDropout by Dropout).")] = False,
    strip: Annotated[bool, typer.Option(
        "--strip", help="Remove dropout layers from the graph; RNN/attention dropout set to 0.")
    ] = False,
    rate: Annotated[float | None, typer.Option(
        "--rate", metavar="R", help="New rate for the converted sites (0 <= R < 1).")] = None,
    sites: SitesOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (site, before, after); write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing OUT.")] = False,
    no_verify: Annotated[bool, typer.Option(
        "--no-verify", help="Skip reloading OUT and checking its predictions.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    target_keras: Annotated[str | None, typer.Option(
        "--target-keras", metavar="VERSION",
        help="Write a config this Keras version loads (default: 3.6, the oldest supported).")
    ] = None,
    custom_objects: CustomObjectsOpt = None,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", metavar="CALIB.json",
        help="With --perma: bake a dropctl calibrate file into OUT, so one predict() call runs "
             "the calibration's T passes and returns the MC mean, calibrated probabilities and "
             "prediction sets (or scaled std and interval bounds) as a dict.")] = None,
) -> None:
    """Rewrite IN to OUT with inference-time dropout switched on, back to standard, or removed.

    Weights are copied bit for bit, IN is never modified, OUT is written atomically and
    verified by reloading it (exit 1 and nothing written when that fails). Nothing stored
    in the file is executed. A --perma OUT loads after `import dropctl.layers`.
    """
    modes = [name for name, on in (("perma", perma), ("standard", standard), ("strip", strip))
             if on]
    if len(modes) != 1:
        raise UsageError("pick exactly one of --perma, --standard or --strip")
    import dropctl
    from dropctl.render.convert import convert_dict, render_plan, summary_line

    if calibration is not None:
        _convert_calibrated(src, dst, calibration, modes=modes, rate=rate, sites=sites,
                            dry_run=dry_run, force=force, no_verify=no_verify, json_out=json_out,
                            quiet=quiet, config=config, target_keras=target_keras,
                            custom_objects=custom_objects)
        return

    if not quiet and not json_out and not dry_run and sys.stderr.isatty():
        err_console().print(f"converting {src} -> {dst} (loads TensorFlow)...", style="dim",
                            soft_wrap=True)
    report = dropctl.convert(src, dst, mode=modes[0], rate=rate, sites=sites, dry_run=dry_run,
                             force=force, verify=not no_verify, config=config,
                             target_keras=target_keras, custom_objects=custom_objects or ())
    if json_out:
        print(json.dumps(convert_dict(report), indent=2))
        return
    out_console().print(render_plan(report))
    out_console().print(summary_line(report))
    if not quiet:
        for warning in report.warnings:
            err_console().print(f"warning: {warning}", style="yellow", soft_wrap=True)


def _convert_calibrated(src: Path, dst: Path, calibration: Path, *, modes: list[str],
                        rate: float | None, sites: str | None, dry_run: bool, force: bool,
                        no_verify: bool, json_out: bool, quiet: bool, config: Path | None,
                        target_keras: str | None, custom_objects: list[str] | None) -> None:
    from dropctl.conversion.calibrated import convert_calibrated
    from dropctl.render.calibration import bake_json, bake_line
    from dropctl.render.convert import convert_dict, render_plan, summary_line

    if modes != ["perma"]:
        raise UsageError("--calibration needs --perma (the calibrated model samples dropout)")
    if dry_run or no_verify:
        raise UsageError("--calibration is always written and verified: drop --dry-run and "
                         "--no-verify")
    report, check = convert_calibrated(src, dst, calibration, sites=sites, rate=rate,
                                       force=force, config=config, target_keras=target_keras,
                                       custom_objects=custom_objects or ())
    if json_out:
        doc = convert_dict(report)
        doc["calibration"] = bake_json(check, calibration)
        print(json.dumps(doc, indent=2))
        return
    out_console().print(render_plan(report))
    out_console().print(summary_line(report))
    out_console().print(bake_line(check))
    if not quiet:
        for warning in report.warnings:
            err_console().print(f"warning: {warning}", style="yellow", soft_wrap=True)
