"""The static reader's contract: content decides the container, limits hold at their edges."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import h5py
import pytest

from dropctl.errors import ArtifactError
from dropctl.reader.artifact import (
    MAX_JSON_DEPTH,
    MAX_JSON_NODES,
    check_json_shape,
    parse_json,
    read_artifact,
)
from dropctl.reader.report import ArtifactFormat
from tests.support import SAMPLES


def test_extension_must_match_content(tmp_path: Path) -> None:
    renamed = tmp_path / "model.keras"
    shutil.copy(SAMPLES / "mlp.h5", renamed)
    with pytest.raises(ArtifactError, match=r"extension says keras but the file is an HDF5 file.*\.h5"):
        read_artifact(renamed)
    other = tmp_path / "model.pb"
    other.write_bytes(b"\x08\x01")
    with pytest.raises(ArtifactError, match="unsupported file type '.pb'"):
        read_artifact(other)


def test_directories(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="is a directory"):
        read_artifact(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ArtifactError, match="SavedModel directory"):
        read_artifact(tmp_path)


def test_depth_limit_edges() -> None:
    parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "ok")
    with pytest.raises(ArtifactError, match="nests deeper"):
        parse_json("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "deep")
    with pytest.raises(ArtifactError, match="nests deeper"):
        parse_json('{"a": ' * 100_000 + "1" + "}" * 100_000, "deeper than the C parser allows")
    # Brackets inside strings do not count.
    parse_json(json.dumps({"name": "[" * 10_000}), "strings")



def test_depth_limit_mixes_objects_and_arrays() -> None:
    """Depth counts objects and arrays alike, on the deepest of several branches."""

    def nested(levels: int) -> str:
        text = "0"
        for i in range(levels - 1):
            text = f"[{text}, 1]" if i % 2 else f'{{"a": {text}, "b": [2]}}'
        return text

    parse_json(f'{{"wide": [{", ".join(["[1]"] * 1000)}], "deep": {nested(MAX_JSON_DEPTH - 1)}}}',
               "ok")
    with pytest.raises(ArtifactError, match="nests deeper"):
        parse_json(f'{{"wide": [[1]], "deep": {nested(MAX_JSON_DEPTH)}}}', "deep")

def test_node_limit_counts_without_backtracking() -> None:
    """A megabyte of backslash escapes in one string: str.count, no regex (was 1.2 GB)."""
    check_json_shape(json.dumps({"name": "\\" * 500_000 + '\"' * 500_000}), "escapes")
    with pytest.raises(ArtifactError, match="JSON nodes"):
        check_json_shape("[" + "0," * (MAX_JSON_NODES + 1) + "0]", "many")


def test_formats_and_metadata() -> None:
    keras = read_artifact(SAMPLES / "mlp.keras")
    assert keras.format is ArtifactFormat.KERAS and keras.keras_major == 3 and keras.has_weights
    h5 = read_artifact(SAMPLES / "pinned_training_tfkeras.h5")
    assert h5.format is ArtifactFormat.H5 and h5.keras_major == 2 and h5.backend == "tensorflow"
    assert h5.training_config is not None
    js = read_artifact(SAMPLES / "keras1_style.json")
    assert js.format is ArtifactFormat.JSON and not js.has_weights


def test_h5_str_attributes_and_user_block(tmp_path: Path) -> None:
    """Attributes may be str or bytes; a user block before the superblock is fine alone."""
    config = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}})
    path = tmp_path / "ub.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f.attrs["model_config"] = config
        f.attrs["keras_version"] = b"2.2.4"
    art = read_artifact(path)
    assert art.keras_version == "2.2.4" and art.model_config["class_name"] == "Sequential"


def test_zip_member_with_backslash_escape(tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        zf.writestr("..\\evil.txt", "x")
    with pytest.raises(ArtifactError, match="escapes the archive"):
        read_artifact(path)


@pytest.mark.parametrize("lie", [500_000, 1_000_000])
def test_zip64_record_is_judged_like_zipfile_reads_it(tmp_path: Path, lie: int) -> None:
    """A classic end record with 2 entries over a ZIP64 record claiming ``lie``: CPython's
    zipfile takes the ZIP64 numbers (its own _EndRecData is the oracle), so dropctl refuses the
    archive on them, before zipfile parses anything; an honest archive still reads."""
    from tests.support import hostile

    path = tmp_path / "lie.keras"
    members = [("metadata.json", b"{}"),
               ("config.json", json.dumps(hostile.keras3_dense_model()).encode())]
    hostile.write_zip(path, members, zip64_entries=lie)
    with path.open("rb") as fh:
        endrec = zipfile._EndRecData(fh)
    assert endrec is not None and endrec[zipfile._ECD_ENTRIES_TOTAL] == lie
    with pytest.raises(ArtifactError, match=f"zip declares {lie:,} entries"):
        read_artifact(path)
    honest = tmp_path / "honest.keras"
    hostile.write_zip(honest, members)
    assert read_artifact(honest).model_config["class_name"] == "Sequential"


def test_deflate_stream_that_is_not_one_is_corrupt(tmp_path: Path) -> None:
    """A deflated config.json whose bytes are no deflate stream: zlib itself (the oracle) rejects
    them with ``zlib.error``, which the reader reports as that member being corrupt."""
    import zlib

    from tests.support import hostile

    config = json.dumps(hostile.keras3_dense_model()).encode()
    stream = b"\xff\xfe\xfd\xfc" * 8
    with pytest.raises(zlib.error):
        zlib.decompressobj(-15).decompress(stream)
    path = tmp_path / "garbled.keras"
    hostile.write_zip(path, [("metadata.json", b"{}")],
                      raw={"config.json": (stream, zlib.crc32(config), len(config))})
    with pytest.raises(ArtifactError, match=r"config\.json is corrupt \(Error -3 while decompressing"):
        read_artifact(path)
