"""Shard files of ``mc-predict --output-dir``: finding them, reading rows, writing results.

Inputs are .npy, .npz or Parquet (``pyarrow``) files; only the rows of one work unit are read
(the .npy header gives each row's offset; Parquet row groups are picked by row range). Results
are written atomically, as a byte-reproducible .npz (fixed member timestamps) or as Parquet
with one column per array. The run over the shards is :mod:`dropctl.mc.shards`.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dropctl.errors import InputDataError, one_line
from dropctl.fileio import write_atomic

__all__ = ["SHARD_SUFFIXES", "Shard", "Unit", "count_rows", "find_shards", "npz_bytes",
           "parquet_bytes", "read_rows", "sha256_file", "write_result"]

SHARD_SUFFIXES = (".npy", ".npz", ".parquet")


@dataclass(frozen=True)
class Shard:
    """One input file and where its rows sit in the whole data set."""

    path: Path
    """The shard file."""
    rows: int
    """Rows (inputs) it holds."""
    row0: int
    """Global index of its first row."""

    @property
    def output_name(self) -> str:
        """File name of its result in the output directory."""
        return self.path.stem + (".parquet" if self.path.suffix.lower() == ".parquet" else ".npz")


@dataclass(frozen=True)
class Unit:
    """Rows ``lo..hi-1`` of shard ``shard`` (an index into the run's shard list)."""

    shard: int
    lo: int
    hi: int


# ---- finding and reading shards --------------------------------------------------------------


def find_shards(spec: str | Path) -> list[Path]:
    """Shard files of a directory (not recursive), a glob pattern, or a single file, sorted."""
    text = str(spec)
    p = Path(text)
    if p.is_dir():
        found = [q for q in p.iterdir() if q.is_file()]
    elif any(c in text for c in "*?["):
        found = [Path(q) for q in glob.glob(text) if Path(q).is_file()]
    elif p.is_file():
        found = [p]
    else:
        raise InputDataError(f"--input {text} does not exist")
    shards = sorted(q for q in found if q.suffix.lower() in SHARD_SUFFIXES)
    if not shards:
        raise InputDataError(f"--input {text} matched no shard files ({', '.join(SHARD_SUFFIXES)})")
    stems: dict[str, Path] = {}
    for q in shards:
        other = stems.setdefault(q.stem, q)
        if other != q:
            raise InputDataError(f"shards {other} and {q} would both write {q.stem}.*: "
                                 "rename one or narrow the glob")
    return shards


def _npy_header(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (OSError, ValueError, EOFError) as exc:
        raise InputDataError(f"cannot read {where}: {one_line(exc, typed=False)}") from None
    if dtype.hasobject:
        raise InputDataError(f"{where} holds Python objects; expected numbers")
    if not shape:
        raise InputDataError(f"{where} is a scalar; expected rows of inputs")
    return tuple(int(d) for d in shape), bool(fortran), dtype, fh.tell()


def _npz_members(path: Path, specs: list[Any]) -> list[str]:
    try:
        with zipfile.ZipFile(path) as z:
            names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputDataError(f"cannot read {path}: {exc}") from None
    if len(specs) == 1 and len(names) == 1:
        return names
    missing = [s.name for s in specs if s.name not in names]
    if missing:
        raise InputDataError(f"{path} has arrays {sorted(names)}; the model needs "
                             f"{[s.name for s in specs]} (missing {missing})")
    return [s.name for s in specs]


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        from dropctl.runtime.imports import missing

        raise missing("pyarrow", "reading Parquet shards") from None
    return pq


def count_rows(path: Path, specs: list[Any]) -> int:
    """Rows in a shard, from its header or metadata (no data read)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with path.open("rb") as fh:
            return _npy_header(fh, str(path))[0][0]
    if suffix == ".npz":
        counts = set()
        with zipfile.ZipFile(path) as z:
            for name in _npz_members(path, specs):
                with z.open(name + ".npy") as fh:
                    counts.add(_npy_header(fh, f"{path}:{name}")[0][0])
        if len(counts) > 1:
            raise InputDataError(f"{path}: inputs have different numbers of samples {sorted(counts)}")
        return counts.pop()
    pq = _parquet()
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own ArrowInvalid/OSError family, not a closed set
        raise InputDataError(f"cannot read {path} as Parquet: {exc}") from None


def _read_npy_rows(fh: IO[bytes], where: str, lo: int, hi: int) -> np.ndarray:
    shape, fortran, dtype, start = _npy_header(fh, where)
    if not 0 <= lo <= hi <= shape[0]:
        raise InputDataError(f"{where}: rows {lo}..{hi} outside its {shape[0]} rows")
    if fortran and len(shape) > 1:  # rows are not contiguous: read the whole array once
        fh.seek(start)
        whole = np.frombuffer(fh.read(), dtype, count=int(np.prod(shape)))
        return np.asarray(whole.reshape(shape, order="F")[lo:hi])
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    fh.seek(start + lo * row_bytes)
    data = fh.read((hi - lo) * row_bytes)
    if len(data) != (hi - lo) * row_bytes:
        raise InputDataError(f"{where} is truncated")
    return np.frombuffer(data, dtype).reshape((hi - lo, *shape[1:])).copy()


def _parquet_arrays(path: Path, table: Any, specs: list[Any]) -> list[np.ndarray]:
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(table.column_names)

    def column(name: str, spec: Any) -> np.ndarray:
        col = table.column(name).combine_chunks()
        if col.null_count:
            raise InputDataError(f"{path}: column '{name}' has {col.null_count} null value(s)")
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type) or (
                pa.types.is_fixed_size_list(col.type)):
            values = col
            while (pa.types.is_list(values.type) or pa.types.is_large_list(values.type)
                   or pa.types.is_fixed_size_list(values.type)):
                lengths = np.unique(np.asarray(pc.list_value_length(values)))
                if lengths.size > 1:
                    raise InputDataError(f"{path}: column '{name}' has rows of different "
                                         f"lengths {lengths[:5].tolist()}")
                values = values.flatten()
            flat = np.asarray(values.to_numpy(zero_copy_only=False))
        else:
            flat = np.asarray(col.to_numpy(zero_copy_only=False))
        if flat.dtype.kind not in "biuf":
            raise InputDataError(f"{path}: column '{name}' is {col.type}; expected numbers")
        inner = spec.shape[1:]
        n = table.num_rows
        if None not in inner and flat.size == n * int(np.prod(inner, dtype=np.int64)):
            return flat.reshape((n, *inner))
        return flat.reshape((n, -1)) if n else flat

    if all(s.name in names for s in specs):
        return [column(s.name, s) for s in specs]
    if len(specs) == 1:
        spec = specs[0]
        lists = [f.name for f in table.schema if pa.types.is_list(f.type)
                 or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type)]
        numeric = [f.name for f in table.schema if pa.types.is_integer(f.type)
                   or pa.types.is_floating(f.type)]
        if len(lists) == 1:
            return [column(lists[0], spec)]
        width = int(np.prod([d for d in spec.shape[1:] if d is not None] or [0]))
        if not lists and numeric and len(numeric) == len(names) and len(numeric) == width:
            stacked = np.stack([np.asarray(table.column(c).to_numpy(zero_copy_only=False))
                                for c in numeric], axis=1)
            return [stacked.reshape((table.num_rows, *spec.shape[1:]))]
    raise InputDataError(f"{path}: columns {names}; expected a column named after each model "
                         f"input {[s.name for s in specs]}, one list column, or one numeric "
                         "column per feature")


def read_rows(path: Path, specs: list[Any], lo: int, hi: int) -> list[np.ndarray]:
    """Rows ``lo..hi-1`` of a shard, one array per model input (only those rows are read)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with path.open("rb") as fh:
            return [_read_npy_rows(fh, str(path), lo, hi)]
    if suffix == ".npz":
        out = []
        with zipfile.ZipFile(path) as z:
            for name in _npz_members(path, specs):
                with z.open(name + ".npy") as fh:
                    out.append(_read_npy_rows(fh, f"{path}:{name}", lo, hi))
        return out
    pq = _parquet()
    pf = pq.ParquetFile(path)
    groups, first, seen = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        size = pf.metadata.row_group(g).num_rows
        if seen + size > lo and seen < hi:
            groups.append(g)
            first = seen if first is None else first
        seen += size
    table = pf.read_row_groups(groups)
    start = lo - (first or 0)
    return _parquet_arrays(path, table.slice(start, hi - lo), specs)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MB pieces."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for piece in iter(lambda: fh.read(2**20), b""):
            h.update(piece)
    return h.hexdigest()


# ---- writing results ---------------------------------------------------------------------------


def npz_bytes(arrays: dict[str, np.ndarray], fh: IO[bytes]) -> None:
    """An .npz like ``np.savez`` but byte-reproducible (fixed member timestamps)."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with z.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)


def parquet_bytes(arrays: dict[str, np.ndarray], fh: IO[bytes]) -> None:
    """A Parquet table, one column per array (per-row arrays as fixed-size lists)."""
    import pyarrow as pa

    pq = _parquet()
    columns, meta = {}, {}
    for key, value in arrays.items():
        if value.ndim == 1:
            columns[key] = pa.array(value)
        else:
            width = int(np.prod(value.shape[1:], dtype=np.int64))
            columns[key] = pa.FixedSizeListArray.from_arrays(
                pa.array(np.ascontiguousarray(value).reshape(-1)), width)
            meta[f"dropctl.shape.{key}"] = json.dumps(list(value.shape[1:]))
    table = pa.table(columns).replace_schema_metadata(meta)
    pq.write_table(table, fh)


def write_result(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Atomically write one shard's result (format from the suffix)."""
    writer = parquet_bytes if path.suffix == ".parquet" else npz_bytes
    buf = io.BytesIO()
    writer(arrays, buf)
    write_atomic(path, lambda fh: fh.write(buf.getvalue()), label="--output-dir")
