"""The Monte Carlo property tests on the JAX and PyTorch backends (one subprocess per backend).

Keras picks its backend once per process (``KERAS_BACKEND``), so the properties proven in
tests/mc/test_mc.py, the perma/standard round trip and the always-on layers run again in a
child pytest with the backend switched. A backend that is not installed in this environment
is skipped here (scripts/matrix.sh runs each in its own venv: jax in CI via the dev extra,
torch in the matrix run).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.support import ROOT

PROPERTY_TESTS = [
    "tests/mc/test_mc.py::test_bn_moving_statistics_untouched_and_sample_independent_of_companions",
    "tests/mc/test_mc.py::test_deterministic_output_equals_predict",
    "tests/mc/test_mc.py::test_same_seed_same_bytes_other_seed_differs",
    "tests/mc/test_mc.py::test_no_sites_gives_exact_zero_std",
    "tests/mc/test_mc.py::test_pinned_and_always_on_sites",
    "tests/mc/test_mc.py::test_model_is_restored_after_a_run",
    "tests/mc/test_mc.py::test_until_stable_stops_early",
    "tests/mc/test_mc.py::test_measured_drop_rate_matches_effective_rate",
    "tests/mc/test_mc.py::test_multi_input_multi_output",
    "tests/mc/test_shards.py::test_row_result_independent_of_chunking",
    "tests/mc/test_shards.py::test_keras_drawn_noise_and_rnn_dropout_independent_of_chunking",
    "tests/conversion/test_convert.py::test_perma_then_standard_round_trip",
    "tests/runtime/test_layers.py::test_stochastic_in_every_mode",
    "tests/runtime/test_layers.py::test_batchnorm_stays_in_inference_mode",
]
"""BN untouched, batch independence, seeds, zero std without dropout, --until-stable, packed
mask rate, partition independence (masks by global row, Keras-drawn noise per block), legacy
PermaDropout rescue, perma/standard round trip, dropctl.layers."""


def _env(backend: str) -> dict[str, str]:
    """This environment with ``KERAS_BACKEND`` switched and this checkout importable."""
    return dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_property_tests_pass_on_backend(backend: str) -> None:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here (scripts/matrix.sh runs it in its own venv)")
    env = _env(backend)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *PROPERTY_TESTS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1]


def test_missing_backend_names_its_extra(tmp_path) -> None:
    """KERAS_BACKEND=torch without torch: one line naming dropctl[torch], exit 2."""
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    env = _env("torch")
    proc = subprocess.run(
        [sys.executable, "-m", "dropctl", "mc-predict", str(ROOT / "sample_models" / "cnn.keras"),
         "--synthetic", "2", "--samples", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: running a model needs torch, which is not installed: pip install 'dropctl[torch]'"]
    assert proc.stdout == ""


def test_unknown_backend_is_one_line(tmp_path) -> None:
    env = _env("nonsense")
    proc = subprocess.run(
        [sys.executable, "-m", "dropctl", "diff", str(ROOT / "sample_models" / "cnn.keras"),
         "--synthetic", "2", "--samples", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "KERAS_BACKEND='nonsense' is not a Keras backend" in lines[0], lines


def test_a_tensorflow_graph_error_is_one_line_with_its_node_and_reason() -> None:
    """TensorFlow's graph errors carry a Python traceback between the node and the reason:
    the summary keeps the node and the reason only."""
    tf = pytest.importorskip("tensorflow")
    from dropctl.errors import one_line

    @tf.function
    def gather(x):
        return tf.gather(x, [5])

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        gather(tf.zeros(3))
    assert "most recent call last" in str(caught.value)
    assert one_line(caught.value) == (
        "InvalidArgumentError: node GatherV2: indices[0] = 5 is not in [0, 3)")
