"""The README's CI snippets, as a user would paste them.

Both workflow files are extracted from README.md and validated against the GitHub-workflow and
GitLab-CI JSON schemas that check-jsonschema vendors (SchemaStore's); the GitHub workflow must be
clean under ``zizmor --offline --persona pedantic``; every pin names the release of
``dropctl/_version.py``, which has a CHANGELOG entry. Then the install line runs as written in a
fresh virtual environment whose ``PATH`` holds no git (as in ``python:3.11-slim``), against an
archive of this repository laid out like GitHub's ``/archive/<ref>.tar.gz``, and the check lines
of both snippets run in it on a ``models/`` directory.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from dropctl._version import __version__
from tests.support import ROOT, SAMPLES, doc_text
from tests.support.sarif import assert_valid_sarif

README = (ROOT / "README.md").read_text() + "\n" + doc_text("guides/ci.md")
"""The install lines (README) and the CI snippets (docs/guides/ci.md), as a user reads them."""
BIN = Path(sys.executable).parent
REPOSITORY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
ARCHIVE = f"{REPOSITORY}/archive/"
"""Where GitHub serves a ref's source archive: ``ARCHIVE + "<tag or sha>.tar.gz"``."""


def snippet(first_line: str) -> str:
    """The fenced block of README.md that starts with ``first_line``."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    found = [b for b in blocks if b.startswith(first_line + "\n")]
    assert len(found) == 1, f"README has {len(found)} blocks starting with {first_line!r}"
    return found[0]


GITHUB = snippet("# .github/workflows/models.yml")
GITLAB = snippet("# .gitlab-ci.yml")


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert exe, f"{name} is a dev dependency (pip install -e '.[dev]')"
    return exe


def test_github_workflow_is_schema_valid_and_clean_under_zizmor(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows" / "models.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(GITHUB)
    schema = subprocess.run([_tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", str(wf)],
                            capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run([_tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress",
                            str(wf)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report" in audit.stdout + audit.stderr
    doc = yaml.safe_load(GITHUB)
    steps = doc["jobs"]["dropctl"]["steps"]
    for step in steps:
        if "uses" in step:  # pinned by a full commit SHA, the release named in a comment
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
            line = next(ln for ln in GITHUB.splitlines() if step["uses"] in ln)
            assert re.search(r"# v\d+\.\d+\.\d+$", line), line
        if "run" in step:
            assert "${{" not in step["run"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False


def test_gitlab_ci_is_schema_valid(tmp_path: Path) -> None:
    ci = tmp_path / ".gitlab-ci.yml"
    ci.write_text(GITLAB)
    schema = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
                             str(ci)], capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def _install_lines() -> list[str]:
    return [line for line in README.splitlines() if "pip install" in line and ARCHIVE in line]


def test_every_pin_is_the_current_release() -> None:
    tag = f"v{__version__}"
    gitlab = yaml.safe_load(GITLAB)["dropctl"]
    assert gitlab["variables"]["DROPCTL_REF"] == tag
    assert gitlab["script"][0] == f'pip install "dropctl @ {ARCHIVE}${{DROPCTL_REF}}.tar.gz"'
    github_runs = [s["run"] for s in yaml.safe_load(GITHUB)["jobs"]["dropctl"]["steps"] if "run" in s]
    assert github_runs[0] == f'pip install "dropctl @ {ARCHIVE}{tag}.tar.gz"'
    urls = set(re.findall(re.escape(ARCHIVE) + r"([^\"\s]+)\.tar\.gz", README))
    assert urls == {tag, "${DROPCTL_REF}"}, urls
    # git+ installs and pre-commit's rev: name the same release wherever they name one
    others = re.findall(r"dropctl@(v\d[\w.]*)", README) + re.findall(r"rev: (v\d[\w.]*)", README)
    assert others and set(others) == {tag}, others
    assert len(_install_lines()) >= 3  # Install section, both snippets
    assert f"\n## {__version__}\n" in (ROOT / "CHANGELOG.md").read_text()


def _archive(dest: Path, ref: str) -> Path:
    """This checkout's committed tree as GitHub serves it: ``<name>-<ref>/`` inside a .tar.gz."""
    git = shutil.which("git")
    assert git and (ROOT / ".git").exists(), "needs a git checkout of dropctl"
    out = dest / f"{ref}.tar.gz"
    subprocess.run([git, "-C", str(ROOT), "archive", "--format=tar.gz",
                    f"--prefix=dropctl-{ref.lstrip('v')}/", "-o", str(out), "HEAD"], check=True,
                   timeout=120)
    return out


