"""Build the samples, check them, measure them, write MANIFEST.json (``python -m sample_models.make``).

1. Build: each sample's build step (:data:`sample_models.make.catalogue.SAMPLES`), one process
   per build module, Keras 3 before the formats (the weights + config pair is made from mlp.keras).
2. Check: every expected site against the saved config (:func:`sample_models.make.oracle.check_sites`).
3. Measure: load and run every file with Keras 3 and with tf-keras (the oracle's processes).
4. Write MANIFEST.json and README.md (:func:`sample_models.make.manifest.write`), the one writer.

``--out DIR`` builds somewhere else than ``sample_models/``; ``--only`` rebuilds just those samples
in DIR (the others keep their files; their build facts are read back from DIR's manifest) and
re-measures everything. ``--check`` builds everything into a temporary directory (or ``--out``)
and compares its manifest with the committed one: the same files with the same facts, exit 1
and every difference otherwise; it never writes ``sample_models/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from sample_models.make import keras1, manifest
from sample_models.make.catalogue import BY_STEM, SAMPLES
from sample_models.make.oracle import check_sites
from sample_models.make.process import run_step

HERE = Path(__file__).resolve().parents[1]
"""``sample_models/``, where the committed samples live."""

BUILD_ORDER = ("keras3:models", "trained:models", "tfkeras:models", "tfkeras:corpus",
               "keras1:models", "formats:tfkeras", "formats:keras3")
"""The build steps, in the order they run."""

CARRIED = ("inputs", "model_name", "training", "reference")
"""Build facts of a sample that ``--only`` does not rebuild, read back from the manifest."""


def build(here: Path, only: set[str] | None) -> dict[str, dict[str, Any]]:
    """Run the build steps (all, or those of ``only``) into ``here``: stem -> build facts."""
    info: dict[str, dict[str, Any]] = {}
    if only is not None:
        old = manifest.read(here)
        if old is None:
            raise SystemExit(f"--only needs the other samples' manifest: {here / manifest.NAME}")
        for sample in SAMPLES:
            entry = next((e for e in old["artifacts"] if e["file"] in sample.files), None)
            if sample.stem not in only and entry is not None:
                info[sample.stem] = {k: entry[k] for k in CARRIED if k in entry}
    wanted = {s.stem for s in SAMPLES} if only is None else only
    only_arg = ["--only", ",".join(sorted(wanted))]
    for step in BUILD_ORDER:
        if not any(BY_STEM[stem].builder == step for stem in wanted):
            continue
        module, name = step.split(":")
        if module == "keras1":
            info.update(keras1.build_models(here))
        else:
            info.update(run_step(module, name, here, *only_arg))
    return info


def entries(here: Path, info: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per file, in catalogue order: the catalogue's facts and the checked expected sites."""
    per_file: dict[str, dict[str, Any]] = {}
    for sample in SAMPLES:
        built = info[sample.stem]
        assert built["model_name"] == sample.model_name, (sample.stem, built["model_name"])
        for fname in sample.files:
            if fname in built.get("save_errors", {}):
                print(f"not produced: {fname}: {built['save_errors'][fname]}", file=sys.stderr)
                continue
            per_file[fname] = {
                "file": fname, "saved_by": sample.saved_by, "description": sample.description,
                "shows": sample.shows, "model_name": sample.model_name, "inputs": built["inputs"],
                "expected_sites": (check_sites(here, sample, fname) if sample.kind == "model"
                                   else list(sample.sites)),
                "site_details": sample.sites,
                **({"training": built["training"]} if "training" in built else {}),
                **({"reference": built["reference"]} if "reference" in built else {}),
            }
    return per_file


def measure(here: Path, per_file: dict[str, dict[str, Any]]) -> None:
    """The oracle's processes: every model file under Keras 3 and tf-keras, every format sample
    under Keras 3 and (those tf-keras saved) tf-keras. Adds ``measured`` to each entry."""
    kinds = {f: BY_STEM[s.stem].kind for s in SAMPLES for f in s.files}
    models = {f: {"inputs": e["inputs"]} for f, e in per_file.items() if kinds[f] == "model"}
    formats = {f: {"inputs": e["inputs"]} for f, e in per_file.items() if kinds[f] == "format"}
    tf_formats = {f: v for f, v in formats.items() if per_file[f]["saved_by"] == "tf_keras"}
    measured: dict[str, dict[str, Any]] = {f: {} for f in per_file}
    for step, chosen in (("models-keras3", models), ("models-tfkeras", models),
                         ("formats-keras3", formats), ("formats-tfkeras", tf_formats)):
        if chosen:
            for fname, facts in run_step("oracle", step, here, "--stdin",
                                         stdin=json.dumps(chosen)).items():
                measured[fname].update(facts)
    for fname, entry in per_file.items():
        entry["measured"] = measured[fname]


def make(here: Path, only: set[str] | None = None) -> dict[str, Any]:
    """Build, check and measure into ``here``; write and return its manifest."""
    here.mkdir(parents=True, exist_ok=True)
    per_file = entries(here, build(here, only))
    measure(here, per_file)
    doc = manifest.document(list(per_file.values()))
    manifest.write(here, doc)
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_models.make",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="build into DIR [default: sample_models/; with --check a temporary "
                             "directory]")
    parser.add_argument("--only", metavar="STEM[,STEM...]",
                        help="rebuild only these samples (re-measure all, rewrite the manifest)")
    parser.add_argument("--check", action="store_true",
                        help="build everything elsewhere and compare with the committed manifest")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if only is not None and only - set(BY_STEM):
        parser.error(f"--only: unknown sample(s) {sorted(only - set(BY_STEM))}; "
                     f"known: {sorted(BY_STEM)}")
    if args.check:
        if only is not None:
            parser.error("--check builds every sample: drop --only")
        if args.out is not None and args.out.resolve() == HERE:
            parser.error("--check never writes sample_models/: pick another --out")
        committed = manifest.read(HERE)
        assert committed is not None, "no committed MANIFEST.json"
        with tempfile.TemporaryDirectory(prefix="samples-") as scratch:
            built = make((args.out or Path(scratch)).resolve())
        fails, notes = manifest.differences(built, committed)
        for line in notes:
            print(f"note: {line}", file=sys.stderr)
        for line in fails:
            print(f"differs: {line}", file=sys.stderr)
        print(f"{len(built['artifacts'])} files built; "
              f"{'the same facts as' if not fails else f'{len(fails)} difference(s) from'} "
              "the committed MANIFEST.json")
        return 1 if fails else 0
    here = (args.out or HERE).resolve()
    doc = make(here, only)
    for entry in doc["artifacts"]:
        path = here / entry["file"]
        size = path.stat().st_size if path.is_file() else sum(
            p.stat().st_size for p in path.rglob("*") if p.is_file())
        print(f"{entry['file']:34s} {size:8d} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
