"""The HDF5 reader's wall clock counts stalls, not work: a real file that takes longer than the
allowance to read, but keeps making progress, is read (keras_hub's tiny EfficientNet was refused
as "took over 10 s" on the shared 2-core machine), while the whole read stays bounded.

The file is a real Keras model with 1,200 weight datasets; the read runs in a fresh process
with the stall allowance cut to 0.3 s (``DROPCTL_H5_SECONDS``) while every core is busy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, LazyModule

keras = LazyModule("keras")

READ = """
import json, sys, time
from dropctl.reader.h5read import read_h5
from dropctl.errors import ArtifactError
start = time.monotonic()
try:
    n = len(read_h5(sys.argv[1], member="model.weights.h5", scan_weights=True).datasets)
    out = {"datasets": n}
except ArtifactError as exc:
    out = {"error": str(exc)}
out["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def many_datasets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Sequential of 600 small Dense layers (a kernel and a bias each), saved by Keras."""
    model = keras.Sequential([keras.Input((4,)), *(keras.layers.Dense(4) for _ in range(600))])
    path = tmp_path_factory.mktemp("h5_progress") / "deep.keras"
    model.save(path)
    return path


def _read(path: Path, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True,
                          text=True, check=True, cwd=ROOT, env={**os.environ, **env})
    return json.loads(done.stdout)


def _per_byte(path: Path) -> float:
    return path.stat().st_size / (2 * 1024 * 1024)  # h5read.H5_WALL_BYTES_PER_SECOND


@pytest.mark.usefixtures("busy_cores")
def test_a_real_file_slower_than_the_allowance_is_read_while_it_progresses(
        many_datasets: Path) -> None:
    got = _read(many_datasets, DROPCTL_H5_SECONDS="0.3")
    assert got.get("datasets") == 1200, got
    allowance = 0.3 + _per_byte(many_datasets)
    if got["seconds"] <= allowance:
        pytest.skip(f"read in {got['seconds']:.2f} s, within the {allowance:.2f} s allowance: "
                    "this machine is too fast to show the difference")


@pytest.mark.usefixtures("busy_cores")
def test_the_whole_read_is_still_bounded(many_datasets: Path) -> None:
    """The backstop for the whole read holds however steady the progress: with the stall
    allowance at 100 s and the backstop cut to a quarter of a second in all (the per-byte
    allowance is added to DROPCTL_H5_MAX_SECONDS, so it is subtracted here), the same read,
    which takes about a second on busy cores, is refused.

    The backstop starts when the child is ready, so the test's own clock (which also counts
    the fork and the file's open) cannot say whether the read beat it: only a completed read
    says so. CI once read this file in 1.13 s against a 1.07 s per-byte allowance and passed
    it, because the reader's clock had not reached 1.07 s."""
    backstop = 0.25
    got = _read(many_datasets, DROPCTL_H5_SECONDS="100",
                DROPCTL_H5_MAX_SECONDS=str(backstop - _per_byte(many_datasets)))
    if "datasets" in got:
        pytest.skip(f"read all of it within the {backstop} s backstop "
                    f"({got['seconds']:.2f} s with the fork): this machine is too fast")
    assert "reading its HDF5 metadata took over" in got["error"], got
    assert got["error"].endswith("s in all (corrupt or hostile file); refusing it")
