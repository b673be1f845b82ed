"""Monte Carlo engine: properties proven on real Keras models (no mocks, no magic floats)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.errors import InputDataError, UsageError
from dropctl.mc.engine import effective_rate, mask_bits


@pytest.fixture(scope="module")
def keras():
    import keras

    return keras


@pytest.fixture(scope="module")
def bn_model(keras):
    """Dense -> BatchNormalization (non-trivial moving stats) -> Dropout -> Dense, nested once."""
    inner_in = keras.Input((6,), name="x")
    h = keras.layers.Dense(8, name="d1")(inner_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    inner = keras.Model(inner_in, h, name="inner")
    x = keras.Input((6,), name="x")
    y = keras.layers.Dense(3, activation="softmax", name="head")(inner(x))
    model = keras.Model(x, y, name="outer")
    bn = inner.get_layer("bn")
    bn.moving_mean.assign(np.linspace(-1, 1, 8).astype("float32"))
    bn.moving_variance.assign(np.linspace(0.5, 2, 8).astype("float32"))
    return model


@pytest.fixture(scope="module")
def multi_io(keras):
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.Dense(8, activation="relu")(h)
    h = keras.layers.Dropout(0.2, name="shared_drop")(h)
    cls = keras.layers.Dense(2, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(keras.layers.Dropout(0.1, name="reg_drop")(h))
    return keras.Model({"a": a, "b": b}, {"cls": cls, "reg": reg}, name="two")


X6 = np.random.default_rng(0).standard_normal((5, 6)).astype("float32")


def test_bn_moving_statistics_untouched_and_sample_independent_of_companions(bn_model) -> None:
    bn = bn_model.get_layer("inner").get_layer("bn")
    before = [v.numpy().copy() for v in bn.weights]
    first = dropctl.mc_predict(bn_model, X6, samples=20, seed=3)
    after = [v.numpy() for v in bn.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # Same first input, different companions: bitwise identical statistics for that input.
    other = X6.copy()
    other[1:] = np.random.default_rng(9).standard_normal((4, 6)) * 50
    second = dropctl.mc_predict(bn_model, other, samples=20, seed=3)
    assert np.array_equal(first.outputs[0].mean[0], second.outputs[0].mean[0])
    assert np.array_equal(first.outputs[0].std[0], second.outputs[0].std[0])
    assert first.outputs[0].std.max() > 0


def test_deterministic_output_equals_predict(bn_model) -> None:
    res = dropctl.mc_predict(bn_model, X6, samples=2, seed=0)
    want = bn_model.predict(X6, verbose=0)
    np.testing.assert_allclose(res.outputs[0].deterministic, want, rtol=1e-6, atol=1e-7)


def test_same_seed_same_bytes_other_seed_differs(bn_model) -> None:
    a = dropctl.mc_predict(bn_model, X6, samples=16, seed=1, save_samples=True)
    b = dropctl.mc_predict(bn_model, X6, samples=16, seed=1, save_samples=True)
    c = dropctl.mc_predict(bn_model, X6, samples=16, seed=2)
    assert a.outputs[0].samples.tobytes() == b.outputs[0].samples.tobytes()
    assert a.outputs[0].mean.tobytes() == b.outputs[0].mean.tobytes()
    assert not np.array_equal(a.outputs[0].mean, c.outputs[0].mean)
    # Streaming statistics agree with the kept samples.
    s = a.outputs[0].samples.astype(np.float64)
    np.testing.assert_allclose(a.outputs[0].mean, s.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.outputs[0].std, s.std(axis=0), rtol=1e-5, atol=1e-9)


def test_chunking_does_not_change_the_distribution(bn_model) -> None:
    small = dropctl.mc_predict(bn_model, X6, samples=400, seed=5, batch_size=7)
    large = dropctl.mc_predict(bn_model, X6, samples=400, seed=6)
    o1, o2 = small.outputs[0], large.outputs[0]
    assert np.all(np.abs(o1.mean - o2.mean) < 6 * np.hypot(o1.stderr, o2.stderr) + 1e-9)


def test_no_sites_gives_exact_zero_std(keras) -> None:
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2)(x), name="plain")
    res = dropctl.mc_predict(model, np.ones((3, 4), "float32"), samples=5)
    assert not res.stochastic
    assert np.all(res.outputs[0].std == 0.0) and np.all(res.outputs[0].stderr == 0.0)


def test_sites_glob_switches_only_matching_sites(samples_dir: Path) -> None:
    model = dropctl.load_model(samples_dir / "frozen_merged.keras")
    res = dropctl.mc_predict(model, synthetic=4, samples=10, sites="*/model_B/*")
    on = [s.path for s in res.sites if s.selected]
    assert on == ["model_AB/model_B/dropout"]
    with pytest.raises(UsageError, match="matches no stochastic site"):
        dropctl.mc_predict(model, synthetic=2, samples=2, sites="nothing*")


def test_multi_input_multi_output(multi_io) -> None:
    inputs = {"a": np.ones((4, 4), "float32"), "b": np.zeros((4, 3), "float32")}
    res = dropctl.mc_predict(multi_io, inputs, samples=30, seed=0)
    by_name = {o.name: o for o in res.outputs}
    assert set(by_name) == {"cls", "reg"}
    assert by_name["cls"].classifier and not by_name["reg"].classifier
    assert by_name["cls"].mutual_information.shape == (4,)
    assert by_name["reg"].std.max() > 0


def test_family_sample_every_site_kind_is_stochastic(samples_dir: Path) -> None:
    """Each site alone (wrappers, RNN, attention, noise) makes the MC passes differ."""
    model = dropctl.load_model(samples_dir / "family.keras")
    res = dropctl.mc_predict(model, synthetic=3, samples=2)
    for site in res.sites:
        one = dropctl.mc_predict(model, synthetic=3, samples=4, sites=site.path)
        assert max(o.std.max() for o in one.outputs) > 0, site.path


def test_pinned_and_always_on_sites(samples_dir: Path) -> None:
    for name in ("pinned_training.keras", "lstm_permadropout_tfkeras.h5"):
        res = dropctl.mc_predict(samples_dir / name, synthetic=4, samples=12, seed=0)
        assert res.outputs[0].std.max() > 0, name
    # The always-on layer is off in the deterministic pass: it is reproducible.
    a = dropctl.mc_predict(samples_dir / "lstm_permadropout_tfkeras.h5", synthetic=3, samples=2)
    b = dropctl.mc_predict(samples_dir / "lstm_permadropout_tfkeras.h5", synthetic=3, samples=2)
    assert np.array_equal(a.outputs[0].deterministic, b.outputs[0].deterministic)
    assert any("AlwaysDropout" in r for r in a.rescues)  # rescues are listed in walk order


def test_model_is_restored_after_a_run(bn_model) -> None:
    dropctl.mc_predict(bn_model, X6, samples=3)
    layer = bn_model.get_layer("inner").get_layer("drop")
    assert "call" not in layer.__dict__
    assert np.array_equal(bn_model.predict(X6, verbose=0), bn_model.predict(X6, verbose=0))


def test_a_model_is_freed_after_its_runs(keras) -> None:
    """The traced functions live on the model: a WeakKeyDictionary keyed by it never let go
    (its values close over the model), so every model run was kept for the process' life."""
    import gc
    import weakref

    def run_once() -> weakref.ref:
        x = keras.Input((4,))
        model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Dropout(0.5)(x)))
        result = dropctl.mc_predict(model, np.ones((2, 4), "float32"), samples=4, seed=0)
        again = dropctl.mc_predict(model, np.ones((2, 4), "float32"), samples=4, seed=0)
        assert again.outputs[0].mean.tobytes() == result.outputs[0].mean.tobytes()
        return weakref.ref(model)

    refs = [run_once() for _ in range(2)]
    gc.collect()
    assert [r() for r in refs] == [None, None]