def _run_lines(lines: list[str], env: dict[str, str], cwd: Path) -> list[subprocess.CompletedProcess]:
    return [subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, env=env,
                           cwd=cwd, timeout=900) for line in lines]


def test_install_and_check_lines_run_without_git(tmp_path: Path) -> None:
    tag = f"v{__version__}"
    served = tmp_path / "served"
    served.mkdir()
    _archive(served, tag)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    path = str(venv / "bin")
    assert shutil.which("git", path=path) is None  # the slim image's situation
    env = {"PATH": path, "HOME": os.environ.get("HOME", str(tmp_path)), "DROPCTL_REF": tag,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    for name in ("mlp.keras", "cnn.keras"):
        shutil.copy(SAMPLES / name, project / "models" / name)

    def local(line: str) -> str:  # the same line, the archive served from disk
        assert ARCHIVE in line
        return line.replace(ARCHIVE, served.as_uri() + "/")

    script = yaml.safe_load(GITLAB)["dropctl"]["script"]
    install, check = _run_lines([local(script[0]), *script[1:]], env, project)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "git" not in install.stderr.lower(), install.stderr
    assert check.returncode == 0, check.stdout + check.stderr
    suite = ET.parse(project / "dropctl-junit.xml").getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    version = subprocess.run([str(venv / "bin" / "dropctl"), "--version"], capture_output=True,
                             text=True, env=env, timeout=60)
    assert version.stdout == f"dropctl {__version__}\n"

    runs = [s["run"] for s in yaml.safe_load(GITHUB)["jobs"]["dropctl"]["steps"] if "run" in s]
    assert shlex.split(runs[0])[:2] == ["pip", "install"]
    sarif, annotations = _run_lines(runs[1:], env, project)
    assert sarif.returncode == 0, sarif.stderr
    assert_valid_sarif(json.loads((project / "dropctl.sarif").read_text()))
    assert annotations.returncode == 0, annotations.stderr
    assert annotations.stdout.endswith("2 artifacts checked, 2 passed, 0 failed, 0 unreadable "
                                       "(fail on: error); verdicts for Keras 3.15 (default)\n")


def test_scheduled_nightly_workflow_runs_matrix_rows_that_exist(tmp_path: Path) -> None:
    """The project's own scheduled job: schema-valid, zizmor-clean, and its rows are matrix rows."""
    wf = ROOT / ".github" / "workflows" / "keras-nightly.yml"
    schema = subprocess.run([_tool("check-jsonschema"), "--builtin-schema",
                             "vendor.github-workflows", str(wf)],
                            capture_output=True, text=True, timeout=120)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = subprocess.run([_tool("zizmor"), "--offline", "--persona", "pedantic", "--no-progress",
                            str(wf)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "No findings to report" in audit.stdout + audit.stderr, audit.stdout + audit.stderr
    job = yaml.safe_load(wf.read_text())["jobs"]["matrix"]
    rows = job["strategy"]["matrix"]["row"]
    matrix_sh = (ROOT / "scripts" / "matrix.sh").read_text()
    for row in rows:  # each row is a combination scripts/matrix.sh defines
        assert re.search(rf"^\s*\[{re.escape(row)}\]=", matrix_sh, flags=re.M), row
    assert set(rows) == {"nightly-tf", "nightly-jax", "hub-nightly"}
    (run,) = [s for s in job["steps"] if "run" in s]
    assert run["run"] == 'MATRIX_DIR=.matrix bash scripts/matrix.sh "$ROW"'
    assert run["env"]["KERAS_NIGHTLY"] == run["env"]["HUB_NIGHTLY"] == "latest"
    assert "nightly-jax" in doc_text("explanations/keras-versions.md")
