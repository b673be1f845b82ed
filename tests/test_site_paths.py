"""One walker, one path scheme: inspect, mc-predict and convert name every site identically.

Runs the three commands' JSON output on every sample (the CLI as a user runs it) and compares
the site paths, in order. A file without weights cannot run, so mc-predict must refuse it
with exit 2 instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dropctl.cli import app
from tests.support import SAMPLES, sample_files

PATHS = [*sample_files(), SAMPLES / "seed_lstm_savedmodel", SAMPLES / "mlp_pair",
         SAMPLES / "bert_tiny_preset"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_site_paths_agree_across_commands(cli_runner, path: Path, tmp_path: Path) -> None:
    inspected = cli_runner.invoke(app, ["inspect", str(path), "--json"])
    assert inspected.exit_code == 0, inspected.stderr
    doc = json.loads(inspected.stdout)
    sites = [s["path"] for s in doc["sites"]]

    planned = cli_runner.invoke(app, ["convert", str(path), str(tmp_path / "out.keras"),
                                      "--perma", "--dry-run", "--json"])
    assert planned.exit_code == 0, planned.stderr
    assert [c["path"] for c in json.loads(planned.stdout)["changes"]] == sites

    mc = cli_runner.invoke(app, ["mc-predict", str(path), "--synthetic", "1", "--samples", "2",
                                 "--json"])
    if not doc["model"]["has_weights"]:
        assert mc.exit_code == 2 and "no weights" in mc.stderr
        return
    assert mc.exit_code == 0, mc.stderr
    assert [s["path"] for s in json.loads(mc.stdout)["sites"]] == sites
