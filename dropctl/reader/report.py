"""Typed results of ``dropctl inspect`` (also the input of ``check``, ``convert`` and ``mc``).

Everything here is plain data: frozen dataclasses and ``str`` enums, no numpy, no Keras.
``dropctl.render`` turns an :class:`InspectReport` into text or the public JSON contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dropctl.display import Displayable
from dropctl.rules import Severity


class Phase(StrEnum):
    """Whether a stochastic site acts in one way of running the model."""

    NEVER = "never"
    ALWAYS = "always"
    UNKNOWN = "unknown"


class SiteKind(StrEnum):
    """What sort of randomness a site injects."""

    DROPOUT = "dropout"
    SPATIAL_DROPOUT = "spatial_dropout"
    GAUSSIAN_DROPOUT = "gaussian_dropout"
    ALPHA_DROPOUT = "alpha_dropout"
    GAUSSIAN_NOISE = "gaussian_noise"
    RECURRENT = "recurrent"
    ATTENTION = "attention"
    STOCHASTIC_DEPTH = "stochastic_depth"
    LAMBDA = "lambda"
    CUSTOM = "custom"




class ArtifactFormat(StrEnum):
    """Container format of a model artifact."""

    KERAS = "keras"
    H5 = "h5"
    JSON = "json"
    SAVEDMODEL = "savedmodel"
    """A TensorFlow SavedModel directory written by tf.keras (``keras_metadata.pb``)."""
    PRESET = "preset"
    """A Keras / keras_hub preset directory (config.json, metadata.json, model.weights.h5)."""
    WEIGHTS = "weights+config"
    """A ``*.weights.h5`` file with its architecture JSON (``--config`` or side by side)."""
    ONNX = "onnx"
    """An ONNX model file (read statically: :mod:`dropctl.reader.deployed`)."""
    LITERT = "litert"
    """A LiteRT/TFLite flatbuffer."""
    SAVEDMODEL_GRAPH = "savedmodel-graph"
    """A SavedModel directory without Keras metadata: only its graph is read."""
    OPENVINO = "openvino"
    """An OpenVINO IR ``.xml`` (its ``.bin`` weights are not read)."""


class Verdict(StrEnum):
    """Answer to "is this way of running the model deterministic?"."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "cannot tell statically"


@dataclass(frozen=True)
class ModelInfo:
    """Where a model came from and what saved it."""

    path: str
    """The artifact path as given by the user."""
    format: ArtifactFormat
    """Container format, detected from the file's content (and checked against its extension)."""
    keras_version: str | None
    """Version string of the Keras that saved the file ("2.2.4-tf", "3.15.1"), if recorded."""
    backend: str | None
    """Backend recorded by the saver ("tensorflow", "theano", "jax"...), if any."""
    name: str | None
    """The model's own name from its config."""
    class_name: str
    """Top-level class: Sequential, Functional, Model, or a subclass name."""
    has_weights: bool
    """Whether the artifact carries weights (JSON files never do)."""


