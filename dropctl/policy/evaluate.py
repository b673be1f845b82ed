"""Judging one inspected model against its policy: the violations, and across Keras versions.

Pure functions over an :class:`~dropctl.reader.report.InspectReport` (and a ``--probe``
:class:`~dropctl.policy.probe.ProbeResult` when there is one): the static ``inference`` rule,
rate bounds, ``require_sites``, the findings each rule owns (:data:`dropctl.rules` says which),
and DCK012 when the Keras versions a policy stands for disagree. No file is read here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from dropctl.policy.config import Inference, Policy
from dropctl.policy.results import Violation
from dropctl.reader.report import InspectReport, Phase, Severity
from dropctl.rules import POLICY_BY_NAME, finding_owner

if TYPE_CHECKING:  # the probe's result type; probe.py is the gate's one runtime module
    from dropctl.policy.probe import ProbeResult

_LEVEL_RULES = ("frozen_active", "pinned_training", "opaque", "unsafe_modules")


def _v(name: str, severity: Severity, path: str, message: str, hint: str = "",
       finding: str | None = None) -> Violation:
    return Violation(POLICY_BY_NAME[name], severity, path, message, hint, finding)


def _zero(site: Any) -> bool:
    """A site that cannot inject randomness (rate 0, no recurrent rate, no noise)."""
    return site.rate == 0 and not site.recurrent_rate and not site.stddev


def evaluate(
    report: InspectReport, policy: Policy, probe: ProbeResult | None = None
) -> list[Violation]:
    """Every violation (and lower-severity observation) of ``policy`` by one inspected model."""
    out: list[Violation] = []
    sites = report.sites

    if probe is None:
        out.extend(_inference_static(report, policy))
    else:
        out.extend(_inference_probe(report, policy, probe))

    for s in sites:
        for label, rate in (("rate", s.rate), ("recurrent_dropout", s.recurrent_rate)):
            if rate is None:
                continue
            # `not <=`: a NaN rate fails both bounds instead of passing them.
            if policy.max_rate is not None and not rate <= policy.max_rate:
                out.append(_v("max_rate", Severity.ERROR, s.path,
                              f"{s.class_name} {label} {rate:g} is above max_rate "
                              f"{policy.max_rate:g}"))
            if policy.min_rate is not None and not rate >= policy.min_rate:
                out.append(_v("min_rate", Severity.ERROR, s.path,
                              f"{s.class_name} {label} {rate:g} is below min_rate "
                              f"{policy.min_rate:g}"))

    live = [s for s in sites if not _zero(s)]
    if len(live) < policy.require_sites:
        out.append(_v("require_sites", Severity.ERROR, "",
                      f"the model has {len(live)} stochastic site(s); require_sites is "
                      f"{policy.require_sites}"))

    out.extend(_from_findings(report, policy))
    return out


def _inference_static(report: InspectReport, policy: Policy) -> list[Violation]:
    sites = report.sites
    if policy.inference is Inference.OFF:
        out = [
            _v("inference", Severity.ERROR, s.path,
               f"{s.class_name} acts under predict(): predict() is not deterministic",
               "dropctl convert --standard turns it back into training-only dropout")
            for s in sites if s.in_predict is Phase.ALWAYS and not _zero(s)
        ]
        out.extend(
            _v("inference", Severity.WARNING, s.path,
               f"{s.class_name}: cannot tell statically whether it acts under predict()",
               "run with --probe to decide by behaviour")
            for s in sites if s.in_predict is Phase.UNKNOWN and not _zero(s)
        )
        return out
    if policy.inference is Inference.ON:
        if any(s.in_predict is Phase.ALWAYS and not _zero(s) for s in sites):
            return []
        if any(s.in_predict is Phase.UNKNOWN for s in sites) or report.opaque:
            return [_v("inference", Severity.WARNING, "",
                       "inference = \"on\" but no site is known to act under predict() "
                       "(some cannot be judged statically)", "run with --probe")]
        return [_v("inference", Severity.ERROR, "",
                   "inference = \"on\" but no site acts under predict(): the model gives no "
                   "Monte Carlo spread",
                   "dropctl convert --perma makes its dropout act at inference")]
    return []


def _inference_probe(report: InspectReport, policy: Policy, probe: ProbeResult) -> list[Violation]:
    static = report.predict_deterministic.value
    said = f"(static reading said deterministic: {static})"
    if probe.predict_deterministic is None:  # identical runs, but not every site measured
        return [_v("probe", Severity.WARNING, "",
                   "predict() gave identical outputs on two runs, but the runtime could not "
                   f"switch on {', '.join(probe.unswitched)}: whether it acts under predict() "
                   "is unmeasured, so the model is not called deterministic",
                   "dropctl mc-predict MODEL names the sites it could not switch on")]
    if policy.inference is Inference.OFF and probe.predict_deterministic is False:
        return [_v("probe", Severity.ERROR, "",
                   f"predict() gave different outputs on two runs (max |diff| "
                   f"{probe.max_abs_diff:.3g}) {said}",
                   "dropctl diff MODEL shows which sites act")]
    if policy.inference is Inference.ON and probe.predict_deterministic is True:
        return [_v("probe", Severity.ERROR, "",
                   f"inference = \"on\" but predict() gave identical outputs on two runs {said}",
                   "dropctl convert --perma makes its dropout act at inference")]
    return []


def _from_findings(report: InspectReport, policy: Policy) -> list[Violation]:
    out = []
    for f in report.findings:
        rule = finding_owner(f.code)
        owner = rule.name if rule is not None else None
        sev: Severity | None
        if owner == "forbid_lambda":
            sev = Severity.ERROR if policy.forbid_lambda else Severity.INFO
        elif owner in _LEVEL_RULES:
            sev = getattr(policy, owner).severity
        elif owner is not None:
            continue  # judged from the structured site data (see _inference_static)
        else:
            owner = "findings"
            level = policy.findings.get(f.code)
            sev = f.severity if level is None else level.severity
        if sev is not None:
            out.append(_v(owner, sev, f.path, f"{f.message} [{f.code}]", f.hint, f.code))
    return out


def across_versions(reports: list[tuple[str, InspectReport]], policy: Policy,
                     first: list[Violation]) -> list[Violation]:
    """DCK012 when verdicts differ between the deployed Keras versions, plus every violation
    a later version adds (prefixed with the version it holds for)."""
    out = list(first)
    for attr, what in (("predict_deterministic", "predict() deterministic"),
                       ("call_deterministic", "bare model(x) deterministic")):
        seen = {label: getattr(r, attr).value for label, r in reports}
        if len(set(seen.values())) > 1:
            said = ", ".join(f"{v} on Keras {k}" for k, v in seen.items())
            out.append(_v("keras", Severity.ERROR, "", f"{what}: {said}",
                          "the model behaves differently depending on the Keras that runs it; "
                          "dropctl convert --standard or --perma makes it explicit"))
    known = {(v.rule.id, v.path, v.message) for v in first}
    for label, report in reports[1:]:
        for v in evaluate(report, policy):
            if (v.rule.id, v.path, v.message) not in known:
                known.add((v.rule.id, v.path, v.message))
                out.append(dataclasses.replace(v, message=f"Keras {label}: {v.message}"))
    return out
