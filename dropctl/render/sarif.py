"""``dropctl check --format sarif``: SARIF 2.1.0 for GitHub code scanning and other viewers.

One run, one ``tool.driver`` with every check rule (stable ids ``DCK000``...) and its help,
one result per violation located at the artifact (``physicalLocation``) and, inside it, at
the layer path (``logicalLocations``). Unreadable artifacts are ``DCK000`` error results,
so an upload never shows a broken file as clean.

Artifact URIs are RFC 3986 references, as the 2.1.0 schema demands (``uri-reference``): a path
under the working directory is percent-encoded (``urllib.parse.quote`` of its bytes: a space is
``%20``, a ``%`` is ``%25``, non-ASCII is UTF-8 escapes) relative to ``%SRCROOT%``; a path
outside it is an absolute ``file://`` URI with no ``uriBaseId``. Security rules carry
``properties.security-severity`` (GitHub code scanning ranks their alerts by it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

from dropctl._version import __version__
from dropctl.policy.results import CheckReport, Status
from dropctl.render.check_common import LEVEL, located, uri
from dropctl.rules import POLICY_BY_NAME, POLICY_RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
INFO_URI = "https://github.com/dropctl/dropctl#use-in-ci"
_INDEX = {rule.id: i for i, rule in enumerate(POLICY_RULES)}


def artifact_location(path: str) -> dict[str, str]:
    """SARIF ``artifactLocation`` of a path (see the module docstring)."""
    absolute = Path(os.path.abspath(path))
    try:
        rel = absolute.relative_to(Path.cwd())
    except ValueError:
        return {"uri": absolute.as_uri()}  # percent-encodes the path's bytes itself
    return {"uri": quote_from_bytes(os.fsencode(rel.as_posix()), safe="/"),
            "uriBaseId": "%SRCROOT%"}


def _rule(rule: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "tags": ["dropout", "keras", "security" if rule.security else "behaviour"]}
    if rule.security_severity:
        properties["security-severity"] = rule.security_severity
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.help},
        "help": {"text": rule.help, "markdown": f"**{rule.name}**: {rule.help}"},
        "helpUri": INFO_URI,
        "defaultConfiguration": {"level": LEVEL[rule.default_severity]},
        "properties": properties,
    }


def _location(artifact: str, layer: str) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": artifact_location(artifact),
            # Model files are binary; GitHub needs a region to show an alert, line 1 it is.
            "region": {"startLine": 1},
        }
    }
    if layer:
        loc["logicalLocations"] = [{"fullyQualifiedName": layer, "kind": "member"}]
    return loc


def to_sarif(report: CheckReport) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for r in report.results:
        if r.status is Status.ERROR:
            rule = POLICY_BY_NAME["readable"]
            text = r.error or f"{r.path}: could not be checked"
            results.append({
                "ruleId": rule.id, "ruleIndex": _INDEX[rule.id], "level": "error",
                "message": {"text": text}, "locations": [_location(r.path, "")],
            })
            notifications.append({"level": "error", "message": {"text": text}})
            continue
        for v in r.violations:
            text = located(v) + (f" ({v.hint})" if v.hint else "")
            result: dict[str, Any] = {
                "ruleId": v.rule.id,
                "ruleIndex": _INDEX[v.rule.id],
                "level": LEVEL[v.severity],
                "message": {"text": text},
                "locations": [_location(r.path, v.path)],
                # Stable across runs so code scanning tracks one alert, not a new one per push.
                "partialFingerprints": {
                    "dropctlViolation/v1": f"{uri(r.path)}|{v.rule.id}|{v.path}|{v.finding or ''}"
                },
            }
            if v.finding:
                result["properties"] = {"finding": v.finding}
            results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "dropctl",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFO_URI,
                "rules": [_rule(rule) for rule in POLICY_RULES],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {
                "text": "The directory dropctl check ran in."}}},
            "invocations": [{
                "executionSuccessful": report.exit_code != 2,
                "exitCode": report.exit_code,
                "toolExecutionNotifications": notifications,
            }],
            "artifacts": [{"location": artifact_location(r.path)} for r in report.results],
            "results": results,
            # Which Keras the verdicts are for (SARIF 2.1.0 property bag of the run).
            "properties": {"verdictsFor": report.keras_target},
        }],
    }


def render_sarif(report: CheckReport) -> str:
    return json.dumps(to_sarif(report), indent=2) + "\n"
