"""``dropctl convert``'s result vocabulary: modes, actions, one row per site, the report.

Frozen dataclasses and ``str`` enums only (no Keras, no config walking): the planner
(:mod:`dropctl.conversion.plan`), the Keras half (:mod:`dropctl.conversion.build`,
:mod:`dropctl.conversion.custom`) and the renderers (:mod:`dropctl.render.convert`) all speak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from dropctl.display import Displayable
from dropctl.reader.report import ArtifactFormat

OUT_EXTENSIONS = {".keras": ArtifactFormat.KERAS, ".h5": ArtifactFormat.H5,
                  ".hdf5": ArtifactFormat.H5}


class ConvertMode(StrEnum):
    """What ``convert`` does to the selected stochastic sites."""

    PERMA = "perma"
    """Act at inference too (dropctl's always-on layers)."""
    STANDARD = "standard"
    """Keras' default: act only in training."""
    STRIP = "strip"
    """Remove from the graph (identity); RNN/attention dropout set to 0."""


class Action(StrEnum):
    """What happened to one site."""

    ALWAYS_ON = "always-on"
    STANDARD = "standard"
    REMOVED = "removed"
    ZEROED = "zeroed"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class SiteChange:
    """One site before and after the conversion (a row of the plan)."""

    path: str
    """Site path as ``dropctl inspect`` prints it."""
    action: Action
    """What was done."""
    class_before: str
    """Class name as saved in IN (``Dropout``, ``Lambda``, ``AlwaysLSTM``...)."""
    class_after: str | None
    """Class name in OUT; None when the layer was removed."""
    rate_before: float | None
    """Drop rate (``rate``/``dropout``; ``stddev`` for GaussianNoise) in IN."""
    rate_after: float | None
    """The same parameter in OUT; None when removed."""
    pinned_before: bool | None
    """``training`` pinned in IN on the layer's call or an enclosing model's (None: not pinned)."""
    pinned_after: bool | None
    """The same in OUT."""
    note: str = ""
    """Why, when it is not obvious (skipped sites, carried-over Lambdas, rewired outputs)."""


@dataclass(frozen=True)
class Verification:
    """Result of reloading OUT and predicting on a probe batch."""

    passed: bool
    """True when every check held."""
    kind: str
    """"deterministic" (--standard/--strip) or "stochastic" (--perma)."""
    max_abs_diff: float
    """Largest |OUT - IN| over the probe batch, with OUT's remaining randomness switched off."""
    tolerance: float
    """Allowed ``max_abs_diff``."""
    passes: int
    """Stochastic passes run (perma) or deterministic runs compared (2)."""
    stochastic: bool
    """Whether two plain ``predict()`` calls on OUT differed."""
    mean_abs_dev: float | None = None
    """Perma: mean |MC mean - deterministic| over all outputs."""
    mean_std: float | None = None
    """Perma: mean standard deviation across passes."""
    message: str = ""
    """One line: what was checked, or why it failed."""


@dataclass(frozen=True)
class ConvertReport(Displayable):
    """What ``dropctl.convert`` changed (or would change, in a dry run)."""

    src: str
    dst: str
    mode: ConvertMode
    src_format: ArtifactFormat
    dst_format: ArtifactFormat
    changes: tuple[SiteChange, ...]
    """Every selected site (and every always-on layer), in walk order."""
    warnings: tuple[str, ...] = field(default=())
    """Things left as they are or not carried over (one line each)."""
    written: bool = False
    """True when OUT was written (and kept)."""
    compiled: bool | None = None
    """Whether IN's compile config was carried over (None: IN had none or nothing written)."""
    verification: Verification | None = None
    """None with ``dry_run`` or ``verify=False``."""
    target_keras: str | None = None
    """The Keras version OUT's config was written for (``--target-keras``)."""
    target_dropped: tuple[str, ...] = ()
    """Default-valued config keys dropped because that Keras rejects them (``path: key``)."""

    @property
    def changed(self) -> tuple[SiteChange, ...]:
        """Only the sites whose class, rate, pin or presence changed."""
        return tuple(c for c in self.changes
                     if c.action not in (Action.UNCHANGED, Action.SKIPPED))



@dataclass(frozen=True)
class CustomVerdict:
    """What ``convert`` may do with one custom site whose class ``--custom-objects`` provided
    (measured by :func:`dropctl.conversion.custom.judge_custom_sites`)."""

    path: str
    """Site path as ``dropctl inspect`` prints it."""
    class_name: str
    """The custom class as saved (``MCDropout``)."""
    stock: str | None
    """The Keras layer it is (``Dropout``); None when dropctl cannot tell what it does."""
    always_on: bool = False
    """It acts under ``predict()`` too (its call forces ``training=True``)."""
    reason: str = ""
    """Why it is left alone (``stock`` None), in words for one line."""


CUSTOM_LEFT_NOTE = "custom class: left as it is"
"""The note of a custom site convert keeps because it cannot tell what the class does."""
