"""SARIF against the OASIS 2.1.0 JSON schema: hostile file names (spaces, ``%``, ``#``, ``:``,
unicode, non-UTF-8 bytes), paths outside the working directory, unreadable files; URIs are RFC
3986 references that decode back to the very file; security rules carry security-severity.

(The other SARIF documents the suite writes are validated where they are written:
tests/render/test_check_formats.py, tests/render/test_safe_output.py, tests/policy/test_check.py.)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from typer.testing import CliRunner

from dropctl.cli import app
from dropctl.rules import POLICY_RULES
from tests.support import SAMPLES
from tests.support.sarif import assert_valid_sarif, schema_errors

NAMES = ["with space.keras", "100% sure.keras", "a#b?c.keras", "x:y.keras", "café ü 模型.keras",
         "tab\tand;semi,colon@[brackets].keras", "plus+and&amp=.keras"]


@pytest.fixture(scope="module")
def hostile_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sarif") / "dir with space %20"
    (root / "sub dir").mkdir(parents=True)
    for name in NAMES:
        shutil.copy(SAMPLES / "lstm_permadropout_tfkeras.h5",
                    root / "sub dir" / (Path(name).stem + ".h5"))
        shutil.copy(SAMPLES / "mlp.keras", root / name)
    shutil.copy(SAMPLES / "mlp.keras", root / os.fsdecode(b"latin1-\xe9.keras"))  # not UTF-8
    (root / "broken 50%.keras").write_bytes(b"not a zip")
    return root


def _sarif(paths: list[str], cwd: Path) -> dict:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        r = CliRunner().invoke(app, ["check", "--no-config", "-f", "sarif", *paths])
    finally:
        os.chdir(old)
    assert r.exit_code in (0, 1, 2), r.output
    assert r.stdout.startswith("{"), r.output
    return json.loads(r.stdout)


def _uris(doc: dict) -> list[dict]:
    run = doc["runs"][0]
    locs = [loc["physicalLocation"]["artifactLocation"] for res in run["results"]
            for loc in res["locations"]]
    return locs + [a["location"] for a in run["artifacts"]]


def test_the_schema_catches_what_the_issue_reported() -> None:
    """The vendored schema with formats enforced rejects a raw space (the validator is real)."""
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "artifacts": [
        {"location": {"uri": "models/a b.keras", "uriBaseId": "%SRCROOT%"}}]}]}
    assert schema_errors(doc) == ["runs/0/artifacts/0/location/uri: 'models/a b.keras' is not "
                                  "a 'uri-reference'"]


def test_hostile_names_under_the_working_directory(hostile_tree: Path) -> None:
    doc = _sarif(["."], hostile_tree.parent)
    assert_valid_sarif(doc)
    locs = _uris(doc)
    files = {os.fsencode(p.relative_to(hostile_tree.parent).as_posix())
             for p in hostile_tree.rglob("*") if p.is_file()}
    assert {loc.get("uriBaseId") for loc in locs} == {"%SRCROOT%"}
    decoded = {unquote_to_bytes(loc["uri"]) for loc in locs}
    assert decoded == files  # every artifact, each URI decodes to exactly its own path
    by_uri = {loc["uri"] for loc in locs}
    assert "dir%20with%20space%20%2520/100%25%20sure.keras" in by_uri
    assert "dir%20with%20space%20%2520/caf%C3%A9%20%C3%BC%20%E6%A8%A1%E5%9E%8B.keras" in by_uri
    assert "dir%20with%20space%20%2520/latin1-%E9.keras" in by_uri
    assert "dir%20with%20space%20%2520/x%3Ay.keras" in by_uri  # no scheme-looking first segment
    assert all(urlsplit(u).scheme == "" and urlsplit(u).fragment == "" for u in by_uri)


def test_paths_outside_the_working_directory_are_file_uris(hostile_tree: Path,
                                                           tmp_path: Path) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    doc = _sarif([str(hostile_tree)], elsewhere)
    assert_valid_sarif(doc)
    for loc in _uris(doc):
        assert "uriBaseId" not in loc
        parts = urlsplit(loc["uri"])
        assert parts.scheme == "file" and parts.netloc == ""
        assert Path(os.fsdecode(unquote_to_bytes(parts.path))).is_file()


def test_security_rules_carry_security_severity() -> None:
    doc = _sarif([str(SAMPLES / "mlp.keras")], SAMPLES.parent)
    assert_valid_sarif(doc)
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    for rule, meta in zip(POLICY_RULES, rules, strict=True):
        props = meta["properties"]
        if rule.security:
            assert "security" in props["tags"]
            assert 0.1 <= float(props["security-severity"]) <= 10.0, rule.id
        else:
            assert "security-severity" not in props, rule.id
    severity = {r["id"]: r["properties"].get("security-severity") for r in rules}
    assert severity["DCK004"] == "9.8"  # Lambda bytecode runs on load: critical on GitHub


def test_the_lambda_sample_is_a_ranked_security_alert() -> None:
    doc = _sarif([str(SAMPLES / "lstm_permadropout_tfkeras.h5")], SAMPLES.parent)
    assert_valid_sarif(doc)
    run = doc["runs"][0]
    (lam,) = [r for r in run["results"] if r["ruleId"] == "DCK004"]
    rule = run["tool"]["driver"]["rules"][lam["ruleIndex"]]
    assert rule["properties"]["security-severity"] == "9.8"
    assert lam["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "sample_models/lstm_permadropout_tfkeras.h5", "uriBaseId": "%SRCROOT%"}
