"""``dropctl mc-predict`` and ``dropctl diff``: options -> ``dropctl.mc_predict`` / ``dropctl.diff``
(the public API over :mod:`dropctl.mc.run` and :mod:`dropctl.mc.diff`) -> render."""

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
from dropctl.errors import ExitCode, InputDataError, UsageError
from dropctl.fileio import clean_stale_temps, clean_stale_temps_in
from dropctl.mc.evaluation import DEFAULT_STD_FLOOR

ModelArg = Annotated[Path, typer.Argument(
    help="A .keras or .h5/.hdf5 model file, a SavedModel or preset directory, or a "
    "*.weights.h5 with --config.", show_default=False)]
InputOpt = Annotated[Path | None, typer.Option(
    "--input", "-i", help="Inputs: .npy, .npz (arrays named after the model inputs) or .csv; with "
                          "--output-dir also a directory or glob of .npy/.npz/.parquet shards.")]
SyntheticOpt = Annotated[int | None, typer.Option(
    "--synthetic", metavar="N", help="Draw N seeded inputs from the model's input spec.")]
SamplesOpt = Annotated[int, typer.Option("--samples", "-T", help="Stochastic passes T.")]
BatchOpt = Annotated[int | None, typer.Option(
    "--batch-size", help="Rows (input copies) per compiled forward pass [default: from a 256 MB "
                         "activation budget].")]


