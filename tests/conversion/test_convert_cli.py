"""``dropctl convert`` through the CLI: every exit path (code and message) and the real corpus."""

from __future__ import annotations

import json
import os

import pytest

from tests.support import SAMPLES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typer.testing import CliRunner

import dropctl
import dropctl.conversion.build as build
from dropctl.cli import app
from tests.support import REAL_MODELS

REAL = REAL_MODELS
MLP = SAMPLES / "mlp.keras"


def run(*args: str):
    return CliRunner().invoke(app, ["convert", *map(str, args)])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "pick exactly one of --perma, --standard or --strip"),
        (("--perma", "--strip"), "pick exactly one of --perma, --standard or --strip"),
        (("--strip", "--rate", "0.2"), "--rate makes no sense with --strip"),
        (("--perma", "--rate", "1.5"), "--rate must be in [0, 1), got 1.5"),
        (("--perma", "--sites", "nothing*"), "--sites 'nothing*' matches no stochastic site"),
    ],
)
def test_usage_errors(tmp_path, args, message) -> None:
    result = run(MLP, tmp_path / "out.keras", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_path_errors(tmp_path) -> None:
    existing = tmp_path / "exists.keras"
    existing.write_bytes(b"keep me")
    cases = [
        ((MLP, existing, "--perma"), f"{existing} exists; pass --force to overwrite it"),
        ((MLP, MLP, "--standard"), "OUT is the same file as IN"),
        ((MLP, tmp_path / "out.onnx", "--perma"), "OUT must end in .keras, .h5 or .hdf5"),
        ((tmp_path / "missing.h5", tmp_path / "o.h5", "--perma"), "no such file"),
        ((MLP, tmp_path / "no_dir" / "o.keras", "--perma"), "is not a writable directory"),
        ((SAMPLES / "MANIFEST.json", tmp_path / "o.keras", "--perma"), "Error: "),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.keras"]


def test_force_dry_run_and_json(tmp_path) -> None:
    dst = tmp_path / "mlp.h5"
    dry = run(MLP, dst, "--strip", "--dry-run", "--json")
    assert dry.exit_code == 0 and not dst.exists()
    doc = json.loads(dry.stdout)
    assert doc["written"] is False and [c["action"] for c in doc["changes"]] == ["removed"] * 2
    dst.write_bytes(b"old")
    done = run(MLP, dst, "--strip", "--force")
    assert done.exit_code == 0, done.stderr
    assert "wrote" in done.stdout and "verified" in done.stdout
    assert dropctl.inspect(dst).sites == ()


def test_verification_failure_exits_1_and_writes_nothing(tmp_path, monkeypatch) -> None:
    original = build.transfer_weights

    def corrupting(source, target):  # a bug in the transfer, simulated on our side only
        count = original(source, target)
        layer = next(lyr for lyr in target.layers if lyr.weights)
        values = layer.get_weights()
        values[0] = values[0] + 1e-3
        layer.set_weights(values)
        return count

    monkeypatch.setattr(build, "transfer_weights", corrupting)
    dst = tmp_path / "bad.keras"
    dst_existing = tmp_path / "existing.keras"
    dst_existing.write_bytes(b"keep")
    for target, extra in ((dst, ()), (dst_existing, ("--force",))):
        result = run(MLP, target, "--standard", *extra)
        assert result.exit_code == 1, result.stderr
        assert "verification of" in result.stderr and "failed, nothing written" in result.stderr
        assert "weights of" in result.stderr
    assert not dst.exists() and dst_existing.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.keras"]
    # --no-verify trusts the transfer (and says so).
    result = run(MLP, dst, "--standard", "--no-verify")
    assert result.exit_code == 0 and "not verified (--no-verify)" in result.stdout


# ---- the real corpus (read-only): convertible files convert, the rest are refused cleanly ----
REAL_OK = ["22ridley_covid_chatbot_model.h5", "akshatv25_mnist_cnn.keras",
           "anaya_melody_lstm.keras", "hareyakana_self_construct_multiinput.h5",
           "hareyakana_gan_nested.h5", "shamna_imdb_lstm.h5", "sebastianmoiras_sentiment_lstm.h5",
           "oarriaga_fer2013_mini_XCEPTION.102-0.66.hdf5", "zhang102757017_lstm_multi.h5"]
REAL_REFUSED = {
    "ssabrut_siamese_model.h5": "stored Python bytecode",
    "shrey_homl_my_model_with_a_custom_layer.h5": "cannot build the model",
    "jshannon_bc_model01.h5": "Error: ",
    "algodm_vae_model.h5": "Error: ",
    "elisim_lenet-0.5-20.h5": "Error: ",
    "ncondo_bc_model.h5": "Error: ",
    "algodm_vae_model.keras": "Error: ",
    "rsyamil_wgangp_critic.h5": "Error: ",
}


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_models absent")
@pytest.mark.slow  # 27 conversions; run with -m slow
@pytest.mark.parametrize("name", REAL_OK)
def test_real_corpus_converts(tmp_path, name: str) -> None:
    src = REAL / name
    for mode, ext in (("perma", ".keras"), ("standard", ".h5"), ("strip", ".keras")):
        report = dropctl.convert(src, tmp_path / f"out_{mode}{ext}", mode=mode)
        assert report.written and report.verification.passed, (mode, report.verification)


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real_models absent")
@pytest.mark.parametrize("name", sorted(REAL_REFUSED))
def test_real_corpus_refused_cleanly(tmp_path, name: str) -> None:
    result = run(REAL / name, tmp_path / "out.keras", "--standard")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: ") and REAL_REFUSED[name] in result.stderr
    assert "internal error" not in result.stderr
    assert list(tmp_path.iterdir()) == []
