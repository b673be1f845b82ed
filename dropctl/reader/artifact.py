"""Safe static reading of Keras artifacts (.keras zip, legacy .h5/.hdf5, bare model JSON).

Owns every limit that stands between a hostile file and the rest of dropctl. Nothing
here imports TensorFlow or Keras, unmarshals, unpickles or executes anything from a
file, extracts a zip, or follows an HDF5 link: a ``.keras`` archive is read member by
member after its declared sizes are checked, an HDF5 file only through its root
attributes, and every JSON document is shape-checked (size, nesting depth, node count)
*before* ``json.loads`` sees it, because Python's parser and any recursive walker die
on deep nesting (KERAS_NOTES.md section 4): :mod:`dropctl.reader.jsonsafe` and
:mod:`dropctl.reader.zipread` hold those checks. Anything that cannot be read raises
:class:`~dropctl.errors.ArtifactError` with one line naming the file: an unreadable
artifact is never reported as clean.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError, one_line
from dropctl.reader.jsonsafe import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_NODES,
    check_json_depth,
    check_json_shape,
    parse_json,
)
from dropctl.reader.report import ArtifactFormat
from dropctl.reader.zipread import MAX_ZIP_MEMBERS, read_keras_members

# The JSON and zip limits live with the code that applies them (dropctl.reader.jsonsafe,
# dropctl.reader.zipread); they are re-exported here, the static reader's one front door.
__all__ = ["EXTENSIONS", "HDF5_SIGNATURE", "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "MAX_JSON_NODES",
           "MAX_ZIP_MEMBERS", "Artifact", "check_json_depth", "check_json_shape", "parse_json",
           "read_artifact"]


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

EXTENSIONS = {
    ".keras": ArtifactFormat.KERAS,
    ".h5": ArtifactFormat.H5,
    ".hdf5": ArtifactFormat.H5,
    ".he5": ArtifactFormat.H5,
    ".json": ArtifactFormat.JSON,
}
"""Extensions dropctl reads, and the container each must hold."""


@dataclass(frozen=True)
class Artifact:
    """What the static reader found in one file: the model config and where it came from."""

    path: Path
    """The file that was read."""
    format: ArtifactFormat
    """Container format (content and extension agree)."""
    keras_version: str | None
    """Version of the Keras that saved it, when the file records one."""
    backend: str | None
    """Backend the saver recorded (legacy HDF5 and Keras 2 JSON only)."""
    model_config: dict[str, Any]
    """The model's serialized config: ``{"class_name", "config", ...}``."""
    training_config: dict[str, Any] | None
    """Compile/training config if the model was saved compiled (legacy HDF5)."""
    has_weights: bool
    """Whether weights are present (``model_weights`` group or ``model.weights.*`` member)."""
    weights_path: Path | None = None
    """A separate weights file (presets, weights + config pairs); None when they live in ``path``."""

    @property
    def keras_major(self) -> int | None:
        """Major version of the saving Keras (1, 2 or 3), if known."""
        if not self.keras_version:
            return None
        head = self.keras_version.split(".", 1)[0]
        return int(head) if head.isdigit() else None




# ---- entry point --------------------------------------------------------------------------
def read_artifact(path: str | Path) -> Artifact:
    """Read the model config of one artifact statically.

    Every failure is an :class:`ArtifactError` naming the file: whatever a hostile or corrupt
    file makes a library raise (zipfile, json, h5py) becomes one line, never a traceback.
    """
    p = Path(path)
    try:
        return _read_artifact(p)
    except ArtifactError:
        raise
    except MemoryError:
        raise ArtifactError(f"{p}: reading it ran out of memory (hostile or corrupt file)") from None
    except RecursionError:
        raise ArtifactError(f"{p}: nests too deeply to read (hostile or corrupt file)") from None
    except Exception as exc:  # noqa: BLE001 - fail closed: an unreadable file is an error
        raise ArtifactError(
            f"{p}: cannot be read ({one_line(exc)})") from None


def _read_artifact(path: Path) -> Artifact:
    """:func:`read_artifact` without the final mapping of unexpected exceptions.

    The container is detected from the file's bytes and must match the extension
    (``.keras`` zip, ``.h5``/``.hdf5`` HDF5, ``.json``), so a renamed file gets a
    precise error instead of a misleading parse failure.
    """
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p}: no such file")
    if p.is_dir():
        if (p / "saved_model.pb").exists():
            raise ArtifactError(
                f"{p}: is a TensorFlow SavedModel directory; dropctl reads .keras, .h5 and .json models"
            )
        raise ArtifactError(f"{p}: is a directory, not a model file")
    if not p.is_file():  # a FIFO or device would block or never end
        raise ArtifactError(f"{p}: is not a regular file")
    ext = p.suffix.lower()
    expected = EXTENSIONS.get(ext)
    if expected is None:
        raise ArtifactError(
            f"{p}: unsupported file type {ext or '(no extension)'!r}; "
            "dropctl reads .keras, .h5/.hdf5 and model .json files"
        )
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ArtifactError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise ArtifactError(f"{p}: is empty")
    actual = _sniff(p, head)
    if actual is None:
        raise ArtifactError(f"{p}: is not a Keras model file (neither a zip, an HDF5 file nor JSON)")
    if actual is not expected:
        raise ArtifactError(
            f"{p}: the extension says {expected.value} but the file is {_describe(actual)}; "
            f"rename it to {_suggest_ext(actual)}"
        )
    if actual is ArtifactFormat.KERAS:
        return _read_keras_zip(p)
    if actual is ArtifactFormat.H5:
        return _read_h5(p)
    return _read_json_file(p)


