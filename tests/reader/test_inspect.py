"""``dropctl inspect``: static answers checked against behaviour measured by running Keras.

sample_models/MANIFEST.json records what Keras 3 and tf-keras actually did with each
sample (predict twice, call twice, bitwise compare). Static inspection must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dropctl
from dropctl.cli import app
from dropctl.errors import ArtifactError
from dropctl.reader.report import Phase, SiteKind, Verdict
from tests.support import SAMPLES, real_model_files, sample_files

MANIFEST = json.loads((SAMPLES / "MANIFEST.json").read_text())
ARTIFACTS = {a["file"]: a for a in MANIFEST["artifacts"]}


def _verdict(deterministic: bool) -> Verdict:
    return Verdict.YES if deterministic else Verdict.NO


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_sites_match_manifest(name: str) -> None:
    entry = ARTIFACTS[name]
    report = dropctl.inspect(SAMPLES / name)
    root = report.layers[0].path
    expected = sorted(f"{root}/{p}" for p in entry["expected_sites"])
    assert sorted(s.path for s in report.sites) == expected
    for site in report.sites:
        details = entry.get("site_details", {}).get(site.path.split("/", 1)[1], {})
        params = details.get("params", {})
        for key in ("rate", "p", "dropout"):
            if key in params:
                assert site.rate == pytest.approx(params[key])
        if "recurrent_dropout" in params:
            assert site.recurrent_rate == pytest.approx(params["recurrent_dropout"])
        if "stddev" in params:
            assert site.stddev == pytest.approx(params["stddev"])


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_static_verdicts_agree_with_measured_behaviour(name: str) -> None:
    measured = ARTIFACTS[name]["measured"]
    report = dropctl.inspect(SAMPLES / name)
    checked = 0
    if measured.get("keras3_loads") is True:
        assert report.predict_deterministic is _verdict(measured["keras3_predict_deterministic"])
        assert report.call_deterministic is _verdict(measured["keras3_call_deterministic"])
        checked += 1
    if measured.get("tfkeras_loads") is True:
        assert report.predict_deterministic_keras2 is _verdict(
            measured["tfkeras_predict_deterministic"]
        )
        checked += 1
    if not checked:
        assert name.startswith("keras1_style"), "every sample but the Keras 1 configs is measured"


def test_pinned_training_semantics() -> None:
    """Keras 3 predict() overrides the pin; Keras 2 honours it; a bare call keeps it."""
    for name in ("pinned_training.keras", "pinned_training_tfkeras.h5"):
        (site,) = dropctl.inspect(SAMPLES / name).sites
        assert site.training_pinned is True
        assert (site.in_predict, site.in_predict_keras2, site.in_call) == (
            Phase.NEVER, Phase.ALWAYS, Phase.ALWAYS)
        codes = [f.code for f in dropctl.inspect(SAMPLES / name).findings]
        assert codes == ["DC102"]


@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_frozen_submodels(ext: str) -> None:
    report = dropctl.inspect(SAMPLES / f"frozen_merged{ext}")
    assert [s.path for s in report.sites] == ["model_AB/model_A/dropout", "model_AB/model_B/dropout"]
    for site in report.sites:
        assert site.effective_trainable is False and site.in_fit is True
    assert [f.code for f in report.findings] == ["DC101", "DC101"]
    assert "frozen at model_AB/model_A" in report.findings[0].message
    head = next(e for e in report.layers if e.path == "model_AB/head")
    assert head.effective_trainable is True


def test_permadropout_lambda_recognised_without_running_it() -> None:
    report = dropctl.inspect(SAMPLES / "lstm_permadropout_tfkeras.h5")
    (site,) = report.sites
    assert site.kind is SiteKind.LAMBDA and site.rate == pytest.approx(0.3)
    assert site.in_predict is Phase.ALWAYS and site.in_predict_keras2 is Phase.ALWAYS
    codes = sorted(f.code for f in report.findings)
    assert codes == ["DC201", "DC202", "DC203"]
    bytecode = next(f for f in report.findings if f.code == "DC201")
    assert "bytes of bytecode" in bytecode.message
    assert report.predict_deterministic is Verdict.NO


def test_family_kinds() -> None:
    report = dropctl.inspect(SAMPLES / "family.keras")
    kinds = {s.path.split("/", 1)[1]: s.kind for s in report.sites}
    assert kinds["spatial_dropout1d"] is SiteKind.SPATIAL_DROPOUT
    assert kinds["gaussian_dropout"] is SiteKind.GAUSSIAN_DROPOUT
    assert kinds["gaussian_noise"] is SiteKind.GAUSSIAN_NOISE
    assert kinds["alpha_dropout"] is SiteKind.ALPHA_DROPOUT
    assert kinds["bidirectional/forward_lstm"] is SiteKind.RECURRENT
    assert kinds["multi_head_attention"] is SiteKind.ATTENTION
    assert kinds["time_distributed/dropout"] is SiteKind.DROPOUT
    noise = next(s for s in report.sites if s.kind is SiteKind.GAUSSIAN_NOISE)
    assert noise.stddev and noise.rate is None
    assert {f.code for f in report.findings} == {"DC301"}


def test_keras1_style_configs() -> None:
    for name in ("keras1_style.json", "keras1_style.h5"):
        report = dropctl.inspect(SAMPLES / name)
        (site,) = report.sites
        assert site.rate == 0.5 and site.class_name == "Dropout"
    assert dropctl.inspect(SAMPLES / "keras1_style.h5").model.keras_version == "1.2.2"


def test_inspect_does_not_import_tensorflow() -> None:
    code = (
        "import sys, dropctl, dropctl.cli; "
        f"dropctl.inspect({str(SAMPLES / 'family.keras')!r}); "
        f"dropctl.inspect({str(SAMPLES / 'lstm_permadropout_tfkeras.h5')!r}); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---- the corpus of real published files --------------------------------------------------------
@pytest.mark.parametrize("path", real_model_files(), ids=lambda p: p.name)
def test_real_models_read_or_cleanly_rejected(path: Path, cli_runner) -> None:
    result = cli_runner.invoke(app, ["inspect", str(path), "--json"])
    doc = json.loads(result.stdout)
    if result.exit_code == 0:
        assert doc["status"] == "ok" and doc["model"]["class_name"]
    else:
        assert result.exit_code == 2
        assert doc["status"] == "error"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and path.name in lines[0]
        assert "weights-only" in lines[0]


def test_real_corpus_highlights(real_models_dir: Path) -> None:
    gan = dropctl.inspect(real_models_dir / "hareyakana_gan_nested.h5")
    assert [s.path for s in gan.sites] == ["sequential/police/dropout_1", "sequential/police/dropout_2"]
    jshannon = dropctl.inspect(real_models_dir / "jshannon_bc_model01.h5")
    assert not jshannon.sites and [f.code for f in jshannon.findings] == ["DC201"]
    vae = dropctl.inspect(real_models_dir / "algodm_vae_model.keras")
    assert vae.opaque == ("VAE",) and vae.predict_deterministic is Verdict.UNKNOWN
    siamese = dropctl.inspect(real_models_dir / "ssabrut_siamese_model.h5")
    assert {f.code for f in siamese.findings} >= {"DC201"}
    custom = dropctl.inspect(real_models_dir / "shrey_homl_my_model_with_a_custom_layer.h5")
    assert {f.code for f in custom.findings} == {"DC406"}
    anaya = dropctl.inspect(real_models_dir / "anaya_melody_lstm.keras")
    (site,) = anaya.sites  # LSTM with dropout=0.0 is not a site; the Dropout(0.2) is
    assert site.rate == 0.2 and site.training_pinned is None and not anaya.findings


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_every_sample_inspects_with_json(path: Path, cli_runner) -> None:
    result = cli_runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"status", "model", "sites", "findings", "opaque"}
    assert set(doc["model"]) >= {"path", "format", "keras_version", "backend", "name", "class_name"}
    for site in doc["sites"]:
        assert set(site) >= {
            "path", "class_name", "kind", "rate", "recurrent_rate", "stddev", "trainable",
            "effective_trainable", "training_pinned", "in_fit", "in_predict",
            "in_predict_keras2", "in_call",
        }
        assert site["in_predict"] in ("never", "always", "unknown")
        assert isinstance(site["in_fit"], bool)
    for finding in doc["findings"]:
        assert finding["severity"] in ("error", "warning", "info")
        assert set(finding) >= {"code", "severity", "path", "message"}


def test_reader_errors_are_typed() -> None:
    with pytest.raises(ArtifactError, match="no such file"):
        dropctl.inspect(SAMPLES / "missing.keras")
