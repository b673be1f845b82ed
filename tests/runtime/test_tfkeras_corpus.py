"""The tf.keras corpus (sample_models/tfkeras/): legacy files Keras 3 cannot load as they are.

Each pattern was saved by tf.keras 2.x as ``.h5`` and as tf.keras' own ``.keras`` zip, and the
sample script recorded what tf.keras computed: an order-free digest of every weight tensor and
``predict()`` on the fixed measurement batch. Here every file goes through dropctl's loader,
``mc-predict``, ``diff`` and ``convert`` in all three modes: the weights must be bit for bit
those tf.keras saved, the deterministic prediction tf.keras's, and the Monte Carlo sites the
sites ``inspect`` lists.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.cli import app
from tests.support import SAMPLES

MANIFEST = json.loads((SAMPLES / "MANIFEST.json").read_text())
CORPUS = {a["file"]: a for a in MANIFEST["artifacts"] if a["file"].startswith("tfkeras/")}
SEED = MANIFEST["seed"]
VOCAB = 200
_LOADED: dict[str, object] = {}


def _load(name: str):
    """dropctl's loader on a corpus file, once per file for the whole module."""
    from dropctl.runtime.loader import load

    if name not in _LOADED:
        _LOADED[name] = load(SAMPLES / name)
    return _LOADED[name]


def _digest(weights: list) -> str:
    """The sample factory's order-free weight digest (sample_models/make/tfkeras.py)."""
    parts = sorted(
        hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()
        for a in (np.ascontiguousarray(np.asarray(w)) for w in weights))
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def _batch(entry: dict) -> list[np.ndarray]:
    """The sample factory's measurement batch (sample_models/make/oracle.py): 16 seeded rows per input."""
    rng = np.random.default_rng(SEED)
    xs = []
    for spec in entry["inputs"]:
        shape = (16, *spec["shape"][1:])
        if "int" in spec["dtype"]:
            xs.append(rng.integers(0, VOCAB, size=shape).astype(spec["dtype"]))
        else:
            xs.append(rng.standard_normal(shape).astype(spec["dtype"]))
    return xs


def as_runtime_paths(static: set[str], name: str) -> set[str]:
    """inspect's site paths as the runtime names them: the one named exception is a Keras 2
    Bidirectional, whose config holds only the forward ``layer`` (``bidirectional/lstm``)
    while Keras 3 builds ``forward_lstm`` and ``backward_lstm`` from it."""
    if not name.startswith("tfkeras/text"):
        return static
    out = set(static) - {"text/bidirectional/lstm"}
    return out | {"text/bidirectional/forward_lstm", "text/bidirectional/backward_lstm"}


def test_the_corpus_covers_both_containers_of_every_pattern() -> None:
    stems = {Path(f).stem for f in CORPUS}
    assert stems == {"nested", "transfer", "lstm", "convs", "text"}
    assert all(f"tfkeras/{s}{ext}" in CORPUS for s in stems for ext in (".h5", ".keras"))
    # Keras 3 itself cannot load any of them: that is why the rescue exists.
    assert all(e["measured"]["keras3_loads"] is False for e in CORPUS.values())
    assert all(e["measured"]["tfkeras_loads"] is True for e in CORPUS.values())


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_loads_bit_exact_with_the_sites_inspect_lists(name: str) -> None:
    from dropctl.runtime.sites import model_sites

    entry = CORPUS[name]
    loaded = _load(name)
    model = loaded.model
    assert loaded.rescues, "every corpus file needs a rescue"
    assert len(model.weights) == entry["reference"]["weight_tensors"]
    assert _digest(model.weights) == entry["reference"]["weights_sha256"]
    xs = _batch(entry)
    y = model.predict(xs if len(xs) > 1 else xs[0], batch_size=16, verbose=0)
    import keras

    from dropctl.reader.versions import parse_version

    # keras-nightly 3.16.0.dev2026102704 computes text.* (masked LSTM/GRU/attention) 6.4e-5
    # (relative) away from tf.keras on one masked row (measured, TF backend); the weights are
    # still bit-exact (above). Keras 3.6-3.15 agree to 1e-5.
    rtol = 1e-4 if parse_version(keras.version()) >= (3, 16, 0) else 1e-5
    np.testing.assert_allclose(np.asarray(y).reshape(16, -1), entry["reference"]["predict"],
                               rtol=rtol, atol=1e-6)
    static = {s.path for s in dropctl.inspect(SAMPLES / name).sites}
    assert {s.path for s in model_sites(model)} == as_runtime_paths(static, name)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_mc_predict_and_diff_run_every_site(name: str) -> None:
    from dropctl.mc.diff import diff

    result = dropctl.mc_predict(_load(name), synthetic=4, samples=8, seed=1)
    assert result.stochastic
    assert all(s.selected for s in result.sites)
    assert max(float(np.max(o.std)) for o in result.outputs) > 0
    report = diff(_load(name), synthetic=4, samples=8)
    assert report.predict_deterministic is True  # plain tf.keras dropout: off in predict()
    assert report.mc_stochastic


