"""The static core without TensorFlow: install size, set-up time, and byte-identical reports.

Builds two fresh virtual environments side by side in one run:

* core: ``pip install ROOT`` (no extras), what ``pip install dropctl`` and the
  ``dropctl-check`` pre-commit hook (``language: python``) install;
* full: the project's own ``.venv`` (all extras), the reference.

Then it checks that the core venv has no tensorflow/keras, that ``inspect --json`` and
``check --format json`` give the same documents in both on every sample and every file of
../shared/real_models (timing fields aside), and that the runtime commands exit 2 naming
``dropctl[tensorflow]``. Prints the core venv's size and set-up time against the full venv
and the goal (<= 150 MB).

    .venv/bin/python bench/core_install.py [--keep DIR]

Exit 1 when the size goal is missed or any document differs; 2 when something cannot run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_MB = 150


def du_mb(path: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total / 2**20


def artifacts() -> list[Path]:
    files = sorted(p for p in (ROOT / "sample_models").iterdir()
                   if p.suffix in (".keras", ".h5", ".hdf5")
                   or (p.suffix == ".json" and p.name != "MANIFEST.json"))
    real = ROOT.parent / "shared" / "real_models"
    if real.is_dir():
        files += sorted(p for p in real.iterdir() if p.suffix in (".keras", ".h5", ".hdf5"))
    return files


def _strip_timing(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: _strip_timing(v) for k, v in doc.items() if k not in ("seconds",)}
    if isinstance(doc, list):
        return [_strip_timing(v) for v in doc]
    return doc


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dropctl ARGS`` from the project root, this checkout first on the path for
    the full install (an editable install of this checkout is the same thing)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if python != CORE_PYTHON[0]:
        env["PYTHONPATH"] = str(ROOT)
    # Not from ROOT: `python -m` puts the working directory first on sys.path, and the core
    # venv must run the dropctl it installed (a packaging mistake must show).
    return subprocess.run([str(python), "-m", "dropctl", *args], capture_output=True, text=True,
                          cwd=CORE_PYTHON[0].parent.parent.parent, timeout=600, env=env)


CORE_PYTHON: list[Path] = [Path()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="build the core venv here and keep it")
    ap.add_argument("--full-python", type=Path, default=ROOT / ".venv" / "bin" / "python",
                    help="python of the full install (default: the project's .venv)")
    args = ap.parse_args()
    full = args.full_python
    if not full.exists():
        print("run scripts/setup.sh first (the full .venv is the reference)", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="dropctl_core_"))
    venv = work / "venv"
    if venv.exists():
        shutil.rmtree(venv)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", str(ROOT)],
                         capture_output=True, text=True)
    setup_s = time.perf_counter() - start
    if pip.returncode != 0:
        print(pip.stderr[-2000:], file=sys.stderr)
        return 2
    core_mb, full_mb = du_mb(venv), du_mb(full.parent.parent)
    site = next((venv / "lib").glob("python3*/site-packages"))
    heavy = sorted(p.name for p in site.iterdir()
                   if p.name.split("-")[0].lower() in ("tensorflow", "keras", "tf_keras", "jax"))
    core = venv / "bin" / "python"
    CORE_PYTHON[0] = core
    problems: list[str] = []
    if heavy:
        problems.append(f"core venv contains {heavy}")
    files = artifacts()
    same = 0
    for f in files:
        for cmd in (["inspect", str(f), "--json"],
                    ["check", str(f), "--format", "json", "--no-config"]):
            a, b = run(core, *cmd), run(full, *cmd)
            da = _strip_timing(json.loads(a.stdout)) if a.stdout.strip() else a.stderr
            db = _strip_timing(json.loads(b.stdout)) if b.stdout.strip() else b.stderr
            if (a.returncode, da) != (b.returncode, db):
                problems.append(f"{' '.join(cmd[:1])} {f.name}: core and full differ")
            else:
                same += 1
    cnn = str(ROOT / "sample_models" / "cnn.keras")
    for cmd in (["mc-predict", cnn, "--synthetic", "2"],
                ["diff", cnn],
                ["convert", cnn, str(work / "o.keras"), "--perma"],
                ["check", cnn, "--probe"]):
        out = run(core, *cmd)
        if out.returncode != 2 or "pip install 'dropctl[tensorflow]'" not in out.stderr:
            problems.append(f"core `dropctl {cmd[0]}`: exit {out.returncode}, {out.stderr!r}")
    print(f"core install (pip install . , no extras) in a fresh venv, Python {sys.version.split()[0]}")
    print(f"  {'venv':<34}{'size':>10}{'set-up':>10}")
    print(f"  {'core: pip install dropctl':<34}{core_mb:>8.0f} MB{setup_s:>9.1f}s")
    print(f"  {'full: .venv (all extras + dev)':<34}{full_mb:>8.0f} MB{'-':>10}")
    print(f"  {'goal':<34}{'<= ' + str(GOAL_MB):>7} MB")
    print(f"  ratio full/core: {full_mb / core_mb:.1f}x")
    print(f"identical documents core vs full: {same} of {2 * len(files)} "
          f"({len(files)} artifacts x inspect --json, check --format json)")
    print("runtime commands in the core venv: exit 2 naming dropctl[tensorflow]: "
          + ("yes" if not any("core `dropctl" in p for p in problems) else "NO"))
    if core_mb > GOAL_MB:
        problems.append(f"core venv is {core_mb:.0f} MB > {GOAL_MB} MB")
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
