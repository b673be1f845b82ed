"""Byte-level fuzzing of whole files: bit-flip, zeroed-block and truncation mutants of every sample.

The property, per mutant: ``dropctl.inspect`` returns a report or raises dropctl's own
``DropctlError`` (nothing else: no h5py RuntimeError, KeyError, OverflowError...); the check
policy judges the report; every renderer (text, plain, JSON, SARIF/JUnit through check) runs on
it; no mutant takes 2 s or more; the process' peak RSS stays under 300 MB. Mutants are made
from ``sample_models/*`` with a seeded RNG: single and multiple bit flips, 512-byte blocks
zeroed (the mutation that made libhdf5 loop forever), truncations.

    .venv/bin/python -m bench.fuzz_files              # 3,000 mutants, a summary, exit 1 on a failure
    .venv/bin/python -m bench.fuzz_files -n 20000 --seed 7

``tests/reader/test_fuzz_files.py`` runs a few hundred in the default suite.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support import sample_files

SAMPLES = sample_files()
MAX_SECONDS = 2.0
MAX_RSS_MB = 300.0


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutant of ``data`` and a short description of the mutation."""
    buf = bytearray(data)
    kind = rng.choice(("flip", "flips", "zero512", "truncate"))
    if kind == "flip":
        i = rng.randrange(len(buf))
        bit = rng.randrange(8)
        buf[i] ^= 1 << bit
        return f"flip byte {i} bit {bit}", bytes(buf)
    if kind == "flips":
        n = rng.randint(2, 32)
        for _ in range(n):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        return f"{n} bit flips", bytes(buf)
    if kind == "zero512":
        start = rng.randrange(0, max(len(buf) - 1, 1), 512) if len(buf) > 512 else 0
        buf[start:start + 512] = bytes(len(buf[start:start + 512]))
        return f"zero bytes {start}-{start + 511}", bytes(buf)
    cut = rng.randrange(1, len(buf))
    return f"truncate to {cut} bytes", bytes(buf[:cut])


def exercise(path: Path) -> str:
    """Run the property on one file; returns "ok" or "dropctl-error", raises anything else."""
    import dropctl
    from dropctl.errors import DropctlError
    from dropctl.policy.config import Policy
    from dropctl.policy.evaluate import evaluate
    from dropctl.policy.results import ArtifactResult, CheckReport, Status
    from dropctl.reader.report import Severity
    from dropctl.render.check_text import render_text
    from dropctl.render.inspect_json import inspect_dict
    from dropctl.render.inspect_text import render_inspect_plain
    from dropctl.render.junit import render_junit
    from dropctl.render.safe import escape_all
    from dropctl.render.sarif import render_sarif

    try:
        report = dropctl.inspect(path)
    except DropctlError:
        return "dropctl-error"
    violations = tuple(evaluate(report, Policy()))
    json.dumps(inspect_dict(report, include_layers=True), allow_nan=False)
    shown = escape_all(report)
    render_inspect_plain(shown, show_all=True)
    from rich.console import Console

    from dropctl.render.inspect_text import render_inspect

    Console(file=io.StringIO(), width=120).print(render_inspect(shown, show_all=True))
    check = CheckReport((ArtifactResult(str(path), Status.FAIL if violations else Status.PASS,
                                        violations, None, report),), Severity.ERROR, None, False)
    render_sarif(check)
    render_junit(escape_all(check))
    render_text(escape_all(check))
    return "ok"


def peak_rss_mb() -> float:
    """This process' peak RSS. /proc's VmHWM, not ru_maxrss: Linux carries ru_maxrss over from
    the parent across fork and exec (a subprocess of a 1.2 GB pytest reports 1.2 GB)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, seed: int, work: Path, *, verbose: bool = False,
        max_seconds: float = MAX_SECONDS) -> dict[str, Any]:
    rng = random.Random(seed)
    originals = [(p, p.read_bytes()) for p in SAMPLES]
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    slowest = (0.0, "")
    for src, _ in originals:  # imports (h5py, rich...) before timing: a case's time is its own
        exercise(src)
    rss_before = peak_rss_mb()
    start_all = time.perf_counter()
    for i in range(n):
        src, data = originals[i % len(originals)]
        what, blob = mutate(data, rng)
        target = work / f"m{i % 8}{src.suffix}"
        target.write_bytes(blob)
        start = time.perf_counter()
        try:
            outcome = exercise(target)
        except Exception as exc:  # noqa: BLE001 - the property under test
            outcome = "FAILED"
            failures.append(f"{src.name} ({what}): {type(exc).__name__}: {str(exc)[:200]}")
        seconds = time.perf_counter() - start
        if seconds >= max_seconds:
            failures.append(f"{src.name} ({what}): took {seconds:.2f} s")
        if seconds > slowest[0]:
            slowest = (seconds, f"{src.name} ({what})")
        outcomes[outcome] += 1
        if verbose and (i + 1) % 500 == 0:
            print(f"  {i + 1:,} mutants, {time.perf_counter() - start_all:.0f} s", file=sys.stderr)
    rss_after = peak_rss_mb()
    if rss_after >= MAX_RSS_MB:
        failures.append(f"peak RSS {rss_after:.0f} MB (limit {MAX_RSS_MB:.0f})")
    return {
        "mutants": n, "samples": len(originals), "outcomes": dict(outcomes),
        "failures": failures, "slowest_seconds": slowest[0], "slowest": slowest[1],
        "seconds": time.perf_counter() - start_all, "peak_rss_mb": rss_after,
        "rss_before_mb": rss_before,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3000, help="number of mutants (default 3,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="FILE", help="write the result as JSON instead")
    ap.add_argument("--max-seconds", type=float, default=MAX_SECONDS,
                    help="a mutant taking this long fails (the unit suite uses a 10 s hang guard)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dropctl_fuzz_files_") as d:
        result = run(args.n, args.seed, Path(d), verbose=args.json is None,
                     max_seconds=args.max_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(result))
        return
    print(f"{result['mutants']:,} mutants of {result['samples']} sample files in "
          f"{result['seconds']:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in
                                                   sorted(result["outcomes"].items())))
    print(f"slowest mutant {result['slowest_seconds']:.3f} s ({result['slowest']}); "
          f"peak RSS {result['peak_rss_mb']:.0f} MB (limit {MAX_RSS_MB:.0f} MB, "
          f"{MAX_SECONDS} s per mutant)")
    for line in result["failures"][:20]:
        print(f"FAILED: {line}")
    if result["failures"]:
        print(f"{len(result['failures'])} failure(s)")
        raise SystemExit(1)
    print("every mutant: a report or one dropctl error; no hang, no other exception")


if __name__ == "__main__":
    main()
