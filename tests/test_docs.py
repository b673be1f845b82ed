"""The docs cannot drift: generated blocks, every transcript run for real, the site builds strictly.

``scripts/docs.py`` owns the machinery (its docstring has the transcript syntax); these tests run
it the way CI would. A transcript of a static command (inspect, check, help) runs in every
environment; one that loads a model (mc-predict, diff, convert...) runs where Keras is installed.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

_spec = importlib.util.spec_from_file_location("dropctl_docs_script", ROOT / "scripts" / "docs.py")
assert _spec is not None and _spec.loader is not None
docs = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = docs
_spec.loader.exec_module(docs)

TRANSCRIPTS = [t for path in docs.doc_files() for _, t in docs.transcripts(path)]
STATIC = [t for t in TRANSCRIPTS if not t.runtime]
RUNTIME = [t for t in TRANSCRIPTS if t.runtime]


def _keras_installed() -> bool:
    return importlib.util.find_spec("keras") is not None


def _mutated(t: docs.Transcript) -> list[list[str]] | None:
    """The transcript's expected lines with one digit changed (None if it shows no digit)."""
    for i, step in enumerate(t.steps):
        for j, line in enumerate(step.expected):
            if line == "..." or line.endswith("..."):
                continue
            m = re.search(r"\d", line)
            if m:
                changed = line[: m.start()] + str((int(m.group()) + 1) % 10) + line[m.end():]
                out = [list(s.expected) for s in t.steps]
                out[i][j] = changed
                return out
    return None


def _check(t: docs.Transcript) -> None:
    actual = docs.run(t)
    for step, out in zip(t.steps, actual, strict=True):
        assert docs.matches(step.expected, out), (
            f"{t.where()}: `$ {step.command}` printed something else; run scripts/docs.py"
            f"{' --runtime' if t.runtime else ''} (or fix the elided block by hand)\n"
            + docs.diff_text(step.expected, out))
    mutated = _mutated(t)
    if mutated is not None:  # the comparison is sharp: one changed digit is caught
        assert not all(docs.matches(exp, out) for exp, out in zip(mutated, actual, strict=True))


def test_docs_have_transcripts() -> None:
    """The docs show real output of every command (if this fails, the fence syntax broke)."""
    shown = {w for t in TRANSCRIPTS for s in t.steps for w in s.command.split()[1:2]}
    assert {"inspect", "check", "mc-predict", "diff", "convert"} <= shown, shown
    assert len(STATIC) >= 8 and len(RUNTIME) >= 5


@pytest.mark.parametrize("transcript", STATIC, ids=[t.where() for t in STATIC])
def test_static_transcript(transcript: docs.Transcript) -> None:
    _check(transcript)


@pytest.mark.skipif(not _keras_installed(), reason="runtime transcripts need Keras (dropctl[tensorflow])")
@pytest.mark.parametrize("transcript", RUNTIME, ids=[t.where() for t in RUNTIME])
def test_runtime_transcript(transcript: docs.Transcript) -> None:
    _check(transcript)


def test_generated_blocks_are_current() -> None:
    gens = docs.generators()
    for path in docs.doc_files():
        text = path.read_text()
        assert docs.regenerate_blocks(text, gens) == text, (
            f"{path.relative_to(ROOT)}: a generated block is stale: run scripts/docs.py")


def test_every_generator_is_used() -> None:
    used = {m.group(2) for path in docs.doc_files() for m in docs.GENERATED.finditer(path.read_text())}
    assert used == set(docs.generators()), set(docs.generators()) ^ used


def test_elision_and_prefix_matching() -> None:
    out = ["a 1", "b 2", "c 3"]
    assert docs.matches(["a 1", "...", "c 3"], out)
    assert docs.matches(["a 1", "b...", "c 3"], out)
    assert docs.matches(["...", "c 3"], out)
    assert not docs.matches(["a 1", "c 3"], out)
    assert not docs.matches(["a 1", "b 3", "c 3"], out)
    assert not docs.matches(["a 1", "...", "c 4"], out)


def test_readme_is_short_and_links_into_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"README links to a missing page {target}"
    for page in ("docs/tutorial.md", "docs/reference/cli.md", "CONTRIBUTING.md", "SECURITY.md"):
        assert page in readme, f"README does not link {page}"


def test_every_command_has_a_guide_and_a_reference_entry() -> None:
    from typer.main import get_command

    from dropctl.cli import app

    cli_md = (ROOT / "docs" / "reference" / "cli.md").read_text()
    for name in get_command(app).commands:  # type: ignore[attr-defined]
        assert f"## `dropctl {name}`" in cli_md
        assert (ROOT / "docs" / "guides" / f"{name}.md").exists(), f"no guide for dropctl {name}"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs is a dev dependency")
def test_site_builds_strict(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "reference" / "cli" / "index.html").exists()
