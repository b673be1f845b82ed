"""Property: the static reader and walker raise only DropctlError on any config (hypothesis).

A few hundred generated/mutated configs in the default suite; 10,000 under ``-m slow``
(``python -m bench.fuzz_reader`` runs the same property from the command line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.support import fuzz as fuzz_reader

_DIR = Path(tempfile.mkdtemp(prefix="dropctl_fuzz_"))
_TARGET = _DIR / "model.json"
_COMMON = {"deadline": None, "database": None,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}


@settings(max_examples=300, **_COMMON)
@given(fuzz_reader.documents)
def test_reader_raises_only_dropctl_errors(doc: Any) -> None:
    fuzz_reader.check_document(doc, _TARGET)


@pytest.mark.slow
@settings(max_examples=10_000, **_COMMON)
@given(fuzz_reader.documents)
def test_reader_raises_only_dropctl_errors_10k(doc: Any) -> None:
    fuzz_reader.check_document(doc, _TARGET)


def test_nested_non_string_class_name() -> None:
    """Found by the fuzzer: a nested layer whose class_name is a list must be an ArtifactError
    (it was a TypeError from sites._is_opaque)."""
    fuzz_reader.check_document(
        {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Sequential", "config": {"layers": [{"class_name": []}]}}]}},
        _TARGET,
    )
