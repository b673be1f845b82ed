"""stdout into a pipe (dropctl.cli.pipes): ``| head`` exits 141 with a silent stderr, every time;
a reader that takes everything sees the command's own exit code; ``-o -`` is stdout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, SAMPLES

RUNS = 20


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"}


def _pipeline(command: str, reader: str, runs: int) -> list[tuple[int, str]]:
    """(exit status under ``set -o pipefail``, dropctl's stderr) of ``runs`` pipelines."""
    bash = shutil.which("bash")
    assert bash, "bash is needed for set -o pipefail"
    script = f"""
set -o pipefail
for i in $(seq {runs}); do
  {sys.executable} -m dropctl {command} 2>"$TMP/err$i" | {reader} >/dev/null
  echo "$?"
done
"""
    tmp = Path(os.environ.get("PYTEST_TMP", "/tmp"))
    out = subprocess.run([bash, "-c", script], capture_output=True, text=True, cwd=ROOT,
                         env={**_env(), "TMP": str(tmp)}, timeout=600)
    assert out.returncode == 0, out.stderr
    codes = [int(c) for c in out.stdout.split()]
    errs = [(tmp / f"err{i}").read_text() for i in range(1, runs + 1)]
    return list(zip(codes, errs, strict=True))


@pytest.fixture
def pipe_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTEST_TMP", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("command", ["check sample_models/", "check sample_models/ --json",
                                     "inspect sample_models/cnn.keras",
                                     "inspect sample_models/family.h5 --all --json", "--help"])
@pytest.mark.usefixtures("pipe_tmp")
def test_head_exits_141_with_nothing_on_stderr_every_time(command: str) -> None:
    results = _pipeline(command, "head -1", RUNS)
    assert results == [(141, "")] * RUNS


@pytest.mark.usefixtures("pipe_tmp")
def test_a_reader_that_stops_after_some_lines_is_seen() -> None:
    """Not only the first line: ``head -3`` of a longer report is 141 too, every time."""
    lines = subprocess.run([sys.executable, "-m", "dropctl", "check", "sample_models/"],
                           capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=120)
    assert lines.stdout.count("\n") > 10
    assert _pipeline("check sample_models/", "head -3", 5) == [(141, "")] * 5


@pytest.mark.usefixtures("pipe_tmp")
def test_a_reader_that_takes_everything_sees_the_real_exit_code(tmp_path: Path) -> None:
    direct = subprocess.run([sys.executable, "-m", "dropctl", "check", "sample_models/"],
                            capture_output=True, cwd=ROOT, env=_env(), timeout=120)
    assert direct.returncode == 1  # sample_models holds models that fail the default policy
    for reader in ("cat", "head -n 100000"):
        assert _pipeline("check sample_models/", reader, 3) == [(1, "")] * 3
    piped = subprocess.run(["bash", "-c", f"{sys.executable} -m dropctl check sample_models/ "
                            f"| cat > {tmp_path / 'out.txt'}"], cwd=ROOT, env=_env(), timeout=120)
    assert piped.returncode == 0
    assert (tmp_path / "out.txt").read_bytes() == direct.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit"])
def test_check_output_dash_is_stdout(fmt: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "dropctl", "check", str(SAMPLES / "mlp.keras"),
            str(SAMPLES / "cnn.keras"), "--format", fmt]
    plain = subprocess.run(argv, capture_output=True, cwd=tmp_path, env=_env(), timeout=120)
    dash = subprocess.run([*argv, "-o", "-"], capture_output=True, cwd=tmp_path, env=_env(),
                          timeout=120)
    assert dash.returncode == plain.returncode == 0, dash.stderr
    def timeless(out: bytes) -> bytes:  # JUnit records the wall time of the run
        return re.sub(rb'time="[0-9.]+"', b'time=""', out)

    assert timeless(dash.stdout) == timeless(plain.stdout) and dash.stdout
    assert not (tmp_path / "-").exists()


def test_mc_predict_output_dash_prints_the_json_document(cli_runner, tmp_path: Path) -> None:
    from dropctl.cli import app

    argv = ["mc-predict", str(SAMPLES / "mlp.keras"), "--synthetic", "3", "-T", "4", "--seed", "1"]
    to_file = cli_runner.invoke(app, [*argv, "-o", str(tmp_path / "r.json")])
    assert to_file.exit_code == 0, to_file.stderr
    dash = cli_runner.invoke(app, [*argv, "-o", "-"])
    assert dash.exit_code == 0, dash.stderr
    printed, written = json.loads(dash.stdout), json.loads((tmp_path / "r.json").read_text())
    assert printed.pop("seconds") >= 0 and written.pop("seconds") >= 0  # wall time of each run
    assert printed == written and printed["arrays"]
    both = cli_runner.invoke(app, [*argv, "-o", "-", "--json"])
    assert both.exit_code == 2 and both.stdout == ""
    assert both.stderr == ("Error: --output - and --json would both print JSON on stdout: "
                           "use one\n")
