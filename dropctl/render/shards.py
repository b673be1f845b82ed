"""Rendering ``mc-predict --output-dir`` runs: a Rich table and the ``--json`` document."""

from __future__ import annotations

from typing import Any

from rich.table import Table

__all__ = ["shards_json", "shards_tables"]


def shards_json(run: Any) -> dict[str, Any]:
    """The ``mc-predict --output-dir ... --json`` document."""
    return {
        "output_dir": run.output_dir, "model": run.model, "samples": run.samples,
        "seed": run.seed, "workers": run.workers, "rows": run.rows,
        "rows_scored": run.rows_scored, "seconds": round(run.seconds, 3),
        "scoring_seconds": round(run.scoring_seconds, 3),
        "rows_per_second": (round(run.rows_scored / run.scoring_seconds, 1)
                            if run.rows_scored and run.scoring_seconds else None),
        "shards": [{"shard": s.shard, "rows": s.rows, "row0": s.row0, "output": s.output,
                    "status": s.status, "seconds": round(s.seconds, 3)} for s in run.shards],
    }


def shards_tables(run: Any, limit: int = 20) -> list[Any]:
    """A table of shards (the first ``limit``, then a count) and a summary line."""
    table = Table(title=f"mc-predict over {len(run.shards)} shard(s) -> {run.output_dir}")
    for col in ("shard", "rows", "first row", "output", "status", "seconds"):
        table.add_column(col, justify="right" if col in ("rows", "first row", "seconds")
                         else "left")
    for s in run.shards[:limit]:
        table.add_row(s.shard, str(s.rows), str(s.row0), s.output, s.status,
                      f"{s.seconds:.2f}" if s.status == "scored" else "-")
    out: list[Any] = [table]
    if len(run.shards) > limit:
        out.append(f"... and {len(run.shards) - limit} more shard(s) (all in manifest.json)")
    skipped = sum(1 for s in run.shards if s.status == "skipped")
    where = f"{run.workers} Ray worker(s)" if run.workers else "1 process"
    rate = (f" ({run.rows_scored / run.scoring_seconds:,.0f} rows/s scoring)"
            if run.scoring_seconds and run.rows_scored else "")
    out.append(f"{run.rows_scored:,} of {run.rows:,} rows scored on {where} (T={run.samples}, "
               f"seed {run.seed}) in {run.seconds:.1f} s{rate}; {skipped} shard(s) already "
               "complete and verified")
    return out
