"""Walking a model config tree: layers, paths, trainable flags, pinned calls, stochastic sites.

Owns the semantics of *when a site acts* (KERAS_NOTES.md section 1), derived statically:

* Dropout-family layers, RNN ``dropout``/``recurrent_dropout`` and attention ``dropout``
  act only when their call gets ``training=True``: ``fit()`` passes True, ``predict()``
  passes False, a bare ``model(x)`` passes None (layers then use their default, off).
* ``trainable=False`` does not switch dropout off: a frozen sub-model still drops units
  while the outer model trains.
* A pinned call ``Dropout(r)(x, training=True)`` is honoured by tf.keras / Keras 2
  everywhere, but Keras 3.15's ``functional.operation_fn`` overwrites a node's
  ``training`` with the outer value whenever that is not None (verified in
  keras/src/models/functional.py): pinned True acts under ``model(x)`` and not under
  ``predict()``; pinned False is overridden by ``fit()``. A pin on a nested model's call
  applies to every layer inside it.
* Lambda ``K.dropout`` (PermaDropout) and dropctl's own always-on layers act always.

The walk is iterative with a depth and node cap, so hostile nesting cannot exhaust the
Python stack; it reads dicts and lists only.
"""


from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dropctl.reader.classes import (
    ATTENTION_CLASSES,
    DROPOUT_WORDS,
    RATE_KEYS,
    RECURRENT_CLASSES,
    STOCK_KINDS,
)
from dropctl.reader.lambdas import analyze_lambda, as_float
from dropctl.reader.report import Phase, SiteKind
from dropctl.reader.walker import Layer, always_on_stock


@dataclass(frozen=True)
class SiteSpec:
    """How one layer is stochastic, before phase semantics are applied."""

    kind: SiteKind
    rate: float | None
    recurrent_rate: float | None
    stddev: float | None
    always_on: bool
    """Ignores ``training``: acts in every phase (Lambda dropout, dropctl's layers)."""
    unknown: bool
    """Behaviour cannot be known statically (custom classes)."""
    note: str | None = None


def _num(cfg: dict[str, Any], *keys: str) -> float | None:
    """The first numeric value among ``keys`` (lenient: other types are skipped)."""
    for key in keys:
        v = cfg.get(key)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return as_float(v)
    return None


def _rate(cfg: dict[str, Any], *keys: str) -> float | None:
    """A stock layer's rate: the first key present; ``true``/``false`` count as 1 and 0 (Keras
    builds them so), anything else that is not a number is NaN, an invalid rate (DC303)."""
    for key in keys:
        v = cfg.get(key)
        if v is None:
            continue
        if isinstance(v, bool):
            return float(v)
        if isinstance(v, int | float):
            return as_float(v)
        return math.nan
    return None


def _noise_shape_note(cfg: dict[str, Any]) -> str | None:
    """Explain a ``noise_shape`` that shares one mask across axes (e.g. stochastic depth)."""
    shape = cfg.get("noise_shape")
    if not isinstance(shape, list) or not shape:
        return None
    shown = "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"
    if len(shape) > 1 and shape[0] is None and all(d == 1 for d in shape[1:]):
        return f"noise_shape {shown}: drops whole examples (stochastic depth), not single units"
    return f"noise_shape {shown}: one mask shared along the axes of size 1"


def _stock_spec(cls: str, cfg: dict[str, Any]) -> SiteSpec | None:
    kind = STOCK_KINDS.get(cls)
    if kind is SiteKind.GAUSSIAN_NOISE:
        return SiteSpec(kind, None, None, _rate(cfg, "stddev", "sigma"), False, False)
    if kind is SiteKind.STOCHASTIC_DEPTH:
        return SiteSpec(kind, _rate(cfg, "drop_path_rate", "rate"), None, None, False, False)
    if kind is not None:
        return SiteSpec(kind, _rate(cfg, "rate", "p"), None, None, False, False,
                        _noise_shape_note(cfg))
    if cls in RECURRENT_CLASSES:
        rate = _rate(cfg, "dropout", "dropout_W")
        rec = _rate(cfg, "recurrent_dropout", "dropout_U")
        if (rate or 0.0) == 0.0 and (rec or 0.0) == 0.0:
            return None
        return SiteSpec(SiteKind.RECURRENT, rate or 0.0, rec or 0.0, None, False, False)
    if cls in ATTENTION_CLASSES:
        rate = _rate(cfg, "dropout", "attention_dropout")
        if not rate:
            return None
        return SiteSpec(SiteKind.ATTENTION, rate, None, None, False, False)
    return None


