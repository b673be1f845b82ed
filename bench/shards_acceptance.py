"""Issue 14's acceptance run: 20 shards x 5,000 rows, sample CNN, T=20, via the real CLI.

Run: ``.venv/bin/python bench/shards_acceptance.py [--shards 20] [--rows 5000]``. Needs
``dropctl[ray]``. Three fresh ``dropctl mc-predict --output-dir`` processes:

1. single process over all shards (peak RSS of the process tree measured);
2. single process over 1/10 of the shards (peak RSS: the memory baseline);
3. ``--ray --workers 2`` on a local Ray cluster.

Fails (exit 1) unless the Ray run wrote exactly the single-process files (every result and
the manifest, byte for byte) and the full run's peak RSS is within 50 MB of the 1/10 run's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "sample_models" / "cnn.keras"


def _cli(args: list[str]) -> tuple[dict, float, float]:
    """(JSON report, wall seconds, peak RSS MB) of one fresh dropctl process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = ("import resource, subprocess, sys\n"
            "r = subprocess.run(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(r.returncode)\n")
    began = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "dropctl",
                          "mc-predict", str(CNN), *args, "--json"],
                         capture_output=True, text=True, env=env)
    wall = time.perf_counter() - began
    if res.returncode != 0:
        print(res.stderr, file=sys.stderr)
        raise SystemExit(2)
    peak = int(res.stderr.strip().splitlines()[-1]) / 1024
    return json.loads(res.stdout), wall, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=int, default=20)
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shards_acceptance_"))
    full, tenth = tmp / "shards", tmp / "tenth"
    full.mkdir()
    tenth.mkdir()
    rng = np.random.default_rng(0)
    for i in range(args.shards):
        x = rng.standard_normal((args.rows, 28, 28, 1)).astype("float32")
        np.save(full / f"part-{i:03d}.npy", x)
        if i < max(1, args.shards // 10):
            np.save(tenth / f"part-{i:03d}.npy", x)
    size = sum(p.stat().st_size for p in full.iterdir()) / 2**20
    common = ["-T", str(args.samples), "--seed", "0"]
    single, t_single, rss_single = _cli(["--input", str(full), "--output-dir",
                                         str(tmp / "out_single"), *common])
    _, _, rss_tenth = _cli(["--input", str(tenth), "--output-dir", str(tmp / "out_tenth"),
                            *common])
    on_ray, t_ray, rss_ray = _cli(["--input", str(full), "--output-dir", str(tmp / "out_ray"),
                                   *common, "--ray", "--workers", "2"])
    a, b = tmp / "out_single", tmp / "out_ray"
    names = sorted(p.name for p in a.iterdir())
    same = names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)
    rows = single["rows"]
    print(f"{args.shards} shards x {args.rows} rows = {rows} rows ({size:.0f} MB of .npy), "
          f"sample CNN, T={args.samples}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'run':36} {'wall':>8} {'scoring rows/s':>15} {'peak RSS':>9}")
    print(f"{'single process, all shards':36} {t_single:7.1f}s "
          f"{single['rows_per_second']:15.0f} {rss_single:7.0f}MB")
    print(f"{'single process, 1/10 of the shards':36} {'':8} {'':15} {rss_tenth:7.0f}MB")
    print(f"{'Ray local, 2 workers (incl. start-up)':36} {t_ray:7.1f}s "
          f"{on_ray['rows_per_second']:15.0f} {rss_ray:7.0f}MB (largest process)")
    print(f"memory: all shards vs 1/10: {rss_single - rss_tenth:+.0f} MB (target <= +50 MB)")
    print(f"files ({len(names)}: results + manifest.json) identical, Ray vs single process: {same}")
    if not same or rss_single - rss_tenth > 50:
        print("MISSED")
        raise SystemExit(1)
    print("all targets met")


if __name__ == "__main__":
    main()
