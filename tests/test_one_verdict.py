"""One verdict in every environment: ``inspect`` and ``check`` give the same documents and exit
codes whether Keras is installed or not (issue 19, item 5).

The oracle is the environment itself, not dropctl: a child interpreter started with ``-S`` (no
site-packages at all) sees only the core install's distributions (typer, rich, h5py, numpy and
what they require, linked from this venv, dist-info included), so ``import keras`` fails and
``importlib.metadata`` finds no Keras, exactly as in ``pip install dropctl`` (the pre-commit
hook's environment; bench/core_install.py builds that venv with pip and compares the same
documents). The other child is the full venv (Keras 3.15 installed). Each child runs every
command through the CLI in one process and prints {argv: [exit code, stdout]}.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT, SAMPLES, real_model_files, sample_files

CORE_REQUIREMENTS = ("typer", "rich", "h5py", "numpy")
"""pyproject's ``dependencies`` (the static core), by distribution name."""

_CHILD = r"""
import json, sys
from typer.testing import CliRunner
from dropctl.cli import app
out = {}
for argv in json.loads(sys.argv[1]):
    res = CliRunner().invoke(app, argv)
    out[" ".join(argv)] = [res.exit_code, res.stdout, res.stderr]
import importlib.util
out["keras visible"] = importlib.util.find_spec("keras") is not None
print(json.dumps(out))
"""


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if ";" in req and "extra" in req.split(";", 1)[1]:
            continue  # an optional extra's requirement
        m = re.match(r"[A-Za-z0-9._-]+", req)
        if m:
            names.append(m.group(0))
    return names


def core_site(tmp: Path) -> Path:
    """A directory holding only the core requirements and their dependency closure (symlinks
    into this venv's site-packages, the .dist-info directories included)."""
    site = tmp / "core-site"
    site.mkdir()
    seen: set[str] = set()
    stack = list(CORE_REQUIREMENTS)
    while stack:
        name = stack.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a requirement whose marker excludes this platform
        stack.extend(_requirement_names(dist))
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in tops:
            src = base / top
            if top in ("..", "__pycache__") or not src.exists() or (site / top).exists():
                continue
            (site / top).symlink_to(src)
    assert not any(p.name.split("-")[0].lower() in ("keras", "tensorflow", "tf_keras")
                   for p in site.iterdir()), sorted(p.name for p in site.iterdir())
    return site


def run_children(argvs: list[list[str]], tmp: Path) -> tuple[dict, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    core = subprocess.run(
        [str(base), "-S", "-c", _CHILD, json.dumps(argvs)], capture_output=True, text=True,
        cwd=ROOT, timeout=900, env={**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{core_site(tmp)}"})
    full = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(argvs)], capture_output=True, text=True,
        cwd=ROOT, timeout=900, env={**env, "PYTHONPATH": str(ROOT)})
    assert core.returncode == 0, core.stderr[-3000:]
    assert full.returncode == 0, full.stderr[-3000:]
    return json.loads(core.stdout), json.loads(full.stdout)


def _comparable(text: str) -> object:
    """A JSON document without its timing fields, or the text itself."""
    try:
        doc = json.loads(text)
    except ValueError:
        return re.sub(r'time="[0-9.]+"', 'time=""', text)

    def strip(node: object) -> object:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "seconds"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    return strip(doc)


def test_core_and_full_install_give_identical_documents(tmp_path: Path) -> None:
    files = [p.relative_to(ROOT) if p.is_relative_to(ROOT) else p
             for p in sample_files() + real_model_files()]
    argvs = []
    for f in files:
        argvs.append(["inspect", str(f), "--json"])
        argvs.append(["check", str(f), "--format", "json", "--no-config"])
    samples = str(SAMPLES.relative_to(ROOT))
    for fmt in ("json", "sarif", "junit", "github", "text"):
        argvs.append(["check", samples, "--format", fmt, "--no-config"])
    argvs.append(["check", "sample_models/pinned_training_tfkeras.h5", "--no-config"])
    core, full = run_children(argvs, tmp_path)
    assert core.pop("keras visible") is False  # the oracle: Keras really is absent
    assert full.pop("keras visible") is True
    differ = [k for k in full
              if (core[k][0], _comparable(core[k][1])) != (full[k][0], _comparable(full[k][1]))]
    assert not differ, f"{len(differ)} of {len(full)} differ, e.g. {differ[:3]}"
    # The documents state the target: dropctl's default, not the installed Keras 3.15.1.
    pinned = full["check sample_models/pinned_training_tfkeras.h5 --no-config"]
    assert pinned[0] == 0 and "verdicts for Keras 3.15 (default)" in pinned[1]
    sarif = json.loads(full[f"check {samples} --format sarif --no-config"][1])
    assert sarif["runs"][0]["properties"]["verdictsFor"] == "Keras 3.15 (default)"
    inspect_doc = json.loads(full[f"inspect {files[0]} --json"][1])
    assert inspect_doc["verdicts_for"] == {"keras": "3.15", "source": "default"}
