"""Ctrl-C and kill -9 at many points of every writing / TensorFlow-loading command.

For each scenario (convert to .keras and to .h5, mc-predict --output, mc-predict --output-dir,
diff, check --probe --output) the script times one undisturbed run of the real CLI, then starts
fresh runs and hits them at delays spread evenly over that time (TensorFlow import, model load,
Monte Carlo loop, writing, shutdown):

* ``--fault sigint``: SIGINT to the whole process group, as a terminal's Ctrl-C does. Each run
  must end within ``--max-latency`` seconds (default 1.5) of the signal with exit 130 and
  exactly the line ``Error: interrupted`` on stderr (or, when the signal came after the work
  was done, exit 0 with a complete output); never a traceback or "Fatal Python error", never a
  temporary file left, never a partial output under its final name, no process left behind.
* ``--fault kill``: SIGKILL to the process group (kill -9, OOM killer). Whatever is left must be
  a complete output or a file named ``*.dropctl-tmp*``; a second run of the same command must
  then leave no temporary file.

Prints one line per scenario with the outcome counts and the slowest exit; exits 1 when a run
breaks a rule (each failure is printed), 2 when an undisturbed run fails.

    .venv/bin/python -m bench.interrupt_faults [--fault sigint|kill|both] [--delays 40]
        [--scenarios convert-keras,convert-h5,mc-output,mc-shards,diff,check-probe]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"
TEMP_MARK = ".dropctl-tmp"
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
FIRST = 0.2
"""The first delay (s): before about 0.1 s Python itself is still starting (site-packages) and
reports a Ctrl-C its own way; dropctl's handler is installed by its first line."""


@dataclass(frozen=True)
class Scenario:
    name: str
    argv: list[str]
    """Arguments after ``dropctl``, relative to the scenario's working directory."""
    outputs: list[str]
    """Files (relative) that must be complete whenever they exist."""
    setup: Callable[[Path], None]
    complete: Callable[[Path], str | None]
    """None when the outputs present in the directory are complete, else what is wrong."""


def _no_setup(_d: Path) -> None:
    return None


def _shards_setup(d: Path) -> None:
    x = np.load(SAMPLES / "digits_inputs.npy")
    (d / "shards").mkdir()
    for i in range(4):
        np.save(d / "shards" / f"part{i}.npy", np.concatenate([x] * 4)[i * 100:(i + 1) * 100])


def _probe_setup(d: Path) -> None:
    (d / "models").mkdir()
    for name in ("mlp.keras", "cnn.h5", "bn_dropout.keras"):
        shutil.copy(SAMPLES / name, d / "models" / name)


def _model_ok(path: Path) -> str | None:
    if not path.exists():
        return None
    proc = subprocess.run([sys.executable, "-m", "dropctl", "inspect", "--json", str(path)],
                          capture_output=True, text=True, env=ENV)
    return None if proc.returncode == 0 else f"{path.name} unreadable: {proc.stderr.strip()}"


