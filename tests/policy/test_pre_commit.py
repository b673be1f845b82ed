"""The pre-commit hooks, as the README configures them, run by a real ``pre-commit run``.

pre-commit hands a hook changed *files*; ``check --pre-commit`` must check each as the artifact
it belongs to (preset, SavedModel, weights + config pair), once per run, with the verdict
``check DIR`` gives. The end-to-end test copies this checkout (working tree, uncommitted edits
included) into a scratch git repository with a real commit and tag, points the README's
``.pre-commit-config.yaml`` snippets at it (only ``repo:`` and ``rev:`` substituted) and runs
``pre-commit run --all-files`` in a scratch project holding a passing and a failing model file,
a keras_hub preset and a SavedModel directory. Which of them should pass comes from Keras:
MANIFEST.json records whether ``predict()`` was deterministic when the samples were built.
The ``language: python`` hook builds its own environment (a core install from the index, about a
minute); PRE_COMMIT_HOME is one directory per test session, so that happens once.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import dropctl
from dropctl.policy.discover import artifact_of, expand_paths
from tests.support import ROOT, SAMPLES

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
PROJECT = {  # file or directory in the scratch project -> the sample it is a copy of
    "models/good.keras": "mlp.keras",
    "models/bad.h5": "lstm_permadropout_tfkeras.h5",
    "models/hub/bert": "bert_tiny_preset",
    "models/legacy/seed_sm": "seed_lstm_savedmodel",
    "models/pair": "mlp_pair",
}


def _deterministic(sample: str) -> bool:
    """Keras' own measurement of predict() for ``sample`` (mlp_pair holds mlp.keras' model)."""
    entry = next(a for a in json.loads((SAMPLES / "MANIFEST.json").read_text())["artifacts"]
                 if a["file"] == ("mlp.keras" if sample == "mlp_pair" else sample))
    m = entry["measured"]
    return bool(m.get("keras3_predict_deterministic", m.get("tfkeras_predict_deterministic")))


def readme_configs() -> list[str]:
    """Every ``.pre-commit-config.yaml`` block of the CI guide, as written there."""
    text = (ROOT / "docs" / "guides" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", text, re.S)
    assert len(blocks) == 2, "the CI guide shows one snippet per hook id"
    return blocks


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _project(root: Path) -> Path:
    """A scratch repository holding the sample artifacts plus an unrelated config.json."""
    for dst, src in PROJECT.items():
        target = root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        if (SAMPLES / src).is_dir():
            shutil.copytree(SAMPLES / src, target)
        else:
            shutil.copy(SAMPLES / src, target)
    (root / "app").mkdir()
    (root / "app" / "config.json").write_text('{"debug": true}\n')  # no model: passed over
    _git(root, "init", "-q", "-b", "main")
    return root


# ---- the discovery the hook relies on (static, fast) ------------------------------------------


def test_member_files_map_to_their_artifact(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    members = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    owners = {p.relative_to(root).as_posix(): artifact_of(p) for p in members}
    assert owners["models/hub/bert/model.weights.h5"] == root / "models/hub/bert"
    assert owners["models/hub/bert/config.json"] == root / "models/hub/bert"
    assert owners["models/legacy/seed_sm/variables/variables.index"] == root / "models/legacy/seed_sm"
    assert owners["models/legacy/seed_sm/saved_model.pb"] == root / "models/legacy/seed_sm"
    assert owners["models/pair/model.json"] == root / "models/pair"
    assert owners["models/good.keras"] is None and owners["app/config.json"] is None
    found, unmatched = expand_paths(members, members_only=True)
    # Each artifact once, whatever number of its files were named; the app config is dropped.
    assert sorted(p.relative_to(root).as_posix() for p in found) == sorted(PROJECT)
    assert unmatched == []
    # Without --pre-commit a file named explicitly is still checked as given.
    assert expand_paths([root / "app" / "config.json"])[0] == [root / "app" / "config.json"]


def test_hook_pattern_reaches_every_member_file() -> None:
    """A SavedModel or preset never reaches the hook unless ``files:`` names its members."""
    assert [h["id"] for h in HOOKS] == ["dropctl-check", "dropctl-check-system"]
    assert HOOKS[0]["files"] == HOOKS[1]["files"] and HOOKS[0]["entry"] == HOOKS[1]["entry"]
    assert HOOKS[0]["entry"] == "dropctl check --pre-commit"
    rx = re.compile(HOOKS[0]["files"])
    for src in PROJECT.values():
        paths = [SAMPLES / src] if (SAMPLES / src).is_file() else \
            [p for p in (SAMPLES / src).rglob("*") if p.is_file()]
        for p in paths:
            rel = p.relative_to(SAMPLES).as_posix()
            assert rx.search(rel), rel
    for other in ("README.md", "src/app.py", "data/train.csv", "myconfig.json", "model.pbtxt2"):
        assert not rx.search(other), other


def test_readme_snippets_name_both_hooks() -> None:
    ids = [hook["id"] for block in readme_configs()
           for repo in yaml.safe_load(block)["repos"] for hook in repo["hooks"]]
    assert ids == [h["id"] for h in HOOKS]


def test_cli_pre_commit_exit_paths(tmp_path: Path, cli_runner, monkeypatch) -> None:
    from dropctl.cli import app

    root = _project(tmp_path / "p")
    monkeypatch.chdir(root)
    # A commit touching only an application's config.json: nothing to check, and that passes.
    r = cli_runner.invoke(app, ["check", "--no-config", "--pre-commit", "app/config.json"])
    assert (r.exit_code, r.stdout) == (0, "")
    assert r.stderr == "dropctl: none of the files belongs to a model; nothing to check\n"
    r = cli_runner.invoke(app, ["check", "--no-config", "--pre-commit", "--format", "junit",
                                "app/config.json"])
    assert r.exit_code == 0 and 'tests="0"' in r.stdout  # machine formats still get a report
    # Named without --pre-commit it is checked as given: not a model, exit 2.
    r = cli_runner.invoke(app, ["check", "--no-config", "app/config.json"])
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: app/config.json: ") and "not a Keras model" in r.stderr
    # Three files of one preset: one artifact, the preset's verdict.
    r = cli_runner.invoke(app, ["check", "--no-config", "--pre-commit", "--json",
                                "models/hub/bert/model.weights.h5", "models/hub/bert/config.json",
                                "models/hub/bert/metadata.json"])
    assert r.exit_code == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert [(a["path"], a["status"]) for a in doc["artifacts"]] == [("models/hub/bert", "pass")]


# ---- real pre-commit --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A git repository holding this working tree: (path, commit SHA, tag)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src = tmp_path_factory.mktemp("dropctl-hook-repo")
    listed = _git(ROOT, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, listed):
        f = ROOT / rel
        if f.is_file() and not f.is_symlink():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, src / rel)
    _git(src, "init", "-q", "-b", "main")
    _git(src, "add", "-A")
    _git(src, "commit", "-q", "-m", "snapshot of the working tree under test")
    _git(src, "tag", "v0.0.0-test")
    return src, _git(src, "rev-parse", "HEAD"), "v0.0.0-test"


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _run_pre_commit(project: Path, home: Path, system: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(home), NO_COLOR="1")
    if system:  # the dropctl on PATH: this venv's entry point running this checkout's code
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--verbose",
                           "--color", "never"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600)


def _verdicts(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^(PASS|FAIL|ERROR) +(\S+)", output, re.M)


@pytest.mark.parametrize("which", [0, 1], ids=["dropctl-check", "dropctl-check-system"])
def test_pre_commit_run_checks_artifacts(which: int, hook_repo: tuple[Path, str, str],
                                         pre_commit_home: Path, tmp_path: Path) -> None:
    src, sha, tag = hook_repo
    block = readme_configs()[which]
    # Only repo: and rev: change: the python hook pinned to the commit SHA, the system one to a tag.
    config = re.sub(r"(?m)^(\s*- repo: )\S+", lambda m: m.group(1) + str(src), block)
    config = re.sub(r"(?m)^(\s*rev: )\S+", lambda m: m.group(1) + (sha if which == 0 else tag),
                    config)
    assert config != block
    project = _project(tmp_path / "project")
    (project / ".pre-commit-config.yaml").write_text(config)
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "models")

    run = _run_pre_commit(project, pre_commit_home, system=which == 1)
    out = run.stdout + run.stderr
    want = {dst: "PASS" if _deterministic(s) else "FAIL" for dst, s in PROJECT.items()}
    assert set(want.values()) == {"PASS", "FAIL"}  # the corpus has both kinds
    # Each artifact exactly once (a preset is three files, the SavedModel five).
    assert sorted((p, s) for s, p in _verdicts(out)) == sorted(want.items()), out
    assert "app/config.json" not in out
    assert "5 artifacts checked, 3 passed, 2 failed, 0 unreadable" in out, out
    assert run.returncode == 1, out
    # The same verdicts as `check DIR` on the same tree (app/config.json is no preset there either).
    report = dropctl.check([project], config=False)
    assert {Path(r.path).relative_to(project).as_posix(): r.status.value.upper()
            for r in report.results} == want

    # Without the failing artifacts the commit passes.
    _git(project, "rm", "-r", "-q", *[d for d, v in want.items() if v == "FAIL"])
    _git(project, "commit", "-q", "-m", "drop the failing models")
    run = _run_pre_commit(project, pre_commit_home, system=which == 1)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "3 artifacts checked, 3 passed, 0 failed, 0 unreadable" in out, out
