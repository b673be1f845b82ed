"""dropctl check: engine on the samples, path expansion, policies, CLI exit paths, configuration."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dropctl
from dropctl.cli import app
from dropctl.errors import UsageError
from dropctl.policy.config import Config, config_from_table
from dropctl.policy.discover import expand_paths
from dropctl.policy.results import Status
from dropctl.policy.run import run_check
from tests.support import ROOT

SAMPLES = ROOT / "sample_models"


def rules(result) -> set[tuple[str, str]]:
    """(rule id, severity) pairs of one artifact result."""
    return {(v.rule.id, v.severity.value) for v in result.violations}


def one(path: Path | str, **settings):
    report = dropctl.check([path], config=False, **settings)
    assert len(report.results) == 1
    return report, report.results[0]


def k3_model_json(tmp_path: Path, name: str, layers: list[dict], cls: str = "Sequential") -> Path:
    doc = {"module": "keras", "class_name": cls, "registered_name": None,
           "config": {"name": "m", "layers": layers}}
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def k3_layer(cls: str, module: str = "keras.layers", **config) -> dict:
    return {"module": module, "class_name": cls, "registered_name": None,
            "config": {"name": config.pop("name", cls.lower()), "trainable": True, **config}}


# ---- policies on the bundled samples -----------------------------------------------------------


ARTIFACT_DIRS = {"seed_lstm_savedmodel", "bert_tiny_preset", "mlp_pair"}


def sample_artifacts() -> set[str]:
    """What `check sample_models` must find: model files outside artifact directories, and those
    directories themselves."""
    files = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*")
             if p.suffix in (".keras", ".h5")
             and not set(p.relative_to(SAMPLES).parts[:-1]) & ARTIFACT_DIRS}
    return files | ARTIFACT_DIRS


def test_all_samples_default_policy() -> None:
    report = dropctl.check([SAMPLES], config=False)
    by_name = {Path(r.path).relative_to(SAMPLES).as_posix(): r for r in report.results}
    # Files (the tf.keras corpus in sample_models/tfkeras/ included), plus the artifact
    # directories (SavedModel, keras_hub preset, model.json + weights) as single artifacts.
    assert set(by_name) == sample_artifacts()
    assert by_name["seed_lstm_savedmodel"].status is Status.FAIL
    assert by_name["bert_tiny_preset"].status is Status.PASS
    for name in by_name:  # the tf.keras corpus (sample_models/tfkeras/): plain dropout
        if name.startswith("tfkeras/"):
            assert by_name[name].status is Status.PASS, name
    perma = by_name["lstm_permadropout_tfkeras.h5"]
    assert perma.status is Status.FAIL
    assert {("DCK001", "error"), ("DCK004", "error")} <= rules(perma)
    for name in ("frozen_merged.keras", "frozen_merged.h5"):
        assert by_name[name].status is Status.PASS
        assert ("DCK005", "warning") in rules(by_name[name])
        assert {v.path for v in by_name[name].violations if v.rule.id == "DCK005"} == {
            "model_AB/model_A/dropout", "model_AB/model_B/dropout"}
    for name in ("pinned_training.keras", "pinned_training_tfkeras.h5"):
        assert ("DCK006", "warning") in rules(by_name[name])
    for name in ("mlp.keras", "cnn.h5", "no_dropout.keras", "family.keras", "bn_dropout.h5"):
        assert by_name[name].status is Status.PASS
        assert not [v for v in by_name[name].violations if v.severity.value != "info"], name
    assert report.exit_code == 1


def test_inference_on_wants_an_active_site() -> None:
    report, r = one(SAMPLES / "cnn.keras", inference="on")
    assert r.status is Status.FAIL and ("DCK001", "error") in rules(r)
    assert "no site acts under predict()" in r.violations[0].message
    report, r = one(SAMPLES / "lstm_permadropout_tfkeras.h5", inference="on", forbid_lambda=False)
    assert r.status is Status.PASS, r.violations
    assert ("DCK004", "info") in rules(r)  # still recorded, no longer gating
    report, r = one(SAMPLES / "lstm_permadropout_tfkeras.h5", inference="any", forbid_lambda=True)
    assert rules(r) & {("DCK004", "error")} and ("DCK001", "error") not in rules(r)


def test_rate_limits_and_require_sites() -> None:
    _, r = one(SAMPLES / "mlp.keras", max_rate=0.3)
    assert [(v.rule.id, v.path) for v in r.violations] == [("DCK002", "mlp/dropout")]
    assert "rate 0.5 is above max_rate 0.3" in r.violations[0].message
    _, r = one(SAMPLES / "mlp.keras", min_rate=0.3)
    assert [(v.rule.id, v.path) for v in r.violations] == [("DCK003", "mlp/dropout_1")]
    _, r = one(SAMPLES / "mlp.keras", require_sites=3)
    assert ("DCK007", "error") in rules(r)
    assert "has 2 stochastic site(s); require_sites is 3" in r.violations[0].message
    _, r = one(SAMPLES / "no_dropout.keras", require_sites=1)
    assert r.status is Status.FAIL
    _, r = one(SAMPLES / "mlp.keras", require_sites=2, max_rate=0.5, min_rate=0.25)
    assert r.status is Status.PASS and not r.violations


def test_levels_and_fail_on() -> None:
    path = SAMPLES / "frozen_merged.keras"
    report, r = one(path)
    assert report.exit_code == 0
    report, r = one(path, fail_on="warning")
    assert report.exit_code == 1 and r.status is Status.FAIL
    report, r = one(path, frozen_active="ignore", fail_on="warning")
    assert report.exit_code == 0 and ("DCK005", "warning") not in rules(r)
    report, r = one(path, frozen_active="error")
    assert report.exit_code == 1 and ("DCK005", "error") in rules(r)
    report, r = one(SAMPLES / "pinned_training.keras", pinned_training="error")
    assert report.exit_code == 1 and ("DCK006", "error") in rules(r)


def test_finding_severity_overrides() -> None:
    _, r = one(SAMPLES / "family.keras")
    assert ("DCK011", "info") in rules(r)
    assert any(v.finding == "DC301" for v in r.violations)
    _, r = one(SAMPLES / "family.keras", findings={"DC301": "ignore", "DC103": "ignore"})
    assert not any(v.finding in ("DC301", "DC103") for v in r.violations)
    report, r = one(SAMPLES / "family.keras", findings={"DC301": "error"})
    assert report.exit_code == 1 and r.status is Status.FAIL


def test_unsafe_modules_opaque_and_out_of_range(tmp_path: Path) -> None:
    foreign = k3_model_json(tmp_path, "foreign.json", [
        k3_layer("InputLayer", batch_shape=[None, 4]),
        k3_layer("Evil", module="evil_pkg.layers", name="evil"),
    ])
    _, r = one(foreign)
    assert ("DCK009", "error") in rules(r) and r.status is Status.FAIL
    _, r = one(foreign, unsafe_modules="warn")
    assert ("DCK009", "warning") in rules(r) and r.status is Status.PASS

    tfsm = k3_model_json(tmp_path, "tfsm.json", [k3_layer("TFSMLayer", filepath="/x")])
    _, r = one(tfsm)
    assert ("DCK009", "error") in rules(r)

    sub = tmp_path / "subclassed.json"
    sub.write_text(json.dumps({"module": "my_models", "class_name": "VAE", "config": {},
                               "registered_name": "my_models>VAE"}))
    _, r = one(sub, unsafe_modules="ignore")
    assert ("DCK008", "warning") in rules(r)
    _, r = one(sub, unsafe_modules="ignore", opaque="error")
    assert ("DCK008", "error") in rules(r) and r.status is Status.FAIL

    bad_rate = k3_model_json(tmp_path, "rate.json", [
        k3_layer("InputLayer", batch_shape=[None, 4]), k3_layer("Dropout", rate=1.5)])
    _, r = one(bad_rate)
    assert any(v.finding == "DC303" and v.severity.value == "error" for v in r.violations)


def test_always_on_layer_fails_default_and_passes_mc_policy(tmp_path: Path) -> None:
    """A dropctl always-on layer (what convert --perma writes) makes predict() stochastic."""
    from dropctl.reader.layer_names import ALWAYS_ON_CLASSES  # registered names, no Keras import

    name = sorted(ALWAYS_ON_CLASSES)[0]
    perma = k3_model_json(tmp_path, "perma.json", [
        k3_layer("InputLayer", batch_shape=[None, 4]),
        {**k3_layer(name, rate=0.2, name="mc_dropout"), "module": "dropctl.layers",
         "registered_name": f"dropctl>{name}"},
    ])
    _, r = one(perma, unsafe_modules="ignore")
    assert ("DCK001", "error") in rules(r), r.violations
    _, r = one(perma, unsafe_modules="ignore", inference="on", require_sites=1)
    assert not [v for v in r.violations if v.rule.id in ("DCK001", "DCK007")]


# ---- path expansion -----------------------------------------------------------------------------


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "models" / "mc").mkdir(parents=True)
    (tmp_path / "models" / ".hidden").mkdir()
    shutil.copy(SAMPLES / "cnn.keras", tmp_path / "models" / "cnn.keras")
    shutil.copy(SAMPLES / "mlp.h5", tmp_path / "models" / "mc" / "mlp.h5")
    shutil.copy(SAMPLES / "mlp.h5", tmp_path / "models" / "mc" / "MLP.HDF5")
    shutil.copy(SAMPLES / "mlp.h5", tmp_path / "models" / ".hidden" / "skip.h5")
    (tmp_path / "models" / "notes.txt").write_text("x")
    (tmp_path / "models" / "mc" / "loop").symlink_to(tmp_path / "models", target_is_directory=True)
    return tmp_path


def test_expand_paths(tree: Path) -> None:
    files, unmatched = expand_paths([tree / "models"])
    assert sorted(p.relative_to(tree).as_posix() for p in files) == [
        "models/cnn.keras", "models/mc/MLP.HDF5", "models/mc/mlp.h5"]
    assert unmatched == []
    files, _ = expand_paths([str(tree / "models" / "**" / "*.h5")])
    assert [p.name for p in files] == ["mlp.h5"]
    files, unmatched = expand_paths([tree / "models" / "cnn.keras", tree / "models",
                                     str(tree / "nope.h5"), str(tree / "x*.keras")])
    assert len(files) == 3  # the explicit file is not counted twice
    assert unmatched == [str(tree / "nope.h5"), str(tree / "x*.keras")]
    files, _ = expand_paths([tree / "models" / "notes.txt"])  # explicit files are taken as given
    assert [p.name for p in files] == ["notes.txt"]


def test_missing_paths_are_errors_and_nothing_matched_raises(tree: Path) -> None:
    report = run_check([tree / "models" / "cnn.keras", tree / "missing.keras"], Config())
    assert [r.status for r in report.results] == [Status.PASS, Status.ERROR]
    assert report.exit_code == 2
    assert "no such file, or no model files matched" in report.results[1].error
    with pytest.raises(UsageError, match="no model files .* matched"):
        run_check([tree / "empty*.keras"], Config())
    (tree / "empty").mkdir()
    with pytest.raises(UsageError, match="no model files"):
        run_check([tree / "empty"], Config())


def test_jobs_give_the_same_report() -> None:
    one_proc = run_check([SAMPLES], Config())
    two = run_check([SAMPLES], Config(), jobs=2)
    assert [(r.path, r.status, r.violations) for r in one_proc.results] == [
        (r.path, r.status, r.violations) for r in two.results]


# ---- CLI -----------------------------------------------------------------------------------------


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_cli_pass_fail_error_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    ok = runner.invoke(app, ["check", "--no-config", str(SAMPLES / "cnn.keras")])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("PASS  ") and "1 artifact checked, 1 passed" in ok.stdout
    assert ok.stderr == ""

    bad = runner.invoke(app, ["check", "--no-config", str(SAMPLES / "lstm_permadropout_tfkeras.h5")])
    assert bad.exit_code == 1
    assert "FAIL" in bad.stdout and "DCK004 forbid_lambda" in bad.stdout and bad.stderr == ""

    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a model")
    err = runner.invoke(app, ["check", "--no-config", str(SAMPLES / "cnn.keras"), str(junk)])
    assert err.exit_code == 2
    assert err.stderr.splitlines() == [
        f"Error: {junk}: is not a Keras model file (neither a zip, an HDF5 file nor JSON)"]
    assert "ERROR " in err.stdout and "1 unreadable" in err.stdout


def test_cli_nothing_matched(runner: CliRunner, tmp_path: Path) -> None:
    r = runner.invoke(app, ["check", "--no-config", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == f"Error: no model files (.keras, .h5, .hdf5) matched {tmp_path}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "frozen_active=loud"], "command line: frozen_active must be one of error|warn|ignore"),
        (["--set", "nonsense"], "--set expects KEY=VALUE"),
        (["--set", "bogus=1"], "unknown policy setting 'bogus'"),
        (["--set", "jobs=2"], "--set jobs=...: use the --jobs option"),
        (["--config", "x.toml", "--no-config"], "--config and --no-config contradict each other"),
        (["--config", "/nonexistent/x.toml"], "configuration file /nonexistent/x.toml does not exist"),
    ],
)
def test_cli_usage_errors(runner: CliRunner, args: list[str], message: str) -> None:
    r = runner.invoke(app, ["check", *args, str(SAMPLES / "cnn.keras")])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("Error: ") and message in r.stderr
    assert len(r.stderr.splitlines()) == 1 and r.stdout == ""


def test_cli_typer_rejects_bad_values(runner: CliRunner) -> None:
    r = runner.invoke(app, ["check", "--format", "xml", str(SAMPLES / "cnn.keras")])
    assert r.exit_code == 2 and "xml" in r.stderr
    r = runner.invoke(app, ["check", "--max-rate", "2", str(SAMPLES / "cnn.keras")])
    assert r.exit_code == 2 and "--max-rate" in r.stderr


def test_cli_options_override(runner: CliRunner) -> None:
    path = str(SAMPLES / "lstm_permadropout_tfkeras.h5")
    r = runner.invoke(app, ["check", "--no-config", "--allow-lambda", "--inference", "on", path])
    assert r.exit_code == 0, r.stdout
    r = runner.invoke(app, ["check", "--no-config", "--fail-on", "warning",
                            str(SAMPLES / "frozen_merged.keras")])
    assert r.exit_code == 1 and "DCK005 frozen_active" in r.stdout
    r = runner.invoke(app, ["check", "--no-config", "--fail-on", "warning", "--set",
                            "frozen_active=ignore", "--set", "findings={DC103='ignore'}",
                            str(SAMPLES / "frozen_merged.keras")])
    assert r.exit_code == 0, r.stdout


def test_cli_config_discovery_and_overrides(runner: CliRunner, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models" / "mc").mkdir(parents=True)
    shutil.copy(SAMPLES / "cnn.keras", tmp_path / "models" / "cnn.keras")
    shutil.copy(SAMPLES / "cnn.keras", tmp_path / "models" / "mc" / "cnn.keras")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dropctl]\ninference = "off"\n\n'
        '[[tool.dropctl.overrides]]\npaths = ["models/mc/**"]\ninference = "on"\n')
    sub = tmp_path / "models"
    monkeypatch.chdir(sub)  # discovery walks up from the working directory
    r = runner.invoke(app, ["check", "--json", "."])
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["config"] == str((tmp_path / "pyproject.toml").resolve())
    status = {a["path"]: a["status"] for a in doc["artifacts"]}
    assert status == {"cnn.keras": "pass", "mc/cnn.keras": "fail"}
    # The command line overrides the file, including its per-path overrides.
    r = runner.invoke(app, ["check", "--inference", "any", "."])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["check", "--no-config", "."])
    assert r.exit_code == 0, r.output
    (tmp_path / "pyproject.toml").write_text('[tool.dropctl]\ninfrence = "on"\n')
    r = runner.invoke(app, ["check", "."])
    assert r.exit_code == 2
    assert r.stderr.startswith(
        f"Error: {(tmp_path / 'pyproject.toml').resolve()} [tool.dropctl]: unknown setting 'infrence'")


def test_cli_output_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    r = runner.invoke(app, ["check", "--no-config", "-f", "sarif", "-o", str(out), str(SAMPLES)])
    assert r.exit_code == 1
    assert r.stdout == ""
    # Every sample artifact; the two PermaDropout models (h5 and SavedModel) fail.
    n = len(sample_artifacts())
    assert r.stderr.startswith(f"{n} artifacts checked, {n - 2} passed, 2 failed, 0 unreadable")
    assert f"report written to {out}" in r.stderr
    from tests.support.sarif import assert_valid_sarif

    assert_valid_sarif(json.loads(out.read_text()))
    assert [p.name for p in tmp_path.iterdir()] == ["report.sarif"]  # no temp file left
    r = runner.invoke(app, ["check", "--no-config", "-o", str(tmp_path / "no" / "r.txt"),
                            str(SAMPLES / "cnn.keras")])
    assert r.exit_code == 2
    missing = tmp_path / "no"
    assert r.stderr == f"Error: --output {missing / 'r.txt'}: directory {missing} does not exist\n"
    r = runner.invoke(app, ["check", "--no-config", "-q", "-o", str(tmp_path / "r.txt"),
                            str(SAMPLES / "cnn.keras")])
    assert r.exit_code == 0 and r.stderr == ""
    assert (tmp_path / "r.txt").read_text().startswith("PASS  ")


def test_help_has_example(runner: CliRunner) -> None:
    r = runner.invoke(app, ["check", "--help"])
    assert r.exit_code == 0
    assert "Example: dropctl check models/" in r.stdout


# ---- TensorFlow stays out, and the installed entry point works ------------------------------------


def test_check_never_imports_tensorflow() -> None:
    code = (
        "import sys, dropctl\n"
        f"r = dropctl.check([{str(SAMPLES)!r}], config=False, jobs=1)\n"
        "from dropctl.cli import main\n"
        "try:\n"
        f"    main(['check', '--no-config', '-f', 'sarif', {str(SAMPLES)!r}])\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "print('TF' if 'tensorflow' in sys.modules or 'keras' in sys.modules else 'clean', code,"
        " file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "clean 1", proc.stderr[-2000:]


def test_entry_point_smoke() -> None:
    exe = Path(sys.executable).parent / "dropctl"
    if not exe.exists():
        pytest.skip("dropctl console script is not installed in this environment")
    proc = subprocess.run([str(exe), "check", "--no-config", "--format", "github",
                           str(SAMPLES / "lstm_permadropout_tfkeras.h5")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith(
        "::error file=sample_models/lstm_permadropout_tfkeras.h5,title=DCK001 inference ")
    assert proc.stderr == ""


def test_config_from_table_root_relative(tmp_path: Path) -> None:
    cfg = config_from_table({"overrides": [{"paths": ["a/**"], "max_rate": 0.1}]},
                            root=tmp_path, source=None, where="t")
    report = run_check([SAMPLES / "mlp.keras"], cfg)
    assert report.results[0].status is Status.PASS  # sample_models is not under tmp_path/a
