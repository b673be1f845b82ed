"""Writing report and data files atomically: a temporary file beside the target, then rename.

A reader (or a crashed run) never sees a half-written file, and a failed write leaves
nothing behind. Errors become :class:`~dropctl.errors.InputDataError` (exit 2) naming the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def umask_mode() -> int:
    """The mode a newly created file gets (0o666 minus the umask): ``mkstemp`` makes its
    temporary files 0600, which a rename would otherwise carry over to the target."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | Path, writer: Callable[[IO[bytes]], object], *,
                 label: str = "") -> None:
    """Write ``path`` through ``writer(binary file)``; its return value is ignored.

    ``label`` prefixes the path in error messages (e.g. ``"--output"``).
    """
    from dropctl.errors import InputDataError

    p = Path(path)
    where = f"{label} {p}" if label else f"cannot write {p}"
    directory = p.parent if str(p.parent) else Path(".")
    if not directory.is_dir():
        raise InputDataError(f"{where}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputDataError(_cannot(where, label, exc)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputDataError(_cannot(where, label, exc)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cannot(where: str, label: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{where}: cannot write ({reason})" if label else f"{where}: {reason}"


def write_text_atomic(path: str | Path, text: str, *, label: str = "") -> None:
    """:func:`write_atomic` for UTF-8 text."""
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")), label=label)
