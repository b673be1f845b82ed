"""``dropctl export`` end to end: check, load, trace, write to a temporary OUT, verify, publish.

OUT appears only after its own runtime verified it (:mod:`dropctl.deploy.verify`): a failed
verification raises :class:`~dropctl.errors.VerificationError` (exit 1) and nothing is written,
like ``convert``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.deploy.plan import ExportFormat, ExportMode, ExportReport, check_paths, output_keys
from dropctl.errors import UnsupportedModelError, UsageError
from dropctl.fileio import clean_stale_temps


def export(src: str | os.PathLike[str], dst: str | os.PathLike[str], fmt: ExportFormat | str,
           mode: ExportMode | str, *, samples: int = 1, sites: str | None = None,
           force: bool = False, verify: bool = True, seed: int = 0,
           custom_objects: Sequence[str] = (),
           calibration: str | os.PathLike[str] | None = None) -> ExportReport:
    """Write ``src`` as ``fmt`` whose one call does ``mode`` (see :mod:`dropctl.export`)."""
    try:
        fmt = ExportFormat(fmt)
    except ValueError:
        raise UsageError(f"unknown --format {fmt!r}: use savedmodel, onnx, litert or "
                         "openvino") from None
    try:
        mode = ExportMode(mode)
    except ValueError:
        raise UsageError(f"unknown mode {mode!r}: use mc, perma or standard") from None
    if mode is ExportMode.MC and not 2 <= samples <= 4096:
        raise UsageError(f"--mc T needs 2 <= T <= 4096, got {samples}")
    src_p, dst_p = Path(src), Path(dst)
    clean_stale_temps(dst_p)
    check_paths(src_p, dst_p, fmt, force=force)
    fit, notes = _calibration(calibration, src_p, mode, samples, sites)
    if fit is not None and sites is None:
        sites = fit.sites  # the sites the calibration's MC switched on
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        raise UsageError("dropctl export builds TensorFlow graphs: run it with "
                         "KERAS_BACKEND=tensorflow (the exported file needs no Keras)")
    from dropctl.deploy import build, files, writers
    from dropctl.mc.engine import resolve_inputs, resolve_model
    from dropctl.mc.metrics import looks_like_probabilities
    from dropctl.runtime.loader import load

    loaded = load(os.fspath(src_p), custom_objects=custom_objects)
    model, rescues = resolve_model(loaded)
    engine = build.ExportEngine(model, sites=sites)
    switched = tuple(s.path for s in engine.sites if s.switched)
    if mode is not ExportMode.STANDARD and not switched:
        raise UnsupportedModelError(f"{src_p} has no stochastic site to switch on; export "
                                    "--standard (nothing to sample)")
    from dropctl.deploy.verify import VERIFY_INPUTS

    arrays = resolve_inputs(model, None, VERIFY_INPUTS, seed)
    with engine:
        engine.set_all("off")
        det = engine.single(list(arrays))
        engine.lift_unreached()  # after a deterministic pass (see Engine._lift)
        switched = tuple(s.path for s in engine.sites if s.switched)
        names = _names(model, len(det))
        classifier = [looks_like_probabilities(d.numpy() if hasattr(d, "numpy") else d)
                      for d in det]
        fits = None
        if fit is not None:
            from dropctl.deploy.calibration import kind, matched_fits

            fits = matched_fits(fit, names, classifier, [tuple(np.shape(d)) for d in det])
        graph = build.build_graph(engine, mode, samples, names, classifier, fmt, fits)
    keys = output_keys(names, classifier, mode,
                       None if fits is None else [kind(f) for f in fits])
    flat = list(graph.keys)
    out_keys, k = [], 0
    for per in keys:
        out_keys.append(flat[k:k + len(per)])
        k += len(per)
    tmp = files.temp_target(dst_p, fmt)
    written = files.written_file(tmp, fmt)
    try:
        if fmt is ExportFormat.SAVEDMODEL:
            tmp.rmdir()  # the writer creates the directory
        writers.WRITERS[fmt](graph, model, written)
        verification = None
        if verify:
            from dropctl.deploy.verify import verify_export

            verification = verify_export(fmt, written, mode, samples, model, arrays,
                                         [s.name for s in graph.inputs], out_keys, sites=sites,
                                         seed=seed, traced_random=graph.random_ops,
                                         display=str(dst_p), calibration=fit)
        size = files.size_of(tmp)
        if fmt is ExportFormat.SAVEDMODEL:
            files.publish_dir(tmp, dst_p, force=force)
        elif fmt is ExportFormat.OPENVINO:
            files.publish_ir(tmp, dst_p, force=force)
        else:
            from dropctl.fileio import publish

            publish(tmp, dst_p, force=force)
    finally:
        if tmp.exists():
            files.discard(tmp)
    warnings = [f"loader: {r}" for r in rescues] + notes
    warnings += [f"{s.path}: {s.note}" for s in engine.sites if s.selected and s.note]
    return ExportReport(str(src), str(dst), fmt, mode,
                        samples if mode is ExportMode.MC else (0 if mode is ExportMode.STANDARD
                                                               else 1),
                        () if mode is ExportMode.STANDARD else switched,
                        tuple((s.name, s.shape, s.dtype) for s in graph.inputs), graph.keys,
                        verification, size, tuple(warnings),
                        None if calibration is None else str(calibration),
                        None if fit is None else fit.coverage)


def _calibration(path: str | os.PathLike[str] | None, src: Path, mode: ExportMode,
                 samples: int, sites: str | None) -> tuple[Any, list[str]]:
    """(the calibration fit bound to ``src``, notes), or (None, []) without ``--calibration``.

    Read before TensorFlow loads: a file for another model is one line and nothing written.
    """
    if path is None:
        return None, []
    if mode is not ExportMode.MC:
        raise UsageError("--calibration needs --mc T: the calibration applies to the MC mean "
                         "and std of T passes")
    from dropctl.mc.calibration import check_model, read_calibration

    fit = read_calibration(Path(path))
    check_model(fit, src, Path(path))
    if sites is not None and fit.sites is not None and sites != fit.sites:
        raise UsageError(f"--sites {sites!r} differs from the calibration's sites {fit.sites!r}")
    notes = []
    if samples != fit.samples:
        notes.append(f"the calibration was fitted on T={fit.samples} passes; this export makes "
                     f"T={samples} (the temperature and thresholds assume T={fit.samples})")
    return fit, notes


def _names(model: object, count: int) -> list[str]:
    from dropctl.mc.engine import _output_names

    return _output_names(model, count)
