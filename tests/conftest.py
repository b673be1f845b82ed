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

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_models"
REAL_MODELS = ROOT.parent / "shared" / "real_models"


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


def sample_files() -> list[Path]:
    """Every model artifact in sample_models/ (for parametrisation at collection time)."""
    return sorted(
        p for p in SAMPLES.iterdir()
        if p.suffix in (".keras", ".h5", ".hdf5") or (p.suffix == ".json" and p.name != "MANIFEST.json")
    )


def real_model_files() -> list[Path]:
    """Every file of the real corpus, or [] when it is absent."""
    if not REAL_MODELS.is_dir():
        return []
    return sorted(p for p in REAL_MODELS.iterdir() if p.suffix in (".keras", ".h5", ".hdf5"))