def _npz_ok(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            for k in z.files:
                z[k]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        return f"{path.name} is partial: {exc}"
    return None


def _shards_ok(d: Path) -> str | None:
    out = d / "scores"
    for p in sorted(out.glob("*.npz")) if out.is_dir() else []:
        bad = _npz_ok(p)
        if bad:
            return bad
    manifest = out / "manifest.json"
    if manifest.exists():
        try:
            doc = json.loads(manifest.read_text())
        except ValueError as exc:
            return f"manifest.json is partial: {exc}"
        for entry in doc["shards"]:
            if not (out / entry["output"]).exists():
                return f"manifest lists {entry['output']}, which is missing"
    return None


def _json_ok(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        json.loads(path.read_text())
    except ValueError as exc:
        return f"{path.name} is partial: {exc}"
    return None


SCENARIOS = [
    Scenario("convert-keras", ["convert", str(SAMPLES / "cnn.keras"), "out.keras", "--perma",
                               "--quiet"], ["out.keras"], _no_setup,
             lambda d: _model_ok(d / "out.keras")),
    Scenario("convert-h5", ["convert", str(SAMPLES / "cnn.h5"), "out.h5", "--perma", "--quiet"],
             ["out.h5"], _no_setup, lambda d: _model_ok(d / "out.h5")),
    Scenario("mc-output", ["mc-predict", str(SAMPLES / "digits.keras"), "-i",
                           str(SAMPLES / "digits_inputs.npy"), "--samples", "100", "--output",
                           "out.npz", "--save-samples", "--quiet"], ["out.npz"], _no_setup,
             lambda d: _npz_ok(d / "out.npz")),
    Scenario("mc-shards", ["mc-predict", str(SAMPLES / "digits.keras"), "-i", "shards",
                           "--output-dir", "scores", "--samples", "100", "--quiet"], [],
             _shards_setup, _shards_ok),
    Scenario("diff", ["diff", str(SAMPLES / "mlp.keras"), "--samples", "100"], [], _no_setup,
             lambda _d: None),
    Scenario("check-probe", ["check", "--no-config", "--probe", "models", "--format", "json",
                             "--output", "report.json", "--quiet"], ["report.json"],
             _probe_setup, lambda d: _json_ok(d / "report.json")),
]


def _temps(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob(f"*{TEMP_MARK}*"))


def _group_alive(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True,
                         text=True).stdout
    return [int(pid) for pid, group, stat in (line.split()[:3] for line in out.splitlines())
            if int(group) == pgid and not stat.startswith("Z")]


def _start(s: Scenario, d: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dropctl", *s.argv], cwd=d, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _fresh(base: Path, s: Scenario, i: int) -> Path:
    d = base / f"{s.name}-{i}"
    d.mkdir()
    s.setup(d)
    return d


def baseline(base: Path, s: Scenario) -> float:
    d = _fresh(base, s, 0)
    began = time.perf_counter()
    proc = _start(s, d)
    _, err = proc.communicate(timeout=600)
    took = time.perf_counter() - began
    if proc.returncode not in (0, 1) or _temps(d) or s.complete(d):
        print(f"{s.name}: the undisturbed run failed (exit {proc.returncode}): {err[-2000:]}",
              file=sys.stderr)
        raise SystemExit(2)
    return took


def one_run(base: Path, s: Scenario, i: int, delay: float, fault: str, max_latency: float,
            failures: list[str]) -> tuple[str, float]:
    """Run once, send the fault after ``delay`` s; (outcome, seconds from signal to exit)."""
    d = _fresh(base, s, i)
    proc = _start(s, d)
    time.sleep(delay)
    sent = time.perf_counter()
    sig = signal.SIGINT if fault == "sigint" else signal.SIGKILL
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        failures.append(f"{s.name} @{delay:.2f}s: still running 60 s after the signal")
        return "hung", 60.0
    latency = time.perf_counter() - sent
    code = proc.returncode
    where = f"{s.name} @{delay:.2f}s (exit {code})"
    time.sleep(0.1)
    left = _group_alive(proc.pid)
    if left:
        failures.append(f"{where}: processes left behind: {left}")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    bad = s.complete(d)
    if bad:
        failures.append(f"{where}: {bad}")
    if "Traceback" in err or "Fatal Python error" in err:
        failures.append(f"{where}: {err.strip()[-600:]!r}")
    temps = _temps(d)
    if fault == "sigint":
        if code == 130:
            outcome = "130"
            if err.strip() != "Error: interrupted":
                failures.append(f"{where}: stderr is {err.strip()[-600:]!r}")
        elif code in (0, 1):
            outcome = "finished first"
        else:
            outcome = f"exit {code}"
            failures.append(f"{where}: stderr {err.strip()[-600:]!r}")
        if latency > max_latency and code == 130:
            failures.append(f"{where}: took {latency:.2f} s after SIGINT")
        if temps:
            failures.append(f"{where}: temporary files left: {temps}")
        return outcome, latency
    # kill -9: leftovers must be temporary files, and the next run must clean them
    outcome = "left temps" if temps else ("killed" if code == -9 else "finished first")
    again = _start(s, d)
    _, err2 = again.communicate(timeout=600)
    if _temps(d):
        failures.append(f"{where}: the next run (exit {again.returncode}) left {_temps(d)}")
    if again.returncode not in (0, 1, 2) or (again.returncode == 2 and "exists" not in err2):
        failures.append(f"{where}: the next run failed (exit {again.returncode}): "
                        f"{err2.strip()[-400:]!r}")
    bad = s.complete(d)
    if bad:
        failures.append(f"{where}: after the next run: {bad}")
    return outcome, latency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fault", choices=("sigint", "kill", "both"), default="both")
    ap.add_argument("--delays", type=int, default=40, help="runs per scenario and fault")
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS))
    ap.add_argument("--max-latency", type=float, default=1.5)
    args = ap.parse_args()
    chosen = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    faults = ["sigint", "kill"] if args.fault == "both" else [args.fault]
    failures: list[str] = []
    print(f"load average {os.getloadavg()[0]:.1f}; {args.delays} delays per scenario and fault")
    with tempfile.TemporaryDirectory(prefix="interrupt_faults_") as tmp:
        base = Path(tmp)
        for s in chosen:
            took = baseline(base, s)
            for fault in faults:
                counts: Counter[str] = Counter()
                latencies = []
                for i in range(args.delays):
                    delay = FIRST + (took * 1.05 - FIRST) * i / max(args.delays - 1, 1)
                    before = len(failures)
                    outcome, latency = one_run(base, s, i + 1, delay,
                                               fault, args.max_latency, failures)
                    counts[outcome] += 1
                    if outcome == "130":
                        latencies.append(latency)
                    for line in failures[before:]:
                        print(f"  FAIL {fault} {line}", flush=True)
                slowest = f"; slowest exit {max(latencies):.2f} s after SIGINT" if latencies else ""
                print(f"{s.name:14} {fault:6} undisturbed {took:5.1f} s; "
                      + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + slowest,
                      flush=True)
                shutil.rmtree(base, ignore_errors=True)
                base.mkdir()
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if failures:
        print(f"{len(failures)} failures")
        raise SystemExit(1)
    print("every run ended cleanly")


if __name__ == "__main__":
    main()
