"""``dropctl convert`` on every sample model and mode: weights bit for bit, verified, inspectable."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support import SAMPLES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dropctl
from tests.support import LazyModule

keras = LazyModule("keras")  # dropctl's always-on layers are registered on first use
from dropctl.conversion.report import Action, ConvertMode  # noqa: E402
from dropctl.errors import UnsupportedModelError  # noqa: E402
from dropctl.reader.report import Phase  # noqa: E402
from dropctl.runtime.loader import load_model  # noqa: E402

# The keras_hub samples have their own convert tests (tests/runtime/test_formats_runtime.py):
# they write only .keras, and three modes of two backbones would add minutes here.
CONVERTIBLE = sorted(p.name for p in SAMPLES.iterdir()
                     if p.suffix in (".keras", ".h5") and p.name not in ("gpt2_tiny.keras",
                                                                         "vit_tiny.keras"))
# OUT's format: .h5 <-> .keras across modes, so every direction is exercised.
OUT_EXT = {"perma": ".keras", "standard": ".h5", "strip": ".keras"}


def weights_by_path(model: keras.Model, prefix: str = "") -> dict[str, list[np.ndarray]]:
    """Path -> weight arrays, through nested models (the test's own walk, not dropctl's)."""
    out: dict[str, list[np.ndarray]] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.layers:
            out.update(weights_by_path(layer, f"{prefix}{layer.name}/"))
        elif layer.weights:
            out[f"{prefix}{layer.name}"] = layer.get_weights()
    return out


def assert_same_weights(a: keras.Model, b: keras.Model) -> int:
    wa, wb = weights_by_path(a), weights_by_path(b)
    assert wa.keys() == wb.keys()
    count = 0
    for path, arrays in wa.items():
        assert len(arrays) == len(wb[path]), path
        for x, y in zip(arrays, wb[path], strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), path
            count += 1
    return count


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[tuple[str, str], tuple[Path, object]]:
    """Every convertible sample in every mode, converted once (with verification)."""
    out_dir = tmp_path_factory.mktemp("converted")
    results = {}
    for name in CONVERTIBLE:
        src = SAMPLES / name
        before = digest(src)
        for mode, ext in OUT_EXT.items():
            dst = out_dir / f"{Path(name).stem}_{Path(name).suffix[1:]}_{mode}{ext}"
            if mode == "perma" and name.startswith("no_dropout"):
                continue  # a no-op --perma fails (tests/conversion/test_convert_contracts.py)
            results[(name, mode)] = (dst, dropctl.convert(src, dst, mode=mode))
        assert digest(src) == before, f"IN {name} was modified"
    return results


@pytest.mark.parametrize("mode", list(OUT_EXT))
@pytest.mark.parametrize("name", CONVERTIBLE)
def test_every_sample_every_mode(converted, name: str, mode: str) -> None:
    if (name, mode) not in converted:
        assert mode == "perma" and name.startswith("no_dropout")
        return
    dst, report = converted[(name, mode)]
    assert report.written and dst.is_file()
    assert report.verification is not None and report.verification.passed, report.verification
    assert not list(dst.parent.glob(f".{dst.stem}.*")), "temporary file left behind"
    src_model, out_model = load_model(SAMPLES / name), keras.models.load_model(dst, compile=False)
    assert_same_weights(src_model, out_model)
    before, after = dropctl.inspect(SAMPLES / name), dropctl.inspect(dst)
    acting = {s.path for s in before.sites if (s.rate or s.stddev or s.recurrent_rate)}
    if mode == "perma":
        assert {s.path for s in after.sites} == {s.path for s in before.sites}
        for site in after.sites:
            if site.path in acting:
                assert site.in_predict is Phase.ALWAYS and site.in_call is Phase.ALWAYS, site
        assert after.predict_deterministic.value == ("no" if acting else "yes")
    else:
        assert all(s.in_predict is Phase.NEVER and s.in_call is Phase.NEVER for s in after.sites)
        assert all(not s.training_pinned for s in after.sites)
        assert after.predict_deterministic.value == "yes"
        if mode == "standard":
            assert {s.path for s in after.sites} == {s.path for s in before.sites}
        else:
            assert after.sites == ()
    # Names of every remaining layer are preserved.
    kept = {e.path for e in after.layers}
    removed = {c.path for c in report.changes if c.action is Action.REMOVED}
    assert kept | removed >= {e.path for e in before.layers} - {
        p.rsplit("/", 1)[0] for p in removed}


def test_compile_config_preserved(converted) -> None:
    dst, report = converted[("cnn.keras", "perma")]
    assert report.compiled is True
    import zipfile

    src_cc = json.loads(zipfile.ZipFile(SAMPLES / "cnn.keras").read("config.json"))[
        "compile_config"]
    out_cc = json.loads(zipfile.ZipFile(dst).read("config.json"))["compile_config"]
    assert out_cc["loss"] == src_cc["loss"] and out_cc["metrics"] == src_cc["metrics"]
    assert out_cc["optimizer"]["class_name"] == src_cc["optimizer"]["class_name"]


def test_classic_lstm_permadropout_to_standard_loads_in_stock_keras(converted) -> None:
    dst, report = converted[("lstm_permadropout_tfkeras.h5", "standard")]
    [change] = report.changes
    assert (change.class_before, change.class_after, change.rate_after) == (
        "Lambda", "Dropout", pytest.approx(0.3))
    # A fresh interpreter with no dropctl, default safe_mode: loads and predicts deterministically.
    code = (
        "import os, sys, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras; "
        f"m = keras.models.load_model({str(dst)!r}); "
        "x = np.random.default_rng(0).integers(0, 50, size=(4,) + tuple(d or 5 for d in "
        "m.inputs[0].shape[1:])); "
        "assert np.array_equal(m.predict(x, verbose=0), m.predict(x, verbose=0)); "
        "assert 'dropctl' not in sys.modules; print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


def test_classic_cnn_to_perma_is_stochastic_under_predict(converted) -> None:
    dst, _ = converted[("cnn.keras", "perma")]
    model = keras.models.load_model(dst)
    assert [type(lyr).__name__ for lyr in model.layers].count("AlwaysDropout") == 3
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    assert not np.array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    c = keras.ops.convert_to_numpy
    assert not np.array_equal(c(model(x, training=False)), c(model(x, training=False)))


@pytest.mark.parametrize("name", ["frozen_merged.keras", "frozen_merged.h5"])
def test_frozen_merged_keeps_nested_models(converted, name: str) -> None:
    src = load_model(SAMPLES / name)
    for mode in OUT_EXT:
        dst, _ = converted[(name, mode)]
        out = keras.models.load_model(dst, compile=False)
        nested_src = {lyr.name: lyr.trainable for lyr in src.layers if isinstance(lyr, keras.Model)}
        nested_out = {lyr.name: lyr.trainable for lyr in out.layers if isinstance(lyr, keras.Model)}
        assert nested_out == nested_src and nested_src


def test_perma_then_standard_round_trip(converted, tmp_path) -> None:
    for name in ("cnn.keras", "family.h5", "pinned_training_tfkeras.h5"):
        perma, _ = converted[(name, "perma")]
        back = tmp_path / f"{Path(name).stem}_back.keras"
        report = dropctl.convert(perma, back, mode="standard")
        assert report.verification.passed
        original, again = load_model(SAMPLES / name), keras.models.load_model(back)
        assert_same_weights(original, again)
        orig_sites = {(s.path, s.class_name, s.rate, s.recurrent_rate, s.stddev)
                      for s in dropctl.inspect(SAMPLES / name).sites}
        back_sites = {(s.path, s.class_name, s.rate, s.recurrent_rate, s.stddev)
                      for s in dropctl.inspect(back).sites}
        assert back_sites == orig_sites
        x = [np.random.default_rng(1).normal(size=(3, *t.shape[1:])).astype("float32")
             for t in original.inputs]
        reference = original
        if dropctl.inspect(SAMPLES / name, keras="installed").predict_deterministic.value == "no":
            # Keras >= 3.16 (pin-wins): the pinned training=True original acts under predict(),
            # the standard conversion does not; compare with the standard conversion of it.
            reference = keras.models.load_model(converted[(name, "standard")][0])
        np.testing.assert_allclose(again.predict(x, verbose=0), reference.predict(x, verbose=0),
                                   atol=1e-6)


def test_sites_and_rate_override(tmp_path) -> None:
    dst = tmp_path / "family_part.keras"
    report = dropctl.convert(SAMPLES / "family.keras", dst, mode="perma", rate=0.05,
                             sites="*bidirectional*")
    changed = {c.path for c in report.changed}
    assert changed and all("bidirectional" in p for p in changed)
    sites = {s.path: s for s in dropctl.inspect(dst).sites}
    for path, site in sites.items():
        if "bidirectional" in path:
            assert site.in_predict is Phase.ALWAYS and site.rate == pytest.approx(0.05)
        else:
            assert site.in_predict is Phase.NEVER


def test_dry_run_writes_nothing(tmp_path) -> None:
    dst = tmp_path / "never.keras"
    report = dropctl.convert(SAMPLES / "cnn.h5", dst, mode="strip", dry_run=True)
    assert not report.written and report.verification is None
    assert [c.action for c in report.changes] == [Action.REMOVED] * 3
    assert list(tmp_path.iterdir()) == []


def test_config_without_weights_is_refused(tmp_path) -> None:
    with pytest.raises(UnsupportedModelError, match="holds no weights"):
        dropctl.convert(SAMPLES / "keras1_style.json", tmp_path / "k1.keras", mode="standard")
    assert list(tmp_path.iterdir()) == []


def test_modes_are_a_str_enum() -> None:
    assert ConvertMode("perma") is ConvertMode.PERMA and ConvertMode.STRIP.value == "strip"


@pytest.mark.parametrize(("mode", "rate"), [("strip", None), ("standard", 0.3)])
def test_attention_rates_verify_exactly(tmp_path, mode: str, rate: float | None) -> None:
    """A MultiHeadAttention's ``dropout`` also picks its kernel (Keras: fused
    dot_product_attention at 0, einsum + softmax above), so IN's reference and OUT are compared
    on one kernel, randomness off on both: --strip (0.1 -> 0) and --rate (0.1 -> 0.3) then
    agree bit for bit. Keras shows the two kernels differ on this model, so the test can fail."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((16, 32))
    h = x
    for _ in range(4):
        h = keras.layers.LayerNormalization()(
            h + keras.layers.MultiHeadAttention(4, 8, dropout=0.1)(h, h))
    model = keras.Model(x, keras.layers.Dense(3)(h))
    src = tmp_path / "mha.keras"
    model.save(src)
    data = np.random.default_rng(0).normal(size=(8, 16, 32)).astype("float32")
    einsum = model.predict(data, verbose=0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            object.__setattr__(layer, "_dropout", 0.0)
    model.predict_function = None
    if np.array_equal(einsum, model.predict(data, verbose=0)):
        pytest.skip(f"Keras {keras.__version__} computes attention one way whatever its "
                    "dropout (the fused path came later: Keras 3.6 has none)")
    report = dropctl.convert(src, tmp_path / "out.keras", mode=mode, rate=rate)
    assert report.verification is not None and report.verification.passed
    assert report.verification.max_abs_diff == 0.0
