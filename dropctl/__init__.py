"""dropctl: the dropout behaviour of saved Keras models.

Public API (TensorFlow is imported only by the functions that run a model)::

    dropctl.inspect(path)            -> InspectReport   (static, never imports TensorFlow)
    dropctl.evaluate(mc_result, y)   -> Evaluation      (selective, OOD, intervals; numpy)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dropctl._version import __version__

if TYPE_CHECKING:
    from dropctl.conversion.plan import ConvertReport
    from dropctl.mc.engine import MCResult
    from dropctl.mc.evaluation import Evaluation
    from dropctl.policy.run import CheckReport
    from dropctl.reader.report import InspectReport
    from dropctl.reader.versions import KerasTarget

__all__ = ["__version__", "check", "convert", "evaluate", "inspect", "load_model", "mc_predict"]


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
          fail_on: str | None = None, **settings: Any) -> CheckReport:
    """Run ``dropctl check`` on files, directories or globs and return the typed report.

    ``config``: a pyproject.toml/dropctl.toml path, or None to discover one from the working
    directory (``False``: defaults only). ``settings`` override policy keys (``inference="on"``,
    ``max_rate=0.5``...). ``report.exit_code`` is the CLI's exit code. Static unless ``probe``.
    """
    from dropctl.policy.run import check_paths

    return check_paths(paths, config=config, probe=probe, jobs=jobs, fail_on=fail_on, **settings)


def convert(src: Any, dst: Any, *, mode: str, rate: float | None = None, sites: str | None = None,
            dry_run: bool = False, force: bool = False, verify: bool = True,
            config: Any = None, target_keras: str | None = None,
            custom_objects: Any = ()) -> ConvertReport:
    """Rewrite ``src`` into ``dst`` with dropout ``mode`` "perma", "standard" or "strip".

    Returns a :class:`dropctl.conversion.plan.ConvertReport` (site, before, after, verification).
    Imports TensorFlow unless ``dry_run``; never executes anything stored in the file.
    ``target_keras``: write a config that Keras version loads (default: the oldest supported).
    ``custom_objects``: ``.py`` files or module names with the model's own classes (their
    code is imported, i.e. run).
    """
    from dropctl.conversion.run import convert as _convert

    return _convert(src, dst, mode, rate=rate, sites=sites, dry_run=dry_run, force=force,
                    verify=verify, config=config, target_keras=target_keras,
                    custom_objects=custom_objects)


def load_model(path: Any) -> Any:
    """``keras.Model`` from a .keras/.h5 file, with Keras 3 safe mode on; never runs file code.

    A Lambda ``PermaDropout`` becomes dropctl's ``AlwaysDropout`` with the recovered rate and
    Keras 1/2 leftovers are rewritten (see :mod:`dropctl.runtime.loader`); any other Lambda raises
    :class:`dropctl.errors.UnsupportedModelError` naming the layer.
    """
    from dropctl.runtime.loader import load_model as _load

    return _load(path)


def mc_predict(model_or_path: Any, inputs: Any = None, *, samples: int = 50, seed: int = 0,
               **options: Any) -> MCResult:
    """Monte Carlo dropout: T stochastic passes with only the stochastic sites on.

    ``model_or_path`` is a path or a loaded ``keras.Model``; ``inputs`` an array, a list, or a
    dict by input name. Options: ``sites`` (glob), ``batch_size``, ``until_stable``,
    ``save_samples``, ``synthetic`` (N seeded inputs), ``progress``. See :mod:`dropctl.mc.engine`.
    """
    from dropctl.mc.engine import mc_predict as _mc

    return _mc(model_or_path, inputs, samples=samples, seed=seed, **options)


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