def _convert_cases() -> list:
    """Every corpus file; by default one file per pattern (the .h5), the .keras twins and the
    MobileNet base (the slowest, ~10 s a conversion on 2 cores) run with ``-m slow``."""
    cases = []
    for name in sorted(CORPUS):
        heavy = name.endswith(".keras") or "transfer" in name
        cases.append(pytest.param(name, marks=pytest.mark.slow) if heavy else name)
    return cases


@pytest.mark.parametrize("name", _convert_cases())
@pytest.mark.parametrize("mode", ["perma", "standard", "strip"])
def test_convert_every_mode_verified(name: str, mode: str, tmp_path: Path) -> None:
    # Named exception: Keras 3 records a masked model's mask computations (Embedding
    # mask_zero, Masking) as NotEqual/Any op nodes, which its own .h5 writer saves and its .h5
    # reader then refuses ("Unknown layer: 'NotEqual'"); convert's verification catches that
    # (exit 1, nothing written), so the masked text model is written as .keras.
    suffix = ".keras" if Path(name).stem == "text" else Path(name).suffix
    out = tmp_path / f"out{suffix}"
    report = dropctl.convert(SAMPLES / name, out, mode=mode)
    assert report.written and report.verification is not None and report.verification.passed
    assert out.is_file()
    assert {c.path for c in report.changes} == {s.path for s in dropctl.inspect(SAMPLES / name).sites}
    if mode == "perma":
        assert report.verification.stochastic


def test_cli_mc_predict_on_a_tfkeras_keras_zip(cli_runner) -> None:
    res = cli_runner.invoke(app, ["mc-predict", str(SAMPLES / "tfkeras/nested.keras"),
                                  "--synthetic", "3", "--samples", "5", "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["stochastic"] is True and doc["unswitched"] == []
    assert any("Keras 2 form" in r for r in doc["rescues"]), doc["rescues"]


def test_keras_errors_are_one_line_with_layer_and_reason() -> None:
    """A tf.keras layer Keras 3 rejects: the summary names the layer, the class and the reason."""
    from dropctl.errors import MAX_ERROR, one_line

    config = "{'name': 'conv_dw_1', 'trainable': False, " + ", ".join(
        f"'k{i}': {i}" for i in range(200)) + "}"
    exc = TypeError(f"Error when deserializing class 'DepthwiseConv2D' using config={config}."
                    "\n\nException encountered: Unrecognized keyword arguments passed to "
                    "DepthwiseConv2D: {'groups': 1}")
    assert one_line(exc) == ("layer 'conv_dw_1' (DepthwiseConv2D): Unrecognized keyword "
                             "arguments passed to DepthwiseConv2D: {'groups': 1}")
    located = TypeError("Could not locate class 'Functional'. Make sure custom classes and "
                        "functions are decorated ... Full object config: {'module': "
                        "'tf_keras.src.engine.functional', 'config': {'name': 'model_B'}}")
    assert one_line(located) == "TypeError: unknown class 'Functional' (layer 'model_B')"
    long = ValueError("word " * 200)
    line = one_line(long)
    assert "\n" not in line and line.endswith(" ...") and len(line) <= MAX_ERROR + 20
    assert "wor ..." not in line  # never cut mid-word


@pytest.mark.parametrize("name", ["tfkeras/text.h5", "family.keras"])
def test_bidirectional_globs_carry_over_between_formats(name: str, tmp_path: Path) -> None:
    """One scheme: ``<wrapper>/forward_X`` / ``backward_X`` (Keras 3) and ``<wrapper>/X``
    (Keras 2 config) select the same layers, in mc-predict and in convert."""
    from dropctl.runtime.loader import load

    model = load(SAMPLES / name).model
    leaf = "lstm" if name.startswith("tfkeras") else "forward_lstm"
    for pattern in (f"*/bidirectional/{leaf}", "*/bidirectional/forward_lstm",
                    "*/bidirectional/lstm"):
        from dropctl.runtime.sites import model_sites

        picked = [s.path for s in model_sites(model, pattern)]
        assert any(p.endswith("forward_lstm") for p in picked), (pattern, picked)
        plan = dropctl.convert(SAMPLES / name, tmp_path / "x.keras", mode="strip", sites=pattern,
                               dry_run=True)
        assert [c.path for c in plan.changes if c.action.value != "unchanged"], pattern
