"""``mc-predict --output-dir``: Monte Carlo over a directory or glob of shards, resumable.

Shards (.npy, .npz, or Parquet with ``pyarrow``) are sorted by path; shard ``i``'s rows get the
global indices after those of shards ``0..i-1``, and :class:`dropctl.mc.scoring.Scorer` makes every
row's result depend only on that index and its data. Each shard is read in work units of about
2,000 rows aligned to the scorer's blocks (memory stays bounded by a unit, not by the shard or
the data set) and its result is written atomically to ``OUT/<stem>.npz`` (``.parquet`` for
Parquet), with the arrays of ``mc-predict --output x.npz``. ``OUT/manifest.json`` lists every
finished shard with the SHA-256 of its input and output; a re-run skips shards whose entry,
input hash and output hash still match, so an interrupted run loses nothing it finished.
The same units run in this process or on Ray workers (``dropctl.ray``): same bytes either way.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from dropctl.errors import InputDataError, one_line
from dropctl.fileio import clean_stale_temps_in, write_atomic, write_text_atomic

__all__ = ["SHARD_SUFFIXES", "Shard", "ShardOutcome", "ShardRun", "Unit", "find_shards",
           "read_rows", "run_shards"]

SHARD_SUFFIXES = (".npy", ".npz", ".parquet")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "dropctl-mc-shards/1"
UNIT_ROWS = 2048
"""Target rows per work unit (rounded to whole scorer blocks)."""


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


@dataclass(frozen=True)
class ShardOutcome:
    """What happened to one shard."""

    shard: str
    """Shard path."""
    rows: int
    """Rows it holds."""
    row0: int
    """Global index of its first row."""
    output: str
    """Result file name in the output directory."""
    status: str
    """``scored`` or ``skipped`` (already complete, hashes verified)."""
    seconds: float
    """Wall time spent on it (0 when skipped)."""


@dataclass(frozen=True)
class ShardRun:
    """Result of :func:`run_shards`."""

    output_dir: str
    """Where results and the manifest are."""
    model: str
    """Model path."""
    samples: int
    """Passes T."""
    seed: int
    """Seed of the run."""
    shards: tuple[ShardOutcome, ...]
    """One entry per shard, in global order."""
    seconds: float
    """Wall time of the run (model loading and hashing included)."""
    scoring_seconds: float
    """Wall time from the first work unit to the last result written."""
    workers: int
    """Ray workers (0: this process)."""

    @property
    def rows(self) -> int:
        """Rows of all shards."""
        return sum(s.rows for s in self.shards)

    @property
    def rows_scored(self) -> int:
        """Rows scored by this run (skipped shards excluded)."""
        return sum(s.rows for s in self.shards if s.status == "scored")


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
    except Exception as exc:  # pyarrow raises its own ArrowInvalid/OSError family
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


# ---- the run -----------------------------------------------------------------------------------


def plan_units(shards: list[Shard], block: int, unit_rows: int = UNIT_ROWS) -> list[Unit]:
    """Work units: each shard cut at global multiples of ``unit`` rows (whole scorer blocks)."""
    unit = block * max(1, round(unit_rows / block))
    units = []
    for i, s in enumerate(shards):
        g = s.row0
        while g < s.row0 + s.rows:
            nxt = min((g // unit + 1) * unit, s.row0 + s.rows)
            units.append(Unit(i, g - s.row0, nxt - s.row0))
            g = nxt
    return units


class Manifest:
    """``OUT/manifest.json``: the run's settings and every finished shard, rewritten atomically."""

    def __init__(self, out: Path, settings: dict[str, Any]) -> None:
        self.path = out / MANIFEST
        self.settings = settings
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            from dropctl.errors import ArtifactError
            from dropctl.reader.artifact import parse_json

            # The directory is the user's, its manifest maybe not: read it with the static
            # reader's bounded JSON parser (size, node count and depth are limited, so a deep
            # or huge file is one error, never a RecursionError) and check every type.
            bad = InputDataError(f"{self.path} is not a dropctl manifest; use an empty "
                                 "--output-dir")
            try:
                doc = parse_json(self.path.read_bytes(), str(self.path))
            except (ArtifactError, OSError):
                raise bad from None
            entries = doc.get("shards") if isinstance(doc, dict) else None
            if not isinstance(entries, list) or not all(
                    isinstance(e, dict) and isinstance(e.get("shard"), str) for e in entries):
                raise bad
            old = {k: doc.get(k) for k in settings if k != "model"}
            if any(old[k] != settings[k] for k in old):  # the model by hash, not by path
                diff = ", ".join(f"{k} {old[k]!r} -> {settings[k]!r}" for k in old
                                 if old[k] != settings[k])
                raise InputDataError(f"{out} holds results of another run ({diff}); use a new "
                                     "--output-dir or delete it")
            self.entries = {e["shard"]: e for e in entries}

    def verified(self, shard: Shard, input_sha: str) -> bool:
        """The shard's result is listed for this input and its bytes match the listed hash."""
        e = self.entries.get(shard.path.name)
        out = self.path.parent / shard.output_name
        return bool(e and e.get("input_sha256") == input_sha and e.get("row0") == shard.row0
                    and e.get("rows") == shard.rows and out.is_file()
                    and sha256_file(out) == e.get("output_sha256"))

    def record(self, shard: Shard, input_sha: str, output_sha: str, order: list[str]) -> None:
        """Add a finished shard and rewrite the manifest."""
        self.entries[shard.path.name] = {
            "shard": shard.path.name, "path": str(shard.path), "rows": shard.rows, "row0": shard.row0,
            "input_sha256": input_sha, "output": shard.output_name, "output_sha256": output_sha}
        rank = {name: i for i, name in enumerate(order)}
        doc = {**self.settings, "shards": sorted(self.entries.values(),
                                                 key=lambda e: rank.get(e["shard"], len(rank)))}
        write_text_atomic(self.path, json.dumps(doc, indent=2) + "\n", label="--output-dir")


