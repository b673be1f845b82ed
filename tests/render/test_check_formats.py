"""Check renderers: SARIF 2.1.0 structure, JUnit XML, GitHub annotations, JSON, text.

Renderers are tested on hand-built reports (exact strings) and on a real run over the samples.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from dropctl.cli import app
from dropctl.policy.results import ArtifactResult, CheckReport, Status, Violation
from dropctl.reader.report import Severity
from dropctl.render.check_json import render_json
from dropctl.render.check_text import render_text
from dropctl.render.github import render_github
from dropctl.render.junit import render_junit
from dropctl.render.sarif import render_sarif
from dropctl.rules import POLICY_BY_NAME as RULES_BY_NAME
from dropctl.rules import POLICY_RULES as RULES
from tests.support import (
    ROOT,
    SAMPLES,
)
from tests.support.sarif import assert_valid_sarif


def hand_report() -> CheckReport:
    lam = Violation(RULES_BY_NAME["forbid_lambda"], Severity.ERROR, "m/inner/lambda",
                    "Lambda carries Python bytecode: 251 bytes, names a,b [DC201]",
                    "never load it", "DC201")
    frozen = Violation(RULES_BY_NAME["frozen_active"], Severity.WARNING, "m/A/dropout",
                       "Dropout inside a frozen sub-model", "", "DC101")
    note = Violation(RULES_BY_NAME["findings"], Severity.INFO, "m/lstm",
                     "recurrent_dropout > 0 disables cuDNN [DC301]", "", "DC301")
    return CheckReport(
        results=(
            ArtifactResult("models/a.h5", Status.FAIL, (lam, frozen, note), seconds=0.012),
            ArtifactResult("models/b.keras", Status.PASS, (), seconds=0.003),
            ArtifactResult("models/c.keras", Status.ERROR,
                           error="models/c.keras: is empty", seconds=0.001),
        ),
        fail_on=Severity.ERROR, config_source=None, probe=False,
    )


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SAMPLES.parent)  # URIs are relative to the working directory


def validate_sarif(doc: dict) -> None:
    """The OASIS 2.1.0 schema, then the properties GitHub code scanning requires, one by one."""
    assert_valid_sarif(doc)
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and doc["runs"]
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"] == "dropctl" and driver["version"]
        ids = [rule["id"] for rule in driver["rules"]]
        assert len(ids) == len(set(ids))
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
            assert rule["help"]["text"]
            assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        for res in run["results"]:
            assert res["ruleId"] in ids
            assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
            assert res["level"] in ("error", "warning", "note", "none")
            assert isinstance(res["message"]["text"], str) and res["message"]["text"]
            assert res["locations"]
            for loc in res["locations"]:
                art = loc["physicalLocation"]["artifactLocation"]
                assert art["uri"] and "\\" not in art["uri"]
                assert loc["physicalLocation"]["region"]["startLine"] >= 1


def test_sarif_hand_built() -> None:
    doc = json.loads(render_sarif(hand_report()))
    validate_sarif(doc)
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [r.id for r in RULES]
    got = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0].get("logicalLocations", [{}])[0].get("fullyQualifiedName"))
           for r in run["results"]]
    assert got == [
        ("DCK004", "error", "models/a.h5", "m/inner/lambda"),
        ("DCK005", "warning", "models/a.h5", "m/A/dropout"),
        ("DCK011", "note", "models/a.h5", "m/lstm"),
        ("DCK000", "error", "models/c.keras", None),
    ]
    assert run["results"][0]["message"]["text"] == (
        "m/inner/lambda: Lambda carries Python bytecode: 251 bytes, names a,b [DC201] (never load it)")
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["exitCode"] == 2
    fps = [r.get("partialFingerprints") for r in run["results"][:3]]
    assert len({json.dumps(f) for f in fps}) == 3


def test_junit_hand_built() -> None:
    root = ET.fromstring(render_junit(hand_report()))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["models/a.h5", "models/b.keras", "models/c.keras"]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "DCK004"
    assert failure.text == "error DCK004 forbid_lambda: m/inner/lambda: Lambda carries Python " \
        "bytecode: 251 bytes, names a,b [DC201]"
    assert "warning DCK005 frozen_active: m/A/dropout" in cases[0].find("system-out").text
    assert list(cases[1]) == []
    error = cases[2].find("error")
    assert error is not None and error.get("message") == "models/c.keras: is empty"


def test_github_hand_built_exact() -> None:
    assert render_github(hand_report()) == (
        "::error file=models/a.h5,title=DCK004 forbid_lambda (m/inner/lambda)::Lambda carries "
        "Python bytecode: 251 bytes, names a,b [DC201] - never load it\n"
        "::warning file=models/a.h5,title=DCK005 frozen_active (m/A/dropout)::Dropout inside a "
        "frozen sub-model\n"
        "::notice file=models/a.h5,title=DCK011 findings (m/lstm)::recurrent_dropout > 0 "
        "disables cuDNN [DC301]\n"
        "::error file=models/c.keras,title=DCK000 readable::models/c.keras: is empty\n"
        "3 artifacts checked, 1 passed, 1 failed, 1 unreadable (fail on: error)\n"
    )


def test_github_escaping() -> None:
    from dropctl.render.github import _data, _prop

    assert _prop("a,b:c%d\ne") == "a%2Cb%3Ac%25d%0Ae"
    assert _data("50% a,b:c\r\n") == "50%25 a,b:c%0D%0A"


def test_text_hand_built_exact() -> None:
    assert render_text(hand_report()) == (
        "FAIL  models/a.h5\n"
        "      error   DCK004 forbid_lambda   m/inner/lambda: Lambda carries Python bytecode: "
        "251 bytes, names a,b [DC201]\n"
        "                              -> never load it\n"
        "      warning DCK005 frozen_active   m/A/dropout: Dropout inside a frozen sub-model\n"
        "PASS  models/b.keras\n"
        "ERROR models/c.keras\n"
        "      models/c.keras: is empty\n"
        "\n"
        "3 artifacts checked, 1 passed, 1 failed, 1 unreadable (fail on: error)\n"
    )
    assert "DCK011" in render_text(hand_report(), verbose=True)


def test_json_hand_built() -> None:
    doc = json.loads(render_json(hand_report()))
    assert doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["summary"] == {"artifacts": 3, "passed": 1, "failed": 1, "errors": 1}
    a = doc["artifacts"][0]
    assert a["violations"][0] == {
        "rule": "DCK004", "name": "forbid_lambda", "severity": "error", "path": "m/inner/lambda",
        "message": "Lambda carries Python bytecode: 251 bytes, names a,b [DC201]",
        "hint": "never load it", "finding": "DC201"}
    assert doc["artifacts"][2]["error"] == "models/c.keras: is empty"
    assert {r["id"] for r in doc["rules"]} == {r.id for r in RULES}


_ARTIFACT_DIRS = {"seed_lstm_savedmodel", "bert_tiny_preset", "mlp_pair"}
N_SAMPLES = sum(1 for p in (ROOT / "sample_models").rglob("*") if p.suffix in (".keras", ".h5")
                and not set(p.relative_to(ROOT / "sample_models").parts[:-1]) & _ARTIFACT_DIRS
                ) + len(_ARTIFACT_DIRS)
"""What `check sample_models` finds: model files (the tf.keras corpus in sample_models/tfkeras/
included) outside the artifact directories, plus those directories (SavedModel, preset, pair)."""


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "github"])
def test_every_format_on_the_samples(fmt: str) -> None:
    r = CliRunner().invoke(app, ["check", "--no-config", "--format", fmt, "sample_models"])
    assert r.exit_code == 1, r.output
    assert r.stderr == ""
    out = r.stdout
    if fmt == "json":
        doc = json.loads(out)
        # The two PermaDropout models (h5 and SavedModel) fail.
        assert doc["summary"] == {"artifacts": N_SAMPLES, "passed": N_SAMPLES - 2, "failed": 2,
                                  "errors": 0}
        assert {a["model"]["format"] for a in doc["artifacts"]} == {
            "keras", "h5", "savedmodel", "preset", "weights+config"}
    elif fmt == "sarif":
        doc = json.loads(out)
        validate_sarif(doc)
        uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for r in doc["runs"][0]["results"] if r["level"] == "error"}
        assert uris == {"sample_models/lstm_permadropout_tfkeras.h5",
                        "sample_models/seed_lstm_savedmodel"}
    elif fmt == "junit":
        suite = ET.fromstring(out).find("testsuite")
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == (
            str(N_SAMPLES), "2", "0")
    elif fmt == "github":
        errors = [line for line in out.splitlines() if line.startswith("::error ")]
        assert errors and all(
            line.startswith(("::error file=sample_models/lstm_permadropout_tfkeras.h5,",
                             "::error file=sample_models/seed_lstm_savedmodel,"))
            for line in errors)
    else:
        assert out.count("PASS  ") == N_SAMPLES - 2 and out.count("FAIL  ") == 2
