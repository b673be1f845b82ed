"""``dropctl check --format junit``: JUnit XML, one testcase per artifact.

CI systems (GitLab, Jenkins, Azure) show a ``<failure>`` for an artifact that breaks a
policy at or above ``--fail-on`` and an ``<error>`` for one that could not be read;
lower-severity violations go to the testcase's ``<system-out>``.

The ``file`` attribute on ``<testcase>`` is GitLab's dialect (its test report links a case to
the file by it; the JUnit XSD has no such attribute, Jenkins and Azure ignore it): a plain
forward-slash path relative to the working directory (absolute outside it), not a URI.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from dropctl.policy.results import CheckReport, Status
from dropctl.render.check_common import gating, located, uri


def render_junit(report: CheckReport) -> str:
    failures = report.count(Status.FAIL)
    errors = report.count(Status.ERROR)
    total_time = f"{sum(r.seconds for r in report.results):.3f}"
    root = ET.Element("testsuites", name="dropctl check", tests=str(len(report.results)),
                      failures=str(failures), errors=str(errors), time=total_time)
    suite = ET.SubElement(root, "testsuite", name="dropctl check",
                          tests=str(len(report.results)), failures=str(failures),
                          errors=str(errors), skipped="0", time=total_time)
    if report.keras_target:  # which Keras the verdicts are for (JUnit's run-wide properties)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="dropctl.verdicts_for", value=report.keras_target)
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname="dropctl.check", name=uri(r.path),
                             file=uri(r.path), time=f"{r.seconds:.3f}")
        if r.status is Status.ERROR:
            err = ET.SubElement(case, "error", message=r.error or "could not be checked",
                                type="DCK000")
            err.text = r.error or ""
            continue
        failing = gating(report, r)
        if failing:
            first = failing[0]
            fail = ET.SubElement(case, "failure", message=located(first), type=first.rule.id)
            fail.text = "\n".join(
                f"{v.severity.value} {v.rule.id} {v.rule.name}: {located(v)}" for v in failing
            )
        rest = [v for v in r.violations if v not in failing]
        if rest:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"{v.severity.value} {v.rule.id} {v.rule.name}: {located(v)}" for v in rest
            )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
