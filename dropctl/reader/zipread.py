"""Reading a ``.keras`` zip archive member by member, bounded, without extracting it.

Before ``zipfile`` parses the central directory its entry count and size are read from the end
records (:func:`_check_zip_directory`); member names that escape the archive, symbolic links and
duplicates are refused; a member is read only when its compression method is stored or deflated,
its declared size is under the JSON limit and it does not expand like a bomb, and never beyond
the size it declares. :func:`read_keras_members` returns the parsed ``config.json`` and
``metadata.json``; :mod:`dropctl.reader.artifact` makes them an ``Artifact``.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dropctl.errors import ArtifactError, one_line
from dropctl.reader.jsonsafe import MAX_JSON_BYTES, parse_json

MAX_ZIP_MEMBERS = 100_000
"""Most entries in a .keras archive (Keras writes 3), read from the end record before parsing."""
MAX_ZIP_DIRECTORY_BYTES = 16 * 1024 * 1024
"""Largest zip central directory (100,000 entries with 100-byte names fit)."""
MAX_ZIP_RATIO = 200
"""A JSON member compressing better than 200:1 (and over 1 MB) is treated as a bomb."""


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
    # What CPython 3.11's ZipFile.open/ZipExtFile.read raise on a stored or deflated member
    # (bzip2/lzma and encryption are refused above): BadZipFile (bad local header, names that
    # differ, bad CRC), NotImplementedError (flag bits 5/6), UnicodeDecodeError (a ValueError:
    # the local name), OSError/ValueError (a seek outside the file), EOFError (deflate stream
    # cut short) and zlib.error (a deflate stream that is not one).
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)  # never more than the header promised
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise ArtifactError(f"{p}: {info.filename} is corrupt ({one_line(exc, typed=False)})") from None
    if len(data) > info.file_size:
        raise ArtifactError(f"{p}: {info.filename} is larger than it declares (zip bomb?)")
    return data


@dataclass(frozen=True)
class KerasMembers:
    """What a ``.keras`` archive holds for the static reader."""

    config: Any
    """``config.json``, parsed (shape-checked)."""
    metadata: Any
    """``metadata.json``, parsed, or ``{}`` when absent."""
    has_weights: bool
    """A ``model.weights.*`` member exists."""


def read_keras_members(p: Path) -> KerasMembers:
    """The archive's config and metadata; every failure is an ArtifactError naming ``p``."""
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
    return KerasMembers(config, metadata, has_weights)
