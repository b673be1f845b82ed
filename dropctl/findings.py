"""The catalogue of finding codes and the rules that raise them from a walked model.

Codes are a public contract (JSON output, SARIF rule ids, ``check`` policies): never
renumber or reuse one. Each rule has a slug, a default severity, a one-line title and
a one-line "what to do".
"""

from __future__ import annotations

from dataclasses import dataclass

from dropctl.report import Finding, Phase, Severity, Site, SiteKind
from dropctl.sites import LOOKUP_CLASSES, TRUSTED_MODULE_ROOTS, UNSAFE_CLASSES, Layer


@dataclass(frozen=True)
class Rule:
    """One entry of the catalogue."""

    code: str
    slug: str
    severity: Severity
    title: str
    hint: str


RULES: dict[str, Rule] = {
    r.code: r
    for r in (
        Rule("DC101", "frozen-dropout-active", Severity.WARNING,
             "Dropout inside a frozen (trainable=False) sub-model still acts during fit",
             "trainable=False freezes weights, not dropout; to train without it: "
             "dropctl convert IN OUT --strip --sites '<path>'"),
        Rule("DC102", "pinned-training-divergent", Severity.WARNING,
             "training=True is pinned at call time: Keras 2 predict() is stochastic, "
             "Keras 3 predict() is not",
             "decide what you want: `dropctl convert --perma` (always on) or "
             "`dropctl convert --standard` (training only)"),
        Rule("DC103", "pinned-training-false", Severity.INFO,
             "training=False is pinned at call time: Keras 2 never drops, Keras 3 fit() still does",
             "remove the pin (`dropctl convert --standard`) or strip the layer if it is unwanted"),
        Rule("DC201", "lambda-bytecode", Severity.ERROR,
             "Lambda carries Python bytecode: loading it runs code from the file",
             "never load it with safe_mode=False; `dropctl convert --standard` replaces a "
             "dropout Lambda with a Dropout layer"),
        Rule("DC202", "lambda-dropout", Severity.WARNING,
             "Lambda looks like an always-on dropout (PermaDropout)",
             "Keras 3 refuses to load it; `dropctl convert --perma` (keep MC dropout) or "
             "`--standard` rewrites it without bytecode"),
        Rule("DC203", "always-on-inference", Severity.WARNING,
             "Dropout acts at inference: predict() is stochastic",
             "intended for MC dropout; otherwise `dropctl convert --standard`. "
             "Always-on dropout also blocks TFLite builtins conversion (tensorflow #50502)"),
        Rule("DC301", "recurrent-dropout-cudnn", Severity.INFO,
             "recurrent_dropout > 0 disables the cuDNN kernel (much slower training on GPU)",
             "use recurrent_dropout=0 (and dropout on inputs) if GPU training speed matters"),
        Rule("DC302", "rate-noop", Severity.INFO,
             "Stochastic layer with rate 0 is a no-op",
             "remove it, or set the rate you meant"),
        Rule("DC303", "rate-out-of-range", Severity.ERROR,
             "Rate outside [0, 1): the layer fails or drops everything",
             "set a rate in [0, 1)"),
        Rule("DC401", "custom-stochastic-unknown", Severity.WARNING,
             "Custom layer looks stochastic (name or rate), but its behaviour is unknown statically",
             "run `dropctl diff MODEL` to measure it, or replace it with a stock Keras layer"),
        Rule("DC402", "opaque-model", Severity.WARNING,
             "Subclassed model hides its layers: its dropout cannot be seen without its code",
             "save a Functional or Sequential model, or measure with `dropctl diff`"),
        Rule("DC403", "foreign-module", Severity.WARNING,
             "Class comes from a module outside keras/keras_hub/keras_cv/keras_nlp",
             "loading imports that module (CVE-2025-1550); make sure you trust it"),
        Rule("DC404", "unsafe-layer", Severity.ERROR,
             "Layer wraps foreign executable content (TorchModuleWrapper, TFSMLayer, JaxLayer)",
             "loading it runs or reads code and files outside the model config; avoid it"),
        Rule("DC405", "lookup-vocabulary-path", Severity.ERROR,
             "Lookup layer's vocabulary is a file path: loading reads a file (CVE-2025-12058)",
             "store the vocabulary inline"),
        Rule("DC406", "unknown-class", Severity.INFO,
             "Class is not a built-in Keras layer: dropctl cannot see what it does",
             "dropctl assumes it is deterministic; `dropctl diff` measures it"),
    )
}


def make(code: str, path: str, detail: str = "") -> Finding:
    """A finding of catalogue entry ``code`` at ``path``, with optional detail appended."""
    rule = RULES[code]
    message = f"{rule.title}: {detail}" if detail else rule.title
    hint = rule.hint.replace("<path>", path) if path else rule.hint
    return Finding(code=code, severity=rule.severity, path=path, message=message, hint=hint)


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def site_findings(site: Site, layer: Layer) -> list[Finding]:
    """Findings about one stochastic site."""
    out: list[Finding] = []
    rates = [r for r in (site.rate, site.recurrent_rate) if r is not None]
    if any(r < 0 or r >= 1 for r in rates) or (site.stddev is not None and site.stddev < 0):
        out.append(make("DC303", site.path, f"rate {', '.join(_fmt(r) for r in rates)}"))
    elif site.kind is not SiteKind.CUSTOM and not site.in_fit:
        out.append(make("DC302", site.path, f"{site.class_name} {_fmt(site.rate or site.stddev)}"))
    if site.in_fit and not site.effective_trainable and site.in_predict is not Phase.ALWAYS:
        frozen = layer.frozen_by or site.path
        out.append(make("DC101", site.path, f"{site.class_name} rate {_fmt(site.rate)} "
                                            f"(frozen at {frozen})"))
    where = "" if layer.pin_from == site.path else f"inherited from the call of {layer.pin_from}"
    if layer.pin is True and site.in_predict is Phase.NEVER and site.in_fit:
        out.append(make("DC102", site.path, where))
    if layer.pin is False and site.in_fit and site.in_predict is Phase.NEVER:
        out.append(make("DC103", site.path, where))
    if site.kind is SiteKind.LAMBDA:
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
    for info in layer.lambdas:
        detail = f"{info.payload_bytes:,} bytes of bytecode"
        if info.names:
            detail += f", names {', '.join(info.names[:6])}"
        out.append(make("DC201", layer.path, detail))
    if layer.opaque:
        out.append(make("DC402", layer.path, layer.class_name))
    if layer.class_name in UNSAFE_CLASSES:
        out.append(make("DC404", layer.path, layer.class_name))
    if layer.class_name in LOOKUP_CLASSES:
        vocab = layer.config.get("vocabulary")
        if isinstance(vocab, str) and vocab:
            out.append(make("DC405", layer.path, f"vocabulary {vocab[:80]!r}"))
    if layer.module is not None and layer.module.split(".", 1)[0] not in TRUSTED_MODULE_ROOTS:
        out.append(make("DC403", layer.path, f"{layer.class_name} from {layer.module[:80]!r}"))
    for detail in layer.foreign_modules[:5]:
        out.append(make("DC403", layer.path, detail[:120]))
    if layer.module is None and not layer.trusted and layer.depth > 0 and not layer.opaque:
        out.append(make("DC406", layer.path, layer.class_name))
    return out
