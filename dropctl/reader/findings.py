"""The rules that raise finding codes from a walked model (codes live in :mod:`dropctl.rules`)."""

from __future__ import annotations

import math

from dropctl.reader.callables import CodeHit, dangerous_root
from dropctl.reader.classes import LOOKUP_CLASSES, TRUSTED_MODULE_ROOTS, UNSAFE_CLASSES
from dropctl.reader.report import Finding, Phase, Severity, Site, SiteKind
from dropctl.reader.resolve import layer_escapes, non_modeling_calls
from dropctl.reader.walker import Layer
from dropctl.rules import FINDINGS, cves_of


def make(code: str, path: str, detail: str = "") -> Finding:
    """A finding of catalogue entry ``code`` at ``path``, with optional detail appended."""
    rule = FINDINGS[code]
    message = f"{rule.title}: {detail}" if detail else rule.title
    hint = rule.hint.replace("<path>", path) if path else rule.hint
    return Finding(code=code, severity=rule.severity, path=path, message=message, hint=hint)


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def site_findings(site: Site, layer: Layer) -> list[Finding]:
    """Findings about one stochastic site."""
    out: list[Finding] = []
    rates = [r for r in (site.rate, site.recurrent_rate) if r is not None]
    # Written so that NaN fails every comparison into an error, never into a pass.
    if any(not 0 <= r < 1 for r in rates) or (
            site.stddev is not None and not 0 <= site.stddev < math.inf):
        out.append(make("DC303", site.path, f"rate {', '.join(_fmt(r) for r in rates)}"))
    elif site.dead:
        out.append(make("DC304", site.path, f"{site.class_name} {_fmt(site.rate)}"))
    elif site.kind is not SiteKind.CUSTOM and not site.in_fit:
        out.append(make("DC302", site.path, f"{site.class_name} {_fmt(site.rate or site.stddev)}"))
    if site.training_fails:
        out.append(make("DC305", site.path, f"{site.class_name}: {site.training_fails}"))
    if site.noise and not site.dead:
        out.append(make("DC306", site.path, f"{site.class_name}: {site.noise}"))
    if site.in_fit and not site.effective_trainable and site.in_predict is not Phase.ALWAYS:
        frozen = layer.frozen_by or site.path
        out.append(make("DC101", site.path, f"{site.class_name} rate {_fmt(site.rate)} "
                                            f"(frozen at {frozen})"))
    where = "" if layer.pin_from == site.path else f"inherited from the call of {layer.pin_from}"
    if layer.pin is True and site.in_predict is Phase.NEVER and site.in_fit:
        out.append(make("DC102", site.path, where))
    if layer.pin is False and site.in_fit and site.in_predict is Phase.NEVER:
        out.append(make("DC103", site.path, where))
    if site.kind is SiteKind.LAMBDA and site.in_predict_keras2 is Phase.ALWAYS:
        out.append(make("DC202", site.path, f"rate {_fmt(site.rate)}"))
    if site.in_predict is Phase.ALWAYS:
        out.append(make("DC203", site.path, f"{site.class_name} rate {_fmt(site.rate)}"))
    if site.kind is SiteKind.RECURRENT and (site.recurrent_rate or 0) > 0:
        out.append(make("DC301", site.path, f"recurrent_dropout {_fmt(site.recurrent_rate)}"))
    if site.kind is SiteKind.CUSTOM:
        out.append(make("DC401", site.path, site.class_name))
    return out


def layer_findings(layer: Layer) -> list[Finding]:
    """Findings about a layer regardless of whether it is stochastic (security, opacity)."""
    out: list[Finding] = []
    res = layer.resolution
    if res is not None and res.problem is not None:
        out.append(make("DC501" if res.problem == "mismatch" else "DC502", layer.path,
                        res.detail))
    for info in layer.lambdas:
        detail = f"{info.payload_bytes:,} bytes of bytecode"
        if info.names:
            detail += f", names {', '.join(info.names[:6])}"
        out.append(make("DC201", layer.path, detail))
    if layer.opaque:
        out.append(make("DC402", layer.path, layer.class_name))
    if layer_escapes(layer):
        out.append(make("DC503", layer.path, f"name {layer.name[:80]!a}"))
    if layer.class_name in UNSAFE_CLASSES:
        out.append(make("DC404", layer.path, layer.class_name + _payload(layer)))
    if res is not None and res.package == "keras_hub":
        out.extend(_hub_release_changes(layer))
        for key in HUB_FILE_KEYS:
            value = layer.config.get(key)
            if isinstance(value, str) and value:
                out.append(make("DC504", layer.path, f"{key} {value[:80]!a}"))
    if layer.class_name in LOOKUP_CLASSES:
        vocab = layer.config.get("vocabulary")
        if isinstance(vocab, str) and vocab:
            out.append(make("DC405", layer.path, f"vocabulary {vocab[:80]!r}"))
    if layer.module is not None and layer.module.split(".", 1)[0] not in TRUSTED_MODULE_ROOTS:
        code = "DC204" if dangerous_root(layer.module) else "DC403"
        out.append(make(code, layer.path, f"{layer.class_name} from {layer.module[:80]!r}"))
    dangerous = [d for d in layer.foreign_modules if dangerous_root(d.rsplit(" from ", 1)[-1])]
    out.extend(make("DC204", layer.path, detail[:120]) for detail in dangerous[:5])
    for detail in [d for d in layer.foreign_modules if d not in dangerous][:5]:
        out.append(make("DC403", layer.path, detail[:120]))
    if layer.module is None and not layer.trusted and layer.depth > 0 and not layer.opaque:
        out.append(make("DC406", layer.path, layer.class_name))
    return out


