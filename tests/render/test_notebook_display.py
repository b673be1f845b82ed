"""Reports display in notebooks (``_repr_html_``) and Rich consoles (``__rich__``) as the CLI's
tables, and a hostile name can neither inject HTML into a notebook nor drive a terminal.

Static reports only (inspect, check): the MC, diff, convert and evaluate displays run in
tests/test_notebook.py, where the quickstart notebook produces them in a real kernel.
"""

from __future__ import annotations

import io
import json
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

import dropctl
from dropctl.cli import app
from tests.support import SAMPLES

EVIL = '<img src=x onerror="alert(1)">\x1b]0;owned\x07\u202e'


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002 - HTMLParser's
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    p.close()
    return p


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "evil.keras"
    doc = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "m", "layers": [
               {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
                "config": {"name": "dense", "units": 2}},
               {"module": "keras.layers", "class_name": "Dropout", "registered_name": None,
                "config": {"name": EVIL, "rate": 0.5}}]}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        zf.writestr("config.json", json.dumps(doc))
    return path


def test_inspect_html_is_the_cli_table(cli_runner) -> None:
    report = dropctl.inspect(SAMPLES / "mlp.keras")
    parsed = _parse(report._repr_html_())
    assert parsed.tags[0] == "pre" and set(parsed.tags) <= {"pre", "span"}  # a fragment
    shown = "".join(parsed.text)
    cli = cli_runner.invoke(app, ["inspect", str(SAMPLES / "mlp.keras")], terminal_width=120)
    assert cli.exit_code == 0
    for line in cli.stdout.splitlines():  # every line the CLI prints, the notebook shows
        if line.strip():
            assert line.rstrip() in shown, line


def test_rich_print_uses_the_same_renderer() -> None:
    report = dropctl.inspect(SAMPLES / "mlp.keras")
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None).print(report)
    text = buf.getvalue()
    assert "mlp/dropout " in text and "mlp/dropout_1 " in text and "InspectReport(" not in text


def test_check_html_lists_every_verdict() -> None:
    report = dropctl.check([SAMPLES / "mlp.keras", SAMPLES / "lstm_permadropout_tfkeras.h5"],
                           config=False)
    shown = "".join(_parse(report._repr_html_()).text)
    assert "PASS  " + str(SAMPLES / "mlp.keras") in shown
    assert "FAIL  " + str(SAMPLES / "lstm_permadropout_tfkeras.h5") in shown
    assert "DCK004 forbid_lambda" in shown
    assert "2 artifacts checked, 1 passed, 1 failed, 0 unreadable" in shown


@pytest.mark.parametrize("which", ["inspect", "check"])
def test_hostile_names_cannot_inject_html(hostile: Path, which: str) -> None:
    report = (dropctl.inspect(hostile) if which == "inspect"
              else dropctl.check(hostile, config=False, max_rate=0.3))  # a violation names it
    html = report._repr_html_()
    parsed = _parse(html)
    assert set(parsed.tags) <= {"pre", "span"}  # no <img>, no attribute from the file
    assert "<img" not in html and "&lt;img src=x" in html  # escaped (a table may wrap it)
    shown = "".join(parsed.text)
    # Shown as text, its control characters as visible escapes, never raw.
    assert "\\x1b" in shown and "\\x07" in shown and "\\u202e" in shown
    assert not [c for c in html if (ord(c) < 32 and c != "\n") or c == "\u202e"]
