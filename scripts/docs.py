"""Keep the docs in step with the code: generated reference blocks and tested transcripts.

    .venv/bin/python scripts/docs.py                # rewrite generated blocks and static transcripts
    .venv/bin/python scripts/docs.py --check        # exit 1 and name every stale block (CI)
    .venv/bin/python scripts/docs.py --runtime ...  # also the transcripts that load TensorFlow

Two kinds of block, in README.md and every page under docs/:

* **Generated**: everything between ``<!-- generated:NAME -->`` and ``<!-- /generated -->`` is the
  output of one function of the code (the rule catalogue, exit codes, JSON schemas, the CLI
  reference from the Typer app), see :data:`GENERATORS`.
* **Transcripts**: a fenced ``console`` block whose first line starts with ``$ ``. Each ``$`` line
  is run by bash in a scratch directory holding a copy of ``sample_models/`` (``dropctl`` is this
  checkout's CLI), and the lines after it must be exactly what it printed (stdout and stderr, in
  the order written). A line ``...`` stands for any number of lines; a line ending in ``...``
  stands for any line starting with the text before it. So every number shown is checked.
  An HTML comment right above the fence sets the scene: ``<!-- transcript: setup="SHELL" -->``
  runs SHELL first in the scratch directory (not shown), and ``cwd=/tmp/demo`` prints the scratch
  directory as that path, and ``runtime`` marks a block whose setup needs Keras. Transcripts
  of commands that load a model (mc-predict, diff, convert, check --probe, calibrate, export)
  run only with ``--runtime``; CI runs them where TensorFlow is. Each step's shell starts with
  ``$?`` set to the previous step's exit code, so ``$ echo $?`` shows it.

Rewriting fills a transcript with the real output only if the block has no ``...``; a block with
elisions is checked, never rewritten (edit it by hand).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = re.compile(r"(<!-- generated:([\w-]+) -->\n)(.*?)(<!-- /generated -->)", re.S)
FENCE = re.compile(
    r"(?:<!-- transcript:(?P<opts>[^\n]*?)-->\n)?(?P<open>```console\n)(?P<body>.*?)(?P<close>^```$)",
    re.S | re.M,
)
RUNTIME_COMMANDS = ("mc-predict", "diff", "convert", "calibrate", "export")
"""Commands that load TensorFlow/Keras; their transcripts run only with ``--runtime``."""


def doc_files() -> list[Path]:
    """README.md and every Markdown page of the docs site, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def generators() -> dict[str, Callable[[], str]]:
    """Block name -> the function that writes it (imported lazily: the CLI pulls in Typer)."""
    from dropctl.cli.reference import TABLES as CLI_TABLES
    from dropctl.render.catalogue import TABLES

    return {**TABLES, **CLI_TABLES}


def regenerate_blocks(text: str, gens: dict[str, Callable[[], str]]) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in gens:
            raise SystemExit(f"Error: unknown generated block {name!r} (known: {', '.join(sorted(gens))})")
        return m.group(1) + gens[name]().rstrip("\n") + "\n" + m.group(4)

    return GENERATED.sub(fill, text)


# ---- transcripts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One ``$ command`` of a transcript and the lines shown after it."""

    command: str
    expected: list[str]


@dataclass(frozen=True)
class Transcript:
    """One ``console`` block."""

    path: Path
    line: int
    """1-based line of the opening fence."""
    steps: list[Step]
    setup: str | None
    cwd: str | None

    forced_runtime: bool = False
    """``<!-- transcript: runtime -->``: its setup needs Keras (e.g. keras_hub writes a config)."""

    @property
    def runtime(self) -> bool:
        return self.forced_runtime or any(_is_runtime(s.command) for s in self.steps)

    @property
    def elided(self) -> bool:
        return any(line.endswith("...") for s in self.steps for line in s.expected)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _is_runtime(command: str) -> bool:
    words = shlex.split(command, comments=True)
    return any(
        w == "dropctl" and i + 1 < len(words)
        and (words[i + 1] in RUNTIME_COMMANDS or (words[i + 1] == "check" and "--probe" in words))
        for i, w in enumerate(words)
    )


