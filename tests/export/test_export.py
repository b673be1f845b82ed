"""``dropctl export``: each format written once per session and judged by its own runtime here.

The oracles are outside dropctl: onnxruntime, the LiteRT interpreter and ``tf.saved_model``
run the files; Keras' ``predict()`` is the reference for ``--standard``; the ``onnx`` package
and LiteRT's generated flatbuffer schema list the ops the static readers must find.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.support import SAMPLES

# find_spec, not importorskip: importing tf2onnx imports TensorFlow, and collecting the tests
# must not (tests/test_architecture.py).
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "ai_edge_litert", "tf2onnx")),
    reason="needs the [onnx] and [litert] extras")

CNN = SAMPLES / "cnn.keras"
BN = SAMPLES / "bn_dropout.keras"
T = 5


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    import dropctl

    out = tmp_path_factory.mktemp("export")
    jobs = {
        "cnn_onnx_mc": (CNN, out / "cnn.onnx", "onnx", "mc"),
        "cnn_litert_mc": (CNN, out / "cnn.tflite", "litert", "mc"),
        "cnn_savedmodel_mc": (CNN, out / "cnn_sm", "savedmodel", "mc"),
        "bn_litert_standard": (BN, out / "bn_std.tflite", "litert", "standard"),
        "bn_onnx_perma": (BN, out / "bn_perma.onnx", "onnx", "perma"),
    }
    return {k: (dst, dropctl.export(src, dst, format=fmt, mode=mode, samples=T))
            for k, (src, dst, fmt, mode) in jobs.items()}


def _cnn_inputs(n: int = 4) -> np.ndarray:
    return np.random.default_rng(3).random((n, 28, 28, 1), dtype=np.float32)


def test_onnx_mc_samples_afresh_in_onnxruntime(exported) -> None:
    import onnxruntime as ort

    path, report = exported["cnn_onnx_mc"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sorted(o.name for o in session.get_outputs()) == [
        "entropy", "mean", "mutual_information", "std", "variation_ratio"]
    assert session.get_inputs()[0].shape[0] in (None, "unk__0") or not isinstance(
        session.get_inputs()[0].shape[0], int)  # dynamic batch
    x = _cnn_inputs(3)
    a = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": x}), strict=True))
    b = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": x}), strict=True))
    assert a["mean"].shape == (3, 10) and a["std"].shape == (3, 10)
    assert np.all(a["std"] > 0)
    assert not np.array_equal(a["mean"], b["mean"])
    np.testing.assert_allclose(a["mean"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(a["variation_ratio"] >= 0) and np.all(a["variation_ratio"] <= 1 - 1 / T + 1e-6)
    assert report.verification.runtime == "onnxruntime"


def test_litert_mc_runs_in_the_interpreter_without_flex(exported) -> None:
    from ai_edge_litert.interpreter import Interpreter

    path, report = exported["cnn_litert_mc"]
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    x = _cnn_inputs(2)
    a, b = runner(image=x), runner(image=x)
    assert a["std"].shape == (2, 10) and np.all(a["std"] > 0)
    assert not np.array_equal(a["mean"], b["mean"])
    assert report.verification.random_ops == ("RANDOM_UNIFORM",)


def test_savedmodel_mc_serving_and_seeded_signatures(exported) -> None:
    import tensorflow as tf

    path, report = exported["cnn_savedmodel_mc"]
    loaded = tf.saved_model.load(str(path))
    x = tf.constant(_cnn_inputs(2))
    a, b = loaded.signatures["serving_default"](image=x), loaded.signatures[
        "serving_default"](image=x)
    assert not np.array_equal(a["mean"].numpy(), b["mean"].numpy())
    seeded = loaded.signatures["seeded"]
    s1 = seeded(image=x, seed=tf.constant([5, 6], tf.int64))
    s2 = seeded(image=x, seed=tf.constant([5, 6], tf.int64))
    s3 = seeded(image=x, seed=tf.constant([7, 6], tf.int64))
    assert np.array_equal(s1["mean"].numpy(), s2["mean"].numpy())
    assert not np.array_equal(s1["mean"].numpy(), s3["mean"].numpy())
    assert report.verification.seeded is True


def test_standard_litert_equals_keras_predict(exported) -> None:
    import keras
    from ai_edge_litert.interpreter import Interpreter

    path, report = exported["bn_litert_standard"]
    model = keras.saving.load_model(BN)
    x = np.random.default_rng(1).standard_normal((6, 12)).astype(np.float32)
    want = model.predict(x, verbose=0)
    runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    got = next(iter(runner(features=x).values()))
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
    assert report.sites == () and report.verification.random_ops == ()


def test_perma_onnx_is_one_sample_per_call(exported) -> None:
    import onnxruntime as ort

    path, report = exported["bn_onnx_perma"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.ones((4, 12), np.float32)
    a, b = session.run(None, {"features": x})[0], session.run(None, {"features": x})[0]
    assert a.shape[0] == 4 and not np.array_equal(a, b)
    assert report.outputs == ("dense_1",)


def test_static_readers_match_the_formats_own_tools(exported) -> None:
    import onnx
    from ai_edge_litert import schema_py_generated as schema

    from dropctl.reader.deployed import read_deployed

    onnx_path = exported["cnn_onnx_mc"][0]
    graph = read_deployed(onnx_path)
    want = sorted(n.name for n in onnx.load(str(onnx_path)).graph.node
                  if n.op_type.startswith("Random"))
    assert sorted(r.name for r in graph.random_ops) == want and len(want) == 3
    assert graph.stochastic and all(r.feeds_mask for r in graph.random_ops)

    lite = exported["cnn_litert_mc"][0]
    model = schema.Model.GetRootAs(lite.read_bytes(), 0)
    codes = [max(model.OperatorCodes(i).BuiltinCode(), model.OperatorCodes(i).DeprecatedBuiltinCode())
             for i in range(model.OperatorCodesLength())]
    sub = model.Subgraphs(0)
    n_random = sum(codes[sub.Operators(k).OpcodeIndex()] == schema.BuiltinOperator.RANDOM_UNIFORM
                   for k in range(sub.OperatorsLength()))
    lg = read_deployed(lite)
    assert len(lg.random_ops) == n_random == 3 and lg.ops == sub.OperatorsLength()
    assert not read_deployed(exported["bn_litert_standard"][0]).stochastic


def test_lstm_model_exports_to_litert_unrolled_and_verifies(tmp_path: Path) -> None:
    # family.keras: Bidirectional LSTM, GRU, attention, Gaussian/alpha noise. A rolled RNN
    # needs TensorListReserve (Flex); export unrolls it for LiteRT.
    import dropctl
    from dropctl.reader.report import Verdict

    dst = tmp_path / "family.tflite"
    report = dropctl.export(SAMPLES / "family.keras", dst, format="litert", mode="mc", samples=4)
    assert report.verification.outputs[0].stochastic and report.verification.outputs[0].fresh
    assert {"RANDOM_UNIFORM", "RANDOM_STANDARD_NORMAL"} <= set(report.verification.random_ops)
    assert dropctl.inspect(dst).predict_deterministic is Verdict.NO


def test_a_failed_verification_is_exit_1_and_writes_nothing(tmp_path: Path, cli_runner,
                                                           monkeypatch) -> None:
    # A verification that cannot pass: the statistical bound set below any honest distance, so
    # onnxruntime's real samples are judged too far from mc-predict's (the runtime is real; only
    # dropctl's own threshold is moved). Relying on an exporter bug instead (tf2onnx 1.17
    # dropping random ops of family.keras' LSTMs) was flaky: some runs kept all of them.
    import dropctl.deploy.verify as verify
    from dropctl.cli import app

    monkeypatch.setattr(verify, "z_limit", lambda _elements: -1.0)
    dst = tmp_path / "cnn.onnx"
    result = cli_runner.invoke(app, ["export", str(SAMPLES / "cnn.keras"), str(dst),
                                     "--format", "onnx", "--mc", "8"])
    assert result.exit_code == 1, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: {dst} failed verification in onnxruntime ")
    assert "nothing written" in line
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_sites_cannot_export_mc(tmp_path: Path) -> None:
    import dropctl
    from dropctl.errors import UnsupportedModelError

    with pytest.raises(UnsupportedModelError, match="no stochastic site"):
        dropctl.export(SAMPLES / "no_dropout.keras", tmp_path / "x.onnx", format="onnx",
                       mode="mc", samples=4)
    assert list(tmp_path.iterdir()) == []


def test_inspect_reports_exports_stochastic_or_deterministic(exported) -> None:
    import dropctl
    from dropctl.reader.report import ArtifactFormat, Verdict

    for key, fmt in (("cnn_onnx_mc", ArtifactFormat.ONNX), ("cnn_litert_mc", ArtifactFormat.LITERT),
                     ("cnn_savedmodel_mc", ArtifactFormat.SAVEDMODEL_GRAPH),
                     ("bn_onnx_perma", ArtifactFormat.ONNX)):
        report = dropctl.inspect(exported[key][0])
        assert report.model.format is fmt
        assert report.predict_deterministic is Verdict.NO, key
    std = dropctl.inspect(exported["bn_litert_standard"][0])
    assert std.predict_deterministic is Verdict.YES and std.sites == ()


def test_check_gates_exported_files_like_keras_files(exported, cli_runner) -> None:
    from dropctl.cli import app

    std = str(exported["bn_litert_standard"][0])
    mc = str(exported["cnn_onnx_mc"][0])
    ok = cli_runner.invoke(app, ["check", std])
    assert ok.exit_code == 0, ok.stdout
    bad = cli_runner.invoke(app, ["check", mc])
    assert bad.exit_code == 1 and "DCK001" in bad.stdout
    allowed = cli_runner.invoke(app, ["check", mc, "--inference", "on"])
    assert allowed.exit_code == 0, allowed.stdout


def test_check_dir_picks_up_every_exported_file(exported, cli_runner) -> None:
    from dropctl.cli import app

    folder = exported["cnn_onnx_mc"][0].parent
    result = cli_runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 1
    # cnn.onnx, cnn.tflite, cnn_sm/, bn_std.tflite, bn_perma.onnx; only --standard passes.
    assert "5 artifacts checked, 1 passed, 4 failed, 0 unreadable" in result.stdout


def test_keras_hub_text_model_exports_to_litert(tmp_path: Path) -> None:
    pytest.importorskip("keras_hub")
    from ai_edge_litert.interpreter import Interpreter

    import dropctl
    from dropctl.reader.report import Verdict

    dst = tmp_path / "gpt2.tflite"
    report = dropctl.export(SAMPLES / "gpt2_tiny.keras", dst, format="litert", mode="mc",
                            samples=3)
    assert len(report.sites) == 7 and report.verification.outputs[0].stochastic
    runner = Interpreter(model_path=str(dst)).get_signature_runner("serving_default")
    ids = np.array([[5, 6, 7, 8, 0, 0]], np.int32)
    mask = np.array([[1, 1, 1, 1, 0, 0]], np.int32)
    out = runner(token_ids=ids, padding_mask=mask)
    assert out["mean"].shape[:2] == (1, 6) and np.all(out["std"][0, :4] > 0)
    assert dropctl.inspect(dst).predict_deterministic is Verdict.NO


def test_multi_output_keys_are_prefixed_by_output_name(tmp_path: Path) -> None:
    import keras
    import onnxruntime as ort

    import dropctl

    keras.utils.set_random_seed(0)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dropout(0.5)(keras.layers.Dense(16, activation="relu")(inp))
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    src = tmp_path / "two.keras"
    keras.Model(inp, [cls, reg]).save(src)
    dst = tmp_path / "two.onnx"
    report = dropctl.export(src, dst, format="onnx", mode="mc", samples=8)
    want = {"cls/mean", "cls/std", "cls/entropy", "cls/mutual_information",
            "cls/variation_ratio", "reg/mean", "reg/std"}
    assert set(report.outputs) == want
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    assert {o.name for o in session.get_outputs()} == want


@pytest.fixture(scope="session")
def tiny_lstm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 8), name="seq")
    h = keras.layers.LSTM(8, dropout=0.3, recurrent_dropout=0.3)(inp)
    path = tmp_path_factory.mktemp("lstm") / "lstm.keras"
    keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h)).save(path)
    return path


@pytest.mark.parametrize("fmt, name", [("onnx", "l.onnx"), ("litert", "l.tflite"),
                                       ("savedmodel", "l_sm"), ("openvino", "l.xml")])
def test_an_lstm_exports_and_verifies_in_every_format(tiny_lstm: Path, tmp_path: Path,
                                                      fmt: str, name: str) -> None:
    if fmt == "openvino":
        pytest.importorskip("openvino")
    import dropctl
    from dropctl.reader.report import Verdict

    report = dropctl.export(tiny_lstm, tmp_path / name, format=fmt, mode="mc", samples=8)
    (check,) = report.verification.outputs
    assert check.stochastic and check.fresh and check.max_std > 0
    assert dropctl.inspect(tmp_path / name).predict_deterministic is Verdict.NO


def test_family_lstm_exports_to_onnx_with_every_random_op(tmp_path: Path) -> None:
    # tf2onnx's merge_duplication pass merged equal random nodes (15 of family.keras' 29 kept,
    # a different survivor per run) while dropctl believed it off; now every run keeps all.
    import onnx

    import dropctl

    dst = tmp_path / "family.onnx"
    report = dropctl.export(SAMPLES / "family.keras", dst, format="onnx", mode="mc", samples=4)
    model = onnx.load(str(dst))
    graphs, random_nodes = [model.graph], []
    while graphs:
        g = graphs.pop()
        random_nodes += [n for n in g.node if n.op_type.startswith("Random")]
        graphs += [a.g for n in g.node for a in n.attribute if a.HasField("g")]
    assert len(random_nodes) == 29 and report.verification.outputs[0].stochastic
    # No seed attribute: onnxruntime then draws from its per-process seed (see below).
    assert not any(a.name == "seed" for n in random_nodes for a in n.attribute)


def test_onnx_streams_are_fresh_per_process_and_fixed_by_set_seed(exported) -> None:
    import subprocess
    import sys

    path, _ = exported["cnn_onnx_mc"]
    code = ("import sys, numpy as np, onnxruntime as ort\n"
            "if sys.argv[2] != 'none': ort.set_seed(int(sys.argv[2]))\n"
            "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
            "print(s.run(['mean'], {'image': np.ones((1, 28, 28, 1), np.float32)})[0].tobytes().hex())")

    def first_call(seed: str) -> str:
        return subprocess.run([sys.executable, "-c", code, str(path), seed], check=True,
                              capture_output=True, text=True).stdout.strip()

    assert first_call("none") != first_call("none")
    assert first_call("7") == first_call("7") != first_call("8")


@pytest.mark.slow
@pytest.mark.parametrize("fmt, name", [("onnx", "g.onnx"), ("savedmodel", "g_sm"),
                                       ("openvino", "g.xml")])
def test_keras_hub_text_model_exports_in_every_format(tmp_path: Path, fmt: str,
                                                      name: str) -> None:
    # LiteRT: test_keras_hub_text_model_exports_to_litert (default suite); these are slow.
    pytest.importorskip("keras_hub")
    if fmt == "openvino":
        pytest.importorskip("openvino")
    import dropctl
    from dropctl.reader.report import Verdict

    report = dropctl.export(SAMPLES / "gpt2_tiny.keras", tmp_path / name, format=fmt,
                            mode="mc", samples=3)
    (check,) = report.verification.outputs
    assert len(report.sites) == 7 and check.stochastic and check.fresh and check.max_std > 0
    assert dropctl.inspect(tmp_path / name).predict_deterministic is Verdict.NO
