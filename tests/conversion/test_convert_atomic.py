"""``convert`` writes race-free and leaves nothing behind.

Two converts racing to create the same new OUT (real processes): exactly one wins, the other
exits 2 (was: both exit 0, last writer wins). A write that fails in h5py (the file-size limit
stands in for a full disk): one ``Error:`` line, no OUT, no temporary file. A temporary file left
by a killed run is removed by the next run.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from dropctl.fileio import TEMP_MARK, clean_stale_temps, publish, temp_path
from tests.support import ROOT

MLP_H5 = ROOT / "sample_models" / "mlp.h5"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _convert(src: Path, dst: Path, *extra: str, preexec=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dropctl", "convert", str(src), str(dst), "--standard", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, preexec_fn=preexec)


def test_two_racing_converts_exactly_one_wins(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    procs = [_convert(MLP_H5, out, "--no-verify") for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (loser,) = [err for code, _, err in results if code == 2]
    assert loser.startswith("Error: ") and "exists" in loser and loser.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_write_error_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    proc = _convert(MLP_H5, out, "--no-verify", preexec=_small_files)
    code = proc.wait(timeout=300)
    stdout, stderr = proc.communicate()
    assert code == 2, stderr
    (line,) = stderr.splitlines()
    assert line.startswith(f"Error: cannot write {out}")
    assert list(tmp_path.iterdir()) == []


def test_publish_never_replaces_without_force(tmp_path: Path) -> None:
    import pytest

    from dropctl.errors import UsageError

    dst = tmp_path / "m.keras"
    dst.write_bytes(b"theirs")
    tmp = temp_path(dst)
    tmp.write_bytes(b"ours")
    with pytest.raises(UsageError, match="exists"):
        publish(tmp, dst, force=False)
    assert dst.read_bytes() == b"theirs" and not tmp.exists()
    tmp = temp_path(dst)
    tmp.write_bytes(b"ours")
    publish(tmp, dst, force=True)
    assert dst.read_bytes() == b"ours" and not tmp.exists()


def test_stale_temporary_files_are_cleaned(tmp_path: Path) -> None:
    dst = tmp_path / "m.keras"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".m.keras.{dead.stdout.strip()}.abc123{TEMP_MARK}.keras"
    stale.write_bytes(b"left by kill -9")
    live = temp_path(dst)  # this process is alive: its file must stay
    other = tmp_path / f".other.keras.1.x{TEMP_MARK}.keras"
    other.write_bytes(b"not ours to judge")
    assert clean_stale_temps(dst) == [stale]
    assert live.exists() and other.exists() and not stale.exists()
