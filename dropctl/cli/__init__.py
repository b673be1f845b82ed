"""The ``dropctl`` command line: options -> core call -> renderer -> exit code.

This package is the only place that imports Typer. Each command family lives in its own
module as a plain function; :data:`COMMANDS` below is the one table that names them, in
``dropctl --help`` order, with their help panel and examples (the ``hf`` CLI's
``app.command(examples=...)(fn)``): the examples write each command's ``--help`` epilog and the
generated CLI reference (:mod:`dropctl.cli.reference`). :func:`dropctl.cli._app.handle_errors`
turns the core's :class:`dropctl.errors.DropctlError` into one ``Error: ...`` line on stderr
and exit code 2, for every command in one place.
"""

from __future__ import annotations

import sys

import typer

from dropctl.cli import calibrate_cmd, check_cmd, convert_cmd, export_cmd, inspect_cmd, mc_cmd
from dropctl.cli._app import Command, Example, _debug, app, fail, register

_STATIC = "Read the file (static: no TensorFlow)"
_SAMPLE = "Run the model (loads TensorFlow)"
_REWRITE = "Rewrite and deploy (loads TensorFlow)"
_GATE = "Gate in CI"

COMMANDS: tuple[Command, ...] = (
    Command("inspect", inspect_cmd.inspect_command, _STATIC, (
        Example("dropctl inspect model.keras --all",
                "Every stochastic layer and when it acts, then every layer as a tree"),
    )),
    Command("mc-predict", mc_cmd.mc_predict_command, _SAMPLE, (
        Example("dropctl mc-predict sample_models/digits.keras -i sample_models/digits_inputs.npy "
                "--labels sample_models/digits_labels.npy --ood sample_models/digits_ood.npy",
                "50 passes over the sample digits, scored against their labels and against "
                "out-of-distribution inputs"),
        Example("dropctl mc-predict model.keras --input 'shards/*.npy' --output-dir scores --ray",
                "Every shard scored into scores/ on a Ray cluster; a re-run skips finished shards"),
    )),
    Command("diff", mc_cmd.diff_command, _SAMPLE, (
        Example("dropctl diff model.h5 --fail-if-stochastic",
                "Exit 1 when predict() of the loaded model is not deterministic"),
    )),
    Command("calibrate", calibrate_cmd.calibrate_command, _SAMPLE, (
        Example("dropctl calibrate sample_models/digits.keras -i cal_x.npy --labels cal_y.npy "
                "-o calib.json --coverage 0.9 --score aps",
                "Temperature scaling and 90% APS prediction sets fitted on held-out data"),
    )),
    Command("convert", convert_cmd.convert_command, _REWRITE, (
        Example("dropctl convert model.h5 model_mc.keras --perma --sites '*dropout*'",
                "Dropout on at inference too, at the sites whose path contains dropout"),
        Example("dropctl convert model.keras calibrated.keras --perma --calibration calib.json",
                "One predict() of OUT returns the calibrated Monte Carlo outputs"),
    )),
    Command("export", export_cmd.export_command, _REWRITE, (
        Example("dropctl export cnn.keras cnn_mc.onnx --format onnx --mc 50",
                "An ONNX file whose one call runs 50 passes, verified in onnxruntime"),
        Example("dropctl export digits.keras digits.tflite -f litert --mc 50 "
                "--calibration calib.json",
                "A LiteRT file returning calibrated probabilities and conformal sets"),
    )),
    Command("check", check_cmd.check_command, _GATE, (
        Example("dropctl check models/ --format sarif --output dropctl.sarif",
                "Every model under models/ against the policy, as a SARIF report"),
    ), help=check_cmd._HELP),
)
"""Every ``dropctl`` command, in ``dropctl --help`` order: the one place commands are attached."""

register(app, COMMANDS)

__all__ = ["COMMANDS", "app", "fail", "main"]


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
