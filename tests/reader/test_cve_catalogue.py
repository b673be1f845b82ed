"""The Keras CVE catalogue: one hostile fixture per CVE, the finding (or refusal) naming it, and
whether the target Keras is affected.

Each fixture carries the CVE's trigger; where the trigger is an HDF5 or zip feature, h5py and
zipfile (outside dropctl) prove it is really there. A test fails when a CVE id cited anywhere
in ``dropctl/`` or the README has no fixture.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dropctl
from dropctl.cli import app
from dropctl.reader.versions import spec_matches
from dropctl.rules import CVE_BY_ID, KERAS_CVES, cves_of
from tests.support import ROOT, hostile

CVE_ID = re.compile(r"CVE-\d{4}-\d{4,}")


@pytest.fixture(scope="session")
def cve_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cves")
    names: list[str] = []

    def add(name: str, what: str, readable: bool = False) -> Path:  # noqa: ARG001 - hostile's add(), readable= by name
        names.append(name)
        return d / name

    meta = b'{"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}'
    hostile.build_cve_cases(d, add, hostile.writer_code(d / hostile.SENTINEL_NAME), meta)
    assert sorted(names) == sorted(case for case, _ in hostile.CVE_CASES.values())
    return d


def _versions(cve_id: str) -> tuple[str, str | None]:
    """An affected Keras version and a fixed one (None when no release fixes it)."""
    cve = CVE_BY_ID[cve_id]
    candidates = ["2.12", "3.0", "3.7", "3.10", "3.11.0", "3.11.2", "3.12.0", "3.13.0",
                  "3.13.1", "3.14.0", "3.15.1", "3.16"]
    parsed = {v: tuple(int(p) for p in (v.split(".") + ["0", "0"])[:3]) for v in candidates}
    hit = [v for v in candidates if any(spec_matches(r, parsed[v]) for r in cve.affected)]
    miss = [v for v in candidates if v not in hit and v != "2.12"]
    return hit[-1], (miss[-1] if miss else None)


@pytest.mark.parametrize("cve_id", sorted(hostile.CVE_CASES))
def test_fixture_raises_the_finding_naming_the_cve(cve_dir: Path, cve_id: str) -> None:
    case, code = hostile.CVE_CASES[cve_id]
    path = cve_dir / case
    runner = CliRunner()
    if code == "refused":
        for command in ("inspect", "check"):
            result = runner.invoke(app, [command, str(path)])
            assert result.exit_code == 2, (command, result.stdout, result.stderr)
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: ") and cve_id in lines[0]
        return
    affected, fixed = _versions(cve_id)
    report = dropctl.inspect(path, keras=affected)
    named = [f for f in report.findings if f.code == code and cve_id in f.message]
    assert named, [f.message for f in report.findings]
    assert f"{cve_id} affects Keras {affected}" in named[0].message
    assert named[0].severity.value == "error"
    result = runner.invoke(app, ["check", "--no-config", "--set", f"keras=\"=={affected}\"", str(path)])
    assert result.exit_code == 1 and cve_id in result.stdout, result.stdout
    if fixed is not None:
        later = dropctl.inspect(path, keras=fixed)
        (again,) = [f for f in later.findings if f.code == code and cve_id in f.message][:1]
        assert f"{cve_id} does not affect Keras {fixed}" in again.message


def test_fixtures_carry_the_hdf5_and_zip_triggers(cve_dir: Path) -> None:
    """The refused fixtures hold what their CVE needs, read by h5py and zipfile themselves."""
    import h5py
    import numpy as np

    with h5py.File(cve_dir / "cve_2026_1669_external_storage.h5") as f:
        assert f["model_weights/dense/kernel"].external  # storage in another file
        assert f["model_weights/dense/kernel"][()].tobytes() == b"secret" * 4
    with h5py.File(cve_dir / "cve_2026_12480_virtual_dataset.h5") as f:
        ds = f["model_weights/dense/kernel"]
        assert ds.is_virtual and np.array_equal(ds[()], np.arange(4, dtype="f4"))
    with h5py.File(cve_dir / "cve_2026_9335_soft_link.h5") as f:
        assert isinstance(f.get("model_weights/alias", getlink=True), h5py.SoftLink)
    for name, declared in (("cve_2026_0897_shape_bomb.h5", 2**32),
                           ("cve_2026_12570_h5iostore_bomb.h5", 2**40)):
        with h5py.File(cve_dir / name) as f:
            ds = f["model_weights/dense/dense/kernel:0"]
            assert ds.size * 4 == declared and ds.id.get_storage_size() < 2**20
    with zipfile.ZipFile(cve_dir / "cve_2026_11816_zip_slip.keras") as z:
        assert "../../evil.py" in z.namelist()
    with zipfile.ZipFile(cve_dir / "cve_2026_12482_zip_symlink.keras") as z:
        assert stat.S_ISLNK(z.getinfo("assets/link").external_attr >> 16)


def test_catalogue_and_fixtures_agree() -> None:
    assert set(hostile.CVE_CASES) == set(CVE_BY_ID)
    for cve in KERAS_CVES:
        _, code = hostile.CVE_CASES[cve.id]
        assert code in cve.detection, cve.id
        if code != "refused":
            assert cve in cves_of(code)
        assert cve.affected and cve.fixed and cve.source


def test_every_cited_cve_has_a_fixture() -> None:
    """A CVE id named anywhere in the package or the docs must have a fixture and a test."""
    cited: dict[str, str] = {}
    files = [*sorted((ROOT / "dropctl").rglob("*.py")), ROOT / "README.md",
             *sorted((ROOT / "docs").rglob("*.md"))]
    for path in files:
        for found in CVE_ID.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(found, str(path.relative_to(ROOT)))
    missing = {cve: where for cve, where in cited.items() if cve not in hostile.CVE_CASES}
    assert not missing, f"CVE ids cited without a fixture: {missing}"
