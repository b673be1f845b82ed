"""The JSON contract: every document dropctl prints carries its schema name and version.

``schema_version`` is an integer per document kind. Adding a key is not a change of version
(consumers must ignore keys they do not know); renaming, removing or changing the meaning or
type of a key bumps it. The README's "JSON output" section documents each document.
"""

from __future__ import annotations

from typing import Any

from dropctl._version import __version__

SCHEMA_VERSIONS: dict[str, int] = {
    "inspect": 1,
    "check": 1,
    "mc-predict": 1,
    "diff": 1,
    "convert": 1,
    "calibrate": 1,
    "export": 1,
}
"""Document kind -> current schema version."""


def header(kind: str) -> dict[str, Any]:
    """The keys every JSON document starts with: ``schema``, ``schema_version``, ``dropctl_version``."""
    return {"schema": f"dropctl.{kind}", "schema_version": SCHEMA_VERSIONS[kind],
            "dropctl_version": __version__}
