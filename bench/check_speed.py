"""How fast is ``dropctl check`` on 100 artifacts, next to a naive ``load_model`` loop?

Copies the bundled sample models around a temporary tree until there are 100 artifacts, then,
in one run, side by side:

1. ``dropctl check TREE`` - ONE process, static reading, no TensorFlow (target: under 10 s);
2. the same with ``--jobs 2``;
3. the naive gate people write: one Python process importing Keras and calling
   ``keras.models.load_model`` (safe mode) on every file, then ``predict`` is not even run;
4. the physical floor: one Python process that only reads every file's bytes.

Prints wall times (whole processes, interpreter start-up included) and the ratios.

    .venv/bin/python bench/check_speed.py [--count 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"
NAIVE = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
ok = failed = 0
for path in sys.argv[1:]:
    try:
        keras.models.load_model(path, compile=False)
        ok += 1
    except Exception:
        failed += 1
print(f"naive: {ok} loaded, {failed} refused by Keras", file=sys.stderr)
"""


def make_tree(dest: Path, count: int) -> list[Path]:
    sources = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".keras", ".h5"))
    files = []
    for i in range(count):
        src = sources[i % len(sources)]
        sub = dest / f"team{i % 7}" / f"model{i % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        target = sub / f"{src.stem}_{i:03d}{src.suffix}"
        shutil.copy(src, target)
        files.append(target)
    return files


def timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - start, proc


def main() -> None:
    ap = argparse.ArgumentParser(description="dropctl check speed vs a naive load_model loop")
    ap.add_argument("--count", type=int, default=100)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        tree = Path(d) / "models"
        files = make_tree(tree, args.count)
        size = sum(f.stat().st_size for f in files) / 2**20
        print(f"{len(files)} artifacts ({size:.1f} MB) copied from sample_models/ into {tree}")

        cmd = [py, "-m", "dropctl", "check", "--no-config", "--format", "json", str(tree)]
        t_check, proc = timed(cmd, Path(d))
        assert proc.returncode in (0, 1), proc.stderr
        t_jobs, proc2 = timed([*cmd, "--jobs", "2"], Path(d))
        assert proc2.returncode == proc.returncode, proc2.stderr
        probe = [py, "-c", "import sys, dropctl.cli; from dropctl.cli import main\n"
                 "try: main(['check','--no-config','-q','-f','json',sys.argv[1]])\n"
                 "except SystemExit: pass\n"
                 "print('tensorflow' in sys.modules, file=sys.stderr)", str(tree)]
        _, tf_proc = timed(probe, Path(d))
        tf_loaded = tf_proc.stderr.strip().splitlines()[-1]
        t_naive, naive = timed([py, "-c", NAIVE, *map(str, files)], Path(d))
        floor = "import sys\nfor p in sys.argv[1:]:\n    open(p, 'rb').read()"
        t_floor, _ = timed([py, "-c", floor, *map(str, files)], Path(d))

    verdict = "PASS" if t_check < 10 else "FAIL"
    print()
    print(f"{'':38}{'wall time':>10}  {'time / dropctl check':>21}")
    print(f"{'dropctl check (1 process)':38}{t_check:9.2f}s  {1.0:20.1f}x")
    print(f"{'dropctl check --jobs 2':38}{t_jobs:9.2f}s  {t_jobs / t_check:20.1f}x")
    print(f"{'naive keras.models.load_model loop':38}{t_naive:9.2f}s  {t_naive / t_check:20.1f}x")
    print(f"{'floor: python reading every file':38}{t_floor:9.2f}s  {t_floor / t_check:20.1f}x")
    print()
    print(f"dropctl check is {t_naive / t_check:.1f}x faster than loading every model with Keras")
    print(f"({naive.stderr.strip().splitlines()[-1] if naive.stderr.strip() else 'naive: no output'})")
    print(f"TensorFlow imported by `dropctl check`: {tf_loaded}")
    print(f"dropctl check takes {t_check / t_floor:.1f}x the floor (start-up plus reading)")
    print(f"{len(files)} artifacts in {t_check:.2f} s, target < 10 s: {verdict}")
    if verdict != "PASS" or tf_loaded != "False":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
