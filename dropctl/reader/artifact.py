"""Safe static reading of Keras artifacts (.keras zip, legacy .h5/.hdf5, bare model JSON).

Owns every limit that stands between a hostile file and the rest of dropctl. Nothing
here imports TensorFlow or Keras, unmarshals, unpickles or executes anything from a
file, extracts a zip, or follows an HDF5 link: a ``.keras`` archive is read member by
member after its declared sizes are checked, an HDF5 file only through its root
attributes, and every JSON document is shape-checked (size, nesting depth, node count)
*before* ``json.loads`` sees it, because Python's parser and any recursive walker die
on deep nesting (KERAS_NOTES.md section 4). Anything that cannot be read raises
:class:`~dropctl.errors.ArtifactError` with one line naming the file: an unreadable
artifact is never reported as clean.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dropctl.errors import ArtifactError
from dropctl.reader.report import ArtifactFormat

# ---- limits -------------------------------------------------------------------------------
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest config/metadata JSON accepted (EfficientNetB0's config is ~0.3 MB)."""
MAX_JSON_DEPTH = 256
"""Deepest nesting accepted; real configs with several nested models stay under 40."""
MAX_JSON_NODES = 4_000_000
"""Most containers + scalars in one JSON document."""
MAX_ZIP_MEMBERS = 100_000
MAX_ZIP_RATIO = 200
"""A JSON member compressing better than 200:1 (and over 1 MB) is treated as a bomb."""
MAX_H5_ATTR_BYTES = 64 * 1024 * 1024
MAX_H5_OBJECTS = 200_000
"""Most groups + datasets walked when checking an HDF5 file for links to other files."""

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


# ---- JSON, shape-checked before parsing -----------------------------------------------------
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET_RE = re.compile(r"[\[\]{}]")