def test_until_stable_stops_early(bn_model) -> None:
    res = dropctl.mc_predict(bn_model, X6, samples=5000, until_stable=0.05, seed=0)
    assert res.stable is True and res.passes < 5000 and res.max_stderr < 0.05
    strict = dropctl.mc_predict(bn_model, X6, samples=20, until_stable=1e-9, seed=0)
    assert strict.stable is False and strict.passes == 20


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.25, 0.3, 0.5, 0.05, 1 / 3, 0.999])
def test_effective_rate_within_1e4(rate: float) -> None:
    assert abs(effective_rate(rate) - rate) <= 1e-4
    assert mask_bits(0.25) == 8 and mask_bits(0.1) == 16


@pytest.mark.parametrize("rate", [0.1, 0.25])
def test_measured_drop_rate_matches_effective_rate(keras, rate: float) -> None:
    from dropctl.mc.engine import effective_rate, mask_bits
    from dropctl.runtime import backend

    shim = backend.current()
    bits = mask_bits(rate)
    thr = min(round(rate * 2**bits), 2**bits - 1)
    ones = keras.ops.ones([1000, 1000])
    out = backend.to_numpy(shim.dropout(ones, None, shim.seed(np.array([3, 4])), bits, thr))
    dropped = 1 - np.count_nonzero(out) / out.size
    assert abs(dropped - effective_rate(rate)) < 5 * np.sqrt(rate * (1 - rate) / out.size)
    # Kept units are scaled so that the expectation is exact.
    assert np.allclose(out[out != 0], 1 / (1 - effective_rate(rate)))
    # A different seed gives a different mask; the same seed the same one.
    again = backend.to_numpy(shim.dropout(ones, None, shim.seed(np.array([3, 4])), bits, thr))
    other = backend.to_numpy(shim.dropout(ones, None, shim.seed(np.array([3, 5])), bits, thr))
    assert np.array_equal(out, again) and not np.array_equal(out, other)


