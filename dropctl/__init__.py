"""dropctl: the dropout behaviour of saved Keras models.

Public API (TensorFlow is imported only by the functions that run a model)::

    dropctl.inspect(path)            -> InspectReport   (static, never imports TensorFlow)
    dropctl.check(paths)             -> CheckReport     (the CI gate; static unless probe=True)
    dropctl.diff(model, x)           -> DiffResult      (deterministic vs stochastic runs)
    dropctl.convert(src, dst, mode=) -> ConvertReport   (perma / standard / strip)
    dropctl.mc_predict(model, x)     -> MCReport        (Monte Carlo dropout, an MCResult)
    dropctl.score_shards(m, in, out) -> ShardRun        (mc-predict --output-dir, resumable)
    dropctl.evaluate(mc_result, y)   -> Evaluation      (selective, OOD, intervals; numpy)
    dropctl.calibrate(path, x, y)    -> CalibrateRun    (temperature, conformal sets/intervals)
    dropctl.plot_mc(mc_result)       -> Plots           (matplotlib Figures by name)
    dropctl.load_model(path)         -> keras.Model     (safe mode, PermaDropout rescued)

Every argument is an explicit keyword (IDEs and mypy see them all). In Jupyter or Colab the
reports display as the CLI's tables (``_repr_html_``; ``__rich__`` for ``rich.print``), and
``progress=True`` shows a bar in the cell. Plots use matplotlib's object API: the session's
backend is never switched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropctl import display as _display
from dropctl._version import __version__


def _html(result: Any) -> str:
    from dropctl.render.notebook import to_html

    return to_html(result)


def _rich(result: Any) -> Any:
    from dropctl.render.notebook import renderable

    return renderable(result)


# The results' _repr_html_/__rich__ draw through the rendering layer, imported only on display
# (see dropctl.display: the facade wires it so that no import runs up a floor).
_display.install(html=_html, rich=_rich)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dropctl.conversion.report import ConvertReport
    from dropctl.deploy.plan import ExportReport
    from dropctl.mc.calibrate import CalibrateRun
    from dropctl.mc.diff import DiffResult
    from dropctl.mc.evaluation import Evaluation
    from dropctl.mc.results import MCResult
    from dropctl.mc.run import MCReport
    from dropctl.mc.shards import ShardOutcome, ShardRun
    from dropctl.policy.results import CheckReport
    from dropctl.reader.report import InspectReport
    from dropctl.reader.versions import KerasTarget
    from dropctl.render.plots import Plots

    Progress = bool | Callable[[int, int], None] | None

__all__ = ["__version__", "calibrate", "check", "convert", "diff", "evaluate", "export", "inspect",
           "load_model", "mc_predict", "plot_mc", "score_shards"]


def inspect(path: Any, *, include_layers: bool = True, config: Any = None,
            keras: str | KerasTarget | None = None) -> InspectReport:
    """Read ``path`` statically and report every stochastic site and finding.

    ``path`` may be a SavedModel or preset directory; ``config`` names the architecture
    JSON of a weights-only ``*.weights.h5``. Never imports TensorFlow or Keras and never
    executes anything from the file. Raises :class:`dropctl.errors.ArtifactError` for
    unreadable artifacts. Verdicts are for Keras ``keras`` (e.g. ``"3.16"``, or
    ``"installed"``); default: ``dropctl.reader.versions.DEFAULT_TARGET`` (3.15), whatever is
    installed.
    """
    from dropctl.reader.inspection import inspect_path

    return inspect_path(path, include_layers=include_layers, config=config, keras=keras)


def check(paths: Any, *, config: Any = None, probe: bool | None = None, jobs: int | None = None,
          fail_on: str | None = None, inference: str | None = None,
          max_rate: float | None = None, min_rate: float | None = None,
          require_sites: int | None = None, forbid_lambda: bool | None = None,
          frozen_active: str | None = None, pinned_training: str | None = None,
          opaque: str | None = None, unsafe_modules: str | None = None,
          findings: Mapping[str, str] | None = None, keras: str | Sequence[str] | None = None,
          settings: Mapping[str, Any] | None = None, custom_objects: Sequence[str] = (),
          pre_commit: bool = False, debug: bool = False, progress: Progress = None
          ) -> CheckReport:
    """Run ``dropctl check`` on files, directories or globs and return the typed report.

    ``config``: a pyproject.toml/dropctl.toml path, a loaded :class:`dropctl.policy.config.Config`,
    or None to discover one from the working directory (``False``: defaults only). The policy
    keywords override the file's ``[tool.dropctl]`` keys of the same name (README, "Check
    rules"): ``inference`` "off" / "on" / "any"; ``frozen_active``, ``pinned_training``,
    ``opaque``, ``unsafe_modules`` "error" / "warn" / "ignore"; ``findings`` per finding code;
    ``keras`` the deployed Keras versions. ``settings``: any other ``[tool.dropctl]`` keys (the
    CLI's ``--set KEY=VALUE``), overridden by the keywords. ``fail_on``: "error" or "warning".
    ``pre_commit``: ``paths`` are the files a commit touched (each checked as the artifact it
    belongs to; none belonging to a model is an empty, passing report). ``debug``: an
    unexpected exception inside one artifact is raised instead of becoming its ERROR result.
    ``report.exit_code`` is the CLI's exit code. Static unless ``probe`` (then
    ``custom_objects`` names the models' own ``.py`` files or modules, imported, i.e. run).
    """
    from dropctl.policy.run import check_paths
    from dropctl.render.progress import progress_reporter

    given = {"inference": inference, "max_rate": max_rate, "min_rate": min_rate,
             "require_sites": require_sites, "forbid_lambda": forbid_lambda,
             "frozen_active": frozen_active, "pinned_training": pinned_training,
             "opaque": opaque, "unsafe_modules": unsafe_modules, "findings": findings,
             "keras": keras}
    merged = {**(settings or {}), **{k: v for k, v in given.items() if v is not None}}
    with progress_reporter(progress, "check") as callback:
        return check_paths(paths, config=config, probe=probe, jobs=jobs, fail_on=fail_on,
                           settings=merged, progress=callback,
                           custom_objects=tuple(custom_objects), pre_commit=pre_commit,
                           debug=debug)


def diff(model_or_path: Any, inputs: Any = None, *, samples: int = 50, seed: int = 0,
         sites: str | None = None, synthetic: int | None = None, batch_size: int | None = None,
         config: Any = None, custom_objects: Sequence[str] = (),
         progress: Progress = None) -> DiffResult:
    """``dropctl diff``: is ``predict()`` deterministic, is ``model(x)``, how far is the MC mean?

    ``model_or_path`` is a path or a loaded ``keras.Model``; ``inputs`` as for
    :func:`mc_predict` (or ``synthetic=N`` seeded inputs); ``config``/``custom_objects`` as
    for :func:`convert`. Returns a :class:`dropctl.mc.diff.DiffResult`, including the sites
    that keep ``predict()`` stochastic.
    """
    from dropctl.mc.diff import diff as _diff
    from dropctl.render.progress import progress_reporter

    with progress_reporter(progress, "diff") as callback:
        return _diff(model_or_path, inputs, samples=samples, seed=seed, sites=sites,
                     synthetic=synthetic, batch_size=batch_size, progress=callback,
                     config=config, custom_objects=tuple(custom_objects))


def convert(src: Any, dst: Any, *, mode: str, rate: float | None = None, sites: str | None = None,
            dry_run: bool = False, force: bool = False, verify: bool = True,
            config: Any = None, target_keras: str | None = None,
            custom_objects: Any = ()) -> ConvertReport:
    """Rewrite ``src`` into ``dst`` with dropout ``mode`` "perma", "standard" or "strip".

    Returns a :class:`dropctl.conversion.report.ConvertReport` (site, before, after, verification).
    Imports TensorFlow unless ``dry_run`` (and, with ``custom_objects``, to measure whether a
    custom class is the Keras dropout layer it extends: :mod:`dropctl.conversion.custom`);
    never executes anything stored in the file.
    ``target_keras``: write a config that Keras version loads (default: the oldest supported).
    ``custom_objects``: ``.py`` files or module names with the model's own classes (their
    code is imported, i.e. run).
    """
    from dropctl.conversion.run import convert as _convert

    return _convert(src, dst, mode, rate=rate, sites=sites, dry_run=dry_run, force=force,
                    verify=verify, config=config, target_keras=target_keras,
                    custom_objects=custom_objects)


def export(src: Any, dst: Any, *, format: str, mode: str = "mc", samples: int = 50,
           sites: str | None = None, force: bool = False, verify: bool = True, seed: int = 0,
           custom_objects: Any = (), calibration: Any = None) -> ExportReport:
    """Write ``src`` as a ``format`` ("savedmodel", "onnx", "litert", "openvino") file for serving.

    ``mode`` "mc": one call runs ``samples`` (T) stochastic passes inside the graph and returns
    ``mean``, ``std`` and, for probability outputs, ``entropy``, ``mutual_information`` and
    ``variation_ratio`` (``name/mean``... for multi-output models); "perma": each call is one
    stochastic sample; "standard": dropout off, no random op. Only the sites ``sites`` selects
    act; BatchNormalization stays in inference. Unless ``verify=False`` the written file runs in
    its own runtime against :func:`mc_predict` first (:class:`dropctl.errors.VerificationError`
    and nothing written on failure). ``calibration``: a ``dropctl calibrate`` file fitted on
    ``src`` (mode "mc" only): each output also returns ``calibrated`` and ``set`` (classifier)
    or ``calibrated``, ``lower`` and ``upper`` (regressor), as ``mc-predict --calibration``.
    Returns an :class:`dropctl.deploy.plan.ExportReport`.
    """
    from dropctl.deploy.run import export as _export

    return _export(src, dst, format, mode, samples=samples, sites=sites, force=force,
                   verify=verify, seed=seed, custom_objects=custom_objects,
                   calibration=calibration)


def load_model(path: Any) -> Any:
    """``keras.Model`` from a .keras/.h5 file, with Keras 3 safe mode on; never runs file code.

    A Lambda ``PermaDropout`` becomes dropctl's ``AlwaysDropout`` with the recovered rate and
    Keras 1/2 leftovers are rewritten (see :mod:`dropctl.runtime.loader`); any other Lambda raises
    :class:`dropctl.errors.UnsupportedModelError` naming the layer.
    """
    from dropctl.runtime.loader import load_model as _load

    return _load(path)


def mc_predict(model_or_path: Any, inputs: Any = None, *, samples: int = 50, seed: int = 0,
               sites: str | None = None, batch_size: int | None = None,
               until_stable: float | None = None, save_samples: bool = False,
               synthetic: int | None = None, labels: Any = None, ood: Any = None,
               synthetic_ood: int | None = None, rank_by: str | None = None,
               top: int | None = None, std_floor: float = 1e-6, calibration: Any = None,
               config: Any = None, custom_objects: Sequence[str] = (),
               progress: Progress = None) -> MCReport:
    """Monte Carlo dropout: T stochastic passes with only the stochastic sites on.

    ``model_or_path`` is a path or a loaded ``keras.Model``; ``inputs`` an array, a list, a
    dict by input name, or a .npy/.npz/.csv file (or ``synthetic=N`` seeded inputs).
    ``sites``: a glob restricting the sites switched on; ``batch_size``: rows per compiled
    forward (default: from a 256 MB budget); ``until_stable``: stop once the largest Monte
    Carlo standard error is below it; ``save_samples``: keep every pass in ``output.samples``.
    What ``mc-predict`` adds, each optional: ``labels`` (a file, one array or a dict by output
    name: reliability and :func:`evaluate`'s metrics), ``ood`` / ``synthetic_ood`` (OOD
    inputs, run the same way), ``rank_by``/``top``, ``std_floor``, ``calibration`` (a
    ``dropctl calibrate`` file fitted on this model). ``config``/``custom_objects``: as for
    :func:`convert`. ``progress``: True for a bar (in the notebook cell under Jupyter/Colab, on
    stderr in a terminal) or a ``callback(done, total)``. Returns a
    :class:`dropctl.mc.run.MCReport`, an ``MCResult`` with the parts asked for; see
    :mod:`dropctl.mc.run`.
    """
    from dropctl.mc.run import run
    from dropctl.render.progress import progress_reporter

    with progress_reporter(progress, "mc-predict") as callback:
        return run(model_or_path, inputs, samples=samples, seed=seed, sites=sites,
                   batch_size=batch_size, until_stable=until_stable, save_samples=save_samples,
                   synthetic=synthetic, labels=labels, ood=ood, synthetic_ood=synthetic_ood,
                   rank_by=rank_by, top=top, std_floor=std_floor, calibration=calibration,
                   config=config, custom_objects=tuple(custom_objects), progress=callback)


def score_shards(model: Any, inputs: Any, output_dir: Any, *, samples: int = 50, seed: int = 0,
                 sites: str | None = None, batch_size: int | None = None,
                 calibration: Any = None, ray: bool = False, address: str | None = None,
                 workers: int | None = None, cpus_per_worker: int = 1,
                 gpus_per_worker: float = 0.0,
                 on_shard: Callable[[ShardOutcome], None] | None = None,
                 progress: Progress = None) -> ShardRun:
    """``mc-predict --output-dir``: score every shard of ``inputs`` (a directory, a glob or a
    file of .npy/.npz/.parquet) into ``output_dir``, one result per shard plus a manifest;
    a re-run skips the shards already finished (hashes verified).

    Every row's result depends only on the model, ``samples``, ``seed``, its global index and
    its data (:mod:`dropctl.mc.scoring`). ``ray``: score on a Ray cluster (``address``,
    ``workers`` actors of ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs; default a
    local cluster of 2). ``calibration``: a ``dropctl calibrate`` file whose columns join every
    result. ``on_shard(outcome)`` after each shard. Returns a
    :class:`dropctl.mc.shards.ShardRun`.
    """
    from dropctl.errors import UsageError
    from dropctl.mc.shards import run_shards
    from dropctl.render.progress import progress_reporter

    if not ray and (address is not None or workers is not None or gpus_per_worker):
        raise UsageError("--address, --workers and --gpus-per-worker need --ray")
    runner = None
    if ray:
        from dropctl.ray import ray_runner

        runner = ray_runner(address, workers or 2, cpus_per_worker, gpus_per_worker)
    with progress_reporter(progress, "mc-predict") as callback:
        return run_shards(model, inputs, output_dir, samples=samples, seed=seed, sites=sites,
                          batch_size=batch_size, progress=callback, on_shard=on_shard,
                          runner=runner, workers=(workers or 2) if ray else 0,
                          calibration=calibration)


def evaluate(result: MCResult, labels: Any = None, *, ood: MCResult | None = None,
             rank_by: str | None = None, top: int = 10, std_floor: float = 1e-6) -> Evaluation:
    """Is the uncertainty of an :func:`mc_predict` result worth anything? Pure numpy.

    ``labels``: class ids (classifier) or targets shaped like the output (regressor), as one
    array for a single-output model or a dict by output name. ``ood``: :func:`mc_predict` of the
    same model on out-of-distribution inputs. ``rank_by``: ``[OUTPUT:]SCORE`` for the ``top``
    most uncertain inputs. Returns selective prediction (AURC, accuracy at coverage), OOD
    (AUROC, AUPR, FPR95), regression (RMSE, NLL, PICP/MPIW, interval calibration) and the
    ranking; definitions in :mod:`dropctl.mc.evaluation`.
    """
    from dropctl.errors import UsageError
    from dropctl.mc.evaluation import evaluate as _evaluate

    if labels is not None and not isinstance(labels, dict):
        if len(result.outputs) != 1:
            raise UsageError("labels for a multi-output model must be a dict by output name")
        labels = {result.outputs[0].name: labels}
    return _evaluate(result, labels, ood, rank_by, top, std_floor)


def plot_mc(result: MCResult, labels: Any = None, *, evaluation: Evaluation | None = None) -> Plots:
    """The ``mc-predict --plot`` figures of ``result`` as ``matplotlib.figure.Figure`` objects.

    ``labels``: class ids of a classifier's inputs (one array, or a dict by output name).
    Returns a :class:`dropctl.render.plots.Plots` mapping ``"main"`` (uncertainty histogram and,
    with ``labels`` of a classifier, the reliability diagram) and, from ``evaluation``
    (:func:`evaluate`), ``"risk_coverage"``, ``"ood_roc"``, ``"intervals"``. Drawn with the
    object API: no pyplot, the backend is left alone, and a notebook shows the object as PNGs.
    ``plots["main"].savefig("mc.png")`` writes one.
    """
    import numpy as np

    from dropctl.errors import UsageError
    from dropctl.render.plots import mc_figures

    if labels is not None and not isinstance(labels, dict):
        if len(result.outputs) != 1:
            raise UsageError("labels for a multi-output model must be a dict by output name")
        labels = {result.outputs[0].name: labels}
    arrays = {name: np.asarray(y) for name, y in (labels or {}).items()}
    return mc_figures(result, arrays, evaluation)


def calibrate(model: Any, inputs: Any, labels: Any, *, samples: int = 50, seed: int = 0,
              coverage: float = 0.9, method: str = "temperature", score: str = "lac",
              raps_lambda: float = 0.01, raps_k: int = 1, sites: str | None = None,
              batch_size: int | None = None, std_floor: float = 1e-6,
              model_path: Any = None, config: Any = None, custom_objects: Sequence[str] = (),
              checks: bool = False, progress: Progress = None) -> CalibrateRun:
    """Fit temperature (or vector) scaling and split-conformal sets/intervals on held-out data.

    ``model``: a path (or a loaded model with ``model_path``); ``inputs``: arrays or a
    .npy/.npz/.csv file; ``labels``: class ids or targets (one array, a dict by output name, or
    a .npy/.csv path). Runs :func:`mc_predict` with the same ``samples``/``seed``/``sites``;
    ``score`` is ``lac`` (= ``thr``), ``aps`` or ``raps``. ``checks``: also judge the fit on
    the calibration data (``result.checks``, in-sample). ``result.fit`` is bound to the
    artifact's content hash; write it with :func:`dropctl.render.calibration.calibration_doc`.
    See :mod:`dropctl.mc.calibration`.
    """
    from dropctl.mc.calibrate import calibrate as _calibrate
    from dropctl.render.progress import progress_reporter

    with progress_reporter(progress, "calibrate") as callback:
        return _calibrate(model, inputs, labels, samples=samples, seed=seed, coverage=coverage,
                          method=method, score=score, raps_lambda=raps_lambda, raps_k=raps_k,
                          sites=sites, batch_size=batch_size, std_floor=std_floor,
                          model_path=model_path, config=config,
                          custom_objects=tuple(custom_objects), checks=checks,
                          progress=callback)
