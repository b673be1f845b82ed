"""How fast is a whole ``dropctl inspect`` process, next to loading the model with Keras?

Builds keras.applications.EfficientNetB0(weights=None) once (saved as .keras and .h5; reused
from ``--cache DIR`` when given), then times whole processes, each a fresh interpreter,
side by side in one run (median of ``--repeat`` runs, rounds interleaved):

  ours   dropctl inspect FILE --json > /dev/null       (the venv's console script)
  naive  python -c "import keras; keras.models.load_model(FILE)"
  floor  python -c "open(FILE, 'rb').read()"             (start Python, read the bytes)
  api    python -c "import dropctl; dropctl.inspect(FILE)"  (shown only, to separate CLI cost)

It also checks what it times: the JSON lists every Dropout of the model with the rate Keras
stored, and neither ``dropctl.inspect(FILE)`` nor the CLI imports TensorFlow or Keras.

Exit 0 when naive/ours >= --target (default 15) for every format and every check holds,
1 when the target is missed or a check fails, 2 when something could not run.

    .venv/bin/python bench/inspect_speed.py [--repeat 3] [--cache DIR] [--target 15]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEM = "efficientnetb0"
FORMATS = (".keras", ".h5")
HEAVY = ("tensorflow", "keras", "tf_keras")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Runs in a child process so this script never imports TensorFlow itself.
BUILD = r"""
import json, os, sys
import keras
out = sys.argv[1]
model = keras.applications.EfficientNetB0(weights=None)
for ext in (".keras", ".h5"):
    tmp = os.path.join(out, "efficientnetb0.partial" + ext)
    model.save(tmp)
    os.replace(tmp, os.path.join(out, "efficientnetb0" + ext))
truth = {
    "keras_version": keras.__version__,
    "layers": len(model.layers),
    "dropout": {f"{model.name}/{layer.name}": float(layer.rate)
                for layer in model.layers if isinstance(layer, keras.layers.Dropout)},
}
with open(os.path.join(out, "truth.partial.json"), "w") as f:
    json.dump(truth, f)
os.replace(os.path.join(out, "truth.partial.json"), os.path.join(out, "efficientnetb0.truth.json"))
"""

# dropctl.inspect through the Python API, then report which heavy modules got imported.
API_PROBE = (
    "import sys, dropctl; dropctl.inspect(sys.argv[1]); "
    f"print(*[m in sys.modules for m in {HEAVY!r}])"
)
# The same question for the CLI process that the bench times.
CLI_PROBE = (
    "import sys\n"
    "from dropctl.cli import main\n"
    "try:\n"
    "    main(['inspect', sys.argv[1], '--json'])\n"
    "except SystemExit as exc:\n"
    "    assert not exc.code, exc.code\n"
    f"print(*[m in sys.modules for m in {HEAVY!r}], file=sys.stderr)\n"
)


class BenchError(Exception):
    """Something the bench needs could not run."""


def run(cmd: list[str], *, timeout: float, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with TF logging off; raise BenchError with its stderr tail if it fails."""
    proc = subprocess.run(
        cmd, env=ENV, text=True, timeout=timeout,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    if proc.returncode != 0:
        tail = "\n    ".join(proc.stderr.strip().splitlines()[-5:])
        raise BenchError(f"exit {proc.returncode}: {' '.join(cmd)}\n    {tail}")
    return proc


def timed(cmd: list[str], *, timeout: float) -> float:
    start = time.perf_counter()
    run(cmd, timeout=timeout)
    return time.perf_counter() - start


def installed_keras() -> str:
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError as exc:
        raise BenchError("keras is not installed in this interpreter") from exc


def ensure_models(folder: Path) -> dict:
    """The two artifacts and their ground truth in ``folder``; build them unless already there."""
    truth_file = folder / f"{STEM}.truth.json"
    paths = [folder / f"{STEM}{ext}" for ext in FORMATS]
    if truth_file.is_file() and all(p.is_file() for p in paths):
        truth = json.loads(truth_file.read_text())
        if truth.get("keras_version") == installed_keras():
            print(f"reusing {folder} (built by Keras {truth['keras_version']})", file=sys.stderr)
            return truth
    folder.mkdir(parents=True, exist_ok=True)
    print(f"building EfficientNetB0(weights=None) into {folder} ...", file=sys.stderr)
    run([sys.executable, "-c", BUILD, str(folder)], timeout=900)
    return json.loads(truth_file.read_text())


def dropctl_command() -> list[str]:
    """The venv's console script next to this interpreter, else ``python -m dropctl``."""
    script = Path(sys.executable).with_name("dropctl")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "dropctl"]