def check_json_shape(text: str, what: str) -> None:
    """Reject JSON that is too large, too deep or has too many nodes, without recursion."""
    if len(text) > MAX_JSON_BYTES:
        raise ArtifactError(f"{what} is {len(text):,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
    stripped = _STRING_RE.sub('""', text)
    depth = 0
    for match in _BRACKET_RE.finditer(stripped):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ArtifactError(
                    f"{what} nests deeper than {MAX_JSON_DEPTH} levels (hostile or corrupt config)"
                )
        else:
            depth -= 1
    nodes = stripped.count(",") + stripped.count("[") + stripped.count("{")
    if nodes > MAX_JSON_NODES:
        raise ArtifactError(f"{what} has more than {MAX_JSON_NODES:,} JSON nodes")


def parse_json(data: bytes | str, what: str) -> Any:
    """Decode, shape-check and parse one JSON document; every failure is an ArtifactError."""
    if isinstance(data, bytes):
        if len(data) > MAX_JSON_BYTES:
            raise ArtifactError(f"{what} is {len(data):,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Keras 1/2 on Python 2 wrote latin-1 in places; JSON itself is ASCII-safe.
            text = data.decode("latin-1")
    else:
        text = data
    check_json_shape(text, what)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{what} is not valid JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# ---- entry point --------------------------------------------------------------------------
def read_artifact(path: str | Path) -> Artifact:
    """Read the model config of one artifact statically.

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
def _check_member_names(p: Path, infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ArtifactError(f"{p}: zip member name {name[:80]!r} escapes the archive; refusing it")
        if name in seen:
            raise ArtifactError(f"{p}: zip member {name[:80]!r} appears twice; refusing an ambiguous archive")
        seen.add(name)


def _read_member(p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.flag_bits & 0x1:
        raise ArtifactError(f"{p}: zip member {info.filename} is encrypted")
    if info.file_size > MAX_JSON_BYTES:
        raise ArtifactError(
            f"{p}: {info.filename} declares {info.file_size:,} bytes, over the "
            f"{MAX_JSON_BYTES:,}-byte limit (zip bomb?)"
        )
    if info.compress_size and info.file_size > 1_000_000 and (
        info.file_size / info.compress_size > MAX_ZIP_RATIO
    ):
        raise ArtifactError(
            f"{p}: {info.filename} expands {info.file_size // max(info.compress_size, 1)}:1 "
            "(zip bomb); refusing it"
        )
    try:
        with zf.open(info) as fh:
            data = fh.read(MAX_JSON_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ArtifactError(f"{p}: {info.filename} is corrupt ({_first_line(exc)})") from None
    except Exception as exc:  # zlib.error, lzma/bz2 errors: corrupt compressed data
        raise ArtifactError(f"{p}: {info.filename} is corrupt ({_first_line(exc)})") from None
    if len(data) > MAX_JSON_BYTES:
        raise ArtifactError(f"{p}: {info.filename} is larger than it declares (zip bomb?)")
    return data


def _read_keras_zip(p: Path) -> Artifact:
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                raise ArtifactError(f"{p}: zip has {len(infos):,} members, over the limit")
            _check_member_names(p, infos)
            by_name = {i.filename: i for i in infos}
            if "config.json" not in by_name:
                raise ArtifactError(
                    f"{p}: .keras archive has no config.json (not a Keras 3 model file, "
                    "or a weights-only archive)"
                )
            config = parse_json(_read_member(p, zf, by_name["config.json"]), f"{p}: config.json")
            metadata: Any = {}
            if "metadata.json" in by_name:
                metadata = parse_json(
                    _read_member(p, zf, by_name["metadata.json"]), f"{p}: metadata.json"
                )
            has_weights = any(n.startswith("model.weights.") for n in by_name)
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise ArtifactError(f"{p}: is not a readable zip archive ({_first_line(exc)})") from None
    keras_version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return Artifact(
        path=p,
        format=ArtifactFormat.KERAS,
        keras_version=_opt_str(keras_version),
        backend=None,
        model_config=_require_model_config(p, config),
        training_config=None,
        has_weights=has_weights,
    )


# ---- legacy HDF5 --------------------------------------------------------------------------
def _read_attr(p: Path, f: Any, name: str) -> str | None:
    """Read one root attribute as text, checking its declared size first (shape bombs)."""
    if name not in f.attrs:
        return None
    try:
        aid = f.attrs.get_id(name)
        if aid.get_storage_size() > MAX_H5_ATTR_BYTES:
            raise ArtifactError(f"{p}: attribute {name} declares {aid.get_storage_size():,} bytes")
        if aid.shape not in ((), (1,), None):
            raise ArtifactError(f"{p}: attribute {name} has shape {aid.shape}, expected a string")
        value = f.attrs[name]
    except ArtifactError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/TypeError for broken attributes
        raise ArtifactError(f"{p}: attribute {name} cannot be read ({_first_line(exc)})") from None
    if hasattr(value, "shape") and getattr(value, "shape", ()) == (1,):
        value = value[0]
    if isinstance(value, bytes):
        if len(value) > MAX_H5_ATTR_BYTES:
            raise ArtifactError(f"{p}: attribute {name} is over the size limit")
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    raise ArtifactError(f"{p}: attribute {name} is not a string")


def _refuse_links_outside(p: Path, f: Any, h5py: Any) -> None:
    """Refuse HDF5 files that point outside themselves (CVE-2026-1669).

    External links, external dataset storage and virtual datasets make a loader read
    other files on the machine. Uses HDF5's own iterators (H5Lvisit over link records,
    H5Ovisit over objects reachable by hard links): neither follows an external link,
    and both are several times faster than walking groups from Python.
    """
    counter = [0]
    bad: list[str] = []

    def on_link(name: bytes, info: Any) -> int | None:
        counter[0] += 1
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            bad.append(f"HDF5 external link /{name.decode(errors='replace')}; "
                       "refusing a model file that points to other files")
            return 1
        if counter[0] > MAX_H5_OBJECTS:
            bad.append(f"HDF5 file has more than {MAX_H5_OBJECTS:,} links")
            return 1
        return None

    def on_object(name: bytes, info: Any) -> int | None:
        if info.type != h5py.h5o.TYPE_DATASET:
            return None
        plist = h5py.h5d.open(f.id, name).get_create_plist()
        if plist.get_external_count() > 0 or plist.get_layout() == h5py.h5d.VIRTUAL:
            bad.append(f"HDF5 dataset /{name.decode(errors='replace')} stores its data in "
                       "another file; refusing it")
            return 1
        return None

    try:
        f.id.links.visit(on_link, info=True)
        if not bad:
            h5py.h5o.visit(f.id, on_object, info=True)
    except ArtifactError:
        raise
    except Exception as exc:  # corrupt object headers, dangling links
        raise ArtifactError(f"{p}: HDF5 structure is corrupt ({_first_line(exc)})") from None
    if bad:
        raise ArtifactError(f"{p}: {bad[0]}")


def _read_h5(p: Path) -> Artifact:
    import h5py  # h5py is light (no TensorFlow); imported here to keep `--help` fast

    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # OSError for truncated/corrupt files, others from HDF5 itself
        raise ArtifactError(f"{p}: is not a readable HDF5 file ({_first_line(exc)})") from None
    with f:
        raw_config = _read_attr(p, f, "model_config")
        keras_version = _read_attr(p, f, "keras_version")
        backend = _read_attr(p, f, "backend")
        raw_training = _read_attr(p, f, "training_config")
        _refuse_links_outside(p, f, h5py)
        link = f.get("model_weights", getlink=True)
        has_weights = isinstance(link, h5py.HardLink)
        weights_only = raw_config is None and (
            "layer_names" in f.attrs or any(k.startswith("layer_names") for k in f.attrs)
            # Keras 3 model.save_weights("x.weights.h5"): /layers/<name>/vars/<i>, no attributes
            or p.name.endswith(".weights.h5") or "layers" in f or "vars" in f
        )
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
        try:
            parsed = parse_json(raw_training, f"{p}: training_config")
            training_config = parsed if isinstance(parsed, dict) else None
        except ArtifactError:
            training_config = None  # compile info is not needed to judge dropout
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
        keras_version=_opt_str(version),
        backend=_opt_str(backend),
        model_config=_require_model_config(p, doc),
        training_config=None,
        has_weights=False,
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _require_model_config(p: Path, doc: Any) -> dict[str, Any]:
    """The top-level document must look like a serialized Keras model."""
    if not isinstance(doc, dict) or not isinstance(doc.get("class_name"), str):
        raise ArtifactError(f"{p}: config is not a Keras model config (no top-level class_name)")
    if "config" not in doc:
        raise ArtifactError(f"{p}: model config for {doc['class_name']!r} has no 'config' entry")
    return doc
