"""Running one function over many tasks in worker processes, where a dead worker costs one task.

``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one worker dies
(killed, out of memory, a segfault in a C library): every pending task then fails, so one
hostile file turned 771 verdicts into "worker failed". Here each worker holds one task at a
time over its own pipe, so the parent knows which task a dead worker held: that task is retried
once in a fresh worker and, if its worker dies again, reported alone; every other task keeps
its result.
"""

from __future__ import annotations

import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dropctl.interrupt as interrupt

RETRIES = 1
"""How many times a task whose worker died is run again (in a fresh worker)."""


@dataclass(frozen=True)
class WorkerDied:
    """The task's worker process ended without answering, on every attempt."""

    exitcode: int | None
    """The last worker's exit code (negative: killed by that signal)."""

    def describe(self) -> str:
        if self.exitcode is not None and self.exitcode < 0:
            try:
                name = signal.Signals(-self.exitcode).name
            except ValueError:
                name = f"signal {-self.exitcode}"
            return f"killed by {name}"
        return f"exit code {self.exitcode}"


def _worker_loop(conn: Any, func: Callable[[Any], Any]) -> None:
    interrupt.child_ignores_sigint()  # the parent handles Ctrl-C and ends us
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        index, task = message
        conn.send((index, func(task)))


def run_tasks(func: Callable[[Any], Any], tasks: Sequence[Any], jobs: int, context: Any,
              progress: Callable[[int, int], None] | None = None) -> list[Any]:
    """``[func(t) for t in tasks]`` in up to ``jobs`` processes; a task whose worker died on
    every attempt gets a :class:`WorkerDied` instead of a result. ``func`` must be picklable."""
    from multiprocessing.connection import wait

    total = len(tasks)
    results: list[Any] = [None] * total
    finished = [False] * total
    queue = deque(range(total))
    attempts = [0] * total
    workers: dict[Any, tuple[Any, int | None]] = {}  # connection -> (process, task held)
    conn: Any
    done = 0

    def start() -> None:
        parent, child = context.Pipe()
        proc = context.Process(target=_worker_loop, args=(child, func), daemon=True)
        with interrupt.sigint_held():  # a Ctrl-C now reaches us once the child is tracked
            proc.start()
            interrupt.track_child(proc.pid)
        child.close()
        workers[parent] = (proc, None)

    try:
        while done < total:
            while len(workers) < min(jobs, total - done):
                start()
            for conn, (proc, held) in list(workers.items()):
                if held is None and queue:
                    index = queue.popleft()
                    attempts[index] += 1
                    conn.send((index, tasks[index]))
                    workers[conn] = (proc, index)
            by_sentinel = {proc.sentinel: conn for conn, (proc, _) in workers.items()}
            for ready in wait([*workers, *by_sentinel]):
                conn = by_sentinel.get(ready, ready)  # type: ignore[call-overload]
                if conn not in workers:
                    continue
                proc, held = workers[conn]
                message = ready is conn  # else the process sentinel: it ended
                try:
                    if message:
                        index, value = conn.recv()  # our worker's pickle, never file bytes
                        results[index] = value
                        finished[index] = True
                        done += 1
                        workers[conn] = (proc, None)
                        if progress:
                            progress(done, total)
                        continue
                except (EOFError, OSError):
                    pass
                # The worker ended: answer nothing more from it.
                proc.join()
                interrupt.untrack_child(proc.pid)
                conn.close()
                del workers[conn]
                if held is not None and not finished[held]:
                    if attempts[held] <= RETRIES:
                        queue.appendleft(held)
                    else:
                        results[held] = WorkerDied(proc.exitcode)
                        finished[held] = True
                        done += 1
                        if progress:
                            progress(done, total)
    finally:
        for conn, (proc, _) in workers.items():
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            if proc.is_alive() and done < total:  # interrupted: do not wait for them
                proc.kill()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            interrupt.untrack_child(proc.pid)
            conn.close()
    return results