def check_report(dropctl: list[str], path: Path, truth: dict) -> list[str]:
    """Problems with the JSON ``dropctl inspect`` prints for ``path`` (empty when it is right)."""
    doc = json.loads(run([*dropctl, "inspect", str(path), "--json"], timeout=120, capture=True).stdout)
    got = {s["path"]: s["rate"] for s in doc["sites"] if s["class_name"] == "Dropout"}
    problems = []
    if doc.get("status") != "ok":
        problems.append(f"status {doc.get('status')!r}")
    for site, rate in truth["dropout"].items():
        if site not in got:
            problems.append(f"missing site {site}")
        elif got[site] != rate:
            problems.append(f"{site}: rate {got[site]!r}, Keras stored {rate!r}")
    problems.extend(f"unexpected site {site}" for site in got.keys() - truth["dropout"].keys())
    for site in doc["sites"]:
        phases = (site["in_fit"], site["in_predict"], site["in_call"])
        if phases != (True, "never", "never"):
            problems.append(f"{site['path']}: fit/predict/call = {phases}, expected (True, never, never)")
    return problems


def heavy_imports(cmd: list[str], *, stream: str) -> list[str]:
    """Which of HEAVY the probe process reports as imported."""
    proc = run(cmd, timeout=120, capture=True)
    flags = (proc.stdout if stream == "stdout" else proc.stderr).split()[-len(HEAVY):]
    if flags == ["False"] * len(HEAVY):
        return []
    if set(flags) <= {"True", "False"} and len(flags) == len(HEAVY):
        return [name for name, flag in zip(HEAVY, flags, strict=True) if flag == "True"]
    raise BenchError(f"probe printed {flags!r}, expected {len(HEAVY)} booleans")


def measure(commands: dict[str, list[str]], repeat: int) -> dict[str, list[float]]:
    """Wall time of each command, ``repeat`` rounds, interleaved so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for name in ("ours", "floor", "api"):  # warm the page cache and .pyc files; not counted
        timed(commands[name], timeout=120)
    for _ in range(repeat):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, timeout=900))
    return times


def print_table(ext: str, size: int, times: dict[str, list[float]], target: float) -> bool:
    labels = {
        "ours": "dropctl inspect FILE --json",
        "naive": "keras.models.load_model(FILE)",
        "floor": "python + read FILE's bytes",
        "api": "(info) dropctl.inspect(FILE), no CLI",
    }
    med = {name: statistics.median(t) for name, t in times.items()}
    naive_ratio = med["naive"] / med["ours"]
    ok = naive_ratio >= target
    print(f"\n{ext}  ({size / 1e6:.1f} MB)")
    print(f"  {'process':<38} {'median':>8}   runs")
    for name, label in labels.items():
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(f"  {label:<38} {med[name]:>7.2f}s   {runs}")
    verdict = "ok" if ok else "MISSED"
    print(f"  naive/ours {naive_ratio:5.1f}x  (target >= {target:g}x: {verdict})"
          f"   ours/floor {med['ours'] / med['floor']:4.1f}x")
    return ok


def bench(folder: Path, repeat: int, target: float) -> int:
    truth = ensure_models(folder)
    dropctl = dropctl_command()
    failed = False
    print(f"EfficientNetB0(weights=None): {truth['layers']} layers, {len(truth['dropout'])} Dropout; "
          f"Keras {truth['keras_version']}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"whole processes, median of {repeat} (fresh interpreter each), TF_CPP_MIN_LOG_LEVEL=3; "
          f"ours = {' '.join(Path(c).name for c in dropctl)}; load average {load()}")
    for ext in FORMATS:
        path = folder / f"{STEM}{ext}"
        commands = {
            "ours": [*dropctl, "inspect", str(path), "--json"],
            "naive": [sys.executable, "-c", "import sys, keras; keras.models.load_model(sys.argv[1])",
                      str(path)],
            "floor": [sys.executable, "-c", "import sys; open(sys.argv[1], 'rb').read()", str(path)],
            "api": [sys.executable, "-c", "import sys, dropctl; dropctl.inspect(sys.argv[1])", str(path)],
        }
        times = measure(commands, repeat)
        failed |= not print_table(ext, path.stat().st_size, times, target)
        problems = check_report(dropctl, path, truth)
        api = heavy_imports([sys.executable, "-c", API_PROBE, str(path)], stream="stdout")
        cli = heavy_imports([sys.executable, "-c", CLI_PROBE, str(path)], stream="stderr")
        problems += [f"dropctl.inspect() imported {m}" for m in api]
        problems += [f"dropctl inspect (CLI) imported {m}" for m in cli]
        if problems:
            failed = True
            print("  CHECK FAILED:\n    " + "\n    ".join(problems))
        else:
            print(f"  checks: {len(truth['dropout'])}/{len(truth['dropout'])} Dropout sites with the stored "
                  f"rate; no {'/'.join(HEAVY)} import (API and CLI)")
    print(f"\nload average at the end: {load()}")
    return 1 if failed else 0


def load() -> str:
    """The 1-minute load average: other processes on the machine stretch every time alike."""
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per process (median)")
    parser.add_argument("--cache", type=Path, help="keep the built models here and reuse them")
    parser.add_argument("--target", type=float, default=15.0, help="required naive/ours ratio")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # keep the table and stderr notes in order
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        if args.cache is not None:
            return bench(args.cache, args.repeat, args.target)
        with tempfile.TemporaryDirectory(prefix="dropctl-bench-") as tmp:
            return bench(Path(tmp), args.repeat, args.target)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
