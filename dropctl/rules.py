"""THE rule catalogue: every ``dropctl inspect`` finding code and every ``dropctl check`` rule.

One table feeds the findings (:mod:`dropctl.reader.findings`), the policy gate
(:mod:`dropctl.policy`), SARIF rule metadata and security tags, ``check``'s text and JSON, and
the README's tables (a test compares them). Codes and ids are a public contract: never
renumber or reuse one.

* Finding codes ``DC1xx`` (training/inference semantics), ``DC2xx`` (Lambda and always-on),
  ``DC3xx`` (rates), ``DC4xx`` (what cannot be seen or is unsafe), ``DC8xx`` (deployment
  formats: ONNX, LiteRT, SavedModel graphs). A finding's ``policy`` names
  the ``check`` setting that decides its severity in a check.
* Finding codes ``DC5xx``: what Keras resolves, refuses or runs from the file (forged class
  names, names that escape a directory, non-modeling APIs, pickles, file paths).
* Policy rules ``DCK000``-``DCK011``: what ``check`` demands, one setting each.
* :data:`KERAS_CVES`: every Keras loading CVE of 2024-2026 whose trigger can sit in an
  artifact, with the finding code (or the reader's refusal) that detects its trigger and the
  Keras versions it affects; findings name them and say whether the target Keras is affected.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How serious a finding or violation is, ordered by :attr:`rank`: the catalogue's vocabulary
    (it lives here, at the bottom, so the reader and the policy both import it downwards)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True)
class FindingRule:
    """One ``dropctl inspect`` finding code."""

    code: str
    slug: str
    severity: Severity
    title: str
    hint: str
    policy: str | None = None
    """The ``check`` policy setting that owns this code and decides its severity there
    (None: the finding keeps its own severity under rule DCK011 ``findings``)."""
    security: bool = False
    """Loading the artifact could run or read something outside the model (SARIF tag)."""


FINDINGS: dict[str, FindingRule] = {
    r.code: r
    for r in (
        FindingRule("DC101", "frozen-dropout-active", Severity.WARNING,
                    "Dropout inside a frozen (trainable=False) sub-model still acts during fit",
                    "trainable=False freezes weights, not dropout; to train without it: "
                    "dropctl convert IN OUT --strip --sites '<path>'",
                    policy="frozen_active"),
        FindingRule("DC102", "pinned-training-divergent", Severity.WARNING,
                    "training=True is pinned at call time: Keras 2 predict() is stochastic, "
                    "Keras 3 predict() is not",
                    "decide what you want: `dropctl convert --perma` (always on) or "
                    "`dropctl convert --standard` (training only)",
                    policy="pinned_training"),
        FindingRule("DC103", "pinned-training-false", Severity.INFO,
                    "training=False is pinned at call time: Keras 2 never drops, Keras 3 fit() still does",
                    "remove the pin (`dropctl convert --standard`) or strip the layer if it is unwanted"),
        FindingRule("DC201", "lambda-bytecode", Severity.ERROR,
                    "Lambda carries Python bytecode: loading it runs code from the file",
                    "never load it with safe_mode=False; `dropctl convert --standard` replaces a "
                    "dropout Lambda with a Dropout layer",
                    policy="forbid_lambda", security=True),
        FindingRule("DC204", "dangerous-callable", Severity.ERROR,
                    "A callable from a module that runs code or touches the system (builtins, os, "
                    "subprocess...) is named in the file: loading or compiling it may call it",
                    "never load the file outside a sandbox; remove the object or replace it with a "
                    "Keras built-in",
                    policy="unsafe_modules", security=True),
        FindingRule("DC202", "lambda-dropout", Severity.WARNING,
                    "Lambda looks like an always-on dropout (PermaDropout)",
                    "Keras 3 refuses to load it; `dropctl convert --perma` (keep MC dropout) or "
                    "`--standard` rewrites it without bytecode",
                    policy="inference"),
        FindingRule("DC203", "always-on-inference", Severity.WARNING,
                    "Dropout acts at inference: predict() is stochastic",
                    "intended for MC dropout; otherwise `dropctl convert --standard`. "
                    "Always-on dropout also blocks TFLite builtins conversion (tensorflow #50502)",
                    policy="inference"),
        FindingRule("DC301", "recurrent-dropout-cudnn", Severity.INFO,
                    "recurrent_dropout > 0 disables the cuDNN kernel (much slower training on GPU)",
                    "use recurrent_dropout=0 (and dropout on inputs) if GPU training speed matters"),
        FindingRule("DC302", "rate-noop", Severity.INFO,
                    "Stochastic layer with rate 0 is a no-op",
                    "remove it, or set the rate you meant"),
        FindingRule("DC304", "never-called", Severity.INFO,
                    "Stochastic layer is built but its model's code never calls it, even in "
                    "training: it never acts, whatever its rate",
                    "nothing to do: no phase drops there (mc-predict reports it as never "
                    "acting); its rate changes nothing"),
        FindingRule("DC305", "training-call-fails", Severity.WARNING,
                    "Keras raises when it calls this layer with training=True: fit() and "
                    "model(x, training=True) fail (measured on the class by dropctl's catalogue)",
                    "the message is Keras' own; to train, set the rate to 0 (`dropctl convert "
                    "IN OUT --strip --sites '<path>'`) or fix the layer's code; predict() and "
                    "`dropctl mc-predict` (which draws the site's noise itself) still run"),
        FindingRule("DC306", "noise-not-a-drop", Severity.WARNING,
                    "The layer's training noise is not a drop: it multiplies by continuous "
                    "values whose mean is not 1 (measured on the class by dropctl's "
                    "catalogue), so fit() trains with it and Monte Carlo means are shifted",
                    "for Monte Carlo uncertainty, switch only the other sites (`dropctl "
                    "mc-predict --sites`) or set its rate to 0 (`dropctl convert IN OUT --strip "
                    "--sites '<path>'`); to train, fix the layer's code (a drop path floors "
                    "keep_prob + uniform noise to 0 or 1)"),
        FindingRule("DC303", "rate-out-of-range", Severity.ERROR,
                    "Rate outside [0, 1) or not a finite number: the layer fails or drops everything",
                    "set a rate in [0, 1)"),
        FindingRule("DC401", "custom-stochastic-unknown", Severity.WARNING,
                    "Custom layer looks stochastic (name or rate), but its behaviour is unknown statically",
                    "measure it with `dropctl diff MODEL --custom-objects YOUR_CODE.py` (imports your "
                    "class), or replace it with a stock Keras layer",
                    policy="inference"),
        FindingRule("DC402", "opaque-model", Severity.WARNING,
                    "Subclassed model hides its layers: its dropout cannot be seen without its code",
                    "save a Functional or Sequential model, or measure it with `dropctl diff MODEL "
                    "--custom-objects YOUR_CODE.py` (imports your classes)",
                    policy="opaque"),
        FindingRule("DC403", "foreign-module", Severity.WARNING,
                    "Class comes from a module outside keras/keras_hub/keras_cv/keras_nlp",
                    "loading imports that module (CVE-2025-1550); make sure you trust it",
                    policy="unsafe_modules", security=True),
        FindingRule("DC404", "unsafe-layer", Severity.ERROR,
                    "Layer wraps foreign executable content (TorchModuleWrapper, TFSMLayer, JaxLayer)",
                    "loading it runs or reads code and files outside the model config; avoid it",
                    policy="unsafe_modules", security=True),
        FindingRule("DC405", "lookup-vocabulary-path", Severity.ERROR,
                    "Lookup layer's vocabulary is a file path: loading reads a file (CVE-2025-12058)",
                    "store the vocabulary inline",
                    policy="unsafe_modules", security=True),
        FindingRule("DC501", "registered-name-mismatch", Severity.ERROR,
                    "registered_name and class_name name different classes: Keras builds the "
                    "registered one where it is registered (a report reading class_name is forged)",
                    "the file was edited to hide what it builds; rebuild it from code, or "
                    "re-save it with Keras so both names agree",
                    policy="unsafe_modules", security=True),
        FindingRule("DC502", "unresolvable-class", Severity.ERROR,
                    "No Keras release builds this class (a homoglyph, a non-ASCII name or an "
                    "unknown name under a Keras module)",
                    "the name imitates a Keras class; do not trust the file, rebuild it from code",
                    policy="unsafe_modules", security=True),
        FindingRule("DC503", "name-escapes-directory", Severity.ERROR,
                    "A layer name holds '..', '/', '\\' or an absolute path: Keras builds file "
                    "paths from layer names when it saves or loads (CVE-2026-12479)",
                    "rename the layer; a file written this way can create or overwrite files "
                    "outside Keras' working directory",
                    policy="unsafe_modules", security=True),
        FindingRule("DC504", "hub-file-path", Severity.ERROR,
                    "A keras_hub tokenizer or layer names a vocabulary, merges or proto file: "
                    "loading reads that file (keras-hub PR #2517)",
                    "store the vocabulary in the preset's assets, never as a path in the config",
                    policy="unsafe_modules", security=True),
        FindingRule("DC505", "non-modeling-api", Severity.ERROR,
                    "The config names a Keras function that is not a model part (get_file, "
                    "enable_unsafe_deserialization, load_model...): loading calls it",
                    "older Keras call it while loading (CVE-2025-8747, CVE-2025-9906); Keras "
                    "3.15 refuses it (NON_MODELING_APIS); remove the object",
                    policy="unsafe_modules", security=True),
        FindingRule("DC406", "unknown-class", Severity.INFO,
                    "Class is not a built-in Keras layer: dropctl cannot see what it does",
                    "dropctl assumes it is deterministic; `dropctl diff MODEL --custom-objects "
                    "YOUR_CODE.py` measures it"),
        FindingRule("DC407", "hub-paths-differ", Severity.INFO,
                    "Another keras_hub release builds this model's dropout at other paths: "
                    "site paths (and --sites globs) follow the keras_hub that loads it",
                    "the paths listed are the catalogue's keras_hub; check --sites globs and "
                    "policies written against the other release"),
        FindingRule("DC408", "hub-calls-differ", Severity.INFO,
                    "Another keras_hub release calls this model's dropout differently under "
                    "training=True: sites it never calls (DC304) or whose call raises (DC305) "
                    "are not the same there",
                    "the sites listed follow the catalogue's keras_hub; with the other "
                    "release, fit() drops (or fails) as that release's code does"),
        FindingRule("DC801", "onnx-dropout-noop", Severity.WARNING,
                    "Dropout node with training_mode false (or absent) is a no-op: this export "
                    "cannot do MC dropout",
                    "exporters such as tf2onnx turn dropout into this node; "
                    "`dropctl export IN OUT --format onnx --mc T` keeps the sampling in the graph"),
        FindingRule("DC802", "needs-flex-delegate", Severity.WARNING,
                    "Random op runs only with LiteRT's Flex (TensorFlow) delegate",
                    "the plain LiteRT interpreter and most devices lack Flex; "
                    "`dropctl export IN OUT --format litert --mc T` uses builtin RANDOM_UNIFORM"),
        FindingRule("DC803", "random-op-no-mask", Severity.INFO,
                    "Random op that feeds no mask: noise, sampling or an input generator, "
                    "not dropout",
                    "it still makes every call of the exported file stochastic"),
        FindingRule("DC804", "onnx-dropout-caller", Severity.INFO,
                    "Dropout node whose training_mode is a graph input: the caller decides "
                    "whether it samples",
                    "feed training_mode=True for MC dropout; onnxruntime samples then, "
                    "OpenVINO refuses it"),
    )
}


@dataclass(frozen=True)
class KerasCVE:
    """One Keras loading CVE whose trigger can sit inside an artifact."""

    id: str
    title: str
    """What the trigger does when Keras loads the file."""
    affected: tuple[str, ...]
    """Affected Keras versions, one range per release line (``dropctl.reader.versions``
    syntax); a version in any of them is affected."""
    fixed: str
    """First fixed releases, as the advisory states them (or "no release yet")."""
    detection: tuple[str, ...]
    """The finding codes that detect the trigger, or ``("refused",)`` when the static reader
    refuses any file carrying it (the ``Error:`` line names the CVE)."""
    source: str
    """Where the facts come from (advisory, CVE record, Keras commit in a release tag)."""
    classes: tuple[str, ...] = ()
    """The layer classes it concerns when its finding code covers several (DC404)."""


_LINES_3123 = ("<3.12.3", ">=3.13,<3.15")
KERAS_CVES: tuple[KerasCVE, ...] = (
    KerasCVE("CVE-2024-3660", "Lambda bytecode runs when the model is loaded", ("<2.13",),
             "2.13 (safe_mode)", ("DC201",), "CERT VU#253266; GHSA-r4w4-cxcj-4qq4"),
    KerasCVE("CVE-2025-1550", "config.json names any module and function; loading imports and "
             "calls it even with safe_mode=True", (">=3.0,<3.8",), "3.8.0", ("DC403", "DC204"),
             "CVE record (3.0.0 to <3.8.0); PYSEC-2025-122; keras PR #20751"),
    KerasCVE("CVE-2025-8747", "keras.utils.get_file named in the config downloads and "
             "overwrites files while loading (safe_mode bypass)", (">=3.0,<3.11",), "3.11.0",
             ("DC505",), "PYSEC-2025-75 (3.0.0 to 3.10.0); keras PR #21429"),
    KerasCVE("CVE-2025-9905", "a Lambda in a legacy .h5 file runs although safe_mode=True",
             (">=3.0,<3.11.3",), "3.11.3", ("DC201",), "GHSA-36rr-ww3j-vrjv"),
    KerasCVE("CVE-2025-9906", "keras.config.enable_unsafe_deserialization named in the config "
             "switches safe_mode off for the Lambda after it", (">=3.0,<3.11",), "3.11.0",
             ("DC505",), "PYSEC-2025-76; keras PR #21429"),
    KerasCVE("CVE-2025-12058", "a lookup layer's vocabulary file path is read (or fetched over "
             "the network) while loading", ("<3.12",), "3.12.0", ("DC405",),
             "PYSEC-2026-1487 / GHSA-mq84-hjqx-cwf2"),
    KerasCVE("CVE-2025-49655", "TorchModuleWrapper's pickled module runs despite safe_mode",
             (">=3.11,<3.11.3",), "3.11.3", ("DC404",), "CVE record (3.11.0 to <3.11.3)",
             ("TorchModuleWrapper",)),
    KerasCVE("CVE-2026-0897", "an HDF5 weight dataset declaring a huge shape exhausts memory",
             ("<3.12.1", ">=3.13,<3.13.2"), "3.12.1, 3.13.2", ("refused",),
             "CVE record (3.0.0 to 3.13.0); GHSA-xfhx-r7ww-5995; keras PR #21880"),
    KerasCVE("CVE-2026-1669", "HDF5 external storage makes loading read a local file",
             ("<3.13.2",), "3.13.2", ("refused",), "CVE record (3.0.0 to 3.13.1)"),
    KerasCVE("CVE-2026-1462", "TFSMLayer loads an attacker's SavedModel although safe_mode=True",
             ("<3.12.1", ">=3.13,<3.13.2"), "3.12.1, 3.13.2", ("DC404",),
             "GHSA-4f3f-g24h-fr8m; keras PR #22035", ("TFSMLayer",)),
    KerasCVE("CVE-2026-11816", "archive members escaping the extraction directory (checked "
             "against the working directory)", ("<3.14",), "3.14.0", ("refused",),
             "GHSA-hqp4-2352-xf5r"),
    KerasCVE("CVE-2026-12479", "layer names with '..' make DiskIOStore create and write files "
             "outside its directory", (">=3.0",), "no release yet (keras PR #23017 on master)",
             ("DC503",), "CVE record (3.14.0 and later); keras commit e94d16f7, in no release tag"),
    KerasCVE("CVE-2026-12480", "an HDF5 virtual dataset makes loading read another HDF5 file",
             ("<3.12.2", ">=3.13,<3.14.1"), "3.12.2, 3.14.1", ("refused",),
             "CVE record; keras commit d5a88bdb"),
    KerasCVE("CVE-2026-12481", "Lambda.from_config fails open when safe_mode is unset (None)",
             _LINES_3123, "3.12.3, 3.15.0", ("DC201",),
             "CVE record; keras PR #23048 (in v3.15.0 and the 3.12.3 security release)"),
    KerasCVE("CVE-2026-12482", "symlink members of an archive escape the extraction directory",
             _LINES_3123, "3.12.3, 3.15.0", ("refused",),
             "keras PR #23015 (in v3.15.0 and the 3.12.3 security release)"),
    KerasCVE("CVE-2026-12484", "TorchModuleWrapper calls torch.load on its pickled module "
             "without an opt-in when safe_mode is unset", _LINES_3123, "3.12.3, 3.15.0",
             ("DC404",), "keras PR #23048 (in v3.15.0 and the 3.12.3 security release)",
             ("TorchModuleWrapper",)),
    KerasCVE("CVE-2026-9335", "HDF5 soft and external links in a weights file reach other "
             "objects and files in load_weights", _LINES_3123, "3.12.3, 3.15.0", ("refused",),
             "keras PR #22900 (in v3.15.0 and the 3.12.3 security release)"),
    KerasCVE("CVE-2026-12570", "H5IOStore reads a shape-bomb dataset in the main load_model "
             "path", _LINES_3123, "3.12.3, 3.15.0", ("refused",),
             "PYSEC-2026-3856 / GHSA-74m6-m3xx-3vmj; keras PR #22975 (in v3.15.0, 3.12.3)"),
)
"""The CVE catalogue (README "Keras loading CVEs" is generated from it)."""
CVE_BY_ID: dict[str, KerasCVE] = {c.id: c for c in KERAS_CVES}


def cves_of(code: str) -> tuple[KerasCVE, ...]:
    """The CVEs whose trigger finding ``code`` detects."""
    return tuple(c for c in KERAS_CVES if code in c.detection)


@dataclass(frozen=True)
class PolicyRule:
    """One check rule with a stable id (used in SARIF, JUnit, GitHub annotations and JSON)."""

    id: str
    """Stable identifier, e.g. ``DCK001``; never reused for another meaning."""
    name: str
    """The setting that controls it (``inference``, ``max_rate``...)."""
    summary: str
    """One line: what the rule demands."""
    help: str
    """Why it matters and what to do when it fires."""
    default_severity: Severity
    security: bool = False
    """Guards against running or reading something outside the model (SARIF tag)."""
    security_severity: str = ""
    """For security rules: a CVSS-style score (0.1-10.0) that GitHub code scanning ranks the
    alert by (SARIF ``properties.security-severity``; 9.0+ critical, 7.0+ high, 4.0+ medium)."""


POLICY_RULES: tuple[PolicyRule, ...] = (
    PolicyRule("DCK000", "readable", "Every artifact can be read and checked.",
         "dropctl could not read or check this file (corrupt, hostile, not a model, over a "
         "safety limit, or --probe could not load it). An unreadable artifact is never "
         "reported as clean; fix or remove the file.", Severity.ERROR,
               # A file dropctl refused may be corrupt or hostile: medium until looked at.
               security=True, security_severity="5.5"),
    PolicyRule("DCK001", "inference", "predict() behaves as the policy's `inference` setting demands.",
         "inference = \"off\" (the default) requires predict() to be deterministic: no dropout "
         "site may act at inference (training=True pinned under Keras 2, Lambda PermaDropout, "
         "dropctl always-on layers). inference = \"on\" requires at least one site that acts "
         "at inference (Monte Carlo models). Use `dropctl convert --standard` or "
         "`--perma` to change the artifact, or an override for the path.", Severity.ERROR),
    PolicyRule("DCK002", "max_rate", "No dropout rate exceeds `max_rate`.",
         "A rate above the configured maximum is usually a typo (0.9 for 0.09) or a "
         "refactor gone wrong.", Severity.ERROR),
    PolicyRule("DCK003", "min_rate", "No dropout rate is below `min_rate`.",
         "A rate below the configured minimum (including 0, a no-op) means the model has "
         "lost the regularisation or Monte Carlo spread it was meant to have.", Severity.ERROR),
    PolicyRule("DCK004", "forbid_lambda", "The artifact carries no Lambda bytecode.",
         "A Lambda layer (or any `__lambda__` object, anywhere in the tree) stores marshalled "
         "Python bytecode that runs when the model is loaded with safe_mode=False: a code "
         "execution risk (CVE-2024-3660). Replace it with a registered layer; for "
         "PermaDropout use `dropctl convert --standard` or `--perma`.", Severity.ERROR,
               # Arbitrary code on load, as CVE-2024-3660 (CVSS 9.8).
               security=True, security_severity="9.8"),
    PolicyRule("DCK005", "frozen_active", "No dropout sits inside a frozen sub-model.",
         "trainable=False does not switch dropout off: a frozen sub-model still drops units "
         "while the outer model trains. Intended for fine-tuning? Set frozen_active = "
         "\"ignore\" for that path.", Severity.WARNING),
    PolicyRule("DCK006", "pinned_training", "No site pins training=True.",
         "Dropout(r)(x, training=True) is stochastic under predict() in Keras 2 / tf.keras "
         "but deterministic under Keras 3.15 predict() (and stochastic again in later "
         "Keras). The model's behaviour depends on the Keras that runs it.", Severity.WARNING),
    PolicyRule("DCK007", "require_sites", "The model has at least `require_sites` stochastic sites.",
         "A Monte Carlo model that lost its dropout in a refactor gives zero spread and "
         "silently overconfident uncertainty.", Severity.ERROR),
    PolicyRule("DCK008", "opaque", "No part of the model is hidden from static reading.",
         "Subclassed models and unknown containers hide their layers: dropctl cannot see "
         "whether they contain dropout. Use --probe to judge by behaviour, or save a "
         "functional model.", Severity.WARNING),
    PolicyRule("DCK009", "unsafe_modules", "No class comes from outside Keras' own modules.",
         "Classes from modules outside keras/keras_hub/keras_cv/keras_nlp import code when "
         "loaded (CVE-2025-1550); TorchModuleWrapper and TFSMLayer run foreign graphs; "
         "lookup layers with a file-path vocabulary read files (CVE-2025-12058).",
         Severity.ERROR,
               # Code imported on load (CVE-2025-1550) or files read: high.
               security=True, security_severity="8.8"),
    PolicyRule("DCK010", "probe", "Loaded and run, the model behaves as the static verdict says.",
         "--probe loads the model in safe mode and runs predict() twice on synthetic "
         "inputs. A result that contradicts the `inference` setting is a violation "
         "whatever the config says.", Severity.ERROR),
    PolicyRule("DCK011", "findings", "No other inspect finding reaches the failing severity.",
         "Findings from `dropctl inspect` that no policy setting covers keep their own "
         "severity; tune them with [tool.dropctl.findings] CODE = \"error\"|\"warn\"|"
         "\"ignore\".", Severity.WARNING),
    PolicyRule("DCK012", "keras", "The verdicts agree on every Keras version in `keras`.",
         "Whether a pinned training=True dropout acts under predict() changed in Keras 3.16 "
         "(keras PR #23364). With keras = \">=3.6\" or a list of versions, check computes the "
         "verdicts for each behaviour regime in it and fails a model whose predict() or "
         "model(x) verdict differs between them: it behaves differently depending on where it "
         "is deployed. Make the behaviour explicit with `dropctl convert --standard` or "
         "`--perma`.", Severity.ERROR),
)
POLICY_BY_NAME: dict[str, PolicyRule] = {r.name: r for r in POLICY_RULES}
POLICY_BY_ID: dict[str, PolicyRule] = {r.id: r for r in POLICY_RULES}


def finding_owner(code: str) -> PolicyRule | None:
    """The policy rule that owns finding ``code`` in ``check`` (None: rule DCK011 judges it)."""
    rule = FINDINGS.get(code)
    return POLICY_BY_NAME[rule.policy] if rule is not None and rule.policy else None
