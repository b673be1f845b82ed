"""The version-behaviour table: every row unit-tested, and measured on the installed Keras.

The measured tests ask the table what the *installed* Keras does (``applies(row, installed)``)
and then run a real model to see it; scripts/matrix.sh runs this file on the oldest and the
newest supported Keras, so both regimes of every Keras 3 row that has a release are measured.
The ``pin-wins`` row (Keras 3.16, keras PR #23364) has no release yet: it is measured only
where the installed Keras is >= 3.16, and otherwise covered by the unit tests below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import dropctl
from dropctl.reader.report import Verdict
from dropctl.reader.versions import (
    BEHAVIOURS,
    applies,
    installed_keras,
    parse_version,
    representatives,
    resolve_target,
    spec_matches,
)
from tests.support import LazyModule, sample_files

keras = LazyModule("keras")

ROWS = {row.key for row in BEHAVIOURS}


# ---- the table itself ---------------------------------------------------------------------------

def test_parse_version_accepts_every_spelling_keras_writes() -> None:
    assert parse_version("3.15.1") == (3, 15, 1)
    assert parse_version("3.16.0.dev2026073103") == (3, 16, 0)
    assert parse_version("2.2.4-tf") == (2, 2, 4)
    assert parse_version("3.16") == (3, 16, 0)
    with pytest.raises(ValueError):
        parse_version("latest")


@pytest.mark.parametrize(("spec", "version", "want"), [
    (">=3.0,<3.16", (3, 15, 1), True), (">=3.0,<3.16", (3, 16, 0), False),
    (">=3.16", (3, 16, 0), True), (">=3.16", (3, 15, 9), False),
    ("3.15", (3, 15, 1), True), ("3.15", (3, 1, 5), False), ("==3.15.1", (3, 15, 0), False),
    ("<3", (2, 15, 0), True), ("<3", (3, 0, 0), False), ("!=3.10", (3, 10, 2), False),
])
def test_spec_matches(spec: str, version: tuple[int, int, int], want: bool) -> None:
    assert spec_matches(spec, version) is want


def test_representatives_cover_every_regime_in_a_range() -> None:
    assert representatives(">=3.6") == [(3, 6, 0), (3, 16, 0)]
    assert representatives(">=3.16") == [(3, 16, 0)]
    assert representatives("3.15") == [(3, 15, 0)]
    assert representatives(">=3.6,<3.16") == [(3, 6, 0)]


@pytest.mark.parametrize(("key", "inside", "outside"), [
    ("pin-honoured-keras2", (2, 15, 0), (3, 0, 0)),
    ("outer-training-overrides-pin", (3, 15, 1), (3, 16, 0)),
    ("pin-wins", (3, 16, 0), (3, 15, 1)),
    ("training-default-leaks", (3, 6, 0), (3, 16, 0)),
])
def test_every_row_holds_exactly_inside_its_range(key: str, inside, outside) -> None:
    assert applies(key, inside) and not applies(key, outside)


def test_every_row_has_a_range_test() -> None:
    tested = {"pin-honoured-keras2", "outer-training-overrides-pin", "pin-wins",
              "training-default-leaks"}
    assert tested == ROWS
    for row in BEHAVIOURS:  # each row says where it comes from and how it was verified
        assert row.summary and row.source and row.verified


def test_exactly_one_pin_rule_per_version() -> None:
    for v in [(2, 2, 4), (2, 15, 0), (3, 0, 0), (3, 6, 0), (3, 15, 1), (3, 16, 0), (3, 20, 0)]:
        rules = [k for k in ("pin-honoured-keras2", "outer-training-overrides-pin", "pin-wins")
                 if applies(k, v)]
        assert len(rules) == 1, (v, rules)


def test_target_never_depends_on_what_is_installed(monkeypatch) -> None:
    from dropctl.errors import UsageError
    from dropctl.reader import versions

    assert resolve_target("3.16") == versions.KerasTarget("3.16", "--keras")
    assert resolve_target(None) == versions.KerasTarget(versions.DEFAULT_TARGET, "default")
    installed = installed_keras()
    if installed is not None:
        assert resolve_target("installed") == versions.KerasTarget(installed, "installed")
    monkeypatch.setattr(versions, "installed_keras", lambda: None)
    assert resolve_target(None) == versions.KerasTarget(versions.DEFAULT_TARGET, "default")
    with pytest.raises(UsageError, match="--keras installed: no Keras is installed"):
        resolve_target("installed")
    with pytest.raises(UsageError, match="'newest' is not a version"):
        resolve_target("newest")


def test_installed_keras_reads_the_nightly_distribution_too() -> None:
    """keras-nightly provides the ``keras`` package under another distribution name."""
    import importlib.metadata as md

    from dropctl.reader.versions import KERAS_DISTRIBUTIONS

    found = []
    for dist in KERAS_DISTRIBUTIONS:
        try:
            found.append(md.version(dist))
        except md.PackageNotFoundError:
            pass
    assert installed_keras() == (found[0] if found else None)
    if found:  # the package the metadata names is the one `import keras` would load
        import importlib.util

        spec = importlib.util.find_spec("keras")
        assert spec is not None and spec.origin is not None


def test_default_target_is_the_newest_supported_release() -> None:
    from dropctl.reader.versions import DEFAULT_TARGET, SUPPORTED

    assert spec_matches(SUPPORTED, parse_version(DEFAULT_TARGET))
    assert spec_matches(SUPPORTED, (3, 6, 0)) and spec_matches(SUPPORTED, (3, 16, 0))
    assert not spec_matches(SUPPORTED, (3, 5, 0))


# ---- the static verdicts follow the table ----------------------------------------------------------

def test_inspect_pinned_sample_per_target(samples_dir: Path) -> None:
    path = samples_dir / "pinned_training.keras"
    r315 = dropctl.inspect(path, keras="3.15")
    r316 = dropctl.inspect(path, keras="3.16")
    r2 = dropctl.inspect(path, keras="2.15")
    assert r315.predict_deterministic is Verdict.YES and r315.call_deterministic is Verdict.NO
    assert r316.predict_deterministic is Verdict.NO and r316.call_deterministic is Verdict.NO
    assert r2.predict_deterministic is Verdict.NO
    assert (r316.keras_target.version, r316.keras_target.source) == ("3.16", "--keras")


def test_inspect_json_names_the_target(cli_runner, samples_dir: Path) -> None:
    import json

    from dropctl.cli import app

    res = cli_runner.invoke(app, ["inspect", str(samples_dir / "pinned_training.keras"), "--json",
                                  "--keras", "3.16"])
    doc = json.loads(res.stdout)
    assert doc["verdicts_for"] == {"keras": "3.16", "source": "--keras"}
    assert doc["verdict"]["predict_deterministic"] == "no"
    bad = cli_runner.invoke(app, ["inspect", str(samples_dir / "pinned_training.keras"),
                                  "--keras", "newest"])
    assert bad.exit_code == 2 and "--keras 'newest' is not a version" in bad.stderr


# ---- measured on the installed Keras ----------------------------------------------------------------

def _installed() -> tuple[int, int, int]:
    return parse_version(keras.version())


def _differs(a, b) -> bool:
    return not np.array_equal(np.asarray(a), np.asarray(b))


def _pinned_model(pin: bool):
    inp = keras.Input((64,))
    h = keras.layers.Dense(64)(inp)
    h = keras.layers.Dropout(0.5)(h, training=pin)
    return keras.Model(inp, keras.layers.Dense(8)(h))


X = np.random.default_rng(0).standard_normal((4, 64)).astype("float32")


def test_pin_rules_measured_on_installed_keras(tmp_path: Path) -> None:
    """Whichever pin row the table assigns to the installed Keras is what the model does."""
    from dropctl.mc.inputs import flat_outputs

    version = _installed()
    pin_wins = applies("pin-wins", version)
    assert pin_wins is not applies("outer-training-overrides-pin", version)
    model = _pinned_model(True)
    p1, p2 = model.predict(X, verbose=0), model.predict(X, verbose=0)
    f1, f2 = flat_outputs(model(X, training=False)), flat_outputs(model(X, training=False))
    assert _differs(p1, p2) is pin_wins
    assert _differs(f1[0], f2[0]) is pin_wins
    assert _differs(flat_outputs(model(X))[0], flat_outputs(model(X))[0])  # bare call: on
    off = _pinned_model(False)
    t1, t2 = flat_outputs(off(X, training=True)), flat_outputs(off(X, training=True))
    assert _differs(t1[0], t2[0]) is not pin_wins  # fit-time call: the pin loses before 3.16
    # The static verdict for the installed Keras says the same as the measurement.
    path = tmp_path / "pinned.keras"
    model.save(path)
    report = dropctl.inspect(path, keras="installed")
    assert report.keras_target.source == "installed"
    assert (report.predict_deterministic is Verdict.NO) is pin_wins


def _verdicts(path: Path, line: str) -> tuple[Verdict, Verdict]:
    r = dropctl.inspect(path, keras=line, include_layers=False)
    return r.predict_deterministic, r.call_deterministic


VERSIONED = [p for p in sample_files() if _verdicts(p, "3.15") != _verdicts(p, "3.16")]
"""Samples whose static verdict differs between Keras 3.15 and 3.16 (read statically at
collection: no Keras needed)."""


def test_versioned_samples_are_the_pinned_ones() -> None:
    assert {p.name for p in VERSIONED} == {"pinned_training.keras", "pinned_training_tfkeras.h5"}


@pytest.mark.parametrize("path", VERSIONED, ids=lambda p: p.name)
def test_versioned_sample_predict_measured_against_its_line(path: Path) -> None:
    """predict() twice on the installed Keras (3.6/3.15 in the default env and tf-oldest rows,
    the 3.16 nightly in scripts/matrix.sh nightly-*), against ``inspect --keras <that line>``:
    the 3.15 verdict is measured where 3.15 runs, the 3.16 verdict where the nightly runs."""
    model = dropctl.load_model(path)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, *[d or 4 for d in t.shape[1:]])).astype("float32")
          for t in model.inputs]
    x = xs if len(xs) > 1 else xs[0]
    deterministic = not _differs(model.predict(x, verbose=0), model.predict(x, verbose=0))
    version = _installed()
    line = f"{version[0]}.{version[1]}"
    predict_verdict, _ = _verdicts(path, line)
    assert (predict_verdict is Verdict.YES) is deterministic, (line, predict_verdict)
    assert _verdicts(path, "installed") == _verdicts(path, line)
    # The two lines really disagree, so one of the two measurements is of the other regime.
    assert _verdicts(path, "3.15")[0] is not _verdicts(path, "3.16")[0]


def test_training_default_leak_measured_on_installed_keras(tmp_path: Path) -> None:
    """Resizing (call defaults to training=True) before BatchNormalization and a Dropout, bare
    model(x): BN switches to batch statistics where the row applies; the Dropout never acts."""
    from dropctl.mc.inputs import flat_outputs

    leaks = applies("training-default-leaks", _installed())
    x = (np.random.default_rng(1).standard_normal((4, 8, 8, 1)) * 3 + 1).astype("float32")
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(keras.layers.Resizing(8, 8)(inp))  # same size: deterministic
    bn_model = keras.Model(inp, keras.layers.BatchNormalization()(h))
    bare, pred = flat_outputs(bn_model(x))[0], bn_model.predict(x, verbose=0)
    assert (not np.allclose(bare, pred, atol=1e-5)) is leaks
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(keras.layers.Resizing(8, 8)(inp))
    h = keras.layers.Dropout(0.5)(keras.layers.Dense(32)(h))
    model = keras.Model(inp, keras.layers.Dense(4)(h))
    a, b = flat_outputs(model(x))[0], flat_outputs(model(x))[0]
    assert not _differs(a, b)  # a functional Dropout stays off either way
    path = tmp_path / "leak.keras"
    model.save(path)
    report = dropctl.inspect(path)
    assert report.call_deterministic is Verdict.YES
    assert report.predict_deterministic is Verdict.YES


# ---- check: keras = ">=3.16" or a list of versions ----------------------------------------------

def test_check_fails_a_model_whose_verdict_differs_across_deployed_versions(samples_dir: Path) -> None:
    pinned = samples_dir / "pinned_training.keras"
    report = dropctl.check([pinned], config=False, keras=">=3.6")
    result = report.results[0]
    dck012 = [v for v in result.violations if v.rule.id == "DCK012"]
    assert result.status.value == "fail" and len(dck012) == 1
    assert dck012[0].message == "predict() deterministic: yes on Keras 3.6, no on Keras 3.16"
    # A later version's own violations are listed with the version they hold for.
    assert any(v.rule.id == "DCK001" and v.message.startswith("Keras 3.16: ")
               for v in result.violations)
    # A model without pins agrees on every version: no DCK012.
    plain = dropctl.check([samples_dir / "cnn.keras"], config=False, keras=["3.10", "3.16"])
    assert not [v for v in plain.results[0].violations if v.rule.id == "DCK012"]
    # Deployed only on 3.16: one regime, the 3.16 verdict (predict() stochastic -> DCK001).
    only = dropctl.check([pinned], config=False, keras=">=3.16").results[0]
    assert {v.rule.id for v in only.violations} >= {"DCK001"}
    assert not [v for v in only.violations if v.rule.id == "DCK012"]


def test_check_keras_setting_from_pyproject_and_bad_values(cli_runner, samples_dir: Path,
                                                           tmp_path: Path) -> None:
    from dropctl.cli import app

    (tmp_path / "pyproject.toml").write_text('[tool.dropctl]\nkeras = ["3.10", "3.16"]\n')
    model = tmp_path / "pinned_training.keras"
    model.write_bytes((samples_dir / "pinned_training.keras").read_bytes())
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        res = cli_runner.invoke(app, ["check", "pinned_training.keras", "--format", "json"])
        (tmp_path / "pyproject.toml").write_text('[tool.dropctl]\nkeras = "newest"\n')
        bad = cli_runner.invoke(app, ["check", "pinned_training.keras"])
    finally:
        os.chdir(old)
    assert res.exit_code == 1, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    ids = {v["rule"] for a in doc["artifacts"] for v in a["violations"]}
    assert "DCK012" in ids
    assert bad.exit_code == 2 and "'newest' is not a Keras version or range" in bad.stderr


def test_inspect_text_states_the_target_in_both_renderers(samples_dir: Path) -> None:
    from dropctl.render.inspect_text import header, render_inspect_plain

    report = dropctl.inspect(samples_dir / "pinned_training.keras")
    assert "verdicts for Keras 3.15 (default)" in header(report).plain
    assert render_inspect_plain(report).splitlines()[1] == "verdicts for Keras 3.15 (default)"


def test_every_check_format_states_the_target(cli_runner, samples_dir: Path) -> None:
    import xml.etree.ElementTree as ET

    from dropctl.cli import app

    pinned = str(samples_dir / "pinned_training.keras")
    runs = {fmt: cli_runner.invoke(app, ["check", pinned, "--no-config", "--format", fmt,
                                         "--keras", "3.16"])
            for fmt in ("text", "json", "sarif", "junit", "github")}
    want = "Keras 3.16 (policy keras: 3.16)"
    assert all(r.exit_code == 1 for r in runs.values()), {k: r.stdout for k, r in runs.items()}
    assert runs["text"].stdout.rstrip().endswith(f"(fail on: error); verdicts for {want}")
    assert runs["github"].stdout.rstrip().endswith(f"verdicts for {want}")
    doc = json.loads(runs["json"].stdout)
    assert doc["verdicts_for"] == want
    assert doc["artifacts"][0]["model"]["verdicts_for"] == {"keras": "3.16", "source": "config"}
    assert json.loads(runs["sarif"].stdout)["runs"][0]["properties"] == {"verdictsFor": want}
    prop = ET.fromstring(runs["junit"].stdout).find("testsuite/properties/property")
    assert prop is not None and prop.get("value") == want
    # --keras installed opts into the installed Keras; the default is stated, not installed.
    installed = cli_runner.invoke(app, ["check", pinned, "--no-config", "--format", "json",
                                        "--keras", "installed"])
    default = cli_runner.invoke(app, ["check", pinned, "--no-config", "--format", "json"])
    assert json.loads(default.stdout)["verdicts_for"] == "Keras 3.15 (default)"
    if installed_keras() is not None:
        assert json.loads(installed.stdout)["verdicts_for"] == \
            f"Keras {installed_keras()} (installed)"
    else:
        assert installed.exit_code == 2 and "no Keras is installed" in installed.stderr
    mixed = cli_runner.invoke(app, ["check", pinned, "--no-config", "--set",
                                    'keras=["installed", "3.16"]'])
    assert mixed.exit_code == 2 and "cannot be combined" in mixed.stderr
