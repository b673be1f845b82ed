"""How the factory's processes talk: a build or oracle step runs as ``python -m
sample_models.make.<module> STEP OUT`` in a fresh interpreter and hands back one JSON result.

Keras 3 and tf-keras are never imported in one process (mixing them is fragile), so each step
that needs one runs in its own interpreter through its module's explicit entry point
(:func:`step_main`), and the parent (:mod:`sample_models.make.__main__`) imports neither. A step
prints its result as one line after :data:`RESULT_MARKER` (Keras and TensorFlow print their own
lines on stdout too).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULT_MARKER = "@@MAKE_SAMPLES_RESULT@@"
ROOT = Path(__file__).resolve().parents[2]
"""The repository root (``python -m`` runs from here, so ``sample_models`` imports)."""


def run_step(module: str, step: str, out: Path, *args: str, stdin: str | None = None
             ) -> dict[str, Any]:
    """Run ``python -m sample_models.make.<module> STEP OUT ARGS...`` and return its result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    command = [sys.executable, "-m", f"sample_models.make.{module}", step, str(out), *args]
    proc = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env,
                          cwd=ROOT, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER):])
            return result
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
    raise SystemExit(f"step {module} {step} failed (exit {proc.returncode})")


def step_main(steps: dict[str, Callable[..., dict[str, Any]]]) -> None:
    """A module's entry point: ``STEP OUT [--only STEM,...]``, JSON input (if any) on stdin."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=sorted(steps))
    parser.add_argument("out", type=Path)
    parser.add_argument("--only", default=None)
    parser.add_argument("--stdin", action="store_true", help="read the step's JSON input")
    args = parser.parse_args()
    kwargs: dict[str, Any] = {}
    if args.only is not None:
        kwargs["only"] = set(args.only.split(",")) if args.only else set()
    if args.stdin:
        kwargs["entries"] = json.loads(sys.stdin.read())
    result = steps[args.step](args.out.resolve(), **kwargs)
    print(RESULT_MARKER + json.dumps(result), flush=True)


def inputs_of(model: Any) -> list[dict[str, Any]]:
    """Name, shape (batch dim null) and dtype of each model input, in model.inputs order."""
    res = []
    for t in model.inputs:
        name = getattr(t, "name", None)
        # tf-keras symbolic tensors are named like "tokens" or "tokens:0"; keep the layer name.
        if isinstance(name, str):
            name = name.split(":")[0]
        dtype = t.dtype if isinstance(t.dtype, str) else t.dtype.name
        res.append({"name": name, "shape": [None, *list(t.shape)[1:]], "dtype": dtype})
    return res


def error_line(exc: BaseException) -> str:
    """An exception as the manifest records it: type, first line, no object addresses."""
    msg = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {msg[0] if msg else ''}"
    text = re.sub(r"0x[0-9a-fA-F]+", "0x...", text)  # object addresses differ run to run
    return text[:300]