UnitRunner = Callable[[Any, list[Shard], list[Unit]], Iterator[tuple[Unit, dict[str, np.ndarray]]]]
"""``runner(scorer, shards, units)`` yields (unit, result arrays) in any order (this process or Ray)."""


def run_shards(model_path: str | Path, input_spec: str | Path, output_dir: str | Path, *,
               samples: int = 50, seed: int = 0, sites: str | None = None,
               batch_size: int | None = None,
               progress: Callable[[int, int], None] | None = None,
               on_shard: Callable[[ShardOutcome], None] | None = None,
               runner: UnitRunner | None = None,
               workers: int = 0, unit_rows: int = UNIT_ROWS,
               calibration: str | Path | None = None) -> ShardRun:
    """Score every shard of ``input_spec`` into ``output_dir`` (see the module docstring).

    ``progress(rows_done, rows_total)`` after each unit; ``on_shard`` after each shard.
    ``runner(scorer, shards, units)`` scores the units elsewhere (``dropctl.ray``); by default
    this process does it. ``calibration``: a ``dropctl calibrate`` file whose columns
    (:func:`dropctl.mc.calibration.calibrated_columns`) join every shard's result.
    """
    from dropctl.mc.scoring import Scorer

    fit = None
    if calibration is not None:
        from dropctl.mc.calibration import check_model, read_calibration

        fit = read_calibration(calibration)
        check_model(fit, model_path, calibration)

    began = time.perf_counter()
    paths = find_shards(input_spec)
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputDataError(f"--output-dir {out} is a file")
    model_file = Path(model_path)
    with Scorer(model_file, samples=samples, seed=seed, sites=sites,
                batch_size=batch_size) as scorer:
        specs = scorer.specs
        shards, row0 = [], 0
        for p in paths:
            n = count_rows(p, specs)
            shards.append(Shard(p, n, row0))
            row0 += n
        out.mkdir(parents=True, exist_ok=True)
        cfg = scorer.config
        settings = {"format": MANIFEST_FORMAT, "model": str(model_file),
                    "model_sha256": sha256_file(model_file), "samples": cfg.samples,
                    "seed": cfg.seed, "sites": cfg.sites, "rows_per_pass": cfg.rows_per_pass,
                    "block": cfg.block, "passes_per_call": cfg.passes_per_call}
        if calibration is not None:  # another calibration must rescore every shard
            settings["calibration_sha256"] = sha256_file(Path(calibration))
        manifest = Manifest(out, settings)
        clean_stale_temps_in(out)  # temporary files of a run killed mid-write
        order = [s.path.name for s in shards]
        input_sha = {i: sha256_file(s.path) for i, s in enumerate(shards)}
        outcomes: dict[int, ShardOutcome] = {}
        pending = []
        for i, s in enumerate(shards):
            if manifest.verified(s, input_sha[i]):
                outcomes[i] = ShardOutcome(str(s.path), s.rows, s.row0, s.output_name, "skipped",
                                           0.0)
                if on_shard is not None:
                    on_shard(outcomes[i])
            else:
                pending.append(i)
        units = [u for u in plan_units(shards, cfg.block, unit_rows) if u.shard in set(pending)]
        total = sum(u.hi - u.lo for u in units)
        left = {i: sum(u.hi - u.lo for u in units if u.shard == i) for i in pending}
        parts: dict[int, list[tuple[int, dict[str, np.ndarray]]]] = {i: [] for i in pending}
        last = first = time.perf_counter()
        done = 0
        stream = (runner(scorer, shards, units) if runner is not None
                  else _local(scorer, shards, units))
        try:
            for unit, arrays in stream:
                parts[unit.shard].append((unit.lo, arrays))
                left[unit.shard] -= unit.hi - unit.lo
                done += unit.hi - unit.lo
                if progress is not None:
                    progress(done, total)
                if left[unit.shard] == 0:
                    i = unit.shard
                    s = shards[i]
                    pieces = [a for _, a in sorted(parts.pop(i), key=lambda t: t[0])]
                    merged = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
                    if fit is not None:
                        from dropctl.mc.calibration import calibrated_columns

                        merged.update(calibrated_columns(fit, merged))
                    target = out / s.output_name
                    write_result(target, merged)
                    manifest.record(s, input_sha[i], sha256_file(target), order)
                    now = time.perf_counter()
                    outcomes[i] = ShardOutcome(str(s.path), s.rows, s.row0, s.output_name,
                                               "scored", now - last)
                    last = now
                    if on_shard is not None:
                        on_shard(outcomes[i])
        finally:  # stops Ray's executor too when a write or Ctrl-C ends the run early
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    return ShardRun(str(out), str(model_file), samples, seed,
                    tuple(outcomes[i] for i in sorted(outcomes)), time.perf_counter() - began,
                    last - first, workers)


def score_unit(scorer: Any, shard: Shard, unit: Unit) -> dict[str, np.ndarray]:
    """One unit's result arrays; bad rows name the shard."""
    from dropctl.mc.scoring import result_arrays

    arrays = read_rows(shard.path, scorer.specs, unit.lo, unit.hi)
    try:
        return result_arrays(scorer.score(arrays, shard.row0 + unit.lo))
    except InputDataError as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise InputDataError(f"{shard.path} rows {unit.lo}..{unit.hi - 1}: {detail}") from None


def _local(scorer: Any, shards: list[Shard],
           units: list[Unit]) -> Iterator[tuple[Unit, dict[str, np.ndarray]]]:
    for u in units:
        yield u, score_unit(scorer, shards[u.shard], u)
