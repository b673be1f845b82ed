"""The command line as a user meets it: exit codes, stdout vs stderr, help, README in step."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dropctl import __version__
from dropctl.cli import app
from tests.conftest import ROOT, SAMPLES

README = (ROOT / "README.md").read_text()


def registered_commands() -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands}


def test_version(cli_runner) -> None:
    result = cli_runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"dropctl {__version__}"


def test_every_command_is_documented_and_every_documented_command_exists(cli_runner) -> None:
    commands = registered_commands()
    assert "inspect" in commands
    for name in commands:
        assert f"## `dropctl {name}`" in README, f"README has no section for dropctl {name}"
        result = cli_runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout, name
    documented = set(re.findall(r"^## `dropctl ([a-z-]+)`", README, flags=re.M))
    assert documented <= commands, f"README documents commands that do not exist: {documented - commands}"


def test_inspect_exit_paths(cli_runner, tmp_path: Path) -> None:
    ok = cli_runner.invoke(app, ["inspect", str(SAMPLES / "mlp.keras")])
    assert ok.exit_code == 0 and "predict() is deterministic: yes" in ok.stdout and ok.stderr == ""

    gated = cli_runner.invoke(app, ["inspect", str(SAMPLES / "frozen_merged.h5"), "--fail-on", "warning"])
    assert gated.exit_code == 1 and "DC101" in gated.stdout
    assert "2 finding(s) at or above warning" in gated.stderr
    below = cli_runner.invoke(app, ["inspect", str(SAMPLES / "frozen_merged.h5"), "--fail-on", "error"])
    assert below.exit_code == 0

    missing = cli_runner.invoke(app, ["inspect", str(tmp_path / "nope.h5")])
    assert missing.exit_code == 2 and missing.stdout == ""
    assert missing.stderr == f"Error: {tmp_path / 'nope.h5'}: no such file\n"

    bad_json = cli_runner.invoke(app, ["inspect", str(tmp_path / "nope.h5"), "--json"])
    assert bad_json.exit_code == 2 and json.loads(bad_json.stdout)["status"] == "error"
    assert bad_json.stderr.startswith("Error: ")

    usage = cli_runner.invoke(app, ["inspect", str(SAMPLES / "mlp.keras"), "--fail-on", "fatal"])
    assert usage.exit_code == 2 and "fatal" in usage.stderr


def test_json_is_pipe_clean(cli_runner) -> None:
    result = cli_runner.invoke(app, ["inspect", str(SAMPLES / "family.h5"), "--json", "--all"])
    doc = json.loads(result.stdout)
    assert doc["layers"][0]["depth"] == 0 and any(e["container"] for e in doc["layers"])


def test_installed_entry_points() -> None:
    """One real process through the console script and through python -m dropctl."""
    exe = shutil.which("dropctl", path=str(Path(sys.executable).parent))
    assert exe, "the dropctl console script is not installed in this environment"
    out = subprocess.run([exe, "inspect", str(SAMPLES / "pinned_training.keras"), "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["verdict"]["call_deterministic"] == "no"
    bad = subprocess.run([sys.executable, "-m", "dropctl", "inspect", str(SAMPLES / "README.md")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "unsupported file type '.md'" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_flag_shows_traceback(flag: str, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dropctl", flag, "inspect", str(tmp_path / "x.h5")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "ArtifactError" in out.stderr
