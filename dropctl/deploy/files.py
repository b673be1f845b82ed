"""Where an export is written before it is verified, and how it is published (a rename beside
OUT, so a failed verification leaves nothing and a reader never sees half a file)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from dropctl.deploy.plan import ExportFormat
from dropctl.deploy.writers import IR_NAME


def written_file(tmp: Path, fmt: ExportFormat) -> Path:
    """What the writer writes and the verifier opens inside :func:`temp_target`'s ``tmp``."""
    return tmp / IR_NAME if fmt is ExportFormat.OPENVINO else tmp


def temp_target(dst: Path, fmt: ExportFormat) -> Path:
    """Where OUT is written before verification (beside it: the final move is a rename)."""
    from dropctl.fileio import TEMP_MARK, temp_path

    if fmt not in (ExportFormat.SAVEDMODEL, ExportFormat.OPENVINO):
        return temp_path(dst)
    directory = dst.parent if str(dst.parent) else Path(".")
    return Path(tempfile.mkdtemp(prefix=f".{dst.name}.{os.getpid()}.", suffix=TEMP_MARK,
                                 dir=directory))


def discard(tmp: Path) -> None:
    """Remove a temporary OUT (file or directory)."""
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


def publish_dir(tmp: Path, dst: Path, *, force: bool) -> None:
    """Move a verified SavedModel directory to ``dst`` (replacing a SavedModel only with force)."""
    from dropctl.errors import InputDataError, UsageError

    if dst.exists():
        if any(dst.iterdir()) and not force:
            discard(tmp)
            raise UsageError(f"{dst} exists (created while exporting?); pass --force")
        shutil.rmtree(dst) if any(dst.iterdir()) else dst.rmdir()
    try:
        os.replace(tmp, dst)
    except OSError as exc:
        discard(tmp)
        raise InputDataError(f"cannot write {dst}: {exc.strerror or exc}") from None


def publish_ir(tmp: Path, dst: Path, *, force: bool) -> None:
    """Move a verified IR (``tmp``/model.xml + model.bin) to ``dst`` and its ``.bin``: the
    weights first, so an ``.xml`` never appears without them."""
    from dropctl.deploy.plan import ir_weights
    from dropctl.fileio import publish

    publish(tmp / IR_NAME.replace(".xml", ".bin"), ir_weights(dst), force=force)
    publish(tmp / IR_NAME, dst, force=force)
    discard(tmp)


def size_of(path: Path) -> int:
    """Bytes of a file, or of every file under a directory."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
