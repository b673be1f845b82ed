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