def _options(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    out = {}
    for token in shlex.split(raw):
        key, _, value = token.partition("=")
        out[key] = value
    return out


def _parse_steps(body: str) -> list[Step]:
    steps: list[Step] = []
    continued = False
    for line in body.splitlines():
        if continued:  # a command continued with a trailing backslash
            steps[-1] = Step(steps[-1].command + "\n" + line, [])
        elif line.startswith("$ "):
            steps.append(Step(line[2:], []))
        elif steps:
            steps[-1].expected.append(line)
        continued = bool(steps) and not steps[-1].expected and line.endswith("\\")
    return steps


def transcripts(path: Path, text: str | None = None) -> Iterator[tuple[re.Match[str], Transcript]]:
    """Every transcript block of one Markdown file, with the match that locates it."""
    text = path.read_text() if text is None else text
    for m in FENCE.finditer(text):
        if not m.group("body").startswith("$ "):
            continue
        opts = _options(m.group("opts"))
        line = text.count("\n", 0, m.start("open")) + 1
        yield m, Transcript(path, line, _parse_steps(m.group("body")), opts.get("setup"), opts.get("cwd"),
                            "runtime" in opts)


def _scratch(setup: str | None, env: dict[str, str]) -> Path:
    work = Path(tempfile.mkdtemp(prefix="dropctl-doc-"))
    shutil.copytree(ROOT / "sample_models", work / "sample_models",
                    ignore=shutil.ignore_patterns("__pycache__", "make_samples.py", "make"))
    if setup:
        proc = subprocess.run(["bash", "-c", setup], cwd=work, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode:  # say why: a failed setup is otherwise a bare CalledProcessError
            raise RuntimeError(f"transcript setup exited {proc.returncode}: {setup}\n"
                               f"{proc.stderr[-3000:]}")
    return work


def _env(bindir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", PYTHONUNBUFFERED="1",
               NO_COLOR="1", TERM="dumb", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))
    return env


def run(transcript: Transcript) -> list[list[str]]:
    """Run a transcript's commands in one scratch directory; the output lines of each."""
    bindir = Path(tempfile.mkdtemp(prefix="dropctl-bin-"))
    shim = bindir / "dropctl"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m dropctl "$@"\n')
    shim.chmod(0o755)
    python = bindir / "python"  # setups may run the project's scripts (a script, not a symlink:
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')  # a venv is found
    python.chmod(0o755)  # from the path the interpreter is started by)
    env = _env(bindir)
    work = _scratch(transcript.setup, env)
    try:
        outputs = []
        status = 0  # each step's shell starts with $? set to the previous step's exit code
        for step in transcript.steps:
            proc = subprocess.run(["bash", "-c", f"(exit {status}); {step.command}"], cwd=work,
                                  env=env, text=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=600)
            status = proc.returncode
            text = proc.stdout
            if transcript.cwd:
                text = text.replace(str(work.resolve()), transcript.cwd).replace(str(work), transcript.cwd)
            outputs.append([line.rstrip() for line in text.splitlines()])
        return outputs
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)


def matches(expected: list[str], actual: list[str]) -> bool:
    """``expected`` against real output: ``...`` lines match any lines, ``text...`` a prefix."""
    exp = [line.rstrip() for line in expected]
    while exp and exp[-1] == "":
        exp.pop()
    act = list(actual)
    while act and act[-1] == "":
        act.pop()

    # Lines before an elision: matched greedily with backtracking on the (few) elisions.
    def go(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i] == "...":
            return any(go(i + 1, k) for k in range(j, len(act) + 1))
        if j == len(act):
            return False
        line = exp[i]
        ok = act[j].startswith(line[:-3].rstrip()) if line.endswith("...") else act[j] == line
        return ok and go(i + 1, j + 1)

    return go(0, 0)


def diff_text(expected: list[str], actual: list[str]) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(expected, actual, "documented", "real output", lineterm=""))


def check_transcript(transcript: Transcript) -> str | None:
    """None if every step printed what the block shows, else a readable difference."""
    for step, actual in zip(transcript.steps, run(transcript), strict=True):
        if not matches(step.expected, actual):
            return f"{transcript.where()}: $ {step.command}\n{diff_text(step.expected, actual)}"
    return None


def selected(t: Transcript, *, static: bool, runtime: bool) -> bool:
    return runtime if t.runtime else static


def rewrite_transcripts(path: Path, text: str, *, static: bool, runtime: bool) -> str:
    """The file with every non-elided transcript of the selected kinds filled with real output."""
    pieces, last = [], 0
    for m, t in transcripts(path, text):
        if t.elided or not selected(t, static=static, runtime=runtime):
            continue
        body = "".join(f"$ {s.command}\n" + "".join(f"{line}\n" for line in out)
                       for s, out in zip(t.steps, run(t), strict=True))
        pieces += [text[last:m.start("body")], body]
        last = m.start("close")
    pieces.append(text[last:])
    return "".join(pieces)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--runtime", action="store_true",
                        help="also the transcripts that load a model (needs TensorFlow)")
    parser.add_argument("--runtime-only", action="store_true", help="only those transcripts")
    args = parser.parse_args(argv)
    runtime = args.runtime or args.runtime_only
    static = not args.runtime_only
    gens = generators()
    stale: list[str] = []
    for path in doc_files():
        text = path.read_text()
        new = text if args.runtime_only else regenerate_blocks(text, gens)
        if args.check:
            if new != text:
                stale.append(f"{path.relative_to(ROOT)}: generated blocks are out of date")
            for _, t in transcripts(path, text):
                if selected(t, static=static, runtime=runtime):
                    problem = check_transcript(t)
                    if problem:
                        stale.append(problem)
        else:
            new = rewrite_transcripts(path, new, static=static, runtime=runtime)
            if new != text:
                path.write_text(new)
                print(f"rewrote {path.relative_to(ROOT)}", file=sys.stderr)
    if stale:
        print("\n\n".join(stale), file=sys.stderr)
        print(f"\n{len(stale)} stale block(s): run scripts/docs.py{' --runtime' if runtime else ''}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
