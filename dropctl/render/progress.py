"""``progress=True`` for the Python API: a bar in Jupyter/Colab, a Rich bar in a terminal.

The core reports progress through a callback ``(done, total)``; :func:`progress_reporter` turns
the API's ``progress`` argument into one. ``True`` in an IPython kernel (Jupyter, Colab, VS Code)
shows an HTML ``<progress>`` bar in the cell's output and updates it in place through a display
handle (IPython's own mechanism: no ipywidgets needed, nothing written to stderr); ``True``
elsewhere shows Rich's transient bar on stderr when stderr is a terminal (nothing in a pipe or a
CI log). A callable is used as given; ``None``/``False`` is no progress.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dropctl.errors import UsageError

Callback = Callable[[int, int], None]


def _kernel_shell() -> Any:
    """The IPython shell when running inside a kernel that displays rich output, else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


class _Bar:
    """What the display handle shows: HTML for notebooks, one text line for plain frontends."""

    def __init__(self, label: str) -> None:
        self.label, self.done, self.total = label, 0, 0

    def _repr_html_(self) -> str:
        value = f' value="{self.done}" max="{self.total}"' if self.total else ""
        return (f"<div><code>{html.escape(self.label)}</code> <progress{value} "
                f'style="width:24em"></progress> {self.done}/{self.total or "?"}</div>')

    def __repr__(self) -> str:
        return f"{self.label}: {self.done}/{self.total or '?'}"


@contextmanager
def progress_reporter(progress: bool | Callback | None, label: str) -> Iterator[Callback | None]:
    """The core's ``progress`` callback for the API's ``progress`` argument (see module doc)."""
    if progress is None or progress is False:
        yield None
        return
    if progress is not True:
        if not callable(progress):
            raise UsageError(f"progress must be True, False or a callable(done, total), "
                             f"not {type(progress).__name__}")
        yield progress
        return
    if _kernel_shell() is not None:
        from IPython.display import display

        bar = _Bar(label)
        handle = display(bar, display_id=True)

        def update(done: int, total: int) -> None:
            bar.done, bar.total = done, total
            if handle is not None:
                handle.update(bar)

        yield update
        return
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    rich_bar = Progress(label, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    task = rich_bar.add_task(label, total=None)

    def advance(done: int, total: int) -> None:
        rich_bar.update(task, completed=done, total=total)

    rich_bar.start()
    try:
        yield advance
    finally:
        rich_bar.stop()
