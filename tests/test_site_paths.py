"""One walker, one path scheme: inspect, mc-predict, diff and convert name every site identically.

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

    diff = cli_runner.invoke(app, ["diff", str(path), "--synthetic", "1", "--samples", "2",
                                   "--json"])
    assert diff.exit_code in (0, 1), diff.stderr
    assert [s["path"] for s in json.loads(diff.stdout)["sites"]] == sites


# ---- one --sites matcher, one Bidirectional scheme across formats ---------------------------
BIDI_FILES = ["tfkeras/text.h5", "tfkeras/text.keras", "family.h5", "family.keras"]
GLOBS = ["*backward_lstm", "*/bidirectional/lstm", "bidirectional/*", "*dropout*"]


@pytest.fixture(scope="module")
def bidi_models() -> dict[str, object]:
    from dropctl.runtime.loader import load

    return {name: load(SAMPLES / name).model for name in BIDI_FILES}


@pytest.mark.parametrize("name", BIDI_FILES)
def test_bidirectional_is_named_forward_and_backward_in_every_format(name: str) -> None:
    import dropctl

    paths = [s.path for s in dropctl.inspect(SAMPLES / name).sites]
    wrapped = [p for p in paths if "/bidirectional/" in p]
    root = paths[0].split("/", 1)[0]
    assert wrapped == [f"{root}/bidirectional/forward_lstm", f"{root}/bidirectional/backward_lstm"]


@pytest.mark.parametrize("glob", GLOBS)
@pytest.mark.parametrize("name", BIDI_FILES)
def test_a_sites_glob_selects_the_same_sites_in_inspect_and_mc_predict(
        name: str, glob: str, bidi_models: dict[str, object], cli_runner) -> None:
    from dropctl.mc.engine import Engine

    r = cli_runner.invoke(app, ["inspect", str(SAMPLES / name), "--sites", glob, "--json"])
    assert r.exit_code == 0, r.stderr
    listed = [s["path"] for s in json.loads(r.stdout)["sites"]]
    engine = Engine(bidi_models[name], sites=glob)  # selection only: nothing runs
    assert [s.path for s in engine.sites if s.selected] == listed
    if glob == "*backward_lstm":
        assert [p.rsplit("/", 1)[1] for p in listed] == ["backward_lstm"]
    if glob == "*/bidirectional/lstm":  # the stored Keras 2 name selects both directions
        assert [p.rsplit("/", 1)[1] for p in listed] == ["forward_lstm", "backward_lstm"]


def test_convert_on_one_direction_of_a_keras2_bidirectional_converts_both_and_says_so(
        cli_runner, tmp_path: Path) -> None:
    r = cli_runner.invoke(app, ["convert", str(SAMPLES / "tfkeras/text.h5"),
                                str(tmp_path / "o.keras"), "--strip", "--dry-run", "--json",
                                "--sites", "*backward_lstm"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [c["path"] for c in doc["changes"]] == ["text/bidirectional/forward_lstm",
                                                   "text/bidirectional/backward_lstm"]
    assert any("one config for both directions" in w for w in doc["warnings"])
    r = cli_runner.invoke(app, ["convert", str(SAMPLES / "family.keras"),
                                str(tmp_path / "f.keras"), "--strip", "--dry-run", "--json",
                                "--sites", "*backward_lstm"])
    assert [c["path"] for c in json.loads(r.stdout)["changes"]] == [
        "family/bidirectional/backward_lstm"]


def test_inspect_sites_that_match_nothing_is_one_error_line(cli_runner) -> None:
    r = cli_runner.invoke(app, ["inspect", str(SAMPLES / "cnn.keras"), "--sites", "*nothing*"])
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: --sites '*nothing*' matches no stochastic site (sites: "
                                "cnn/dropout, cnn/dropout_1, cnn/dropout_2)")
