"""Reference tables as Markdown, generated from the code (``scripts/docs.py`` writes them).

The rule catalogue (:mod:`dropctl.rules`), the exit codes (:mod:`dropctl.errors`) and the JSON
document versions (:mod:`dropctl.render.schema`). ``scripts/docs.py --check`` (run by
tests/test_docs.py) compares every generated block of the docs with these functions' output,
so the documentation cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

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


def _releases(name: str) -> str:
    """What each recorded keras_hub release builds for one class, against the catalogue's."""
    from dropctl.reader.semantics import history, versions

    current = versions()[1]
    out = []
    for version, rec in sorted(history().get("keras_hub", {}).items()):
        if name in (rec.get("hub_models") or {}):
            out.append(f"{version}: catalogued from it")
        elif name in (rec.get("absent") or []):
            out.append(f"{version}: absent")
        elif name in (rec.get("unbuilt") or {}):
            out.append(f"{version}: not built")
        elif name in (rec.get("hub_paths") or {}):
            moved = any(c.keras_hub == version for c in _changes(name))
            said = "other paths (DC407)" if moved else "same paths"
            if any(c.keras_hub == version for c in _call_changes(name)):
                said += ", other training calls (DC408)"
            elif "hub_dead" not in rec or name in (rec.get("hub_calls_unmeasured") or {}):
                said += ", training calls not measured"
            out.append(f"{version}: {said}")
    return "; ".join(out) or f"{current} only"


def _changes(name: str) -> tuple[Any, ...]:
    """The recorded path changes of a class (:class:`dropctl.reader.semantics.PathChange`)."""
    from dropctl.reader.semantics import path_changes

    return path_changes(name)


def _call_changes(name: str) -> tuple[Any, ...]:
    """The recorded training-call changes of a class (:class:`~dropctl.reader.semantics.
    CallChange`)."""
    from dropctl.reader.semantics import call_changes

    return call_changes(name)


def _sites_cell(item: dict[str, Any], models: dict[str, Any]) -> str:
    """Its own sites, and those of each sub-model it holds (read through the sub-model's entry:
    ``0 + 11 in image_encoder``)."""
    out = str(len(item.get("sites") or [])) + _calls_said(item)
    for key, sub in sorted((item.get("submodels") or {}).items()):
        inner = sub.get("layout") or models.get(sub["class"]) or {}
        if inner.get("sites"):
            out += f" + {len(inner['sites'])} in {key}{_calls_said(inner)}"
    return out


def _calls_said(item: dict[str, Any]) -> str:
    """What the generator's training=True call measured of an entry's sites: how many it
    never calls (DC304), how many raise (DC305) and how many draw noise that is not a drop
    (DC306), or that no call could be made."""
    if item.get("calls_unmeasured"):
        return " (training call not measured)"
    sites = item.get("sites") or []
    dead = sum(1 for s in sites if s.get("called") is False)
    fails = sum(1 for s in sites if s.get("training_fails"))
    noise = sum(1 for s in sites if s.get("noise"))
    said = [f"{dead} never called" if dead else "", f"{fails} raise in training" if fails else "",
            f"{noise} not a drop" if noise else ""]
    return f" ({', '.join(s for s in said if s)})" if any(said) else ""


def hub_table() -> str:
    """Every keras_hub class of the semantics catalogue: its rate parameters, the sites its tiny
    config builds, and what each recorded keras_hub release builds; then the ones not built."""
    from dropctl.reader.semantics import catalogue, history

    doc = catalogue()
    models = dict(doc["hub_models"])
    unbuilt = dict(doc["unbuilt"])
    for rec in history().get("keras_hub", {}).values():
        for n, m in (rec.get("hub_models") or {}).items():
            models.setdefault(n, m)
        for n, why in (rec.get("new_unbuilt") or {}).items():
            if n not in models:
                unbuilt.setdefault(n, why)
    rows = ["| class | kind | rate parameters | sites (tiny config) | other keras_hub releases |",
            "|---|---|---|---|---|"]
    for name, m in sorted(models.items()):
        params = ", ".join(f"`{p}`" for p in sorted(m.get("params") or {})) or "-"
        rows.append(f"| {name} | {m['kind']} | {params} | {_sites_cell(m, models)} | "
                    f"{_cell(_releases(name))} |")
    rows += ["", "| not built | why |", "|---|---|"]
    rows += [f"| {name} | {_cell(why)} |" for name, why in sorted(unbuilt.items())]
    return "\n".join(rows)


def keras_layers_table() -> str:
    """Every keras.layers class with a rate or noise parameter, and the recorded Keras releases
    that have it."""
    from dropctl.reader.semantics import catalogue, history, layer_versions

    doc = catalogue()
    names = set(doc["keras_layers"]).union(
        *(set(r["keras_layers"]) for r in history().get("keras", {}).values()))
    rows = ["| class | parameters | recorded Keras releases with it |", "|---|---|---|"]
    for name in sorted(names):
        params = (doc["keras_layers"].get(name) or next(
            r["keras_layers"][name] for r in history()["keras"].values()
            if name in r["keras_layers"]))["params"]
        rows.append(f"| {name} | {', '.join(f'`{p}`' for p in params)} | "
                    f"{', '.join(layer_versions(name))} |")
    return "\n".join(rows)


def hub_layers_table() -> str:
    """Every keras_hub layer class with a rate parameter: the sites it builds inside itself
    for each way keras_hub's tests call it (and what tells that call apart in a saved file),
    then the classes not built, and why."""
    from dropctl.reader.semantics import catalogue

    doc = catalogue()
    rows = ["| class | rate parameters | called as | sites (below the layer) |", "|---|---|---|---|"]
    for name, item in sorted((doc.get("hub_layers") or {}).items()):
        for call in item["calls"]:
            how = ("saved with " + ", ".join(f"`{k}`" for k in call["when"]) if call["when"]
                   else "default")
            sites = ", ".join(f"`{s['path'] or '(the layer itself)'}`" for s in call["sites"])
            rows.append(f"| {name} | {', '.join(f'`{p}`' for p in item['params'])} | "
                        f"{_cell(how)} | {sites or '-'} |")
    for name, why in sorted((doc.get("hub_layers_unbuilt") or {}).items()):
        rows.append(f"| {name} | - | not built: {_cell(why)} | one site at its own path |")
    return "\n".join(rows)


TABLES = {"findings": findings_table, "policy": policy_table, "exit-codes": exit_codes_table,
          "schemas": schema_table, "cves": cve_table, "hub-catalogue": hub_table,
          "keras-layers": keras_layers_table, "hub-layers": hub_layers_table}
"""Marker name in the README (``<!-- generated:NAME -->``) -> table function."""
