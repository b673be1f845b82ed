"""``mc-predict --output-dir``: shards in, one result per shard out (here or on Ray)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from dropctl.cli._app import err_console, out_console, progress_bar
from dropctl.errors import UsageError


def _terminate(signum: int, _frame: Any) -> None:
    # SIGTERM unwinds like Ctrl-C: the atomic writer removes its temporary file, a local Ray
    # cluster is shut down, and every shard already in the manifest stays.
    raise SystemExit(128 + signum)


def run_shards_command(model: Path, input_path: Path | None, output_dir: Path, *, samples: int,
                       seed: int, sites: str | None, batch_size: int | None, use_ray: bool,
                       address: str | None, workers: int | None, cpus_per_worker: int,
                       gpus_per_worker: float = 0.0, json_out: bool, quiet: bool,
                       conflicts: dict[str, bool], calibration: Path | None = None) -> None:
    """Validate the options, run :func:`dropctl.score_shards`, print the report."""
    import dropctl
    from dropctl.render.shards import shards_json, shards_tables

    if input_path is None:
        raise UsageError("--output-dir needs --input (a directory, a glob or a shard file)")
    given = [name for name, on in conflicts.items() if on]
    if given:
        raise UsageError(f"{', '.join(given)} cannot be combined with --output-dir")
    show = not quiet and not json_out
    hint = err_console()

    def on_shard(outcome: Any) -> None:
        if show:
            note = (f"{outcome.seconds:.1f} s" if outcome.status == "scored"
                    else "complete, hashes verified")
            hint.print(f"{outcome.status} {outcome.shard} ({outcome.rows} rows, {note})",
                       style="dim", highlight=False, soft_wrap=True)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with progress_bar("rows", enabled=show, console=hint) as progress:
            run = dropctl.score_shards(
                model, input_path, output_dir, samples=samples, seed=seed, sites=sites,
                batch_size=batch_size, calibration=calibration, ray=use_ray, address=address,
                workers=workers, cpus_per_worker=cpus_per_worker,
                gpus_per_worker=gpus_per_worker, on_shard=on_shard, progress=progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if json_out:
        print(json.dumps(shards_json(run), indent=2))
    else:
        console = out_console()
        for part in shards_tables(run):
            console.print(part)
