"""Ctrl-C for the ``dropctl`` process: exit 130 within a second, one line, nothing left behind.

Python turns SIGINT into ``KeyboardInterrupt`` only when the main thread runs bytecode, and
then tears the interpreter down, which with TensorFlow loaded takes a second or more (and a
second Ctrl-C in that teardown killed the process by the signal, or ended in a "Fatal Python
error"). For the command-line process (:func:`install`, called before anything heavy is
imported) this module therefore:

* raises ``KeyboardInterrupt`` at the first SIGINT, so every ``finally`` removes its temporary
  file and kills its child processes as usual;
* starts a grace timer at the same moment (for the runtime commands, :func:`start_watchdog`,
  from the signal's wakeup byte, which a helper thread receives even while the main thread
  sits in TensorFlow's C++ code): when the main path has
  not ended the process after :data:`GRACE_SECONDS`, the timer removes this process's
  temporary files (:func:`dropctl.fileio.remove_own_temps`), kills the children registered
  with :func:`track_child`, prints the line and ends the process itself;
* ends the process with ``os._exit`` after flushing stdout and stderr (:func:`finish`), also
  after a successful run, so no interpreter teardown is left to interrupt.

Only the standard library is imported here: this runs before Typer, Rich or TensorFlow load.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

GRACE_SECONDS = 0.5
"""How long the normal unwinding (``finally`` blocks) gets before the process ends anyway."""
EXIT_INTERRUPTED = 130
"""128 + SIGINT, what a shell reports for a command ended by Ctrl-C."""
MESSAGE = "Error: interrupted"

_state: dict[str, Any] = {"installed": False, "watching": False, "interrupted": False,
                          "timer": None, "stderr": 2, "pid": 0, "at_once": 0}
_final = threading.Lock()
"""Held by whichever thread ends the process; never released."""
_children: set[int] = set()


def installed() -> bool:
    """Whether this is the command-line process (:func:`install` ran)."""
    return bool(_state["installed"])


def interrupted() -> bool:
    """Whether a SIGINT arrived."""
    return bool(_state["interrupted"])


def install() -> None:
    """Take over SIGINT for this process (main thread only; a second call does nothing)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _on_sigint)
    _state["pid"] = os.getpid()
    try:  # the message goes here even while an import has fd 2 muted
        _state["stderr"] = os.dup(2)
    except OSError:
        _state["stderr"] = 2
    _state["installed"] = True


def start_watchdog() -> None:
    """Before TensorFlow loads: let a helper thread start the grace timer from the signal's
    wakeup byte, so Ctrl-C is noticed while the main thread runs C++ code. Only for the
    runtime commands: the static ones stay single-threaded (their HDF5 reader forks)."""
    if (not _state["installed"] or _state["watching"]
            or threading.current_thread() is not threading.main_thread()):
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main interpreter
        os.close(read_end)
        os.close(write_end)
        return
    threading.Thread(target=_watch, args=(read_end,), name="dropctl-sigint", daemon=True).start()
    _state["watching"] = True


@contextlib.contextmanager
def ending_at_once() -> Iterator[None]:
    """Inside this block a Ctrl-C ends the process at once (temporary files and children
    removed, the one line, exit 130) instead of raising ``KeyboardInterrupt``: for importing
    TensorFlow, where an exception raised into its C++ initialisation can abort the process
    (measured: 2 of 240 interrupts ended by SIGABRT), and where nothing of ours needs unwinding."""
    _state["at_once"] += 1
    try:
        yield
    finally:
        _state["at_once"] -= 1


@contextlib.contextmanager
def sigint_held() -> Iterator[None]:
    """Start child processes inside this block: SIGINT is blocked (held, not lost) in this
    thread meanwhile, and a child inherits the blocked mask through ``fork`` (and ``exec``)
    until it calls :func:`child_ignores_sigint`. Without it, a Ctrl-C landing between ``fork``
    and the child's ``SIG_IGN`` raised ``KeyboardInterrupt`` inside the child's own after-fork
    hooks (``threading._after_fork``), which Python prints as "Exception ignored ... Traceback"
    on the shared stderr (seen in tests/cli/test_interrupt.py under load; Python's
    ``multiprocessing.resource_tracker`` blocks signals around its own start the same way). A
    held SIGINT reaches this process when the block ends, where it is the usual
    ``KeyboardInterrupt``."""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def child_ignores_sigint() -> None:
    """First thing in a child started inside :func:`sigint_held`: ignore SIGINT (the parent
    handles Ctrl-C and ends its children), then unblock it, which discards a held one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def track_child(pid: int) -> None:
    """A child process to kill if the grace timer has to end the process."""
    _children.add(pid)


def untrack_child(pid: int) -> None:
    """The child ended (or was reaped): no longer ours to kill."""
    _children.discard(pid)


def _on_sigint(_signum: int, _frame: Any) -> None:  # the signal.signal handler signature
    if os.getpid() != _state["pid"]:
        raise KeyboardInterrupt  # a forked child before it ignores SIGINT: the parent reports
    if _state["interrupted"] or _state["at_once"]:
        _end_interrupted(flush=True)  # a second Ctrl-C (no more grace), or inside an import
    _state["interrupted"] = True
    _arm()
    raise KeyboardInterrupt


def _watch(read_end: int) -> None:
    """Helper thread: a SIGINT byte on the wakeup pipe starts the grace timer at once."""
    while True:
        try:
            data = os.read(read_end, 512)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            _arm()


def _arm() -> None:
    if _state["timer"] is None:
        # No flushing from the timer: the main thread may hold the stream's lock (a write
        # to a full pipe), and an interrupted run's unflushed report is not wanted anyway.
        timer = threading.Timer(GRACE_SECONDS, _end_interrupted, kwargs={"flush": False})
        timer.daemon = True
        _state["timer"] = timer
        timer.start()


def _cleanup() -> None:
    from dropctl.fileio import remove_own_temps

    remove_own_temps()
    for pid in list(_children):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _end_interrupted(*, flush: bool) -> NoReturn:
    _final.acquire()  # the other path may be ending the process right now: let it
    _block_sigint()
    if flush:
        _flush(sys.stdout)
        _flush(sys.stderr)
    try:
        _cleanup()
    finally:
        try:
            os.write(_state["stderr"], (MESSAGE + "\n").encode())
        except OSError:
            pass
        os._exit(EXIT_INTERRUPTED)


def finish(code: int) -> NoReturn:
    """End the command-line process with ``code`` (130 and the one line when interrupted),
    without the interpreter's teardown: stdout and stderr are flushed first."""
    _block_sigint()
    if code == EXIT_INTERRUPTED or _state["interrupted"]:
        _end_interrupted(flush=True)
    _final.acquire()
    if not _flush(sys.stdout):
        code = 141  # `dropctl ... | head`: the reader went away, as a Unix tool killed by SIGPIPE
    _flush(sys.stderr)
    os._exit(code)


def _block_sigint() -> None:
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platforms without it
        pass


def _flush(stream: Any) -> bool:
    try:
        stream.flush()
    except BrokenPipeError:
        return False
    except (OSError, ValueError, AttributeError):
        pass
    return True
