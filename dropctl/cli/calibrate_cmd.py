"""``dropctl calibrate``: options -> ``dropctl.calibrate`` (:mod:`dropctl.mc.calibrate`) -> the
calibration file and its summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dropctl.cli._app import (
    ConfigOpt,
    CustomObjectsOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    SitesOpt,
    err_console,
    handle_errors,
    out_console,
    progress_bar,
)
from dropctl.cli.mc_cmd import BatchOpt, ModelArg, SamplesOpt
from dropctl.errors import InputDataError, UsageError
from dropctl.mc.evaluation import DEFAULT_STD_FLOOR

CoverageOpt = Annotated[float, typer.Option(
    "--coverage", metavar="LEVEL",
    help="Nominal coverage 1 - alpha of the prediction sets and intervals.")]


@handle_errors
def calibrate_command(
    model: ModelArg,
    input_path: Annotated[Path, typer.Option(
        "--input", "-i", help="Held-out calibration inputs (.npy, .npz or .csv; never the "
                              "test data).", show_default=False)],
    labels: Annotated[Path, typer.Option(
        "--labels", help="Their labels: class ids (classifier) or targets (regressor).",
        show_default=False)],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Write the calibration to FILE.json (for mc-predict "
                               "--calibration and convert --perma --calibration).",
        show_default=False)],
    coverage: CoverageOpt = 0.9,
    score: Annotated[str, typer.Option(
        "--score", help="Conformal score of the prediction sets: lac (= thr), aps or raps.")
    ] = "lac",
    method: Annotated[str, typer.Option(
        "--method", help="Probability scaling: temperature, or vector (per-class w, b).")
    ] = "temperature",
    raps_lambda: Annotated[float, typer.Option(
        "--raps-lambda", help="RAPS penalty per rank above --raps-k.")] = 0.01,
    raps_k: Annotated[int, typer.Option("--raps-k", help="RAPS: unpenalised ranks.")] = 1,
    samples: SamplesOpt = 50,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    sites: SitesOpt = None,
    std_floor: Annotated[float, typer.Option(
        "--interval-std-floor", metavar="S",
        help="Floor on the MC std of a regressor.")] = DEFAULT_STD_FLOOR,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Reliability / coverage / set-size figures on the calibration data to "
                       "FILE.png.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing FILE.json.")
                     ] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    custom_objects: CustomObjectsOpt = None,
) -> None:
    """Fit temperature scaling and split-conformal sets/intervals on held-out data.

    Runs the same Monte Carlo as mc-predict (same --samples and --seed semantics). The file
    is bound to MODEL's content hash: mc-predict --calibration refuses any other model.
    """
    import dropctl
    from dropctl.fileio import write_text_atomic
    from dropctl.render.calibration import calibration_doc, calibration_tables

    if output.suffix.lower() != ".json":
        raise InputDataError("--output of calibrate is a .json file")
    if output.exists() and not force:
        raise UsageError(f"{output} exists (use --force to overwrite it)")
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputDataError("--plot writes a .png file")
    with progress_bar("passes", enabled=not quiet and not json_out) as callback:
        run = dropctl.calibrate(model, input_path, labels, samples=samples, seed=seed,
                                coverage=coverage, method=method, score=score,
                                raps_lambda=raps_lambda, raps_k=raps_k, sites=sites,
                                batch_size=batch_size, std_floor=std_floor, config=config,
                                custom_objects=custom_objects or (), checks=plot is not None,
                                progress=callback)
    doc = calibration_doc(run.fit)
    write_text_atomic(output, json.dumps(doc, indent=2) + "\n")
    written = []
    if plot is not None:
        from dropctl.render.calibration_plots import write_calibration_plots

        written = write_calibration_plots(run.checks, plot, "calibration data (in-sample)")
    if json_out:
        print(json.dumps(doc, indent=2))
    else:
        console = out_console()
        for part in calibration_tables(run.fit):
            console.print(part)
    if not quiet and not json_out:
        hint = err_console()
        for p in [output, *written]:
            hint.print(f"wrote {p}", style="dim")
