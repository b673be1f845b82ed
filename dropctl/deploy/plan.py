"""What ``dropctl export`` will write, decided without Keras: formats, modes, keys, paths.

An MC export returns, per model output, the keys of ``mc-predict``'s ``.npz``: ``mean`` and
``std`` (over the T passes, ddof=0) and, for an output whose rows are probabilities,
``entropy``, ``mutual_information`` and ``variation_ratio``; a multi-output model prefixes
them with the output name (``head/mean``), as ``mc-predict`` does. With ``--calibration``
each output also returns ``mc-predict --calibration``'s keys: ``calibrated`` (temperature- or
vector-scaled probabilities) and ``set`` (N x C booleans) for a classifier, ``calibrated`` (the
scaled std), ``lower`` and ``upper`` for a regressor. A ``--perma`` or ``--standard`` export
returns the model's own outputs under their names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from dropctl.errors import InputDataError, UsageError


class ExportFormat(StrEnum):
    """Deployment format of OUT (``--format``)."""

    SAVEDMODEL = "savedmodel"
    """A TensorFlow SavedModel directory (TF Serving, ``tf.saved_model.load``)."""
    ONNX = "onnx"
    """An ONNX file (onnxruntime), converted by tf2onnx."""
    LITERT = "litert"
    """A LiteRT (TFLite) flatbuffer, builtin ops only (no Flex delegate needed)."""
    OPENVINO = "openvino"
    """An OpenVINO IR (OUT.xml + OUT.bin), converted from the SavedModel by OpenVINO."""


class ExportMode(StrEnum):
    """What one call of OUT does."""

    MC = "mc"
    """T stochastic passes inside the graph; returns mean, std and the classifier scores."""
    PERMA = "perma"
    """One stochastic sample per call (only the stochastic sites on)."""
    STANDARD = "standard"
    """Every site off: the model's deterministic prediction, provably."""


RUNTIMES = {ExportFormat.SAVEDMODEL: "tensorflow", ExportFormat.ONNX: "onnxruntime",
            ExportFormat.LITERT: "ai-edge-litert", ExportFormat.OPENVINO: "openvino"}
"""The runtime that verifies each format (distribution name, for its version)."""

SUFFIXES = {ExportFormat.ONNX: (".onnx",), ExportFormat.LITERT: (".tflite",),
            ExportFormat.OPENVINO: (".xml",)}
"""Extensions OUT must have per file format (a SavedModel is a directory: any name)."""

CLASSIFIER_KEYS = ("entropy", "mutual_information", "variation_ratio")
"""Extra MC keys of an output whose rows are probabilities (as ``mc-predict`` reports)."""

CALIBRATION_KEYS = {"classifier": ("calibrated", "set"),
                    "regressor": ("calibrated", "lower", "upper")}
"""Extra MC keys per calibrated output kind (``mc-predict --calibration``'s ``.npz`` keys)."""

MAX_SAMPLES = 4096
"""``--mc T`` upper bound: T copies of every activation after the prefix live in one call."""

SEED_SIGNATURE = "seeded"
"""SavedModel signature that takes a ``seed`` input ([2] int64): same seed, same output."""


def output_keys(names: list[str], classifier: list[bool], mode: ExportMode,
                calibrated: list[str] | None = None) -> list[list[str]]:
    """Per model output, the names of the exported tensors (see the module docstring).

    ``calibrated``: per output, the kind its calibration fitted (``classifier`` or
    ``regressor``, keys of :data:`CALIBRATION_KEYS`), or None without ``--calibration``.
    """
    if mode is not ExportMode.MC:
        return [[name] for name in names]
    multi = len(names) > 1
    kinds: list[str | None] = list(calibrated) if calibrated else [None] * len(names)
    out = []
    for name, is_clf, kind in zip(names, classifier, kinds, strict=True):
        prefix = f"{name}/" if multi else ""
        keys = ["mean", "std", *(CLASSIFIER_KEYS if is_clf else ()),
                *(CALIBRATION_KEYS[kind] if kind else ())]
        out.append([prefix + k for k in keys])
    return out


def pick_mode(mc: int | None, perma: bool, standard: bool) -> tuple[ExportMode, int]:
    """(mode, T) from the CLI's ``--mc T`` / ``--perma`` / ``--standard`` (exactly one)."""
    chosen = [m for m, on in ((ExportMode.MC, mc is not None), (ExportMode.PERMA, perma),
                              (ExportMode.STANDARD, standard)) if on]
    if len(chosen) != 1:
        raise UsageError("pick exactly one of --mc T, --perma or --standard")
    if mc is not None and not 2 <= mc <= MAX_SAMPLES:
        raise UsageError(f"--mc T needs 2 <= T <= {MAX_SAMPLES}, got {mc}")
    return chosen[0], mc or 1