def _describe(fmt: ArtifactFormat) -> str:
    return {
        ArtifactFormat.KERAS: "a zip archive (.keras)",
        ArtifactFormat.H5: "an HDF5 file (.h5)",
        ArtifactFormat.JSON: "JSON",
    }[fmt]


def _suggest_ext(fmt: ArtifactFormat) -> str:
    return {ArtifactFormat.KERAS: ".keras", ArtifactFormat.H5: ".h5", ArtifactFormat.JSON: ".json"}[fmt]


def _hdf5_offset(p: Path, head: bytes) -> int | None:
    """Offset of the HDF5 superblock: 0, 512, 1024, 2048... (a user block may precede it)."""
    if head.startswith(HDF5_SIGNATURE):
        return 0
    size = p.stat().st_size
    offset = 512
    with p.open("rb") as fh:
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return offset
            offset *= 2
    return None


def _sniff(p: Path, head: bytes) -> ArtifactFormat | None:
    is_zip = head.startswith(ZIP_SIGNATURES) or zipfile.is_zipfile(p)
    is_h5 = _hdf5_offset(p, head) is not None
    if is_zip and is_h5:
        # Keras picks a reader by extension; a file that is both lets one tool see a
        # harmless archive while another loads a different model (CVE-style polyglot).
        raise ArtifactError(
            f"{p}: is both an HDF5 file and a zip archive (a polyglot); refusing to read it"
        )
    if is_zip:
        return ArtifactFormat.KERAS
    if is_h5:
        return ArtifactFormat.H5
    if head.lstrip()[:1] in (b"{", b"["):
        return ArtifactFormat.JSON
    return None



# ---- .keras (zip) -------------------------------------------------------------------------
def _read_keras_zip(p: Path) -> Artifact:
    members = read_keras_members(p)
    metadata = members.metadata
    keras_version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return Artifact(
        path=p,
        format=ArtifactFormat.KERAS,
        keras_version=_opt_str(keras_version, f"{p}: keras_version"),
        backend=None,
        model_config=_require_model_config(p, members.config),
        training_config=None,
        has_weights=members.has_weights,
    )


# ---- legacy HDF5 --------------------------------------------------------------------------
def _read_h5(p: Path) -> Artifact:
    # libhdf5 can loop forever on corrupt bytes: read in a bounded child (dropctl.h5read).
    from dropctl.reader.h5read import read_h5

    contents = read_h5(p)
    raw_config = contents.attrs.get("model_config")
    keras_version = contents.attrs.get("keras_version")
    backend = contents.attrs.get("backend")
    raw_training = contents.attrs.get("training_config")
    has_weights = contents.has_weights
    # Keras 3 model.save_weights("x.weights.h5") stores /layers/<name>/vars/<i> and no attributes
    weights_only = raw_config is None and (contents.weights_only or p.name.endswith(".weights.h5"))
    if raw_config is None:
        if weights_only or has_weights:
            raise ArtifactError(
                f"{p}: is a weights-only file (saved with save_weights): it holds no model "
                "architecture to inspect; save the model with model.save() instead"
            )
        raise ArtifactError(f"{p}: HDF5 file has no model_config attribute: not a Keras model file")
    config = parse_json(raw_config, f"{p}: model_config")
    training_config = None
    if raw_training is not None:
        # Fail closed: a training_config we cannot read could hide code from the findings.
        parsed = parse_json(raw_training, f"{p}: training_config")
        training_config = parsed if isinstance(parsed, dict) else None
    return Artifact(
        path=p,
        format=ArtifactFormat.H5,
        keras_version=keras_version,
        backend=backend,
        model_config=_require_model_config(p, config),
        training_config=training_config,
        has_weights=has_weights,
    )


# ---- bare JSON ----------------------------------------------------------------------------
def _read_json_file(p: Path) -> Artifact:
    size = p.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ArtifactError(f"{p}: is {size:,} bytes, over the {MAX_JSON_BYTES:,}-byte JSON limit")
    with p.open("rb") as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    doc = parse_json(data, str(p))
    version = doc.get("keras_version") if isinstance(doc, dict) else None
    backend = doc.get("backend") if isinstance(doc, dict) else None
    return Artifact(
        path=p,
        format=ArtifactFormat.JSON,
        keras_version=_opt_str(version, f"{p}: keras_version"),
        backend=_opt_str(backend, f"{p}: backend"),
        model_config=_require_model_config(p, doc),
        training_config=None,
        has_weights=False,
    )


MAX_VERSION_CHARS = 256
"""Longest keras_version/backend string accepted (real ones are under 20 characters)."""


def _opt_str(value: Any, what: str = "keras_version") -> str | None:
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_VERSION_CHARS:
        raise ArtifactError(f"{what} is {len(value):,} characters long, over the "
                            f"{MAX_VERSION_CHARS}-character limit (hostile file)")
    return value


def _require_model_config(p: Path, doc: Any) -> dict[str, Any]:
    """The top-level document must look like a serialized Keras model."""
    if not isinstance(doc, dict) or not isinstance(doc.get("class_name"), str):
        raise ArtifactError(f"{p}: config is not a Keras model config (no top-level class_name)")
    if "config" not in doc:
        raise ArtifactError(f"{p}: model config for {doc['class_name']!r} has no 'config' entry")
    return doc
