"""Keras behaviours that change between versions: one table, keyed by version range.

``inspect`` and ``check`` answer "does this site act under ``predict()`` / ``model(x)``?" for a
*target* Keras, because the answer changed between releases. The target never depends on what
happens to be installed (a gate whose answer changes with the runner image is not a gate): it is
``--keras VERSION`` or the policy's ``keras`` setting when given, else :data:`DEFAULT_TARGET`
(the newest Keras release this dropctl release supports, stated in every report). ``--keras
installed`` opts into the installed Keras (read from package metadata, never imported). Every
version-dependent rule the static verdicts apply is a row of :data:`BEHAVIOURS`;
tests/test_versions.py measures each row on the installed Keras where its range applies, and
scripts/matrix.sh runs it on Keras 3.6, 3.15 and the 3.16 nightly.

Pure Python: no Keras import (this module is on the ``inspect``/``check`` path).
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from dropctl.errors import UsageError

__all__ = ["BEHAVIOURS", "DEFAULT_TARGET", "INSTALLED", "NEW_KEYS", "SUPPORTED", "Behaviour",
           "KerasTarget", "NewKey", "applies", "boundaries", "downgrade_config", "installed_keras",
           "parse_version", "representatives", "resolve_target", "spec_matches"]

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Behaviour:
    """One version-dependent Keras behaviour the static verdicts rely on."""

    key: str
    """Stable identifier (used in code and tests)."""
    versions: str
    """Keras versions it holds for, as a range (``">=3.0,<3.16"``)."""
    summary: str
    """What happens, in one sentence."""
    source: str
    """Where it comes from (Keras source file or pull request)."""
    verified: str
    """How dropctl verified it."""


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "pin-honoured-keras2", "<3",
        "A node's stored training=True/False is honoured everywhere: a pinned training=True "
        "dropout acts under predict() too.",
        "tf.keras / Keras 2 functional node replay",
        "measured with tf-keras 2.21 (tests/reader/test_inspect.py samples, KERAS_NOTES 1)"),
    Behaviour(
        "outer-training-overrides-pin", ">=3.0,<3.16",
        "The outer training of predict()/fit()/model(x, training=...) overwrites a node's pinned "
        "training whenever it is not None: a pinned training=True dropout is off under predict() "
        "and model(x, training=False), on under a bare model(x); a pinned training=False one "
        "acts in fit().",
        "keras/src/models/functional.py operation_fn (3.0-3.15)",
        "measured on the installed Keras (tests/test_versions.py) and in scripts/matrix.sh "
        "on Keras 3.6 and 3.15"),
    Behaviour(
        "pin-wins", ">=3.16",
        "A node's pinned training wins over the propagated call context: a pinned training=True "
        "dropout acts under predict() and model(x, training=False) too; a pinned training=False "
        "one stays off in fit().",
        "keras PR #23364 (merged 2026-07-31, first release 3.16)",
        "read from keras master (Layer._resolve_and_populate_arg, functional.operation_fn "
        "removed); measured on keras-nightly 3.16.0.dev2026102704 (TF and JAX backends) by "
        "tests/test_versions.py in scripts/matrix.sh nightly-tf / nightly-jax"),
    Behaviour(
        "training-default-leaks", ">=3.0,<3.16",
        "Under a bare model(x), a layer whose call() defaults to training=True (image "
        "augmentation layers, Resizing, Pipeline) writes True into the shared call context: a "
        "later BatchNormalization uses batch statistics. Dropout, noise, RNN and attention "
        "layers of a functional graph are not affected (their construction stored "
        "training=False in the node), so no dropout verdict depends on this row.",
        "keras/src/layers/layer.py Layer.__call__ (3.0-3.15); fixed by keras PR #23166 (3.16)",
        "measured on the installed Keras (tests/test_versions.py): BatchNormalization after "
        "Resizing differs from predict() under model(x); Dropout/LSTM/GaussianNoise do not act"),
)
"""The table (see the module docstring)."""


_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<|~=)?\s*([0-9][^,\s]*)\s*$")


def parse_version(text: str) -> Version:
    """``"3.16.0.dev2026"`` -> (3, 16, 0); ``"2.2.4-tf"`` -> (2, 2, 4). Pre-releases count as
    their release (a 3.16 dev build behaves as 3.16). Raises ValueError on text with no number."""
    m = _VERSION.match(text or "")
    if not m:
        raise ValueError(f"not a version: {text!r}")
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


def _clauses(spec: str) -> list[tuple[str, Version, str]]:
    """(operator, version, version as written) for each comma-separated clause."""
    out = []
    for part in spec.split(","):
        if not part.strip():
            continue
        m = _CLAUSE.match(part)
        if not m:
            raise ValueError(f"not a version range: {spec!r}")
        out.append((m.group(1) or "==", parse_version(m.group(2)), m.group(2)))
    if not out:
        raise ValueError(f"not a version range: {spec!r}")
    return out


def _prefix_eq(v: Version, pattern: str, want: Version) -> bool:
    # "==3.15" matches 3.15.x, as pip's "==3.15.*" would: compare the parts written.
    written = len(pattern.split("."))
    return v[:written] == want[:written]


def spec_matches(spec: str, version: Version) -> bool:
    """Whether ``version`` satisfies the range ``spec`` (``">=3.6,<3.16"``, ``"3.15"``)."""
    for op, want, raw in _clauses(spec):
        ok = {
            ">=": version >= want, "<=": version <= want, ">": version > want, "<": version < want,
            "==": _prefix_eq(version, raw, want), "!=": not _prefix_eq(version, raw, want),
            "~=": version >= want and version[:1] == want[:1],
        }[op]
        if not ok:
            return False
    return True


def applies(key: str, version: Version) -> bool:
    """Whether the behaviour ``key`` of :data:`BEHAVIOURS` holds for Keras ``version``."""
    for row in BEHAVIOURS:
        if row.key == key:
            return spec_matches(row.versions, version)
    raise KeyError(key)


def boundaries() -> list[Version]:
    """Every version at which some row of the table starts or stops holding, sorted."""
    found = {want for row in BEHAVIOURS for _, want, _ in _clauses(row.versions)}
    return sorted(found)


def representatives(spec: str) -> list[Version]:
    """Versions that stand for every behaviour regime inside ``spec``: its lower bound (or the
    oldest Keras 3) and each table boundary the range contains. Verdicts that agree on all of
    them agree on the whole range."""
    clauses = _clauses(spec)
    lows = [want for op, want, _ in clauses if op in (">=", ">", "==", "~=")]
    start = max(lows) if lows else (3, 0, 0)
    points = [start, *(b for b in boundaries() if b > start)]
    return [p for p in points if spec_matches(spec, p)] or [start]


KERAS_DISTRIBUTIONS = ("keras", "keras-nightly")
"""Distributions that provide the ``keras`` package (``pip install --pre keras-nightly``)."""


def installed_keras() -> str | None:
    """The installed Keras version from its metadata (Keras is not imported), or None."""
    for dist in KERAS_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


Source = Literal["--keras", "config", "installed", "default"]


@dataclass(frozen=True)
class KerasTarget:
    """The Keras version a verdict is computed for, and where that choice came from."""

    version: str
    """As given (``"3.16"``, ``"3.15.1"``, ``"2.15"``)."""
    source: Source
    """``--keras``/``config`` (asked for), ``installed`` (``--keras installed``) or
    ``default`` (:data:`DEFAULT_TARGET`)."""

    @property
    def parsed(self) -> Version:
        return parse_version(self.version)

    def describe(self) -> str:
        """``"Keras 3.15 (default)"``: how every report format names the target."""
        return f"Keras {self.version} ({self.source})"


DEFAULT_TARGET = "3.15"
"""The target when neither ``--keras`` nor the policy's ``keras`` names one: the newest Keras
release this dropctl release supports (3.16 is a nightly). It moves only with a dropctl release
(said in its changelog), never with the environment."""

SUPPORTED = ">=3.6,<3.17"
"""The Keras range dropctl runs on (3.6 through the 3.16 nightly; scripts/matrix.sh)."""

INSTALLED = "installed"
"""``--keras installed`` / ``keras = "installed"``: opt into the installed Keras."""


def resolve_target(explicit: str | None, source: Source = "--keras") -> KerasTarget:
    """The target for ``explicit`` (a version, ``"installed"``, or None: :data:`DEFAULT_TARGET`).

    Raises :class:`UsageError` for text that is no version, or ``installed`` with no Keras."""
    if explicit is None:
        return KerasTarget(DEFAULT_TARGET, "default")
    if explicit.strip() == INSTALLED:
        found = installed_keras()
        if found is None:
            raise UsageError("--keras installed: no Keras is installed (give a version, "
                             f"e.g. --keras {DEFAULT_TARGET})")
        return KerasTarget(found, "installed")
    try:
        parse_version(explicit)
    except ValueError:
        raise UsageError(f"--keras {explicit!r} is not a version (e.g. 3.16) "
                         "or 'installed'") from None
    return KerasTarget(explicit.strip(), source)


# ---- config keys newer Keras writes and older Keras rejects ------------------------------------
# Keras writes every constructor argument into a config, including ones added in later releases
# with their default value; an older Keras rejects the unknown keyword (Keras 3.6-3.14:
# "GlorotUniform.__init__() got an unexpected keyword argument 'input_axes'"). Dropping a key that
# holds its default changes nothing for that Keras (it uses the same default). Used by the loader
# (files saved by a newer Keras load in the installed one) and by convert --target-keras.

ATTENTION = frozenset({"MultiHeadAttention", "GroupQueryAttention", "GroupedQueryAttention",
                       "AlwaysMultiHeadAttention", "AlwaysGroupQueryAttention"})
"""Attention classes, dropctl's always-on subclasses included (same config keys)."""
INITIALIZERS = frozenset({
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
    "LecunNormal", "Orthogonal", "OrthogonalInitializer",
})