def classify(layer: Layer) -> SiteSpec | None:
    """The layer's stochastic behaviour, or None for a deterministic layer."""
    cls, cfg = layer.class_name, layer.config
    if layer.container and not (cls in RECURRENT_CLASSES or cls in ATTENTION_CLASSES):
        return None  # a wrapper or nested model: its children are classified instead
    stock = always_on_stock(layer)
    if stock is not None:
        spec = _stock_spec(stock, cfg)
        if spec is None:  # e.g. an always-on LSTM saved with rates 0
            return None
        return SiteSpec(spec.kind, spec.rate, spec.recurrent_rate, spec.stddev, True, False,
                        "dropctl always-on layer: acts in every phase")
    if cls == "Lambda":
        info = analyze_lambda({"class_name": cls, "config": cfg})
        if not (info.is_dropout or info.is_noise):
            return None
        what = "dropout" if info.is_dropout else "Gaussian noise"
        rate, stddev = (info.rate, None) if info.is_dropout else (None, info.rate)
        if info.phase == "training":
            return SiteSpec(SiteKind.LAMBDA, rate, None, stddev, False, False,
                            f"Lambda {what} inside a training-phase switch: acts only in "
                            f"training (rate from {info.rate_source or 'nowhere'})")
        if info.phase == "unknown":
            return SiteSpec(SiteKind.LAMBDA, rate, None, stddev, False, True,
                            f"Lambda {what} behind control flow dropctl cannot read: "
                            "when it acts is unknown")
        return SiteSpec(SiteKind.LAMBDA, rate, None, stddev, True, False,
                        f"Lambda {what} (rate from {info.rate_source or 'nowhere'})"
                        if info.is_dropout else "Lambda Gaussian noise")
    if layer.trusted:
        spec = _stock_spec(cls, cfg)
        if spec is not None:
            return spec
        module_root = (layer.module or "").split(".", 1)[0]
        if module_root in ("keras_hub", "keras_nlp", "keras_cv"):
            rate = _num(cfg, "dropout", "dropout_rate", "attention_dropout", "drop_rate",
                        "drop_path_rate")
            if rate:
                kind = (SiteKind.ATTENTION
                        if any(w in cls.lower() for w in ("attention", "transformer"))
                        else SiteKind.DROPOUT)
                return SiteSpec(kind, rate, None, None, False, False,
                                f"{module_root} layer with a dropout parameter")
        return None
    # A custom class: its name or rate-like parameters suggest randomness, its code is unknown.
    lowered = cls.lower().replace("_", "")
    rate = _num(cfg, *RATE_KEYS, "dropout")
    stddev = _num(cfg, "stddev", "sigma")
    if any(w.replace("_", "") in lowered for w in DROPOUT_WORDS) or rate or stddev:
        kind = SiteKind.CUSTOM
        return SiteSpec(kind, rate, _num(cfg, "recurrent_dropout"), stddev, False, True,
                        "custom class: behaviour unknown without its code")
    return None


def _v(version: tuple[int, int, int]) -> str:
    return ".".join(str(p) for p in version[:2])


@dataclass(frozen=True)
class Phases:
    """When a site acts under each way of running the model."""

    in_fit: bool
    in_predict: Phase
    in_predict_keras2: Phase
    in_call: Phase
    note: str | None


def phases(layer: Layer, spec: SiteSpec, keras: tuple[int, int, int] = (3, 15, 0)) -> Phases:
    """Apply KERAS_NOTES.md section 1 to one site for Keras ``keras`` (see the module docstring).

    The version-dependent rules come from :data:`dropctl.reader.versions.BEHAVIOURS`.
    """
    from dropctl.reader.versions import applies

    # Exactly zero (or absent) everywhere; NaN or an infinite rate is not a no-op (DC303).
    noop = spec.kind is not SiteKind.CUSTOM and all(
        v is None or v == 0 for v in (spec.rate, spec.recurrent_rate, spec.stddev)
    )
    if spec.unknown:
        return Phases(True, Phase.UNKNOWN, Phase.UNKNOWN, Phase.UNKNOWN, spec.note)
    if noop:
        return Phases(False, Phase.NEVER, Phase.NEVER, Phase.NEVER, "rate 0: a no-op")
    if spec.always_on:
        keras2 = Phase.ALWAYS if spec.kind is SiteKind.LAMBDA else Phase.UNKNOWN
        return Phases(True, Phase.ALWAYS, keras2, Phase.ALWAYS, spec.note)
    if layer.pin is True:
        where = "" if layer.pin_from == layer.path else f" (inherited from {layer.pin_from})"
        if applies("pin-wins", keras) or applies("pin-honoured-keras2", keras):
            return Phases(True, Phase.ALWAYS, Phase.ALWAYS, Phase.ALWAYS,
                          f"training=True pinned{where}: honoured by Keras {_v(keras)}, "
                          "predict() included")
        return Phases(
            True, Phase.NEVER, Phase.ALWAYS, Phase.ALWAYS,
            f"training=True pinned{where}: Keras 3 predict() overrides it, Keras 2 honours it",
        )
    if layer.pin is False:
        where = "" if layer.pin_from == layer.path else f" (inherited from {layer.pin_from})"
        if applies("pin-wins", keras) or applies("pin-honoured-keras2", keras):
            return Phases(False, Phase.NEVER, Phase.NEVER, Phase.NEVER,
                          f"training=False pinned{where}: honoured by Keras {_v(keras)}, "
                          "fit() included")
        return Phases(
            True, Phase.NEVER, Phase.NEVER, Phase.NEVER,
            f"training=False pinned{where}: Keras 3 fit() overrides it, Keras 2 never drops",
        )
    return Phases(True, Phase.NEVER, Phase.NEVER, Phase.NEVER, spec.note)
