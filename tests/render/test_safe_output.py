"""Names from a hostile file never drive the terminal and never break a report format.

A layer named with ESC/BEL/CR/LF/NUL, a Rich-markup-looking name and a keras_version holding a
lone surrogate (valid in JSON as ``\\ud800``): text output shows visible escapes, JUnit stays
well-formed XML, SARIF and JSON parse, GitHub annotations stay one line each.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropctl.cli import app

EVIL = ("drop\x1b]0;owned\x07\x1b[2J\r\nError: forged line\x00[/bold]\u202e"
        "\u2028Error: after a line separator\u2029\u200f\u200e\u061c\u2066\u2069\u200b\ufeff")


@pytest.fixture(scope="module")
def hostile_names(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("names") / "evil\x1bname.keras"
    doc = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "m\x07", "layers": [
               {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                "config": {"name": "dense", "units": 2}},
               {"module": "keras.layers", "class_name": "Dropout", "registered_name": None,
                "config": {"name": EVIL, "rate": 1.5}}]}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", '{"keras_version": "3.\\ud800\\u001b[31m"}')
        zf.writestr("config.json", json.dumps(doc))
    return path


def _no_raw_controls(text: str) -> None:
    import unicodedata

    # Unicode's own classes: format characters (bidi marks, isolates, zero-width, BOM) and the
    # line/paragraph separators must never reach the output raw.
    bad = [c for c in text if (ord(c) < 32 and c not in "\n") or 0x7F <= ord(c) < 0xA0
           or 0xD800 <= ord(c) < 0xE000
           or unicodedata.category(c) in ("Cf", "Zl", "Zp")]
    assert not bad, f"raw control characters reached the output: {bad!r}"


def test_escape_is_visible_and_idempotent_on_clean_text() -> None:
    from dropctl.render.safe import escape

    assert escape("a\x1bb\x07\ud800\u202e") == "a\\x1bb\\x07\\ud800\\u202e"
    assert escape("x\u2028y\u200f\u061c") == "x\\u2028y\\u200f\\u061c"
    clean = "model/dense_1"
    assert escape(clean) is clean


@pytest.mark.parametrize("argv", [["inspect"], ["inspect", "--all"],
                                  ["check", "--no-config"], ["check", "--no-config", "-v"]])
def test_text_output_shows_escapes(hostile_names: Path, argv: list[str]) -> None:
    result = CliRunner().invoke(app, [*argv, str(hostile_names)])
    assert result.exit_code in (0, 1), result.output
    _no_raw_controls(result.stdout)
    _no_raw_controls(result.stderr)
    assert "\\x1b]0;owned\\x07" in result.stdout
    assert "forged line" not in result.stdout.splitlines()[0]
    assert not any(line.startswith("Error: forged") for line in result.stdout.splitlines())


def test_junit_is_well_formed(hostile_names: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--no-config", "--format", "junit",
                                      str(hostile_names)])
    assert result.exit_code == 1
    root = ET.fromstring(result.stdout.encode("utf-8"))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and "\\x1b" in (failure.text or "")


def test_github_annotations_stay_one_line_each(hostile_names: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--no-config", "--format", "github",
                                      str(hostile_names)])
    assert result.exit_code == 1
    _no_raw_controls(result.stdout)
    lines = result.stdout.splitlines()
    assert all(line.startswith("::") for line in lines[:-1]), lines


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_parse(hostile_names: Path, fmt: str) -> None:
    result = CliRunner().invoke(app, ["check", "--no-config", "--format", fmt, str(hostile_names)])
    assert result.exit_code == 1
    assert result.stdout.isascii()  # surrogates and controls as \\u escapes
    doc = json.loads(result.stdout)
    if fmt == "sarif":
        from tests.support.sarif import assert_valid_sarif

        assert_valid_sarif(doc)


def test_error_line_is_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "x\x1b[2J\ry.keras"
    bad.write_bytes(b"not a zip")
    result = CliRunner().invoke(app, ["inspect", str(bad)])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "\\x1b[2J\\x0dy.keras" in line
    _no_raw_controls(result.stderr)