@dataclass(frozen=True)
class NewKey:
    """A config key a later Keras writes and an older one rejects."""

    key: str
    classes: frozenset[str] | None
    """Class names that carry it (None: any layer)."""
    default: Any
    """The value that means "not used" (dropped for an older target)."""
    since: tuple[int, int, int]
    """First Keras release that accepts it."""


NEW_KEYS: tuple[NewKey, ...] = (
    NewKey("ragged", frozenset({"InputLayer"}), False, (3, 9, 0)),
    NewKey("quantization_config", None, None, (3, 13, 0)),
    NewKey("renorm", frozenset({"BatchNormalization"}), False, (3, 14, 0)),
    NewKey("renorm_clipping", frozenset({"BatchNormalization"}), None, (3, 14, 0)),
    NewKey("renorm_momentum", frozenset({"BatchNormalization"}), 0.99, (3, 14, 0)),
    NewKey("use_gate", ATTENTION, False, (3, 14, 0)),
    NewKey("sliding_window", ATTENTION, None, (3, 15, 0)),
    NewKey("input_axes", INITIALIZERS, None, (3, 15, 0)),
    NewKey("output_axes", INITIALIZERS, None, (3, 15, 0)),
)
"""Keys newer Keras writes (checked against the keras release tags 3.6.0-3.15.0)."""


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every serialized object (a dict with ``class_name`` and a ``config`` dict), iteratively."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            cfg = item.get("config")
            if isinstance(item.get("class_name"), str) and isinstance(cfg, dict):
                name = cfg.get("name")
                here = (f"{where}/{name}" if where else name) if isinstance(name, str) else where
                yield here or item["class_name"], item
                where = here
            stack.extend((v, where) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, where) for v in item)


def downgrade_config(config: dict[str, Any], target: str) -> list[str]:
    """Drop (in place) every key of :data:`NEW_KEYS` Keras ``target`` would reject.

    Returns what was dropped (``"path: key"``). Raises :class:`UsageError` when such a key holds
    a non-default value (the behaviour cannot be written for that Keras).
    """
    version = parse_version(target)
    if version >= max(rule.since for rule in NEW_KEYS):
        return []
    dropped: list[str] = []
    for where, obj in _objects(config):
        cls, cfg = obj["class_name"].rsplit(">", 1)[-1], obj["config"]  # "dropctl>AlwaysLSTM"
        for rule in NEW_KEYS:
            if version >= rule.since or rule.key not in cfg:
                continue
            if rule.classes is not None and cls not in rule.classes:
                continue
            if cfg[rule.key] != rule.default:
                since = ".".join(str(p) for p in rule.since[:2])
                raise UsageError(
                    f"{where}: {cls} uses {rule.key}={cfg[rule.key]!r}, which Keras {target} "
                    f"does not have (Keras >= {since}); use --target-keras {since} or newer")
            del cfg[rule.key]
            dropped.append(f"{where}: {rule.key}")
    return dropped
