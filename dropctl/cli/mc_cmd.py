"""``dropctl mc-predict`` and ``dropctl diff``: options -> dropctl.mc.engine / dropctl.mc.diff -> render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dropctl.cli._app import (
    JsonOpt,
    QuietOpt,
    SeedOpt,
    SitesOpt,
    app,
    err_console,
    handle_errors,
    out_console,
    progress_bar,
)
from dropctl.errors import ExitCode, InputDataError, UsageError

ModelArg = Annotated[Path, typer.Argument(help="A .keras or .h5/.hdf5 model file.",
                                          show_default=False)]
InputOpt = Annotated[Path | None, typer.Option(
    "--input", "-i", help="Inputs: .npy, .npz (arrays named after the model inputs) or .csv.")]
SyntheticOpt = Annotated[int | None, typer.Option(
    "--synthetic", metavar="N", help="Draw N seeded inputs from the model's input spec.")]
SamplesOpt = Annotated[int, typer.Option("--samples", "-T", help="Stochastic passes T.")]
BatchOpt = Annotated[int | None, typer.Option(
    "--batch-size", help="Rows (input copies) per compiled forward pass [default: from a 256 MB "
                         "activation budget].")]


def _inputs(model: Any, input_path: Path | None, synthetic: int | None, seed: int) -> Any:
    from dropctl.mc.inputs import model_input_specs, read_inputs

    if input_path is not None and synthetic is not None:
        raise UsageError("give either --input or --synthetic, not both")
    if input_path is not None:
        return read_inputs(input_path, model_input_specs(model))
    if synthetic is None:
        raise UsageError("no inputs: give --input FILE or --synthetic N")
    return None


@app.command("mc-predict")
@handle_errors
def mc_predict_command(
    model: ModelArg,
    input_path: InputOpt = None,
    synthetic: SyntheticOpt = None,
    samples: SamplesOpt = 50,
    seed: SeedOpt = 0,
    batch_size: BatchOpt = None,
    until_stable: Annotated[float | None, typer.Option(
        "--until-stable", metavar="TOL",
        help="Stop once the largest Monte Carlo standard error is below TOL (or T is reached).")
    ] = None,
    sites: SitesOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write arrays to FILE.npz, .json or .csv.")] = None,
    save_samples: Annotated[bool, typer.Option(
        "--save-samples", help="Keep all T outputs (in the .npz/.json --output).")] = False,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Class ids (.npy/.csv): accuracy, NLL, Brier, ECE, det vs MC.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Uncertainty histogram and reliability diagram to FILE.png.")] = None,
    per_sample: Annotated[bool, typer.Option("--per-sample", help="One row per input.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Monte Carlo dropout: T passes with only the stochastic layers on (BatchNorm in inference mode).

    Example: dropctl mc-predict sample_models/cnn.keras --synthetic 8 --samples 100 -o mc.npz
    """
    from dropctl.mc.engine import mc_predict
    from dropctl.mc.metrics import calibrations, read_class_labels
    from dropctl.render.mc import mc_json, mc_tables, write_mc_file
    from dropctl.runtime.loader import load

    if output is not None and output.suffix.lower() not in (".npz", ".json", ".csv"):
        raise InputDataError(f"unsupported --output format '{output.suffix}' "
                             "(use .npz, .json or .csv)")
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputDataError("--plot writes a .png file")
    loaded = load(model)
    arrays = _inputs(loaded.model, input_path, synthetic, seed)
    with progress_bar("passes", enabled=not quiet and not json_out) as callback:
        result = mc_predict(loaded, arrays, samples=samples, seed=seed, sites=sites,
                            batch_size=batch_size, until_stable=until_stable,
                            save_samples=save_samples, synthetic=synthetic, progress=callback)
    label_arrays = read_class_labels(result, labels) if labels is not None else None
    calib = calibrations(result, label_arrays) if label_arrays is not None else None
    if output is not None:
        write_mc_file(result, output, calib)
    if plot is not None:
        from dropctl.render.plots import mc_figure

        mc_figure(result, plot, label_arrays)
    if json_out:
        print(json.dumps(mc_json(result, calib, per_sample), indent=2))
    else:
        console = out_console()
        for part in mc_tables(result, calib, per_sample):
            console.print(part)
    if not quiet and not json_out:
        hint = err_console()
        for r in result.rescues:
            hint.print(f"loaded with a rescue: {r}", style="dim")
        if output is not None:
            hint.print(f"wrote {output}", style="dim")


@app.command("diff")
@handle_errors
def diff_command(
    model: ModelArg,
    input_path: InputOpt = None,
    synthetic: Annotated[int | None, typer.Option(
        "--synthetic", metavar="N", help="Draw N seeded inputs [default: 16 without --input].")
    ] = None,
    samples: SamplesOpt = 50,
    seed: SeedOpt = 0,
    sites: SitesOpt = None,
    fail_if_stochastic: Annotated[bool, typer.Option(
        "--fail-if-stochastic", help="Exit 1 when predict() is not deterministic.")] = False,
    fail_if_deterministic: Annotated[bool, typer.Option(
        "--fail-if-deterministic",
        help="Exit 1 when predict() is deterministic (an MC model lost its dropout).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Deterministic vs stochastic: predict() twice, model(x) twice, then T MC passes.

    Example: dropctl diff model.h5 --fail-if-stochastic
    """
    from dropctl.mc.diff import diff
    from dropctl.render.mc import diff_json, diff_tables
    from dropctl.runtime.loader import load

    if fail_if_stochastic and fail_if_deterministic:
        raise UsageError("--fail-if-stochastic and --fail-if-deterministic contradict each other")
    loaded = load(model)
    if input_path is None and synthetic is None:
        synthetic = 16
    arrays = _inputs(loaded.model, input_path, synthetic, seed)
    result = diff(loaded, arrays, samples=samples, seed=seed, sites=sites,
                  synthetic=synthetic)
    if json_out:
        print(json.dumps(diff_json(result), indent=2))
    else:
        console = out_console()
        for part in diff_tables(result):
            console.print(part)
    if fail_if_stochastic and not result.predict_deterministic:
        if not json_out:
            err_console().print("predict() is stochastic: exit 1", style="dim")
        raise typer.Exit(ExitCode.FINDINGS)
    if fail_if_deterministic and result.predict_deterministic:
        if not json_out:
            err_console().print("predict() is deterministic: exit 1", style="dim")
        raise typer.Exit(ExitCode.FINDINGS)
