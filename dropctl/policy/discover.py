"""Which artifacts ``dropctl check`` looks at: paths, directories and globs become artifacts.

An artifact is one model file (``.keras``, ``.h5``/``.hdf5``) or one artifact directory
(SavedModel, keras_hub preset, ``model.json`` + ``model.weights.h5``). A directory search
checks such a directory whole and never enters it; a file named on the command line that is
a member of one (``bert/model.weights.h5``, ``sm/saved_model.pb``, ``sm/variables/...``) is
checked as that directory, once however many of its members are named. That is what makes
the pre-commit hook, which hands over changed *files*, give the verdict ``check DIR`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dropctl.policy.config import glob_to_regex
from dropctl.reader.formats import (
    PAIR_CONFIG,
    PRESET_CONFIG,
    PRESET_METADATA,
    PRESET_WEIGHTS,
    artifact_dir,
)
from dropctl.reader.savedmodel import is_savedmodel_dir

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".onnx", ".tflite")
"""Files a directory search picks up (bare .json models must be named explicitly)."""
_GLOB_CHARS = set("*?[")

SAVEDMODEL_MEMBERS = frozenset({"saved_model.pb", "saved_model.pbtxt", "keras_metadata.pb",
                                "fingerprint.pb"})
"""Files directly in a SavedModel directory (tf.saved_model.save / tf.keras model.save)."""
SAVEDMODEL_SUBDIRS = frozenset({"variables", "assets", "assets.extra"})
PRESET_MEMBERS = frozenset({PRESET_CONFIG, PRESET_METADATA, PRESET_WEIGHTS, "task.json",
                            "task.weights.h5", "preprocessor.json", "tokenizer.json"})
"""Files keras_hub's ``save_to_preset`` writes directly in a preset directory."""
PAIR_MEMBERS = frozenset({PAIR_CONFIG, PRESET_WEIGHTS})
_MAX_DEPTH = 8
"""How far above a file its artifact directory is looked for (assets nest a little)."""


def artifact_of(path: Path) -> Path | None:
    """The artifact directory ``path`` (a file) is a member of, or None.

    SavedModel: its graph, metadata and fingerprint, and anything below ``variables/`` or
    ``assets/``; preset: the files ``save_to_preset`` writes (and ``assets/``); pair:
    ``model.json`` and ``model.weights.h5``. A file of another name inside such a directory
    (``notes.keras`` beside a preset) stays its own artifact.
    """
    parent = path.parent
    if is_savedmodel_dir(parent) and path.name in SAVEDMODEL_MEMBERS:
        return parent
    for up in list(path.parents)[:_MAX_DEPTH]:  # variables/variables.index, assets/a/b.txt
        if up.name in SAVEDMODEL_SUBDIRS and is_savedmodel_dir(up.parent):
            return up.parent
        if up.name == "assets" and _is_preset(up.parent):
            return up.parent
    if path.name in PRESET_MEMBERS and _is_preset(parent):
        return parent
    if path.name in PAIR_MEMBERS and artifact_dir(parent):
        return parent
    return None


def _is_preset(d: Path) -> bool:
    return artifact_dir(d) and (d / PRESET_CONFIG).is_file()


def expand_paths(args: Iterable[str | os.PathLike[str]], *,
                 members_only: bool = False) -> tuple[list[Path], list[str]]:
    """Artifacts to check, and the arguments that matched nothing (missing files, empty globs).

    Files named explicitly are checked whatever their extension, unless they are members of
    an artifact directory (:func:`artifact_of`): then the directory is checked, once.
    Directories are searched recursively for .keras/.h5/.hdf5 and for artifact directories,
    which are checked whole (hidden directories and symlinked directories are skipped, so a
    symlink loop cannot hang the search); globs support ``**``.

    ``members_only`` (``check --pre-commit``): the arguments are files a commit touched, picked
    by a file-name pattern; a file that is neither a model file nor a member of an artifact
    (an application's ``config.json``) is dropped, not reported as unmatched.
    """
    files: list[Path] = []
    unmatched: list[str] = []
    for arg in args:
        text = os.fspath(arg)
        p = Path(text)
        if p.is_dir():
            found = [p] if artifact_dir(p) else _walk(p)
        elif p.exists() or p.is_symlink():
            owner = artifact_of(p) if p.is_file() else None
            if owner is not None:
                found = [owner]
            elif members_only and p.suffix.lower() not in MODEL_SUFFIXES:
                continue
            else:
                found = [p]
        elif members_only:  # deleted by the commit: nothing left to check
            continue
        elif _GLOB_CHARS & set(text):
            found = _glob(text)
        else:
            found = []
        if found:
            files.extend(found)
        else:
            unmatched.append(text)
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = Path(os.path.abspath(f))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, unmatched


def _glob(pattern: str) -> list[Path]:
    """Files matching ``pattern``, found by walking its literal prefix without following
    symlinked directories (``glob.glob(recursive=True)`` follows them into loops)."""
    parts = Path(pattern).parts
    cut = next(i for i, part in enumerate(parts) if _GLOB_CHARS & set(part))
    base = Path(*parts[:cut]) if cut else Path(".")
    if not base.is_dir():
        return []
    rx = glob_to_regex("/".join(parts[cut:]), anywhere=False)
    own_suffix = Path(pattern).suffix.lower()
    found = []
    for f in _walk(base, own_suffix):
        rel = f.relative_to(base).parts
        # A matching directory ("models/*" matching models/mc) brings in the files below it.
        if any(rx.fullmatch("/".join(rel[:n])) for n in range(1, len(rel) + 1)):
            found.append(f)
    return found


def _walk(root: Path, extra_suffix: str = "") -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):  # followlinks=False: no loops
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        # SavedModel / preset directories are artifacts themselves: checked whole, not entered.
        models = [d for d in dirnames if artifact_dir(Path(dirpath) / d)]
        out.extend(Path(dirpath) / d for d in models)
        dirnames[:] = [d for d in dirnames if d not in models]
        out.extend(
            Path(dirpath) / name
            for name in sorted(filenames)
            if Path(name).suffix.lower() in MODEL_SUFFIXES
            or (extra_suffix and Path(name).suffix.lower() == extra_suffix)
        )
    return out
