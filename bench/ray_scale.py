"""Throughput of ``mc-predict --output-dir`` in one process and on Ray, and its memory at scale.

Run: ``.venv/bin/python bench/ray_scale.py [--rows 2500] [--quick]``. Needs ``dropctl[ray]``.

1. rows/s on a compute-bound CNN (32x32x3, conv 64/64/128, three dropouts, T=10), one run
   each of: this process (TensorFlow on every core), a local Ray cluster with 1 actor and with
   2 actors (1 CPU and 1 TensorFlow thread each). Rates are steady state: the second half of
   the rows divided by the time it took (actor start-up excluded; time to the first result is
   printed). Also printed: the CPU time the scoring processes actually got in that window, so
   a loaded machine shows up as such (rows per CPU-second is the efficiency).
   Target: 2 actors >= 1.6x 1 actor (the physical limit on this 2-core machine is 2x).
   Every Ray run must also reproduce the single-process files byte for byte.
2. peak RSS of a fresh single-process run over N shards vs 10x as many shards of the same size
   (sample_models/cnn.keras, T=5). Target: <= +50 MB (memory follows the work unit, not the
   data set).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "sample_models" / "cnn.keras"
T = 10
UNIT = 256  # rows per work unit: fine-grained progress marks for the steady-state rate


def _build_model(path: Path) -> None:
    from dropctl.runtime.imports import tf_module

    tf_module()  # quietly: TF 2.21's C++ start-up lines would bury the table
    import keras

    keras.utils.set_random_seed(0)
    x_in = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(64, 3, activation="relu")(x_in)
    h = keras.layers.Conv2D(64, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Dropout(0.25)(h)
    h = keras.layers.Conv2D(128, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Dropout(0.25)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(256, activation="relu")(h)
    h = keras.layers.Dropout(0.5)(h)
    model = keras.Model(x_in, keras.layers.Dense(10, activation="softmax")(h), name="bench_cnn")
    model.save(path)


def _cpu_seconds(ray_workers: bool) -> float:
    """CPU time used so far by this process, or by the Ray actors scoring the units."""
    import psutil

    if not ray_workers:
        t = os.times()
        return t.user + t.system
    total = 0.0
    for p in psutil.process_iter(["cmdline"]):
        try:
            if " ".join(p.info["cmdline"] or []).startswith("ray::MapWorker"):
                c = p.cpu_times()
                total += c.user + c.system
        except psutil.Error:
            continue
    return total


def _timed(model: Path, shards: Path, out: Path, runner=None, workers: int = 0) -> dict:
    from dropctl.mc.shards import run_shards

    marks: list[tuple[float, int, float]] = []
    began = time.perf_counter()
    run = run_shards(model, shards, out, samples=T, seed=0, runner=runner, workers=workers,
                     unit_rows=UNIT, progress=lambda done, _total: marks.append(
                         (time.perf_counter(), done, _cpu_seconds(bool(workers)))))
    # steady state: the second half of the rows (every actor is up by then)
    t0, r0, c0 = next(m for m in marks if m[1] >= marks[-1][1] // 2)
    t1, r1, c1 = marks[-1]
    return {"rate": (r1 - r0) / (t1 - t0), "first": marks[0][0] - began, "wall": run.seconds,
            "rows": run.rows_scored, "cpus": (c1 - c0) / (t1 - t0),
            "per_cpu_s": (r1 - r0) / max(c1 - c0, 1e-9)}


def _peak_rss(shards: Path, out: Path) -> float:
    code = (
        "import resource, sys\n"
        "from dropctl.mc.shards import run_shards\n"
        f"run_shards({str(CNN)!r}, {str(shards)!r}, {str(out)!r}, samples=5, seed=0)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    return int(res.stdout.strip().splitlines()[-1]) / 1024


def _same_bytes(a: Path, b: Path) -> bool:
    return sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()) and all(
        (a / p.name).read_bytes() == p.read_bytes() for p in b.iterdir())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2500, help="rows per shard (4 shards)")
    ap.add_argument("--quick", action="store_true", help="smaller memory run")
    args = ap.parse_args()
    import numpy as np

    try:
        import ray
    except ImportError:
        print("Error: bench/ray_scale.py needs Ray: pip install 'dropctl[ray]'", file=sys.stderr)
        raise SystemExit(2) from None
    import logging

    from dropctl.ray import ray_runner

    tmp = Path(tempfile.mkdtemp(prefix="ray_scale_"))
    model = tmp / "bench_cnn.keras"
    _build_model(model)
    rng = np.random.default_rng(0)
    shards = tmp / "shards"
    shards.mkdir()
    for i in range(4):
        np.save(shards / f"part-{i}.npy",
                rng.standard_normal((args.rows, 32, 32, 3)).astype("float32"))

    single = _timed(model, shards, tmp / "single")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    try:
        one = _timed(model, shards, tmp / "ray1", ray_runner(workers=1), 1)
        two = _timed(model, shards, tmp / "ray2", ray_runner(workers=2), 2)
    finally:
        ray.shutdown()
    same = _same_bytes(tmp / "single", tmp / "ray1") and _same_bytes(tmp / "single", tmp / "ray2")

    # memory: N shards vs 10x N shards of the sample CNN, fresh processes
    n_small, rows_mem = (2, 1000) if args.quick else (4, 2000)
    mem_dirs = []
    for count in (n_small, 10 * n_small):
        d = tmp / f"mem{count}"
        d.mkdir()
        for i in range(count):
            np.save(d / f"p{i:03d}.npy",
                    rng.standard_normal((rows_mem, 28, 28, 1)).astype("float32"))
        mem_dirs.append(d)
    low = _peak_rss(mem_dirs[0], tmp / "mem_out_small")
    high = _peak_rss(mem_dirs[1], tmp / "mem_out_big")

    total = 4 * args.rows
    print(f"model: bench_cnn (conv 64/64/128 + dense 256, 3 dropouts), T={T}, 4 shards x "
          f"{args.rows} rows = {total} rows; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"{'path':30} {'rows/s':>8} {'vs 1 worker':>11} {'CPUs got':>9} {'rows/CPU-s':>11} "
          f"{'1st result':>10} {'wall':>7}")
    for name, r in (("single process (all cores)", single), ("Ray, 1 worker (1 CPU)", one),
                    ("Ray, 2 workers (1 CPU each)", two)):
        print(f"{name:30} {r['rate']:8.1f} {r['rate'] / one['rate']:10.2f}x {r['cpus']:9.2f} "
              f"{r['per_cpu_s']:11.1f} {r['first']:9.1f}s {r['wall']:6.1f}s")
    print("(CPUs got: CPU time of the scoring processes / wall time in the steady state; below "
          "the CPUs asked for, other load on the machine took the rest)")
    scale = two["rate"] / one["rate"]
    print(f"2 workers / 1 worker: {scale:.2f}x  (target >= 1.6x; physical limit 2.0x)")
    print(f"Ray files == single-process files, byte for byte: {same}")
    print(f"peak RSS, {n_small} vs {10 * n_small} shards x {rows_mem} rows (sample CNN, T=5): "
          f"{low:.0f} MB vs {high:.0f} MB ({high - low:+.0f} MB; target <= +50 MB)")
    missed = [name for name, bad in (("2 workers >= 1.6x 1 worker", scale < 1.6),
                                     ("same bytes", not same),
                                     ("flat memory", high - low > 50)) if bad]
    if missed:
        print(f"MISSED: {', '.join(missed)}")
        raise SystemExit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
