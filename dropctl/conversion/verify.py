"""Verifying a converted file in the consumer's runtime: reload OUT with Keras and predict.

:func:`verify_file` judges the temporary file :mod:`dropctl.conversion.build` wrote: reloaded by
``keras.models.load_model`` (safe mode), weights compared with IN bit for bit, then a seeded probe
batch through ``predict()``: ``--standard``/``--strip`` must be deterministic and equal IN's
prediction with every stochastic site switched off (:func:`randomness_off`); ``--perma`` must
equal it with randomness off and be stochastic with it on. :func:`static_contradiction` reads
OUT back with dropctl's own static reader, so "verified" needs both views to agree. Imports Keras
(inside functions, through :mod:`dropctl.runtime`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.conversion.report import Action, ConvertMode, Verification
from dropctl.errors import DropctlError
from dropctl.mc.inputs import flat_outputs, model_input_specs, synthetic_inputs
from dropctl.runtime import compat, keras_module
from dropctl.runtime.loader import one_line

TOLERANCE = 1e-6
"""Allowed |OUT - IN| on the probe batch, relative to max(1, max|IN|)."""
PERMA_PASSES = 32
PROBE_BATCH = 8


def _keras() -> Any:
    return keras_module("dropctl convert")


# ---- weights ----------------------------------------------------------------------------------
def weighted_layers(model: Any, prefix: str = "") -> dict[str, Any]:
    """Path -> layer for every layer owning weights, descending into nested models."""
    keras = _keras()
    out: dict[str, Any] = {}
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model) and hasattr(layer, "layers") and layer.layers:
            out.update(weighted_layers(layer, path + "/"))
        elif layer.weights:
            out[path] = layer
    return out




def first_weight_mismatch(a: Any, b: Any) -> str | None:
    """Path of the first layer whose weights differ in dtype, shape or any bit; else None."""
    la, lb = weighted_layers(a), weighted_layers(b)
    if set(la) != set(lb):
        return sorted(set(la) ^ set(lb))[0]
    for path, layer in la.items():
        wa, wb = layer.get_weights(), lb[path].get_weights()
        if len(wa) != len(wb) or any(
                x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes()
                for x, y in zip(wa, wb, strict=True)):
            return path
    return None



# ---- verification -----------------------------------------------------------------------------
def _all_layers(model: Any) -> list[Any]:
    return compat.all_layers(model)


_RANDOM_ATTRS = ("rate", "stddev", "dropout", "recurrent_dropout", "_dropout")


@contextlib.contextmanager
def randomness_off(model: Any) -> Iterator[None]:
    """Temporarily zero every rate/stddev of the model's stochastic layers (and RNN cells)."""
    keras = _keras()
    DropoutRNNCell = compat.dropout_rnn_cell_class()

    kinds = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.GaussianNoise,
             keras.layers.AlphaDropout, keras.layers.MultiHeadAttention,
             keras.layers.GroupQueryAttention, keras.layers.Attention,
             keras.layers.AdditiveAttention, DropoutRNNCell)
    saved: list[tuple[Any, str, Any]] = []
    for layer in _all_layers(model):
        if not isinstance(layer, kinds) or isinstance(layer, keras.layers.RNN):
            continue
        for attr in _RANDOM_ATTRS:
            value = layer.__dict__.get(attr)
            if isinstance(value, int | float) and not isinstance(value, bool) and value:
                saved.append((layer, attr, value))
                object.__setattr__(layer, attr, 0.0)
    model.predict_function = None
    try:
        yield
    finally:
        for layer, attr, value in saved:
            object.__setattr__(layer, attr, value)
        model.predict_function = None


def has_always_on(model: Any) -> bool:
    from dropctl.reader.layer_names import ALWAYS_ON_CLASSES

    return any(type(layer).__name__ in ALWAYS_ON_CLASSES for layer in _all_layers(model))


def probe_inputs(model: Any, seed: int, batch: int = PROBE_BATCH) -> list[np.ndarray]:
    """A seeded probe batch from the model's input spec (the one synthetic-input generator)."""
    return synthetic_inputs(model_input_specs(model), batch, seed)


