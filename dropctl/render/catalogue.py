"""Reference tables as Markdown, generated from the code (``scripts/docs.py`` writes them).

The rule catalogue (:mod:`dropctl.rules`), the exit codes (:mod:`dropctl.errors`) and the JSON
document versions (:mod:`dropctl.render.schema`). ``scripts/docs.py --check`` (run by
tests/test_docs.py) compares every generated block of the docs with these functions' output,
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import dataclasses

from dropctl.errors import EXIT_MEANINGS
from dropctl.policy.config import Policy
from dropctl.render.schema import SCHEMA_VERSIONS
from dropctl.rules import FINDINGS, KERAS_CVES, POLICY_RULES


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def findings_table() -> str:
    """Every ``inspect`` finding code: name, severity, meaning, what to do, owning check rule."""
    rows = ["| code | name | default severity | meaning | what to do | `check` setting |",
            "|---|---|---|---|---|---|"]
    for r in FINDINGS.values():
        owner = f"`{r.policy}`" if r.policy else "`findings` (DCK011)"
        rows.append(f"| {r.code} | {r.slug} | {r.severity.value} | {_cell(r.title)} | "
                    f"{_cell(r.hint)} | {owner} |")
    return "\n".join(rows)


def _default(name: str) -> str:
    fields = {f.name: f for f in dataclasses.fields(Policy)}
    if name not in fields:
        return "(always)" if name == "readable" else "(with `--probe`)" if name == "probe" else "-"
    value = getattr(Policy(), name)
    if name == "findings":
        return "`[tool.dropctl.findings]` CODE = level"
    if isinstance(value, bool):
        return f"`{name} = {str(value).lower()}`"
    if value is None:
        return f"`{name}` (none)"
    if isinstance(value, str):  # StrEnum levels and inference
        return f'`{name} = "{value}"`'
    return f"`{name} = {value}`"


def policy_table() -> str:
    """Every ``check`` rule: id, the setting that controls it with its default, what it demands."""
    rows = ["| rule | setting (default) | demands | default severity | tag |",
            "|---|---|---|---|---|"]
    for r in POLICY_RULES:
        rows.append(f"| {r.id} | {_default(r.name)} | {_cell(r.summary)} | "
                    f"{r.default_severity.value} | {'security' if r.security else 'behaviour'} |")
    return "\n".join(rows)


def cve_table() -> str:
    """Every Keras loading CVE dropctl detects: affected and fixed Keras, what detects it."""
    rows = ["| CVE | the trigger in the file | affected Keras | fixed in | dropctl |",
            "|---|---|---|---|---|"]
    for c in KERAS_CVES:
        found = ("refused by the reader (exit 2, the `Error:` line names the CVE)"
                 if c.detection == ("refused",) else ", ".join(c.detection))
        rows.append(f"| {c.id} | {_cell(c.title)} | {_cell(' or '.join(c.affected))} | "
                    f"{_cell(c.fixed)} | {found} |")
    return "\n".join(rows)


def exit_codes_table() -> str:
    """Every exit status, the same for every command."""
    rows = ["| code | meaning |", "|---|---|"]
    rows += [f"| {int(code)} | {_cell(text)} |" for code, text in sorted(EXIT_MEANINGS.items())]
    return "\n".join(rows)


def schema_table() -> str:
    """Every JSON document kind: its ``schema`` name and current ``schema_version``."""
    rows = ["| `schema` | `schema_version` |", "|---|---|"]
    rows += [f"| `dropctl.{kind}` | {version} |" for kind, version in SCHEMA_VERSIONS.items()]
    return "\n".join(rows)


TABLES = {"findings": findings_table, "policy": policy_table, "exit-codes": exit_codes_table,
          "schemas": schema_table, "cves": cve_table}
"""Marker name in the README (``<!-- generated:NAME -->``) -> table function."""
