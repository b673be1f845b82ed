"""convert's contracts: a ``--perma`` that makes nothing stochastic fails and leaves nothing,
and written files get the permissions the umask gives (Keras' own 0666 & ~umask)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import dropctl
from dropctl.cli import app
from dropctl.errors import VerificationError
from tests.support import SAMPLES


@pytest.mark.parametrize("args", [("--perma",), ("--perma", "--rate", "0"),
                                  ("--perma", "--no-verify")])
def test_noop_perma_fails_and_leaves_nothing(cli_runner, tmp_path: Path, args) -> None:
    src = "no_dropout.keras" if "--rate" not in args else "mlp.keras"
    out = tmp_path / "out.keras"
    r = cli_runner.invoke(app, ["convert", str(SAMPLES / src), str(out), *args])
    assert r.exit_code == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: --perma would change nothing"), r.stderr
    assert r.stdout == "" or "Error" not in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_noop_perma_names_the_sites_it_could_not_convert(tmp_path: Path) -> None:
    """A file whose only sites have no always-on version (here: rate 0 everywhere)."""
    with pytest.raises(VerificationError, match="would change nothing"):
        dropctl.convert(SAMPLES / "mlp.keras", tmp_path / "o.keras", mode="perma", rate=0.0)
    assert list(tmp_path.iterdir()) == []


def test_written_file_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        out = tmp_path / "std.keras"
        dropctl.convert(SAMPLES / "mlp.keras", out, mode="standard")
        assert out.stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        out2 = tmp_path / "std2.h5"
        dropctl.convert(SAMPLES / "mlp.keras", out2, mode="strip")
        assert out2.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_report_files_follow_the_umask(tmp_path: Path) -> None:
    from dropctl.fileio import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "r.json", "{}")
        assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
