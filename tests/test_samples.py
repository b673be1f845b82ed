"""The sample factory (``sample_models/make/``) against the committed samples.

Fast: the catalogue declares exactly the committed MANIFEST.json's files and facts, and the
oracle's static check finds every expected site in the committed files (zipfile/h5py, no Keras).
Slow (``-m slow``, minutes of TensorFlow): ``python -m sample_models.make --check`` rebuilds every
sample in a temporary directory and finds the same files with the same measured facts.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from sample_models.make import manifest
from sample_models.make.catalogue import SAMPLES
from sample_models.make.oracle import check_sites
from tests.support import ROOT
from tests.support import SAMPLES as SAMPLES_DIR

COMMITTED = json.loads((SAMPLES_DIR / "MANIFEST.json").read_text())


def test_the_catalogue_is_the_committed_manifest_in_its_order() -> None:
    files = [f for s in SAMPLES for f in s.files]
    assert files == [a["file"] for a in COMMITTED["artifacts"]]
    by_file = {a["file"]: a for a in COMMITTED["artifacts"]}
    for sample in SAMPLES:
        for fname in sample.files:
            entry = by_file[fname]
            assert (entry["description"], entry["shows"], entry["model_name"], entry["saved_by"],
                    entry["site_details"]) == (sample.description, sample.shows,
                                               sample.model_name, sample.saved_by, sample.sites)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.kind == "model"], ids=lambda s: s.stem)
def test_every_expected_site_is_in_the_committed_files(sample) -> None:
    """The oracle's static half, on the committed files: the sites in config order."""
    for fname in sample.files:
        entry = next(a for a in COMMITTED["artifacts"] if a["file"] == fname)
        assert check_sites(SAMPLES_DIR, sample, fname) == entry["expected_sites"]


def test_a_wrong_expected_site_fails_the_static_check() -> None:
    from dataclasses import replace

    mlp = next(s for s in SAMPLES if s.stem == "mlp")
    wrong = replace(mlp, sites={"dropout": {"class_name": "Dropout", "params": {"rate": 0.4}}})
    with pytest.raises(AssertionError):
        check_sites(SAMPLES_DIR, wrong, "mlp.keras")


def test_check_reports_a_changed_fact_and_a_missing_file() -> None:
    built = json.loads(json.dumps(COMMITTED))
    built["versions"] = {**built["versions"], "keras": "9.9.9"}
    built["artifacts"][0]["measured"]["keras3_predict_deterministic"] = False
    del built["artifacts"][-1]
    fails, notes = manifest.differences(built, COMMITTED)
    assert fails == [
        f"{COMMITTED['artifacts'][-1]['file']}: in the committed manifest, not built",
        f"{COMMITTED['artifacts'][0]['file']}: measured: "
        f"{COMMITTED['artifacts'][0]['measured']!r} committed, "
        f"{built['artifacts'][0]['measured']!r} built",
    ]
    assert len(notes) == 1 and notes[0].startswith("versions: ")
    assert manifest.differences(COMMITTED, COMMITTED) == ([], [])


def test_the_readme_is_made_from_the_manifest() -> None:
    assert manifest.readme(COMMITTED) == (SAMPLES_DIR / "README.md").read_text()


def test_the_factory_imports_nothing_of_dropctl() -> None:
    """The oracle measures the samples dropctl is tested on: it must not be dropctl."""
    bad = []
    for path in sorted((ROOT / "sample_models" / "make").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "dropctl"]
    assert not bad, bad


def test_the_old_script_name_runs_the_factory() -> None:
    for command in ([sys.executable, "sample_models/make_samples.py", "--help"],
                    [sys.executable, "-m", "sample_models.make", "--help"]):
        out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "--check" in out.stdout, out.stderr


@pytest.mark.slow
def test_a_rebuild_has_the_committed_facts(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "sample_models.make", "--check",
                          "--out", str(tmp_path / "built")],
                         cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stdout + out.stderr[-5000:]


def test_measured_floats_compare_to_float32_precision_and_nothing_else_does() -> None:
    assert manifest.same({"predict": [[0.02710316702723503]]}, {"predict": [[0.02710317261517048]]})
    assert not manifest.same({"predict": [[0.0271]]}, {"predict": [[0.0272]]})
    assert not manifest.same(True, 1) and not manifest.same(1, 1.0) and not manifest.same([1], [1, 2])
    assert not manifest.same({"a": 1}, {"a": 1, "b": 2})
