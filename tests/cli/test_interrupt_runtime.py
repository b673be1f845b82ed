"""Ctrl-C and kill -9 in the commands that load TensorFlow and write files.

Ctrl-C: real ``dropctl`` processes get SIGINT on their whole process group (as from a terminal)
once TensorFlow is being mapped into them (import, model load) and, for mc-predict, later in
the Monte Carlo loop; each must end with exit 130, exactly ``Error: interrupted`` on stderr (no
traceback, no "Fatal Python error"), no temporary file, no output file and no process left.
The systematic sweep over 40 points per command is ``bench/interrupt_faults.py``.

kill -9 leaves at most a temporary file named ``.<OUT>.<pid>.<random>.dropctl-tmp<ext>``; the
next run of the same command removes it (the file is made here with the id of a process that
has ended, which is exactly what a killed run leaves).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dropctl.fileio import TEMP_MARK, remove_own_temps, temp_owner, temp_path
from tests.cli.test_interrupt import _group
from tests.support import ROOT, SAMPLES

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}

pytestmark = pytest.mark.skipif(not Path("/proc/self/maps").exists(),
                                reason="needs /proc to see TensorFlow being loaded")


def _tensorflow_mapped(pid: int) -> bool:
    try:
        return "_pywrap_tensorflow_internal" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def _interrupt(argv: list[str], cwd: Path, after_tf: float) -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-m", "dropctl", *argv], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _tensorflow_mapped(proc.pid) and proc.poll() is None:
            assert time.monotonic() < deadline, "TensorFlow never loaded"
            time.sleep(0.02)
        time.sleep(after_tf)
        assert proc.poll() is None, "the command ended before the interrupt"
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:  # a run that ignored Ctrl-C must not outlive the test
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.2)
    assert _group(proc.pid) == [], "a process outlived the run"
    return proc.returncode, stderr


@pytest.mark.parametrize(("argv", "after_tf"), [
    (["convert", str(SAMPLES / "cnn.keras"), "out.keras", "--perma"], 0.0),  # importing TF
    (["convert", str(SAMPLES / "cnn.h5"), "out.h5", "--perma"], 2.5),
    (["mc-predict", str(SAMPLES / "digits.keras"), "-i", str(SAMPLES / "digits_inputs.npy"),
      "--samples", "1000000", "--output", "out.npz"], 6.0),  # in the Monte Carlo loop
    (["diff", str(SAMPLES / "mlp.keras"), "--samples", "1000000"], 1.0),
    (["check", "--no-config", "--probe", str(SAMPLES / "cnn.keras"), "--output", "out.json"],
     0.5),
], ids=["convert-keras", "convert-h5", "mc-predict", "diff", "check-probe"])
def test_ctrl_c_in_a_runtime_command(argv: list[str], after_tf: float, tmp_path: Path) -> None:
    code, stderr = _interrupt(argv, tmp_path, after_tf)
    assert (code, stderr) == (130, "Error: interrupted\n")
    assert list(tmp_path.iterdir()) == [], "an output or temporary file was left"


# ---- kill -9: the next run removes what a killed run left ---------------------------------------


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _leftover(out: Path, pid: int) -> Path:
    tmp = out.parent / f".{out.name}.{pid}.k1ll3d{TEMP_MARK}{out.suffix}"
    tmp.write_bytes(b"half a file, left by kill -9")
    return tmp


def _dropctl(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dropctl", *argv], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def test_the_next_run_removes_what_kill_9_left(tmp_path: Path) -> None:
    dead = _dead_pid()
    npz, report = tmp_path / "scores.v2.npz", tmp_path / "report.json"
    left = [_leftover(npz, dead), _leftover(report, dead)]
    done = _dropctl("mc-predict", str(SAMPLES / "mlp.keras"), "--synthetic", "2", "--samples",
                    "2", "--output", npz.name, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _dropctl("check", "--no-config", str(SAMPLES / "mlp.keras"), "--format", "json",
                    "--output", report.name, "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in left)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "scores.v2.npz"]
    json.loads(report.read_text())


def test_convert_removes_a_killed_runs_file_even_when_out_exists(tmp_path: Path) -> None:
    out = tmp_path / "out.keras"
    out.write_bytes(b"finished by the killed run after all")
    left = _leftover(out, _dead_pid())
    done = _dropctl("convert", str(SAMPLES / "mlp.keras"), out.name, "--perma", cwd=tmp_path)
    assert done.returncode == 2 and "exists" in done.stderr
    assert not left.exists() and out.read_bytes() == b"finished by the killed run after all"


def test_output_dir_removes_a_killed_runs_files(tmp_path: Path) -> None:
    shards, scores = tmp_path / "shards", tmp_path / "scores"
    shards.mkdir()
    scores.mkdir()
    np.save(shards / "part0.npy", np.load(SAMPLES / "digits_inputs.npy")[:8])
    dead = _dead_pid()
    left = [_leftover(scores / "part0.npz", dead), _leftover(scores / "manifest.json", dead)]
    mine = temp_path(scores / "other.npz")  # a live process's file (this test's) stays
    done = _dropctl("mc-predict", str(SAMPLES / "digits.keras"), "-i", "shards", "--output-dir",
                    "scores", "--samples", "2", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not any(p.exists() for p in left) and mine.exists()
    assert sorted(p.name for p in scores.iterdir()) == sorted(["manifest.json", "part0.npz",
                                                               mine.name])


# ---- the names ------------------------------------------------------------------------------------


def test_temp_owner_reads_the_pid_from_the_right() -> None:
    assert temp_owner(f".model.v1.2.keras.4242.ab_c9{TEMP_MARK}.keras") == 4242
    assert temp_owner(f".123.456.npz.77.x{TEMP_MARK}.npz") == 77
    assert temp_owner(f".out.json.77.x{TEMP_MARK}") == 77
    assert temp_owner("model.keras") is None
    assert temp_owner(f".name.notapid.x{TEMP_MARK}.h5") is None
    assert temp_owner(f"visible.1.x{TEMP_MARK}.h5") is None


def test_remove_own_temps_removes_only_this_process_files(tmp_path: Path) -> None:
    mine = temp_path(tmp_path / "a.keras")
    theirs = tmp_path / f".a.keras.1.x{TEMP_MARK}.keras"  # pid 1 is alive and not us
    theirs.write_bytes(b"")
    remove_own_temps()
    assert not mine.exists() and theirs.exists()
