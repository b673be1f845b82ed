"""Reading untrusted HDF5 in a bounded child process: libhdf5 can loop forever on corrupt bytes.

A Keras ``.h5`` with a few bytes zeroed in its object headers makes libhdf5 spin inside
``H5Aread`` or ``H5Ovisit`` (measured: 11 of 3,500 bit-flip mutants of the sample files), and
a call into the C library cannot be interrupted from Python (Ctrl-C waits for it). So every
read of an untrusted HDF5 file happens in a child process with a wall-clock limit, a CPU-time
limit and an address-space limit; the parent only waits on a pipe (which Ctrl-C interrupts at
once) and kills the child when a limit is reached. The child is forked (a few milliseconds)
when this process has a single thread, and started fresh (``python -m dropctl.reader.h5child``)
when TensorFlow's threads make forking unsafe. This module is the parent's side; what the child
does is :mod:`dropctl.reader.h5child`.

The child reads what the static reader needs (string root attributes, bounded by size), walks
every link and object once (refusing external links, external/virtual storage and chains deeper
than :data:`MAX_H5_DEPTH`), and summarises every dataset (declared bytes vs. stored bytes), so
weight-dataset bombs are refused before a loader reads a byte. ``scan_weights=True`` also reads
every dataset's bytes once (discarded), so a later read by Keras in this process meets only
bytes libhdf5 has already read to the end within the limits.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

import dropctl.interrupt as interrupt
from dropctl.errors import ArtifactError
from dropctl.reader.h5child import (
    _BEAT,
    _PAYLOAD,
    _READY,
    H5_MAX_WALL_SECONDS,
    H5_STEP_CPU_SECONDS,
    H5_TOTAL_CPU_SECONDS,
    H5_WALL_BYTES_PER_SECOND,
    H5_WALL_SECONDS,
    STARTUP_SECONDS,
    DatasetInfo,
    H5Contents,
    child_main,
)

__all__ = ["DatasetInfo", "H5Contents", "read_h5"]


# ---- the parent side ------------------------------------------------------------------------


def _fork_safe() -> bool:
    """Forking is safe without Python threads and without a framework's thread pools.

    numpy's BLAS pool threads are idle and fork-aware (numpy + fork is everyday multiprocessing);
    TensorFlow/JAX/torch run threads that may hold locks the child would then wait on forever.
    """
    import threading

    return threading.active_count() == 1 and not any(
        m in sys.modules for m in ("tensorflow", "jax", "torch"))


def read_h5(path: Path, *, member: str | None = None, scan_weights: bool = False) -> H5Contents:
    """Read ``path`` (or its zip ``member``) in a bounded child; every failure is an ArtifactError."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    cpu = H5_TOTAL_CPU_SECONDS + size / (1024 * 1024)
    request = (str(path), member, scan_weights, cpu)
    where = f"{path}: {member}" if member else f"{path}"
    extra = size / H5_WALL_BYTES_PER_SECOND
    status, value = _run_child(request, H5_WALL_SECONDS + extra, H5_MAX_WALL_SECONDS + extra)
    if status == "ok":
        assert isinstance(value, H5Contents)
        return value
    raise ArtifactError(f"{where}: {value}")


def _run_child(request: tuple[str, str | None, bool, float], wall: float,
               max_wall: float) -> tuple[str, Any]:
    r, w = os.pipe()
    proc = None
    pid = 0
    if _fork_safe():
        import h5py  # noqa: F401 - imported once here, not again in every forked child

        with interrupt.sigint_held():  # a Ctrl-C now reaches us once the child is tracked
            pid = os.fork()
            if pid == 0:  # the child: never returns
                interrupt.child_ignores_sigint()
                os.close(r)
                child_main(request, w)
            interrupt.track_child(pid)
        os.close(w)
    else:
        import subprocess

        os.close(w)
        os.close(r)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dropctl.reader.h5child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(pickle.dumps(request))
        proc.stdin.close()
        r = os.dup(proc.stdout.fileno())
        proc.stdout.close()
        pid = proc.pid
        interrupt.track_child(pid)  # killed too if Ctrl-C has to end the run without unwinding
    try:
        # A fresh interpreter may take seconds to import h5py on a busy machine: the limits
        # start when the child says it is ready (its CPU limit is its own, load-independent).
        started = _read_until(r, time.monotonic() + STARTUP_SECONDS, 1)
        data, complete, stalled = (b"", False, False)
        if started[1] and started[0] == _READY:
            data, complete, stalled = _read_result(r, wall, time.monotonic() + max_wall)
    finally:
        os.close(r)
        code = _reap(pid, proc)
    cpu = request[3]
    if code == -signal.SIGPROF:
        return "error", (f"reading its HDF5 metadata, one libhdf5 call used over "
                         f"{H5_STEP_CPU_SECONDS:g} s of CPU (real files need milliseconds: "
                         "libhdf5 loops on this corrupt or hostile file); refusing it")
    if code == -signal.SIGXCPU:
        return "error", (f"reading its HDF5 metadata used over {cpu:g} s of CPU in all "
                         "(corrupt or hostile file); refusing it")
    if not complete and stalled:
        return "error", (f"reading its HDF5 metadata made no progress for {wall:.0f} s "
                         "(corrupt or hostile file); refusing it")
    if not complete:
        return "error", (f"reading its HDF5 metadata took over {max_wall:.0f} s in all "
                         "(corrupt or hostile file); refusing it")
    try:
        return pickle.loads(data)  # our own child's bytes, never the file's
    except Exception:  # noqa: BLE001 - a child killed mid-write (memory limit, crash)
        return "error", ("the HDF5 reader died (over its memory limit or crashed in libhdf5); "
                         "corrupt or hostile file, refusing it")


def _read_until(fd: int, deadline: float, size: int = -1) -> tuple[bytes, bool]:
    """What the child writes (``size`` bytes, or all until EOF), or (b"", False) past the deadline."""
    chunks: list[bytes] = []
    got = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", False
        ready, _, _ = select.select([fd], [], [], min(left, 0.25))
        if not ready:
            continue
        chunk = os.read(fd, (1 << 20) if size < 0 else size - got)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        got += len(chunk)
        if got == size:
            return b"".join(chunks), True


def _read_result(fd: int, stall: float, last: float) -> tuple[bytes, bool, bool]:
    """(the pickled result, complete, stalled) from the child: heartbeats and result bytes
    re-arm the ``stall`` allowance, ``last`` is the deadline for the whole read."""
    chunks: list[bytes] = []
    payload = False
    deadline = min(time.monotonic() + stall, last)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"", False, deadline < last
        ready, _, _ = select.select([fd], [], [], min(left, 0.25))
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:  # EOF: a result cut short or missing is a dead child (pickle fails)
            return b"".join(chunks), True, False
        if not payload:
            head, marker, chunk = chunk.partition(_PAYLOAD)
            payload = bool(marker)
            if head.strip(_BEAT):
                return b"", True, False  # not heartbeats: treated as a dead child
        if payload:
            chunks.append(chunk)
        deadline = min(time.monotonic() + stall, last)  # progress: heartbeat or result bytes


def _reap(pid: int, proc: Any) -> int:
    """Kill the child if it still runs; its exit code (negative: the signal that ended it)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        if proc is not None:
            return int(proc.wait())
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 0
        return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    finally:
        interrupt.untrack_child(pid)
