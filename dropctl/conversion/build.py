"""The Keras half of ``dropctl convert``: build the rewritten model, copy weights, write, verify.

:mod:`dropctl.convert` decides *what* changes on the config tree without Keras; this module
imports Keras (inside functions), builds the model from the rewritten config with ``safe_mode``
on, copies every weight tensor from the source model layer by layer (checked bit for bit),
carries the compile config over when Keras accepts it, saves to a temporary file next to OUT,
verifies that file by reloading it and predicting on a seeded probe batch, and only then renames
it onto OUT. A failed verification deletes the temporary file: OUT never appears.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.conversion.plan import CUSTOM_LEFT_NOTE, Action, ConvertMode, Verification
from dropctl.errors import (
    DropctlError,
    InputDataError,
    UnsupportedModelError,
    VerificationError,
)
from dropctl.fileio import publish, temp_path, umask_mode
from dropctl.mc.inputs import flat_outputs, model_input_specs, synthetic_inputs
from dropctl.reader.formats import is_keras3_config
from dropctl.reader.rescue import rescue_config
from dropctl.runtime import compat, keras_module
from dropctl.runtime.loader import build_from_config, load_artifact, one_line

TOLERANCE = 1e-6
"""Allowed |OUT - IN| on the probe batch, relative to max(1, max|IN|)."""
PERMA_PASSES = 32
PROBE_BATCH = 8



def _keras() -> Any:
    return keras_module("dropctl convert")


def build_model(config: dict[str, Any], artifact: Any, custom_objects: Sequence[str] = ()) -> Any:
    """A Keras model from a (rewritten) config: the runtime's one build path, rescues applied
    (``custom_objects``: the user's ``--custom-objects`` sources)."""
    from dropctl.runtime.custom import import_custom_objects

    keras3 = is_keras3_config(artifact)
    cfg, _ = rescue_config(config, keras3=keras3)
    return build_from_config(cfg, keras3, import_custom_objects(custom_objects))


def load_source(artifact: Any, custom_objects: Sequence[str] = ()) -> Any:
    """IN as a Keras model through the shared loader: safe mode, Lambda dropout rebuilt as
    AlwaysDropout, weights checked complete; nothing stored in the file is executed."""
    return load_artifact(artifact, custom_objects=custom_objects).model


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


def transfer_weights(source: Any, target: Any) -> int:
    """Copy every weight tensor from ``source`` to ``target`` by layer path; returns the count.

    Raises when a layer is missing on either side or a shape differs; checks bit equality after.
    """
    src, dst = weighted_layers(source), weighted_layers(target)
    if set(src) != set(dst):
        missing = sorted(set(src) ^ set(dst))
        raise UnsupportedModelError(
            f"weights do not line up between IN and the rebuilt model at {', '.join(missing[:3])}")
    count = 0
    for path, layer in dst.items():
        values = src[path].get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if shapes != [tuple(v.shape) for v in values]:
            raise UnsupportedModelError(f"weight shapes of {path} differ after the rebuild")
        layer.set_weights(values)
        count += len(values)
    mismatch = first_weight_mismatch(source, target)
    if mismatch:
        raise UnsupportedModelError(f"weights of {mismatch} changed in transfer")
    return count


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


def _compile_like(model: Any, artifact: Any) -> tuple[bool | None, str | None]:
    """Carry IN's compile config over; (compiled?, warning)."""
    try:
        if is_keras3_config(artifact):
            cc = artifact.model_config.get("compile_config")
            if not cc:
                return None, None
            model.compile_from_config(cc)
        else:
            if not artifact.training_config:
                return None, None
            model.compile(**compat.compile_args_from_training_config(artifact.training_config))
    except Exception as exc:  # noqa: BLE001
        return False, f"compile config not carried over (Keras refused it: {one_line(exc)})"
    return True, None


# ---- verification -----------------------------------------------------------------------------
def _all_layers(model: Any) -> list[Any]:
    return compat.all_layers(model)


_RANDOM_ATTRS = ("rate", "stddev", "dropout", "recurrent_dropout", "_dropout")


@contextlib.contextmanager
def randomness_off(model: Any) -> Iterator[None]:
    """Temporarily zero every rate/stddev of the model's stochastic layers (and RNN cells)."""
    keras = _keras()
    DropoutRNNCell = compat.dropout_rnn_cell_class()  # noqa: N806 - a class

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
        out = keras.models.load_model(path, compile=False, safe_mode=True,
                                      custom_objects=custom_objects)
    except Exception as exc:  # noqa: BLE001
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
        if always_on:  # unselected always-on sites remain: compare with them switched off
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


# ---- writing ----------------------------------------------------------------------------------
FREE_SPACE_MARGIN = 16 * 1024 * 1024


def _check_free_space(model: Any, dst: Path) -> None:
    """Refuse before writing when the disk cannot hold OUT: libhdf5 handles a full disk badly
    (measured: segfaults at 4 of 9 free-space levels), so we never let it get there."""
    import shutil

    need = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    need = need * 2 + FREE_SPACE_MARGIN  # the file plus HDF5/zip overhead, generously
    try:
        free = shutil.disk_usage(dst.parent if str(dst.parent) else ".").free
    except OSError:
        return
    if free < need:
        raise InputDataError(f"cannot write {dst}: {free:,} bytes free on its disk, about "
                             f"{need:,} needed; nothing written")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM while writing raises SystemExit(143), so the temporary file is removed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_and_write(plan: Any, report: Any, dst: Path, *, verify: bool,
                    probe_seed: int, force: bool = False,
                    custom_objects: Sequence[str] = (), sites: str | None = None,
                    custom: Mapping[str, Any] | None = None) -> Any:
    """Build OUT from ``plan``, copy weights, save to a temporary file, verify, publish.

    Without ``force`` OUT is created atomically and never replaced (:func:`dropctl.fileio.publish`);
    the temporary file is removed on every exit path Python sees (errors, Ctrl-C, SIGTERM), and
    one left by a killed run is removed by the next run (:func:`dropctl.conversion.run.convert`
    calls :func:`dropctl.fileio.clean_stale_temps` first).
    A ``--perma`` that would leave ``predict()`` deterministic is refused before anything is built.
    """
    expected = any(c.action is Action.ALWAYS_ON and (c.rate_after or 0) > 0
                   for c in report.changes)
    if report.mode is ConvertMode.PERMA and not expected:
        left = "; ".join(report.warnings)
        raise VerificationError(
            "--perma would change nothing: no selected site becomes always-on with a rate "
            "above 0, so OUT's predict() would stay deterministic; nothing written"
            + (f" ({left})" if left else ""))
    source = load_source(plan.artifact, custom_objects)
    model = build_model(plan.config, plan.artifact, custom_objects)
    transfer_weights(source, model)
    compiled, warning = _compile_like(model, plan.artifact)
    warnings = report.warnings + ((warning,) if warning else ())
    _check_free_space(model, dst)
    with _sigterm_as_exit():
        return _write_verify_publish(model, source, plan, report, dst, warnings, compiled,
                                     verify=verify, probe_seed=probe_seed, force=force,
                                     custom_objects=custom_objects, sites=sites,
                                     custom=custom)


def _saved_bytes(model: Any, suffix: str) -> bytes:
    """The saved model as bytes, built in memory (:func:`dropctl.runtime.compat.saved_bytes`).

    libhdf5 writing to a full disk leaves h5py objects that crash the interpreter when they
    are freed (measured: segfaults at 4 of 9 free-space levels), so HDF5 never writes to disk
    here: only our own plain write does, whose errors are ordinary OSErrors.
    """
    try:
        return compat.saved_bytes(model, suffix)
    except Exception as exc:  # noqa: BLE001 - Keras refuses to serialize something
        raise InputDataError(f"cannot save the converted model: {one_line(exc)}") from None


def _write_verify_publish(model: Any, source: Any, plan: Any, report: Any, dst: Path,
                          warnings: tuple[str, ...], compiled: bool | None, *, verify: bool,
                          probe_seed: int, force: bool,
                          custom_objects: Sequence[str] = (), sites: str | None = None,
                          custom: Mapping[str, Any] | None = None) -> Any:
    custom = custom or {}
    tmp = temp_path(dst)
    try:
        data = _saved_bytes(model, dst.suffix.lower())
        dropped: list[str] = []
        if report.target_keras:
            from dropctl.conversion.target import rewrite_for_target

            try:
                data, dropped = rewrite_for_target(data, dst.suffix.lower(), report.target_keras)
            except DropctlError:
                raise
            except Exception as exc:  # noqa: BLE001 - a file we just wrote, read back
                raise InputDataError(f"cannot rewrite {dst} for Keras {report.target_keras}: "
                                     f"{one_line(exc)}") from None
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # disk full, quota, file-size limit: plain I/O, one clean error
            raise InputDataError(f"cannot write {dst}: {exc.strerror or exc}") from None
        del data
        verification = None
        if verify:
            x = probe_inputs(source, probe_seed)
            ref = reference_prediction(source, x)
            expected = any(c.action is Action.ALWAYS_ON and (c.rate_after or 0) > 0
                           for c in report.changes)
            from dropctl.runtime.custom import import_custom_objects

            changed = {c.path for c in report.changes}
            verification = verify_file(
                tmp, source, x, ref, stochastic_expected=expected,
                perma=report.mode is ConvertMode.PERMA,
                custom_objects=import_custom_objects(custom_objects),
                left_alone=[f"{c.path} ({c.class_before})" for c in report.changes
                            if c.action is Action.SKIPPED and c.note == CUSTOM_LEFT_NOTE],
                kept_always_on=any(v.always_on for p, v in custom.items()
                                   if v.stock is not None and p not in changed))
            contradiction = static_contradiction(tmp, plan.artifact, report, sites)
            if contradiction:
                verification = dataclasses.replace(
                    verification, passed=False,
                    message=f"read back statically, OUT {contradiction}")
            if not verification.passed:
                raise VerificationError(
                    f"verification of {dst} failed, nothing written: {verification.message}")
        os.chmod(tmp, umask_mode())  # mkstemp made it 0600; Keras itself writes 0666 & ~umask
        publish(tmp, dst, force=force)
    except DropctlError:
        tmp.unlink(missing_ok=True)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dataclasses.replace(report, warnings=warnings, written=True, compiled=compiled,
                               verification=verification, target_dropped=tuple(dropped))