def _hub_release_changes(layer: Layer) -> list[Finding]:
    """DC407 for a keras_hub model (and its backbone) whose site paths another recorded
    keras_hub release builds differently, DC408 for one whose training=True call another
    release makes differently (the catalogue's ``history``)."""
    from dropctl.reader.semantics import call_changes, path_changes, versions

    backbone = layer.config.get("backbone")
    names = [layer.class_name]
    if isinstance(backbone, dict) and isinstance(backbone.get("class_name"), str):
        names.append(backbone["class_name"])
    current = versions()[1]
    out = []
    for change in (c for name in names for c in path_changes(name)):
        then = ", ".join(change.then[:3]) or "none"
        now = ", ".join(change.now[:3]) or "none"
        out.append(make("DC407", layer.path, f"{change.class_name}: keras-hub {change.keras_hub} "
                        f"builds {then} where keras-hub {current} builds {now}"))
    for calls in (c for name in names for c in call_changes(name)):
        said = [f"{what} {', '.join(paths[:3])} ({current} {other})" for what, paths, other in (
            ("never calls", calls.dead_then, "does"), ("calls", calls.dead_now, "never does"),
            ("raises in", calls.fails_then, "does not"),
            ("does not raise in", calls.fails_now, "does")) if paths]
        out.append(make("DC408", layer.path, f"{calls.class_name}: with training=True "
                        f"keras-hub {calls.keras_hub} " + "; ".join(said)))
    return out


HUB_FILE_KEYS = ("vocabulary", "merges", "proto", "spm_proto", "vocabulary_file", "merges_file",
                 "tokenizer_file", "vocab_file")
"""keras_hub tokenizer arguments that take a file path (a list or dict is inline data)."""


def _payload(layer: Layer) -> str:
    """What a TorchModuleWrapper/TFSMLayer carries, recognised by its bytes (never unpickled)."""
    import base64
    import binascii

    module = layer.config.get("module")
    if isinstance(module, str) and len(module) > 16:
        try:
            head = base64.b64decode(module[:64] + "=" * (-len(module[:64]) % 4), validate=False)
        except (binascii.Error, ValueError):
            head = b""
        kind = ("a torch.save zip (pickle inside)" if head[:2] == b"PK" else
                "a pickle" if head[:1] == b"\x80" else None)
        if kind:
            return f", module: {len(module) * 3 // 4:,} bytes of {kind}"
    path = layer.config.get("filepath")
    return f", filepath {path[:80]!a}" if isinstance(path, str) else ""


def api_findings(doc: object, root: str) -> list[Finding]:
    """DC505 for every non-modeling Keras function named anywhere in the document."""
    return [make("DC505", path, name) for path, name in non_modeling_calls(doc, root)]


def with_cves(findings: list[Finding], target: tuple[int, int, int], label: str
              ) -> list[Finding]:
    """Each finding that detects a Keras CVE's trigger, naming the CVE, its fixed releases and
    whether the target Keras (``label``) is affected; an affected target makes it an error."""
    import dataclasses

    from dropctl.reader.versions import spec_matches

    out = []
    for f in findings:
        cves = [c for c in cves_of(f.code)
                if not c.classes or any(cls in f.message for cls in c.classes)]
        if not cves:
            out.append(f)
            continue
        notes, hit = [], False
        for c in cves:
            affected = any(spec_matches(r, target) for r in c.affected)
            hit = hit or affected
            state = "affects" if affected else "does not affect"
            notes.append(f"{c.id} {state} Keras {label} (fixed in {c.fixed})")
        # after the title, before the detail: "title [CVE ...]: detail" keeps the detail last
        title = FINDINGS[f.code].title
        head, rest = ((title, f.message[len(title):]) if f.message.startswith(title)
                      else (f.message, ""))
        severity = Severity.ERROR if hit else f.severity
        out.append(dataclasses.replace(f, message=f"{head} [{'; '.join(notes)}]{rest}",
                                       severity=severity))
    return out


def document_findings(hits: list[CodeHit]) -> list[Finding]:
    """Findings for code found outside the layer tree (compile/training config)."""
    return [make("DC201" if h.kind == "bytecode" else "DC204", h.path, h.detail) for h in hits]
