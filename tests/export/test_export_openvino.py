"""``dropctl export --format openvino``: an IR judged by OpenVINO's own runtime.

The oracles are outside dropctl: ``openvino.Core().compile_model`` runs the IR (float32 hint),
``Core().read_model`` lists its ops for the static reader to match, and Keras' ``predict()``
is the reference of ``--standard``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.support import SAMPLES

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("openvino", "tensorflow")),
    reason="needs the [openvino] extra")

T = 6


@pytest.fixture(scope="session")
def ov_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object]]:
    import keras

    import dropctl

    # As a training script leaves its process: a global seed gives every TF random op nonzero
    # seeds unless the exporter pins them to 0/0, and OpenVINO then starts every compile_model
    # on the same stream (test_a_fresh_compile_draws_a_fresh_stream failed that way).
    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("openvino")
    jobs = {"cnn_mc": (SAMPLES / "cnn.keras", out / "cnn.xml", "mc"),
            "bn_standard": (SAMPLES / "bn_dropout.keras", out / "bn.xml", "standard"),
            "bn_perma": (SAMPLES / "bn_dropout.keras", out / "bn_perma.xml", "perma")}
    return {k: (dst, dropctl.export(src, dst, format="openvino", mode=mode, samples=T))
            for k, (src, dst, mode) in jobs.items()}


def _compiled(path: Path):  # type: ignore[no-untyped-def]
    import openvino as ov

    return ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def test_mc_ir_samples_afresh_in_openvino(ov_exports) -> None:
    path, report = ov_exports["cnn_mc"]
    assert path.with_suffix(".bin").is_file()
    compiled = _compiled(path)
    x = np.random.default_rng(3).random((3, 28, 28, 1), dtype=np.float32)
    a, b = compiled({"image": x}), compiled({"image": x})
    by_name = {o.get_any_name(): o for o in compiled.outputs}
    assert set(by_name) == {"mean", "std", "entropy", "mutual_information", "variation_ratio"}
    mean, std = np.asarray(a[by_name["mean"]]), np.asarray(a[by_name["std"]])
    assert mean.shape == (3, 10) and np.all(std > 0)
    np.testing.assert_allclose(mean.sum(axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(mean, np.asarray(b[by_name["mean"]]))
    assert report.verification.runtime == "openvino"
    assert report.verification.random_ops == ("RandomUniform",)


def test_a_fresh_compile_draws_a_fresh_stream(ov_exports) -> None:
    # Unseeded random ops (kept apart by their inputs, not by op seeds, which made every
    # compile_model start the same sequence): each compile samples its own stream.
    path, _ = ov_exports["cnn_mc"]
    x = np.ones((2, 28, 28, 1), np.float32)
    first = [np.asarray(_compiled(path)({"image": x})[0]) for _ in range(2)]
    assert not np.array_equal(first[0], first[1])


def test_random_ops_carry_no_seed_after_a_global_seed(ov_exports) -> None:
    import xml.etree.ElementTree as ET

    path, _ = ov_exports["cnn_mc"]
    layers = [la for la in ET.parse(path).getroot().iter("layer")
              if la.get("type") == "RandomUniform"]
    assert layers
    for layer in layers:
        data = layer.find("data")
        assert data is not None
        assert (data.get("global_seed"), data.get("op_seed")) == ("0", "0"), data.attrib


def test_static_reader_matches_openvinos_own_op_list(ov_exports) -> None:
    import openvino as ov

    from dropctl.reader.deployed import DeployedFormat, read_deployed

    path, _ = ov_exports["cnn_mc"]
    model = ov.Core().read_model(str(path))
    want = sorted(op.get_friendly_name() for op in model.get_ops()
                  if op.get_type_name() == "RandomUniform")
    graph = read_deployed(path)
    assert graph.format is DeployedFormat.OPENVINO and len(want) == 3
    assert sorted(r.name for r in graph.random_ops) == want
    assert graph.ops == len(model.get_ops()) and all(r.feeds_mask for r in graph.random_ops)


def test_standard_ir_equals_keras_predict(ov_exports) -> None:
    import keras

    path, report = ov_exports["bn_standard"]
    x = np.random.default_rng(1).standard_normal((6, 12)).astype(np.float32)
    want = keras.saving.load_model(SAMPLES / "bn_dropout.keras").predict(x, verbose=0)
    got = np.asarray(_compiled(path)({"features": x})[0])
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))
    assert report.verification.random_ops == ()


def test_inspect_and_check_read_the_ir(ov_exports, cli_runner) -> None:
    import dropctl
    from dropctl.cli import app
    from dropctl.reader.report import ArtifactFormat, Verdict

    mc = dropctl.inspect(ov_exports["cnn_mc"][0])
    assert mc.model.format is ArtifactFormat.OPENVINO and mc.predict_deterministic is Verdict.NO
    assert dropctl.inspect(ov_exports["bn_perma"][0]).predict_deterministic is Verdict.NO
    assert dropctl.inspect(ov_exports["bn_standard"][0]).predict_deterministic is Verdict.YES
    bad = cli_runner.invoke(app, ["check", str(ov_exports["cnn_mc"][0])])
    assert bad.exit_code == 1 and "DCK001" in bad.stdout
    ok = cli_runner.invoke(app, ["check", str(ov_exports["bn_standard"][0])])
    assert ok.exit_code == 0, ok.stdout


def test_family_exports_to_openvino_with_gaussian_noise_and_lstms(tmp_path: Path) -> None:
    # family.keras: Bidirectional LSTM, GRU, attention, Gaussian/alpha noise. OpenVINO has no
    # RandomStandardNormal: Gaussian draws are Box-Muller from uniforms here.
    import dropctl
    from dropctl.reader.report import Verdict

    report = dropctl.export(SAMPLES / "family.keras", tmp_path / "f.xml", format="openvino",
                            mode="mc", samples=4)
    (check,) = report.verification.outputs
    assert check.stochastic and check.fresh and len(report.sites) == 10
    assert report.verification.random_ops == ("RandomUniform",)
    assert dropctl.inspect(tmp_path / "f.xml").predict_deterministic is Verdict.NO


def test_an_op_openvino_lacks_is_one_line_naming_it() -> None:
    # A real OpenVINO conversion failure (its TF frontend has no RandomStandardNormal).
    import openvino as ov
    import tensorflow as tf

    from dropctl.deploy.writers import _openvino_failure

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def normal(x):  # type: ignore[no-untyped-def]
        return x + tf.raw_ops.RandomStandardNormal(shape=tf.shape(x), dtype=tf.float32)

    with pytest.raises(Exception) as info:  # OpenVINO's own exception type
        ov.convert_model(normal)
    assert _openvino_failure(info.value) == (
        "OpenVINO's TensorFlow frontend has no conversion for RandomStandardNormal: export "
        "--format savedmodel, onnx or litert for this model")


def test_an_existing_weights_file_needs_force(tmp_path: Path, cli_runner) -> None:
    from dropctl.cli import app

    (tmp_path / "m.bin").write_bytes(b"x")
    result = cli_runner.invoke(app, ["export", str(SAMPLES / "bn_dropout.keras"),
                                     str(tmp_path / "m.xml"), "-f", "openvino", "--standard"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"Error: {tmp_path / 'm.bin'} (OUT's weights file) exists; "
                                     "pass --force to overwrite it")
