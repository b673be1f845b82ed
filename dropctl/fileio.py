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
        _TEMP_DIRS.add(str(directory))  # before the file exists: Ctrl-C may come at any point
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.{os.getpid()}.",
                                   suffix=f"{TEMP_MARK}{p.suffix}", dir=directory)
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


# ---- creating OUT files race-free (convert) -------------------------------------------------------
TEMP_MARK = ".dropctl-tmp"
"""Every temporary file dropctl writes has this in its name: ``.<name>.<pid>.<random>.dropctl-tmp<ext>``."""


_TEMP_DIRS: set[str] = set()
"""Directories this process has created temporary files in (see :func:`remove_own_temps`)."""


def temp_path(dst: Path) -> Path:
    """A fresh temporary path beside ``dst`` (same filesystem, so the final rename is atomic).

    The name carries this process's id, so :func:`clean_stale_temps` in a later run can tell a
    leftover of a killed run (its process is gone) from one being written right now.
    """
    directory = dst.parent if str(dst.parent) else Path(".")
    _TEMP_DIRS.add(str(directory))
    fd, name = tempfile.mkstemp(prefix=f".{dst.name}.{os.getpid()}.",
                                suffix=f"{TEMP_MARK}{dst.suffix}", dir=directory)
    os.close(fd)
    return Path(name)


def temp_owner(name: str) -> int | None:
    """The process id in a temporary file's name ``.<target>.<pid>.<random>.dropctl-tmp<ext>``
    (read from the right, so dots and digits in the target's name do not matter), or None
    when ``name`` is not one of ours."""
    if not name.startswith(".") or TEMP_MARK not in name:
        return None
    parts = name[:name.rindex(TEMP_MARK)].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def remove_own_temps() -> None:
    """Remove every temporary file this process created and has not yet renamed or removed
    (the Ctrl-C path of :mod:`dropctl.interrupt`: also one whose name was not returned yet)."""
    me = os.getpid()
    for directory in list(_TEMP_DIRS):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if temp_owner(name) == me:
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass


def clean_stale_temps(dst: Path) -> list[Path]:
    """Remove temporary files for ``dst`` left by runs whose process no longer exists
    (kill -9, power loss); returns what was removed."""
    directory = dst.parent if str(dst.parent) else Path(".")
    try:
        candidates = list(directory.glob(f".{glob_escape(dst.name)}.*{TEMP_MARK}{dst.suffix}"))
    except OSError:
        return []
    return _remove_dead(candidates)


def clean_stale_temps_in(directory: Path) -> list[Path]:
    """:func:`clean_stale_temps` for every target in ``directory`` at once (one listing: an
    output directory of shards is cleaned in linear time)."""
    try:
        candidates = [directory / name for name in os.listdir(directory)]
    except OSError:
        return []
    return _remove_dead(candidates)


def _remove_dead(candidates: list[Path]) -> list[Path]:
    removed: list[Path] = []
    for path in candidates:
        pid = temp_owner(path.name)
        if pid is None or _alive(pid):
            continue
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OSError:
        return True
    return True


def publish(tmp: Path, dst: Path, *, force: bool) -> None:
    """Move the finished ``tmp`` to ``dst``. Without ``force``, never replace a file that exists:
    a hard link creates ``dst`` atomically or fails, so of two runs racing to create the same
    OUT exactly one wins; the other gets a UsageError (exit 2). ``tmp`` is gone afterwards.
    """
    from dropctl.errors import InputDataError, UsageError

    try:
        if force:
            os.replace(tmp, dst)
            return
        try:
            os.link(tmp, dst)
        except FileExistsError:
            raise UsageError(f"{dst} exists (created while converting?); pass --force to "
                             "overwrite it") from None
        except OSError:
            # A filesystem without hard links: reserve the name with O_EXCL, then replace
            # our own empty placeholder.
            try:
                os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                raise UsageError(f"{dst} exists (created while converting?); pass --force to "
                                 "overwrite it") from None
            os.replace(tmp, dst)
    except OSError as exc:
        raise InputDataError(f"cannot write {dst}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
