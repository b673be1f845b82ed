"""Ctrl-C ends a run at once with exit 130, even while libhdf5 loops on a hostile file.

The terminal sends SIGINT to the whole foreground process group, so the test does the same
(``killpg``) to a real ``dropctl`` process reading files that make libhdf5 loop forever, with
and without worker processes; afterwards no child (HDF5 reader, check worker) is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT, SAMPLES


@pytest.fixture(scope="module")
def looping(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("loop")
    blob = bytearray((SAMPLES / "no_dropout.h5").read_bytes())
    blob[4096:4608] = bytes(512)  # libhdf5 loops forever reading model_config
    for i in range(6):
        (d / f"loop{i}.h5").write_bytes(bytes(blob))
    return d


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=", "-e"], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            found.append(c)
            stack.append(c)
    return found


@pytest.mark.parametrize("args", [["inspect", "loop0.h5"], ["check", "--no-config", "."],
                                  ["check", "--no-config", "--jobs", "2", "."]])
def test_ctrl_c_exits_130_and_leaves_no_process(looping: Path, args: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dropctl", *args], cwd=looping,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    deadline = time.monotonic() + 20
    while not _descendants(proc.pid) and time.monotonic() < deadline:  # reading has begun
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:  # a run that ignored Ctrl-C must not outlive the test
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Fatal Python error" not in stderr
    time.sleep(0.2)
    assert _group(proc.pid) == [], "a reader or worker process outlived the run"


def _group(pgid: int) -> list[int]:
    """Live processes of the run's process group (its readers and workers stay in it)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True,
                         text=True).stdout
    return [int(pid) for pid, group, stat in (line.split()[:3] for line in out.splitlines())
            if int(group) == pgid and not stat.startswith("Z")]


CTRL_C_IN_FORK = """
import multiprocessing, os, signal, sys
import dropctl, dropctl.interrupt as interrupt
from dropctl.policy.workers import run_tasks
interrupt.install()
# Ctrl-C lands in every new child while it runs its after-fork hooks (threading._after_fork
# among them), the window a loaded machine hit: 1 run in CI printed a traceback there.
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGINT))
print(run_tasks(abs, [-1, -2, -3], 2, multiprocessing.get_context("fork")))
print([s.path for s in dropctl.inspect(sys.argv[1]).sites])
"""


def test_ctrl_c_while_a_child_forks_prints_no_traceback() -> None:
    """A SIGINT that reaches a check worker or an HDF5 reader before it ignores SIGINT is held
    (blocked across the fork) and dropped by the child, not raised in its after-fork hooks:
    the workers still answer and the reader still reads, and stderr stays empty."""
    r = subprocess.run([sys.executable, "-c", CTRL_C_IN_FORK, str(SAMPLES / "bn_dropout.h5")],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.splitlines() == ["[1, 2, 3]", "['bn_dropout/dropout']"], r.stdout