def _predict(model: Any, x: list[np.ndarray]) -> np.ndarray:
    batch = int(x[0].shape[0])
    out = model.predict(compat.as_model_inputs(model, x), batch_size=batch, verbose=0)
    return np.concatenate([o.astype(np.float64).reshape(batch, -1)
                           for o in flat_outputs(out)], axis=1)


def reference_prediction(source: Any, x: list[np.ndarray]) -> np.ndarray:
    """IN's deterministic prediction: ``predict()`` with every stochastic site switched off."""
    with randomness_off(source):
        return _predict(source, x)


def static_contradiction(out_path: Path, artifact: Any, report: Any,
                         sites: str | None = None) -> str | None:
    """What OUT, read back with dropctl's own static reader, says against the requested mode
    (None: it agrees). The runtime measurement alone can be fooled by a file whose names
    disagree, so ``convert`` prints "verified" only when both agree:

    * ``--standard`` / ``--strip``: no site acts under ``predict()`` except an always-on site of
      IN that ``--sites`` did not select;
    * ``--perma``: every site the plan made always-on (rate > 0) acts under ``predict()``;
    * always: no class whose stored names disagree or that no Keras builds (DC501, DC502).
    """
    from dropctl.reader.formats import read_model
    from dropctl.reader.inspection import report_from_artifact
    from dropctl.reader.report import Phase
    from dropctl.reader.walker import bidirectional_aliases, site_matches

    try:
        out = report_from_artifact(read_model(out_path), include_layers=False)
    except DropctlError as exc:
        return f"cannot be read: {exc}"
    forged = [f for f in out.findings if f.code in ("DC501", "DC502")]
    if forged:
        return f"has {forged[0].code} at {forged[0].path}: {forged[0].message[:160]}"
    acting = {s.path for s in out.sites if s.in_predict is Phase.ALWAYS}
    if report.mode is ConvertMode.PERMA:
        wanted = {c.path for c in report.changes
                  if c.action is Action.ALWAYS_ON and (c.rate_after or 0) > 0}
        missing = sorted(wanted - acting)
        return (f"does not act under predict() at {', '.join(missing[:5])} after --perma"
                if missing else None)
    source = report_from_artifact(artifact, include_layers=False)

    def selected(path: str) -> bool:
        return sites is None or site_matches(path, sites, bidirectional_aliases(path))

    kept = {s.path for s in source.sites if s.in_predict is Phase.ALWAYS and not selected(s.path)}
    extra = sorted(acting - kept)
    return (f"still acts under predict() at {', '.join(extra[:5])} after --{report.mode.value}"
            if extra else None)