def check_paths(src: Path, dst: Path, fmt: ExportFormat, *, force: bool) -> None:
    """IN exists, OUT has the format's extension, is not IN, and may be (over)written."""
    suffixes = SUFFIXES.get(fmt)
    if suffixes and dst.suffix.lower() not in suffixes:
        raise UsageError(f"OUT for --format {fmt.value} must end in {' or '.join(suffixes)}, "
                         f"got {dst.name}")
    if not src.exists():
        raise InputDataError(f"{src}: no such file")
    if os.path.abspath(dst) == os.path.abspath(src) or (
            dst.exists() and dst.resolve() == src.resolve()):
        raise UsageError(f"OUT is the same path as IN ({src}); IN is never modified")
    if fmt is ExportFormat.SAVEDMODEL:
        if dst.exists() and not dst.is_dir():
            raise InputDataError(f"{dst} exists and is not a directory (a SavedModel is one)")
        if dst.is_dir() and any(dst.iterdir()) and not (dst / "saved_model.pb").is_file():
            raise UsageError(f"{dst} is a non-empty directory that holds no SavedModel; "
                             "dropctl replaces only a SavedModel directory")
    elif dst.is_dir():
        raise InputDataError(f"{dst} is a directory")
    if dst.exists() and not force and not (dst.is_dir() and not any(dst.iterdir())):
        raise UsageError(f"{dst} exists; pass --force to overwrite it")
    weights = ir_weights(dst)
    if fmt is ExportFormat.OPENVINO and weights.exists() and not force:
        raise UsageError(f"{weights} (OUT's weights file) exists; pass --force to overwrite it")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise InputDataError(f"cannot write {dst}: {parent} is not a writable directory")


def ir_weights(xml: Path) -> Path:
    """The ``.bin`` an OpenVINO IR ``.xml`` reads its weights from (same stem, beside it)."""
    return xml.with_suffix(".bin")


@dataclass(frozen=True)
class OutputCheck:
    """The verification of one exported model output."""

    name: str
    """Model output name."""
    stochastic: bool
    """Fed by a switched site (``mc-predict``'s std > 0 somewhere on it)."""
    max_std: float
    """Largest std the exported file gave (MC: its ``std`` key; perma: over repeated calls)."""
    max_z: float
    """Largest |exported mean - reference| in units of its standard error (0: exact match)."""
    max_rel_error: float
    """Largest |exported - reference| / max|reference| (``--standard``; else of the means)."""
    fresh: bool
    """Two calls on the same inputs differ (stochastic) or are equal (deterministic)."""


@dataclass(frozen=True)
class CalibrationCheck:
    """How OUT's baked calibration compared with ``mc-predict --calibration`` in OUT's runtime."""

    head_max_error: float
    """Largest |OUT's calibrated value - dropctl's numpy calibration of OUT's own mean/std|
    (relative to max(1, |value|) for intervals)."""
    head_set_errors: int
    """Set memberships of OUT that differ from numpy's on OUT's own mean although the score is
    more than the float tolerance from ``qhat`` (must be 0)."""
    max_z: float
    """Largest |average of OUT's calibrated/lower/upper - mc-predict --calibration's| in
    standard errors (both averaged over repeated T-pass estimates)."""
    sets_compared: int
    """Set memberships whose score lies beyond Monte Carlo error of ``qhat`` (compared)."""
    sets_differ: int
    """Of those, memberships where OUT's set and mc-predict --calibration's differ (must be 0)."""
    repeats: int
    """T-pass estimates on each side (calls of OUT; T-pass groups of mc-predict)."""


@dataclass(frozen=True)
class Verification:
    """How the exported file behaved in its own runtime."""

    runtime: str
    """Runtime that ran it (``onnxruntime``, ``ai-edge-litert``, ``tensorflow``)."""
    version: str
    """Its installed version."""
    inputs: int
    """Number of (synthetic, seeded) inputs it ran on."""
    outputs: tuple[OutputCheck, ...]
    """One check per model output."""
    random_ops: tuple[str, ...]
    """Random op types found in the written graph (what makes the runtime sample)."""
    seeded: bool | None = None
    """SavedModel's ``seeded`` signature: same seed gave the same bytes (None: no such input)."""
    calibration: CalibrationCheck | None = None
    """The baked calibration's check (``--calibration`` only)."""


@dataclass(frozen=True)
class ExportReport:
    """Result of :func:`dropctl.export`."""

    src: str
    """IN path."""
    dst: str
    """OUT path."""
    format: ExportFormat
    """What OUT is."""
    mode: ExportMode
    """What one call of OUT does."""
    samples: int
    """T passes per call (1 for perma, 0 for standard)."""
    sites: tuple[str, ...]
    """Paths of the stochastic sites switched on in OUT (empty for standard)."""
    inputs: tuple[tuple[str, tuple[int | None, ...], str], ...]
    """(name, shape with None for dynamic dims, dtype) of each input of OUT."""
    outputs: tuple[str, ...]
    """Names of OUT's output tensors (e.g. ``mean``, ``std``, ``entropy``)."""
    verification: Verification | None
    """None with ``verify=False``."""
    bytes: int
    """Size of OUT (a SavedModel directory: all its files)."""
    warnings: tuple[str, ...] = ()
    """What the user should know (sites that could not be switched, loader rescues)."""
    calibration: str | None = None
    """The ``--calibration`` file baked into OUT (None: none)."""
    coverage: float | None = None
    """Its nominal coverage 1 - alpha of the sets and intervals."""