def test_bad_inputs_raise_clear_errors(bn_model) -> None:
    with pytest.raises(InputDataError, match=r"has shape \(5, 7\); the model expects \(N, 6\)"):
        dropctl.mc_predict(bn_model, np.ones((5, 7), "float32"))
    bad = X6.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputDataError, match="contains 1 NaN/inf"):
        dropctl.mc_predict(bn_model, bad)
    with pytest.raises(InputDataError, match="expected numbers"):
        dropctl.mc_predict(bn_model, np.array([["a"] * 6]))
    with pytest.raises(UsageError, match="--samples"):
        dropctl.mc_predict(bn_model, X6, samples=0)


RUNS = """
import logging, sys
import dropctl
from dropctl.runtime import backend
path, off = sys.argv[1], sys.argv[2] == "off"
dropctl.mc_predict(path, synthetic=2, samples=2, seed=0)  # installs the filter
assert backend._RETRACES in logging.getLogger("tensorflow").filters
if off:
    logging.getLogger("tensorflow").removeFilter(backend._RETRACES)
for _ in range(6):
    dropctl.mc_predict(path, synthetic=2, samples=2, seed=0)
"""


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="TensorFlow's tf.function warning: the TensorFlow backend only")
def test_running_many_models_in_one_process_prints_no_retracing_warning(
        samples_dir: Path) -> None:
    """Each model gets its own traced forward pass, so TensorFlow warns "N out of the last N
    calls to <function Engine...> triggered tf.function retracing" after a few models in one
    process (a notebook). In a fresh process each (TF warns at most twice per function over
    a process's life, so an earlier test would have used that up): with dropctl's filter
    taken off the ``tensorflow`` logger TF prints the warning (the oracle), with it, not."""
    import subprocess
    import sys

    from tests.support import ROOT

    def stderr(mode: str) -> str:
        proc = subprocess.run([sys.executable, "-c", RUNS, str(samples_dir / "mlp.keras"), mode],
                              capture_output=True, text=True, timeout=600, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stderr

    assert "triggered tf.function retracing" in stderr("off")
    assert "retracing" not in stderr("on")