def verify_file(path: Path, source: Any, x: list[np.ndarray], ref: np.ndarray,
                *, stochastic_expected: bool, perma: bool,
                custom_objects: dict[str, Any] | None = None,
                left_alone: Sequence[str] = (), kept_always_on: bool = False) -> Any:
    """Reload ``path`` and check it against IN; returns a :class:`Verification`.

    ``left_alone``: custom sites convert kept because it cannot tell what they do (named in a
    failure, which they may cause); ``kept_always_on``: unselected custom subclasses measured to
    be always-on stock layers remain in OUT (switched off for the comparison like dropctl's own).
    """
    keras = _keras()
    try:
        # fresh name counters, as IN was loaded (runtime.loader): auto-named layers
        # (layer_normalization_15) must get the same names for the weights to pair up
        with compat.fresh_layer_names():
            out = keras.models.load_model(path, compile=False, safe_mode=True,
                                          custom_objects=custom_objects)
    except Exception as exc:  # noqa: BLE001 - any reload failure is a failed verification
        return Verification(False, "stochastic" if perma else "deterministic", float("inf"),
                            TOLERANCE, 0, False, message=f"OUT does not reload: {one_line(exc)}")
    tol = TOLERANCE * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)
    kind = "stochastic" if perma else "deterministic"
    mismatch = first_weight_mismatch(source, out)
    if mismatch:
        return Verification(False, kind, float("inf"), tol, 0, False,
                            message=f"weights of {mismatch} differ from IN")
    always_on = has_always_on(out) or kept_always_on
    if not perma:
        a = _predict(out, x)
        b = _predict(out, x)
        stochastic = not np.array_equal(a, b)
        # Compared as IN's reference was made, randomness off: that also switches off the
        # unselected always-on sites that remain, and it puts every MultiHeadAttention on the
        # same kernel as IN's reference (Keras takes the fused dot_product_attention path at
        # dropout 0, einsum + softmax above it: ~1e-6 apart in float32, which failed a keras_hub
        # DepthAnything's --rate by 6.7e-06 against a 4.8e-06 tolerance). Determinism is
        # measured on OUT as it is, above.
        with randomness_off(out):
            a = _predict(out, x)
        diff = float(np.max(np.abs(a - ref))) if ref.size else 0.0
        always_on_ok = always_on
        ok = diff <= tol and (not stochastic or always_on_ok)
        msg = (f"predict() deterministic and equal to IN within {tol:.1e} "
               f"(max |diff| {diff:.2e})" if ok else
               f"predict() differs from IN's deterministic prediction by {diff:.3g}"
               if diff > tol else "predict() on OUT is not deterministic")
        if not ok and left_alone:
            msg += (f", with custom layers left as they are (dropctl cannot tell what they "
                    f"do) at {', '.join(left_alone[:3])}")
        return Verification(ok, kind, diff, tol, 2, stochastic, message=msg)
    with randomness_off(out):
        det = _predict(out, x)
    diff = float(np.max(np.abs(det - ref))) if ref.size else 0.0
    samples = _sample(out, x, PERMA_PASSES)
    stochastic = bool(any(not np.array_equal(samples[0], s) for s in samples[1:]))
    mean, std = samples.mean(axis=0), samples.std(axis=0)
    dev = float(np.mean(np.abs(mean - ref)))
    mean_std = float(np.mean(std))
    # A loose sanity bound: MC mean need not equal the deterministic output (Jensen), but it
    # must be of its order; the exact equivalence is the randomness-off check above.
    bound = 0.5 * float(np.mean(np.abs(ref))) + 6 * mean_std / np.sqrt(PERMA_PASSES) + tol
    problems = []
    if diff > tol:
        problems.append(f"with randomness off OUT differs from IN by {diff:.3g}")
    if stochastic_expected and not stochastic:
        problems.append("predict() on OUT is deterministic")
    if dev > bound:
        problems.append(f"MC mean is {dev:.3g} away from the deterministic prediction")
    if problems:
        msg = "; ".join(problems)
        if left_alone:
            msg += (f", with custom layers left as they are (dropctl cannot tell what they "
                    f"do) at {', '.join(left_alone[:3])}")
    elif not stochastic:
        msg = (f"no selected site has a positive rate, so predict() stays deterministic; "
               f"equal to IN (max |diff| {diff:.2e})")
    else:
        msg = (f"predict() stochastic (mean std {mean_std:.3g} over {PERMA_PASSES} passes), "
               f"MC mean within {dev:.3g} of the deterministic prediction; with randomness "
               f"off equal to IN (max |diff| {diff:.2e})")
    return Verification(not problems, kind, diff, tol, PERMA_PASSES, stochastic,
                        mean_abs_dev=dev, mean_std=mean_std, message=msg)


def _sample(model: Any, x: list[np.ndarray], passes: int) -> np.ndarray:
    """``passes`` plain predict() passes, stacked in one batch when the batch size is free."""
    batch = int(x[0].shape[0])
    if model.inputs and model.inputs[0].shape[0] is None:
        tiled = [np.concatenate([a] * passes) for a in x]
        out = _predict(model, tiled)
        return out.reshape(passes, batch, -1)
    return np.stack([_predict(model, x) for _ in range(passes)])
