"""Shared fixtures: the bundled samples, the read-only real-model corpus, a CLI runner.

TensorFlow is slow to import; tests that need Keras models build them once per session
in their own module- or session-scoped fixtures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# dropctl's report width follows COLUMNS (dropctl.cli._app.out_console), so a test's output must
# not depend on the runner's: pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their
# environment (measured with pytest-xdist 3.8; a serial run has neither), which wrapped the text
# reports that tests compare line by line. Tests that need a width pass terminal_width or set
# COLUMNS themselves (monkeypatch); children they start inherit this environment.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

from tests.support import REAL_MODELS, ROOT, SAMPLES, real_model_files, sample_files

__all__ = ["REAL_MODELS", "ROOT", "SAMPLES", "real_model_files", "sample_files"]


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The committed sample artifacts (sample_models/)."""
    return SAMPLES


@pytest.fixture(scope="session")
def manifest() -> dict:
    """sample_models/MANIFEST.json: measured ground truth for every sample."""
    return json.loads((SAMPLES / "MANIFEST.json").read_text())


@pytest.fixture(scope="session")
def real_models_dir() -> Path:
    """../shared/real_models (read-only); tests using it skip when it is absent."""
    if not REAL_MODELS.is_dir():
        pytest.skip("../shared/real_models is not present on this machine")
    return REAL_MODELS


@pytest.fixture()
def cli_runner():
    """A Typer CliRunner; result.stdout and result.stderr are separate."""
    from typer.testing import CliRunner

    return CliRunner()
