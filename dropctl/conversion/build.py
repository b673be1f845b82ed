"""The Keras half of ``dropctl convert``: build the rewritten model, copy weights, write, verify.

:mod:`dropctl.convert` decides *what* changes on the config tree without Keras; this module
imports Keras (inside functions), builds the model from the rewritten config with ``safe_mode``
on, copies every weight tensor from the source model layer by layer (checked bit for bit),
carries the compile config over when Keras accepts it, saves to a temporary file next to OUT,
verifies that file by reloading it and predicting on a seeded probe batch
(:mod:`dropctl.conversion.verify`), and only then renames
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

from dropctl.conversion.report import CUSTOM_LEFT_NOTE, Action, ConvertMode
from dropctl.conversion.verify import (
    first_weight_mismatch,
    probe_inputs,
    reference_prediction,
    static_contradiction,
    verify_file,
    weighted_layers,
)
from dropctl.errors import (
    DropctlError,
    InputDataError,
    UnsupportedModelError,
    VerificationError,
    one_line,
)
from dropctl.fileio import publish, temp_path, umask_mode
from dropctl.mc.inputs import inputs_rejected
from dropctl.reader.formats import is_keras3_config
from dropctl.reader.rescue import rescue_config
from dropctl.runtime import compat, keras_module
from dropctl.runtime.loader import build_from_config, load_artifact


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
    except Exception as exc:  # noqa: BLE001 - Keras refusing a compile config: a warning, not fatal
        return False, f"compile config not carried over (Keras refused it: {one_line(exc)})"
    return True, None


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

    def stop(signum: int, _frame: Any) -> None:  # signal.signal passes the frame
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
            try:
                ref = reference_prediction(source, x)
            except DropctlError:
                raise
            except Exception as exc:  # noqa: BLE001 - Keras and its backends raise any type for inputs a model cannot take
                raise inputs_rejected(
                    source, x, exc, None, f"nothing written; convert --no-verify writes {dst} "
                    "without reloading it and comparing predictions") from None
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
