"""What ``python -m build`` makes of this checkout: an sdist with the package, its docs and its
license and no tests (they need sample_models/ and a clone), a wheel whose metadata carries the
SPDX license expression, the license file and the Project-URLs; and a clean tree (the Apache-2.0
text verbatim, no tracked ``.matrix`` symlink)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from dropctl._version import __version__
from tests.support import ROOT

APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
"""MD5 of https://www.apache.org/licenses/LICENSE-2.0.txt, the file other projects ship
verbatim (e.g. absl-py's and jax's LICENSE)."""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel built from that sdist (``python -m build``'s default)."""
    out = tmp_path_factory.mktemp("dist")
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


def _tracked(prefix: str) -> set[str]:
    git = shutil.which("git")
    assert git and (ROOT / ".git").exists(), "needs a git checkout of dropctl"
    out = subprocess.run([git, "-C", str(ROOT), "ls-files", prefix], capture_output=True,
                         text=True, check=True)
    return set(out.stdout.split())


def test_sdist_ships_the_package_and_no_tests(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    top = f"dropctl-{__version__}/"
    with tarfile.open(sdist) as tar:
        names = {m.name.removeprefix(top) for m in tar.getmembers() if m.isfile()}
        pkg_info = tar.extractfile(top + "PKG-INFO").read().decode()  # type: ignore[union-attr]
    assert not [n for n in names if n.startswith(("tests/", "sample_models/", "bench/"))]
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO"} <= names
    sources = {n for n in names if n.startswith("dropctl/")}
    assert sources == {n for n in _tracked("dropctl") if not n.endswith("/")}
    assert "License-Expression: Apache-2.0" in pkg_info.splitlines()


def test_wheel_metadata(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        info = f"dropctl-{__version__}.dist-info/"
        meta = Parser().parsestr(z.read(info + "METADATA").decode())
        license_text = z.read(info + "licenses/LICENSE")
        assert not [n for n in z.namelist() if n.startswith("tests/")]
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert not [c for c in meta.get_all("Classifier") if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert set(urls) == {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
    assert all(u.startswith("https://github.com/dropctl/dropctl") for u in urls.values())
    assert license_text == (ROOT / "LICENSE").read_bytes()


def test_license_is_the_apache_text_and_no_symlink_is_tracked() -> None:
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == APACHE_2_MD5
    assert _tracked(".matrix") == set()
    links = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-s"], capture_output=True,
                           text=True, check=True).stdout
    assert not [ln for ln in links.splitlines() if ln.startswith("120000 ")]  # no symlinks
