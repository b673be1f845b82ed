"""The OASIS SARIF 2.1.0 JSON schema (vendored in tests/render/schemas/, from oasis-tcs/sarif-spec
``sarif-2.1/schema/sarif-schema-2.1.0.json``, the errata01 text) with its ``uri`` /
``uri-reference`` formats enforced: jsonschema checks them only with ``rfc3986-validator``
installed (a dev dependency), and without it a path with a space would pass unnoticed."""

from __future__ import annotations

import functools
import json
from typing import Any

from tests.support import ROOT

SCHEMA = ROOT / "tests" / "render" / "schemas" / "sarif-schema-2.1.0.json"


@functools.cache
def _validator() -> Any:
    import jsonschema

    checker = jsonschema.FormatChecker()
    assert checker.conforms("a b", "uri-reference") is False, (
        "jsonschema cannot check uri-reference: pip install rfc3986-validator (dev extra)")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def schema_errors(doc: dict[str, Any]) -> list[str]:
    """Every violation of the SARIF 2.1.0 schema in ``doc`` (empty: valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validator().iter_errors(doc)]


def assert_valid_sarif(doc: dict[str, Any]) -> None:
    errors = schema_errors(doc)
    assert not errors, "\n".join(errors)