def _check_inputs(input_path: Path | None, synthetic: int | None) -> None:
    if input_path is not None and synthetic is not None:
        raise UsageError("give either --input or --synthetic, not both")
    if input_path is None and synthetic is None:
        raise UsageError("no inputs: give --input FILE or --synthetic N")


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
        "--output", "-o", help="Write arrays to FILE.npz, .json or .csv ('-': the .json "
                             "document on stdout).")] = None,
    save_samples: Annotated[bool, typer.Option(
        "--save-samples", help="Keep all T outputs (in the .npz/.json --output).")] = False,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="Labels (.npy/.csv): class ids for a classifier (accuracy, NLL, Brier, "
                         "ECE, selective prediction), targets for a regressor (RMSE, NLL, "
                         "interval coverage).")] = None,
    ood: Annotated[Path | None, typer.Option(
        "--ood", metavar="FILE", help="Out-of-distribution inputs (formats as --input): AUROC, "
                                      "AUPR, FPR95 of every uncertainty score.")] = None,
    synthetic_ood: Annotated[int | None, typer.Option(
        "--synthetic-ood", metavar="N",
        help="Use N seeded standard-normal draws as OOD inputs (a smoke test).")] = None,
    rank_by: Annotated[str | None, typer.Option(
        "--rank-by", metavar="[OUTPUT:]SCORE",
        help="Active learning: list the --top inputs with the highest uncertainty under SCORE "
             "(max_prob, entropy, mutual_information, variation_ratio, max_prob_deterministic, "
             "entropy_deterministic; std for regression).")] = None,
    top: Annotated[int | None, typer.Option(
        "--top", metavar="K", help="How many inputs --rank-by lists [default: 10].")] = None,
    std_floor: Annotated[float, typer.Option(
        "--interval-std-floor", metavar="S",
        help="Floor on the MC std for regression NLL and intervals.")] = DEFAULT_STD_FLOOR,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Uncertainty histogram and reliability diagram to FILE.png; with "
                       "--labels/--ood also FILE-risk-coverage.png, FILE-ood-roc.png, "
                       "FILE-intervals.png; with --calibration --labels FILE-calibration.png.")
    ] = None,
    per_sample: Annotated[bool, typer.Option("--per-sample", help="One row per input.")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="Score every shard of --input into DIR: one result per shard plus "
                             "manifest.json; re-runs skip finished shards.")] = None,
    use_ray: Annotated[bool, typer.Option(
        "--ray", help="Run --output-dir on a Ray cluster (pip install 'dropctl[ray]').")] = False,
    address: Annotated[str | None, typer.Option(
        "--address", help="Ray cluster address: auto, HOST:6379 (in the cluster; Ray Client "
                          "ray:// is not supported by Ray Data: use ray job submit) "
                          "[default: a local cluster].")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Ray actors, each loading the model once [default: 2].")] = None,
    cpus_per_worker: Annotated[int, typer.Option(
        "--cpus-per-worker", help="CPUs (TensorFlow threads) per Ray actor.")] = 1,
    gpus_per_worker: Annotated[float, typer.Option(
        "--gpus-per-worker", min=0.0, help="GPUs per Ray actor; fractions share a GPU "
                                           "(0.5: two actors per GPU).")] = 0.0,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", metavar="CALIB.json",
        help="Apply a dropctl calibrate file: calibrated probabilities and prediction sets, or "
             "scaled std and intervals; with --labels, coverage and ECE/NLL before/after.")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    custom_objects: CustomObjectsOpt = None,
) -> None:
    """Monte Carlo dropout: T passes with only the stochastic layers on (BatchNorm in inference mode)."""
    import dropctl
    from dropctl.render.calibration import calibrated_arrays, check_json, check_tables
    from dropctl.render.evaluation import evaluation_arrays, evaluation_json, evaluation_tables
    from dropctl.render.mc import mc_file_json, mc_json, mc_tables, write_mc_file

    if output_dir is not None:
        from dropctl.cli.mc_shards import run_shards_command

        if custom_objects:
            raise UsageError("--custom-objects is not supported with --output-dir (each shard "
                             "worker loads the model itself); score without --output-dir")

        run_shards_command(model, input_path, output_dir, samples=samples, seed=seed, sites=sites,
                           batch_size=batch_size, use_ray=use_ray, address=address,
                           workers=workers, cpus_per_worker=cpus_per_worker,
                           gpus_per_worker=gpus_per_worker, json_out=json_out,
                           quiet=quiet, conflicts={
                               "--synthetic": synthetic is not None, "--output": output is not None,
                               "--until-stable (it stops on the whole input)":
                                   until_stable is not None,
                               "--save-samples": save_samples, "--labels": labels is not None,
                               "--plot": plot is not None, "--per-sample": per_sample,
                               "--ood": ood is not None,
                               "--synthetic-ood": synthetic_ood is not None,
                               "--rank-by": rank_by is not None, "--top": top is not None},
                           calibration=calibration)
        return
    if use_ray or address is not None or workers is not None or gpus_per_worker:
        raise UsageError("--ray, --address, --workers and --gpus-per-worker need --output-dir")

    to_stdout = output is not None and str(output) == "-"  # -o -: the .json document on stdout
    if to_stdout and json_out:
        raise UsageError("--output - and --json would both print JSON on stdout: use one")
    if output is not None and not to_stdout and output.suffix.lower() not in (
            ".npz", ".json", ".csv"):
        raise InputDataError(f"unsupported --output format '{output.suffix}' "
                             "(use .npz, .json or .csv)")
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputDataError("--plot writes a .png file")
    _check_inputs(input_path, synthetic)
    if output is not None and not to_stdout:  # leftovers of a run killed while writing (kill -9)
        clean_stale_temps(output)
    if plot is not None:
        clean_stale_temps_in(plot.parent)
    hints = not quiet and not json_out
    with progress_bar("passes", enabled=hints) as callback:
        report = dropctl.mc_predict(
            model, input_path, samples=samples, seed=seed, sites=sites, batch_size=batch_size,
            until_stable=until_stable, save_samples=save_samples, synthetic=synthetic,
            labels=labels, ood=ood, synthetic_ood=synthetic_ood, rank_by=rank_by, top=top,
            std_floor=std_floor, calibration=calibration, config=config,
            custom_objects=custom_objects or (), progress=callback)
    fit, ev, checks = report.calibration, report.evaluation, report.calibration_checks
    if hints and fit is not None and (fit.samples, fit.seed) != (report.samples_requested,
                                                                  report.seed):
        err_console().print(f"note: the calibration was fitted with T={fit.samples}, seed "
                            f"{fit.seed}; this run uses T={report.samples_requested}, seed "
                            f"{report.seed}", style="dim")
    calib_doc = check_json(checks, fit)
    if output is not None:
        per_input, other = evaluation_arrays(report, report.ood, ev)
        per_input.update(calibrated_arrays(report.calibrated, len(report.outputs) > 1))
        extra_doc = {**evaluation_json(ev), **calib_doc}
        if to_stdout:
            print(mc_file_json(report, report.reliability, per_input=per_input, other=other,
                               extra_doc=extra_doc))
        else:
            write_mc_file(report, output, report.reliability, per_input=per_input, other=other,
                          extra_doc=extra_doc,
                          rows=ev.ranking.index if ev is not None and ev.ranking is not None
                          else None)
    written = []
    if plot is not None:
        from dropctl.render.plots import write_plots

        written = write_plots(report, plot, dict(report.labels), ev)
        if checks:
            from dropctl.render import calibration_plots

            written += calibration_plots.write_calibration_plots(
                checks, calibration_plots.calibration_plot_path(plot), "test data (--labels)")
    if to_stdout:
        pass  # stdout holds the --output document; the tables would break it
    elif json_out:
        doc = mc_json(report, report.reliability, per_sample)
        doc.update(evaluation_json(ev))
        doc.update(calib_doc)
        print(json.dumps(doc, indent=2))
    else:
        console = out_console()
        for part in [*mc_tables(report, report.reliability, per_sample),
                     *(evaluation_tables(ev) if ev is not None else []),
                     *(check_tables(checks) if checks else [])]:
            console.print(part)
    if hints:
        hint = err_console()
        for r in report.rescues:
            hint.print(f"loaded with a rescue: {r}", style="dim")
        if output is not None and not to_stdout:
            hint.print(f"wrote {output}", style="dim")
        for p in written:
            hint.print(f"wrote {p}", style="dim")


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
    config: ConfigOpt = None,
    custom_objects: CustomObjectsOpt = None,
) -> None:
    """Deterministic vs stochastic: predict() twice, model(x) twice, then T MC passes."""
    import dropctl
    from dropctl.render.mc import diff_json, diff_tables

    if fail_if_stochastic and fail_if_deterministic:
        raise UsageError("--fail-if-stochastic and --fail-if-deterministic contradict each other")
    if input_path is None and synthetic is None:
        synthetic = 16
    _check_inputs(input_path, synthetic)
    result = dropctl.diff(model, input_path, samples=samples, seed=seed, sites=sites,
                          synthetic=synthetic, config=config,
                          custom_objects=custom_objects or ())
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
