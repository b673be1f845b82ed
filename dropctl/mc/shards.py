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
Reading and writing the shard files is :mod:`dropctl.mc.shards_io`; this module is the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import InputDataError
from dropctl.fileio import clean_stale_temps_in, write_text_atomic
from dropctl.mc.shards_io import (
    Shard,
    Unit,
    count_rows,
    find_shards,
    read_rows,
    sha256_file,
    write_result,
)

__all__ = ["Manifest", "ShardOutcome", "ShardRun", "plan_units", "run_shards", "score_unit"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "dropctl-mc-shards/1"
UNIT_ROWS = 2048
"""Target rows per work unit (rounded to whole scorer blocks)."""


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
