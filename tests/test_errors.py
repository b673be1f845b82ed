"""``dropctl.errors.one_line``: the one way a library's exception becomes a reason in a message."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO

import pytest

from dropctl.errors import MAX_ERROR, one_line


def test_a_multi_line_message_becomes_one_line_with_its_type() -> None:
    assert one_line(OSError("Unable to open file\n  (file signature not found)")) == (
        "OSError: Unable to open file (file signature not found)")


def test_typed_false_leaves_the_type_out() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads("{not json")
    assert one_line(caught.value, typed=False) == (
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)")
    with pytest.raises(zipfile.BadZipFile) as bad:
        zipfile.ZipFile(BytesIO(b"PK but not a zip"))
    assert one_line(bad.value, typed=False) == "File is not a zip file"


def test_an_empty_message_is_the_type_name() -> None:
    assert one_line(EOFError()) == one_line(EOFError("  \n"), typed=False) == "EOFError"


def test_a_long_message_is_cut_at_a_word() -> None:
    line = one_line(ValueError("word " * 200), typed=False)
    assert line.endswith(" ...") and len(line) <= MAX_ERROR + 4 and "wor ..." not in line


def test_no_other_module_summarises_exceptions_itself() -> None:
    """The inline forms this function replaced stay gone (a new one should call one_line)."""
    from tests.support import ROOT

    patterns = ("splitlines()[0]", "str(exc).strip().splitlines()", "def _first_line",
                "def _one_line", "join(str(exc).split())[:")
    found = [f"{p.relative_to(ROOT)}: {pattern}" for p in sorted((ROOT / "dropctl").rglob("*.py"))
             for pattern in patterns if pattern in p.read_text()]
    assert not found, found
