"""The ``dropctl export`` command line: exit codes and one-line errors (static paths first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropctl.cli import app
from tests.support import SAMPLES

runner = CliRunner()


@pytest.mark.parametrize("args, message", [
    (["--mc", "5", "--perma"], "pick exactly one of --mc T, --perma or --standard"),
    ([], "pick exactly one of --mc T, --perma or --standard"),
    (["--mc", "1"], "--mc T needs 2 <= T <= 4096"),
])
def test_mode_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", str(SAMPLES / "cnn.keras"), str(tmp_path / "o.onnx"),
                                 "--format", "onnx", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}")
    assert result.stdout == ""


def test_wrong_extension_is_refused_before_tensorflow(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", str(SAMPLES / "cnn.keras"), str(tmp_path / "o.bin"),
                                 "--format", "litert", "--mc", "4"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: OUT for --format litert must end in .tflite, "
                                     "got o.bin")


def test_export_onnx_prints_the_verification_line(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "bn.onnx"
    result = runner.invoke(app, ["export", str(SAMPLES / "bn_dropout.keras"), str(out),
                                 "--format", "onnx", "--mc", "8"])
    assert result.exit_code == 0, result.stderr
    assert "verified in onnxruntime 1." in result.stdout and out.is_file()
    assert "samples afresh (RandomUniformLike)" in result.stdout
    again = runner.invoke(app, ["export", str(SAMPLES / "bn_dropout.keras"), str(out),
                                "--format", "onnx", "--mc", "8"])
    assert again.exit_code == 2 and "exists; pass --force" in again.stderr


@pytest.mark.parametrize("module, extra", [
    ("tf2onnx", "onnx"), ("onnxruntime", "onnx"), ("onnx", "onnx"),
    ("ai_edge_litert.interpreter", "litert"), ("openvino", "openvino")])
def test_a_missing_runtime_names_its_extra(module: str, extra: str) -> None:
    from dropctl.runtime.imports import missing

    message = str(missing(module, "dropctl export"))
    assert message.endswith(f"pip install 'dropctl[{extra}]'")
    assert "\n" not in message


def test_optional_module_raises_the_missing_dependency_error() -> None:
    from dropctl.errors import MissingDependencyError
    from dropctl.runtime.imports import optional_module

    with pytest.raises(MissingDependencyError, match="not installed"):
        optional_module("dropctl_no_such_runtime_23", "dropctl export")
