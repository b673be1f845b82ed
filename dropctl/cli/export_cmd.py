"""``dropctl export``: a SavedModel, ONNX, LiteRT or OpenVINO file whose one call does MC dropout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dropctl.cli._app import (
    CustomObjectsOpt,
    JsonOpt,
    QuietOpt,
    SeedOpt,
    SitesOpt,
    err_console,
    handle_errors,
    out_console,
)


@handle_errors
def export_command(
    src: Annotated[Path, typer.Argument(
        metavar="IN", help="A .keras or .h5/.hdf5 model (anything mc-predict runs).",
        show_default=False)],
    dst: Annotated[Path, typer.Argument(
        metavar="OUT", help="Where to write: a directory (savedmodel), *.onnx, *.tflite or *.xml (openvino; "
        "its weights go to *.bin beside it).",
        show_default=False)],
    fmt: Annotated[str, typer.Option(
        "--format", "-f", metavar="savedmodel|onnx|litert|openvino",
        help="Deployment format; each is verified in its own runtime.")] = "savedmodel",
    mc: Annotated[int | None, typer.Option(
        "--mc", metavar="T", help="One call runs T stochastic passes inside the graph and "
        "returns mean, std (and entropy, mutual_information, variation_ratio for "
        "probabilities).")] = None,
    perma: Annotated[bool, typer.Option(
        "--perma", help="Each call is one stochastic sample (only the stochastic sites on).")
    ] = False,
    standard: Annotated[bool, typer.Option(
        "--standard", help="Dropout off: the graph holds no random op.")] = False,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", metavar="CALIB.json",
        help="With --mc: bake a `dropctl calibrate` file of IN into OUT: it also returns "
        "calibrated, set (classifier) or calibrated, lower, upper (regressor), as "
        "mc-predict --calibration.")] = None,
    sites: SitesOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing OUT.")] = False,
    no_verify: Annotated[bool, typer.Option(
        "--no-verify", help="Skip running OUT in its runtime against mc-predict.")] = False,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
    custom_objects: CustomObjectsOpt = None,
) -> None:
    """Export IN for serving with Monte Carlo dropout inside the graph (or provably off).

    BatchNormalization stays in inference mode, only the stochastic sites act, and with
    --mc the layers before the first site run once per input. OUT is written only after
    its own runtime (tf.saved_model, onnxruntime, the LiteRT interpreter, OpenVINO) verified it:
    exit 1 and nothing written otherwise.
    """
    import dropctl
    from dropctl.deploy.plan import pick_mode
    from dropctl.render.export import export_dict, render_signature, summary_line

    mode, samples = pick_mode(mc, perma, standard)
    if not quiet and not json_out and sys.stderr.isatty():
        err_console().print(f"exporting {src} -> {dst} (loads TensorFlow)...", style="dim",
                            soft_wrap=True)
    report = dropctl.export(src, dst, format=fmt, mode=mode.value, samples=samples,
                            sites=sites, force=force, verify=not no_verify, seed=seed,
                            custom_objects=custom_objects or (), calibration=calibration)
    if json_out:
        print(json.dumps(export_dict(report), indent=2))
        return
    out_console().print(render_signature(report))
    out_console().print(summary_line(report), soft_wrap=True)
    if not quiet:
        for warning in report.warnings:
            err_console().print(f"warning: {warning}", style="yellow", soft_wrap=True)
