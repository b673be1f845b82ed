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
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dropctl.errors import ArtifactError, one_line
from dropctl.reader.report import ArtifactFormat

# ---- limits -------------------------------------------------------------------------------
MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest config/metadata JSON accepted (EfficientNetB0's config is ~0.3 MB)."""
MAX_JSON_DEPTH = 256
"""Deepest nesting accepted; real configs with several nested models stay under 40."""
MAX_JSON_NODES = 4_000_000
"""Most containers + scalars in one JSON document."""
MAX_ZIP_MEMBERS = 100_000
"""Most entries in a .keras archive (Keras writes 3), read from the end record before parsing."""
MAX_ZIP_DIRECTORY_BYTES = 16 * 1024 * 1024
"""Largest zip central directory (100,000 entries with 100-byte names fit)."""
MAX_ZIP_RATIO = 200
"""A JSON member compressing better than 200:1 (and over 1 MB) is treated as a bomb."""

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


# ---- JSON, shape-checked around parsing -----------------------------------------------------
def check_json_shape(text: str, what: str) -> None:
    """Reject JSON that is too large or has too many nodes, in linear time and no extra memory.

    Counts every ``,``, ``[`` and ``{`` (inside strings too, which only errs on the safe
    side) with ``str.count``: no regular expression, so no backtracking on hostile escapes.
    Depth is checked after parsing (:func:`check_json_depth`); ``json.loads`` itself stops
    at Python's recursion limit with a RecursionError.
    """
    if len(text) > MAX_JSON_BYTES:
        raise ArtifactError(f"{what} is {len(text):,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
    nodes = text.count(",") + text.count("[") + text.count("{")
    if nodes > MAX_JSON_NODES:
        raise ArtifactError(f"{what} has more than {MAX_JSON_NODES:,} JSON nodes")


def check_json_depth(doc: Any, what: str) -> None:
    """Reject a parsed document nested deeper than :data:`MAX_JSON_DEPTH`.

    Level by level and iterative, with every per-node step done by C iterators (``map``,
    ``chain``, ``compress``): no Python bytecode runs per node, so the 4,000,000-node worst
    case costs about as much as copying the pointers (measured: 0.65 s -> 0.1 s on the
    199,990-layer config of bench/hostile_limits.py --big).
    """
    from itertools import chain, compress, repeat
    from operator import is_

    dicts: list[Any] = [doc] if type(doc) is dict else []
    lists: list[Any] = [doc] if type(doc) is list else []
    depth = 1
    while dicts or lists:
        if depth > MAX_JSON_DEPTH:
            raise ArtifactError(
                f"{what} nests deeper than {MAX_JSON_DEPTH} levels (hostile or corrupt config)")
        children = list(chain(chain.from_iterable(map(dict.values, dicts)),
                              chain.from_iterable(lists)))
        kinds = list(map(type, children))
        dicts = list(compress(children, map(is_, kinds, repeat(dict))))
        lists = list(compress(children, map(is_, kinds, repeat(list))))
        depth += 1


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
    import gc

    frozen = gc.isenabled()
    gc.disable()  # JSON makes no cycles; collecting during a 4M-node parse costs up to a third
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ArtifactError(
            f"{what} nests deeper than {MAX_JSON_DEPTH} levels (hostile or corrupt config)"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int() over 4,300 digits
        raise ArtifactError(f"{what} is not valid JSON ({one_line(exc, typed=False)})") from None
    finally:
        if frozen:
            gc.enable()
    if isinstance(doc, dict | list):
        check_json_depth(doc, what)
    return doc


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
def _check_zip_directory(p: Path) -> None:
    """Entry count and central-directory size from the end record, before zipfile parses it all
    (a 3-million-entry directory took 23.6 s and 1.7 GB in zipfile itself).

    The numbers are read from the same records CPython's ``zipfile._EndRecData`` reads: the end
    record at the very end (else the last one in the final 64 KB), then, whenever a ZIP64
    locator sits right before it, the ZIP64 record right before the locator, whose numbers
    zipfile uses instead, whatever the classic record says (a classic record claiming 3 entries
    over a ZIP64 record of 500,000 was parsed in full before). Either record over a limit
    refuses the archive.
    """
    size = p.stat().st_size
    tail_len = min(size, 65_536 + 22)
    with p.open("rb") as fh:
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
    at = len(tail) - 22
    if not (at >= 0 and tail[at:at + 4] == b"PK\x05\x06" and tail[-2:] == b"\x00\x00"):
        at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return  # zipfile reports the archive as unreadable with its own words
    _, _, _, _, entries, cd_size, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    end = size - len(tail) + at  # file offset of the end record
    if end >= 20 + 56:
        with p.open("rb") as fh:
            fh.seek(end - 20 - 56)
            rec = fh.read(56 + 20)
        if rec[56:60] == b"PK\x06\x07" and rec[:4] == b"PK\x06\x06":
            entries64, cd_size64 = struct.unpack("<QQ", rec[32:48])
            # 0xFFFF / 0xFFFFFFFF in the classic record only say "see the ZIP64 record"
            entries = entries64 if entries == 0xFFFF else max(entries, entries64)
            cd_size = cd_size64 if cd_size == 0xFFFFFFFF else max(cd_size, cd_size64)
    if entries > MAX_ZIP_MEMBERS:
        raise ArtifactError(f"{p}: zip declares {entries:,} entries, over the "
                            f"{MAX_ZIP_MEMBERS:,}-entry limit; refusing it")
    if cd_size > MAX_ZIP_DIRECTORY_BYTES:
        raise ArtifactError(f"{p}: zip directory is {cd_size:,} bytes, over the "
                            f"{MAX_ZIP_DIRECTORY_BYTES:,}-byte limit; refusing it")


def _check_member_names(p: Path, infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ArtifactError(f"{p}: zip member name {name[:80]!r} escapes the archive; "
                                "refusing it (CVE-2026-11816)")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise ArtifactError(f"{p}: zip member {name[:80]!r} is a symbolic link; refusing "
                                "it (CVE-2026-12482)")
        if name in seen:
            raise ArtifactError(f"{p}: zip member {name[:80]!r} appears twice; refusing an ambiguous archive")
        seen.add(name)


def _read_member(p: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.flag_bits & 0x1:
        raise ArtifactError(f"{p}: zip member {info.filename} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # zipfile inflates bzip2/lzma blocks without an output bound (625 MB from 500 bytes
        # declared); Keras writes stored members.
        raise ArtifactError(
            f"{p}: {info.filename} uses compression method {info.compress_type} "
            "(Keras writes stored or deflated members); refusing it")
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
            data = fh.read(info.file_size + 1)  # never more than the header promised
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ArtifactError(f"{p}: {info.filename} is corrupt ({one_line(exc, typed=False)})") from None
    except Exception as exc:  # zlib.error, lzma/bz2 errors: corrupt compressed data
        raise ArtifactError(f"{p}: {info.filename} is corrupt ({one_line(exc, typed=False)})") from None
    if len(data) > info.file_size:
        raise ArtifactError(f"{p}: {info.filename} is larger than it declares (zip bomb?)")
    return data


def _read_keras_zip(p: Path) -> Artifact:
    try:
        _check_zip_directory(p)
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
        raise ArtifactError(f"{p}: is not a readable zip archive ({one_line(exc, typed=False)})") from None
    keras_version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    return Artifact(
        path=p,
        format=ArtifactFormat.KERAS,
        keras_version=_opt_str(keras_version, f"{p}: keras_version"),
        backend=None,
        model_config=_require_model_config(p, config),
        training_config=None,
        has_weights=has_weights,
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
