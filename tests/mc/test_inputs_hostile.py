"""Hostile input files for mc-predict/diff: an .npz bomb, an unused bomb member, an empty file.

Members are checked from the zip directory and their .npy header before a byte is expanded,
and only the members the model needs are read (was: every member expanded, 8.2 GB for a 2 MB
file).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dropctl.cli import app
from dropctl.errors import InputDataError
from dropctl.mc.inputs import InputSpec, read_inputs

SPEC = [InputSpec("x", (None, 4), "float32")]


def _bomb_member(zf: zipfile.ZipFile, name: str, megabytes: int) -> None:
    """A float32 array of ``megabytes`` MB of zeros, streamed (never held in memory)."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (megabytes * 2**18, 1)}
    with zf.open(name, "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        zeros = bytes(2**20)
        for _ in range(megabytes):
            fh.write(zeros)


def test_npz_bomb_is_refused_before_expanding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        _bomb_member(zf, "x.npy", 256)
    assert path.stat().st_size < 2**20
    with pytest.raises(InputDataError, match="expands .*:1"):
        read_inputs(path, SPEC)


def test_unused_member_is_never_read(tmp_path: Path) -> None:
    path = tmp_path / "two.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w") as fh:
            np.lib.format.write_array(fh, np.ones((3, 4), "float32"))
        _bomb_member(zf, "unused.npy", 256)
    (x,) = read_inputs(path, SPEC)
    assert x.shape == (3, 4)


def test_header_must_fit_the_member(tmp_path: Path) -> None:
    path = tmp_path / "lie.npz"
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("x.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(
                fh, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 4)})
            fh.write(bytes(64))
    with pytest.raises(InputDataError, match="declares a .* array"):
        read_inputs(path, SPEC)


@pytest.mark.parametrize("suffix", [".npz", ".npy"])
def test_empty_input_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(InputDataError, match="cannot read"):
        read_inputs(path, SPEC)


def test_negative_seed_is_a_usage_error(samples_dir: Path) -> None:
    result = CliRunner().invoke(app, ["mc-predict", str(samples_dir / "mlp.keras"),
                                      "--synthetic", "2", "--seed", "-1"])
    assert result.exit_code == 2
    assert "--seed" in result.output and "Traceback" not in result.output
