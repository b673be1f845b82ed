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
from tests.support import DOCS, ROOT, SAMPLES, doc_text

README = doc_text()
"""README.md and the docs pages: what a user reads."""


def registered_commands() -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands}


def test_version(cli_runner) -> None:
    result = cli_runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"dropctl {__version__}"


def test_every_command_is_documented_and_every_documented_command_exists(cli_runner) -> None:
    commands = registered_commands()
    assert "inspect" in commands
    for name in commands:
        guide = DOCS / "guides" / f"{name}.md"
        assert guide.exists() and f"`dropctl {name}`" in guide.read_text(), f"no guide for dropctl {name}"
        result = cli_runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Example:" in result.stdout, name
    documented = set(re.findall(r"^#+ `dropctl ([a-z-]+)`", README, flags=re.M))
    assert documented <= commands, f"the docs document commands that do not exist: {documented - commands}"


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


def test_debug_is_per_invocation(cli_runner, tmp_path: Path) -> None:
    """A --debug call must not leak into the next invocation of the same app in one process."""
    missing = str(tmp_path / "x.h5")
    first = cli_runner.invoke(app, ["--debug", "inspect", missing])
    assert first.exit_code != 0 and first.exception is not None  # traceback mode: it raised
    assert type(first.exception).__name__ == "ArtifactError"
    second = cli_runner.invoke(app, ["inspect", missing])
    assert second.exit_code == 2 and second.stderr == f"Error: {missing}: no such file\n"


def test_short_version_flag(cli_runner) -> None:
    result = cli_runner.invoke(app, ["-V"])
    assert result.exit_code == 0 and result.stdout.strip() == f"dropctl {__version__}"


_WITHOUT_KERAS = (
    "import sys\n"
    "for name in ('keras', 'tensorflow', 'tf_keras'):\n"
    "    sys.modules[name] = None  # as in a core-only install: `import keras` fails\n"
    "from dropctl.cli import main\n"
    "main(sys.argv[1:])\n"
)


@pytest.mark.parametrize("argv", [
    ["mc-predict", "sample_models/cnn.keras", "--synthetic", "2"],
    ["diff", "sample_models/cnn.keras"],
    ["convert", "sample_models/cnn.keras", "OUT.keras", "--perma"],
    ["check", "sample_models/cnn.keras", "--probe"],
])
def test_runtime_commands_without_keras_name_the_extra(argv: list[str], tmp_path: Path) -> None:
    argv = [str(tmp_path / a) if a == "OUT.keras" else a for a in argv]
    out = subprocess.run([sys.executable, "-c", _WITHOUT_KERAS, *argv], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]
    assert errors and all("pip install 'dropctl[tensorflow]'" in e for e in errors), out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "OUT.keras").exists()


def test_static_commands_work_without_keras() -> None:
    out = subprocess.run([sys.executable, "-c", _WITHOUT_KERAS, "check", "sample_models",
                          "--format", "json", "--no-config"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert doc["schema"] == "dropctl.check" and doc["summary"]["errors"] == 0


def test_every_json_document_carries_its_schema(cli_runner, tmp_path: Path) -> None:
    docs = {
        "inspect": cli_runner.invoke(app, ["inspect", str(SAMPLES / "mlp.keras"), "--json"]),
        "check": cli_runner.invoke(app, ["check", str(SAMPLES / "mlp.keras"), "--format", "json",
                                         "--no-config"]),
        "convert": cli_runner.invoke(app, ["convert", str(SAMPLES / "mlp.keras"),
                                           str(tmp_path / "o.keras"), "--strip", "--dry-run",
                                           "--json"]),
    }
    for kind, result in docs.items():
        doc = json.loads(result.stdout)
        assert doc["schema"] == f"dropctl.{kind}" and doc["schema_version"] == 1, kind
        assert doc["dropctl_version"] == __version__
    assert f"`dropctl.{'inspect'}`" in README and "schema_version" in README


def test_readme_reference_tables_match_the_rule_catalogue() -> None:
    """The docs' finding-code, check-rule and CVE tables are generated from dropctl/rules.py."""
    from dropctl.render.catalogue import cve_table, findings_table, policy_table
    from dropctl.rules import FINDINGS, POLICY_RULES

    assert f"<!-- generated:findings -->\n{findings_table()}\n<!-- /generated -->" in README
    assert f"<!-- generated:policy -->\n{policy_table()}\n<!-- /generated -->" in README
    assert f"<!-- generated:cves -->\n{cve_table()}\n<!-- /generated -->" in README
    assert all(f"| {code} |" in README for code in FINDINGS)
    assert all(f"| {r.id} |" in README for r in POLICY_RULES)