@dataclass(frozen=True)
class Site:
    """One stochastic layer (or stochastic parameter of a layer) in the model tree."""

    path: str
    """Layer names from the outermost model, "/"-joined (e.g. ``model_AB/model_A/dropout``)."""
    class_name: str
    """Keras class name as saved (``Dropout``, ``LSTM``, ``Lambda``, a custom name...)."""
    kind: SiteKind
    """What randomness the site injects."""
    rate: float | None
    """Drop probability (``rate``/``p``/``dropout``); None where not applicable or unknown."""
    recurrent_rate: float | None
    """``recurrent_dropout`` for RNN layers; None elsewhere."""
    stddev: float | None
    """Noise standard deviation (GaussianNoise); None elsewhere."""
    trainable: bool
    """The layer's own ``trainable`` flag."""
    effective_trainable: bool
    """False when the layer or any enclosing model/wrapper is frozen."""
    training_pinned: bool | None
    """``training=True/False`` stored in a call of this layer (functional graphs); else None."""
    in_fit: bool
    """Acts while ``fit()`` trains the model, under the installed Keras."""
    in_predict: Phase
    """Acts under ``predict()`` with the installed Keras (3.x)."""
    in_predict_keras2: Phase
    """Acts under ``predict()`` with tf.keras / Keras 2 semantics."""
    in_call: Phase
    """Acts under a bare ``model(x)`` call with the installed Keras."""
    module: str | None = None
    """Python module recorded for the class (Keras 3 files), if any."""
    note: str | None = None
    """Short human explanation of how the state was derived, when it is not obvious."""
    dead: bool = False
    """Built but never called by its model's code, even under ``training=True`` (keras_hub
    Gemma's ``feedforward_dropout``): it acts in no phase, whatever its rate."""
    training_fails: str | None = None
    """Keras' reason when the layer's own ``call`` raises under ``training=True`` (keras_hub
    0.32's DINOV2DropPath, measured by the catalogue's generator): ``fit()`` and
    ``model(x, training=True)`` fail there (finding DC305)."""
    noise: str | None = None
    """How the layer's training noise differs from a drop, as measured by the catalogue's
    generator (keras_hub 0.32's DINOV2DropPath: continuous multipliers, mean above 1;
    finding DC306)."""


@dataclass(frozen=True)
class Finding:
    """A diagnosis with a stable code; see :mod:`dropctl.reader.findings` for the catalogue."""

    code: str
    """Stable identifier, e.g. ``DC101``."""
    severity: Severity
    """How serious it is by default (policies in ``check`` may change this)."""
    path: str
    """Layer path the finding is about ("" for the whole model)."""
    message: str
    """One line: what is true of this model."""
    hint: str = ""
    """One line: what to do about it."""


@dataclass(frozen=True)
class LayerEntry:
    """Any layer in the tree (``inspect --all`` shows these around the sites)."""

    path: str
    class_name: str
    depth: int
    """0 for the outermost model itself, 1 for its layers, 2 inside a nested model or wrapper..."""
    trainable: bool
    effective_trainable: bool
    container: bool
    """True for nested models and wrappers (their children follow with depth + 1)."""
    stochastic: bool
    """True when at least one :class:`Site` has this path."""


@dataclass(frozen=True)
class InspectReport(Displayable):
    """Everything ``dropctl inspect`` knows about one artifact, read statically."""

    model: ModelInfo
    sites: tuple[Site, ...]
    findings: tuple[Finding, ...]
    opaque: tuple[str, ...]
    """Paths of subclassed or unknown containers whose insides cannot be seen."""
    layers: tuple[LayerEntry, ...] = field(default=())
    """Every layer in walk order (pre-order), for tree rendering."""
    keras_target: Any = None
    """The :class:`dropctl.reader.versions.KerasTarget` that ``in_fit``/``in_predict``/``in_call``
    and the verdicts are computed for (None: built without one, Keras 3.15 semantics)."""

    def _verdict(self, attr: str) -> Verdict:
        phases = [getattr(s, attr) for s in self.sites]
        if Phase.ALWAYS in phases:
            return Verdict.NO
        if Phase.UNKNOWN in phases or self.opaque:
            return Verdict.UNKNOWN
        return Verdict.YES

    @property
    def predict_deterministic(self) -> Verdict:
        """Is ``model.predict(x)`` deterministic under the installed Keras?"""
        return self._verdict("in_predict")

    @property
    def predict_deterministic_keras2(self) -> Verdict:
        """Would ``model.predict(x)`` be deterministic under tf.keras / Keras 2?"""
        return self._verdict("in_predict_keras2")

    @property
    def call_deterministic(self) -> Verdict:
        """Is a bare ``model(x)`` deterministic under the installed Keras?"""
        return self._verdict("in_call")

    @property
    def max_severity(self) -> Severity | None:
        """The most serious finding's severity, or None without findings."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)

    def findings_at_or_above(self, severity: Severity) -> tuple[Finding, ...]:
        """Findings whose severity reaches ``severity`` (the ``inspect --fail-on`` gate)."""
        return tuple(f for f in self.findings if f.severity.rank >= severity.rank)
