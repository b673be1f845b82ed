"""runtime/compat.py and runtime/imports.py against the installed Keras (scripts/matrix.sh runs
this on Keras 3.6, 3.15 and the 3.16 nightly): every private name resolves, and a keras_hub that
cannot import under the installed Keras is one ``Error:`` line naming both versions."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from dropctl.reader.versions import installed_keras
from tests.support import ROOT, SAMPLES, LazyModule

keras = LazyModule("keras")


def test_keras_mask_fns_read_the_mask_keras_itself_computes() -> None:
    """The oracle is Keras: Masking's eager output carries the mask Masking.compute_mask gives."""
    from dropctl.runtime import compat

    get_mask, set_mask = compat.keras_mask_fns()
    x = np.array([[[1.0], [0.0], [2.0]]], dtype="float32")
    layer = keras.layers.Masking(mask_value=0.0)
    out = layer(x)
    want = np.asarray(layer.compute_mask(keras.ops.convert_to_tensor(x)))
    assert np.array_equal(np.asarray(get_mask(out)), want)
    assert want.tolist() == [[True, False, True]]
    y = keras.ops.convert_to_tensor(x)
    set_mask(y, keras.ops.convert_to_tensor([[True, True, False]]))
    assert np.asarray(get_mask(y)).tolist() == [[True, True, False]]


def test_keras_hub_that_cannot_import_is_one_error_line() -> None:
    """keras-hub 0.32.0 does not import on the 3.16 nightly (``get_keras_mask`` left
    ``keras.src.backend``): mc-predict on a keras_hub model says so in one line naming both
    versions, instead of an ImportError from inside Keras' deserializer."""
    if importlib.util.find_spec("keras_hub") is None:
        pytest.skip("keras_hub is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    oracle = subprocess.run([sys.executable, "-c", "import keras_hub"], capture_output=True,
                            text=True, env=env, timeout=300)
    if oracle.returncode == 0:
        pytest.skip("keras_hub imports under this Keras (its models run in test_formats_runtime)")
    assert "ImportError" in oracle.stderr
    res = subprocess.run([sys.executable, "-m", "dropctl", "mc-predict",
                          str(SAMPLES / "gpt2_tiny.keras"), "--synthetic", "2"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    hub = importlib.metadata.version("keras-hub")
    assert lines[0].startswith("Error: ")
    assert f"keras-hub {hub} cannot import under Keras {installed_keras()}" in lines[0]
    assert "Traceback" not in res.stderr and res.stdout == ""
