"""Time and memory of every command on the hostile corpus (issue: under 2 s and 300 MB each).

Builds the corpus with ``tests/hostile.py`` (zip bombs, 5,000-level nesting, polyglots, HDF5
external links, a FIFO, file-writing Lambdas...), runs each command over every case in one warm
process (imports done on a real sample first, so a case's time is the command's own work),
and prints per case the time, the peak-RSS growth and the exit code, next to the floor: the
time to read the case's bytes. Exits 1 when a case takes 2 s or more, grows memory by
300 MB or more, or the Lambda payload ran.

    .venv/bin/python -m bench.hostile_limits [--commands inspect,check,convert,mc-predict] [--big]

``--big`` adds the cases too large for the unit suite (a 600 MB variable-length attribute, a
3,000,000-entry zip directory, a bzip2 bomb, 199,990 Dropout layers; about 1.3 GB of disk).
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

ROOT = Path(__file__).resolve().parents[1]
from tests.support import hostile  # noqa: E402  (run from the root: python -m bench.hostile_limits)

MAX_SECONDS = 2.0
MAX_MB = 300.0


def floor_seconds(path: Path) -> float:
    if not path.is_file():
        return 0.0
    start = time.perf_counter()
    path.read_bytes()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commands", default="inspect,check,convert,mc-predict")
    ap.add_argument("--big", action="store_true", help="also the large cases (about 1.3 GB)")
    args = ap.parse_args()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as d:
        corpus = Path(d) / "corpus"
        corpus.mkdir()
        cases = hostile.build_corpus(corpus)
        names = list(hostile.CASE_NAMES)
        index = {n: c.what for n, c in cases.items()}
        if args.big:
            big = hostile.build_big_cases(corpus)
            index.update(big)
            names += list(big)
        (corpus / "INDEX.json").write_text(json.dumps(index))
        print(f"{'command':11} {'case':32} {'exit':>5} {'seconds':>8} {'floor':>7} {'+MB':>6}")
        for command in args.commands.split(","):
            out = Path(d) / f"{command}.json"
            proc = subprocess.run(
                [sys.executable, str(ROOT / "tests" / "support" / "hostile.py"), "run", command, str(corpus),
                 str(out), str(ROOT / "sample_models" / "mlp.keras")],
                capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(2)
            results = json.loads(out.read_text())
            worst = 0.0
            for case in names:
                r = results[case]
                worst = max(worst, r["seconds"])
                floor = floor_seconds(corpus / case) if not case.startswith("fifo") else 0.0
                print(f"{command:11} {case:32} {r['exit']!s:>5} {r['seconds']:8.3f} {floor:7.3f} "
                      f"{r['rss_growth_mb']:6.0f}")
                if r["seconds"] >= MAX_SECONDS or r["rss_growth_mb"] >= MAX_MB:
                    failures.append(f"{command} {case}")
            print(f"{command:11} {'(slowest case)':32} {'':>5} {worst:8.3f}")
        if (corpus / hostile.SENTINEL_NAME).exists():
            failures.append("the Lambda payload ran")
    if failures:
        print(f"OVER THE LIMIT ({MAX_SECONDS} s / {MAX_MB:.0f} MB): {', '.join(failures)}")
        raise SystemExit(1)
    print(f"every case under {MAX_SECONDS} s and {MAX_MB:.0f} MB; the Lambda payload never ran")


if __name__ == "__main__":
    main()
