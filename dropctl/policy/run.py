"""The ``dropctl check`` engine: expand paths, inspect each artifact, apply its policy.

Input: paths, directories and globs (made artifacts by :mod:`dropctl.policy.discover`) plus
a :class:`~dropctl.policy.Config`. Output: a :class:`~dropctl.policy.results.CheckReport` of
typed per-artifact results (:mod:`dropctl.policy.results`), each judged by
:mod:`dropctl.policy.evaluate` for the Keras versions its policy stands for. Reading is static
(``dropctl.inspect``, no TensorFlow); only ``probe=True`` loads models
(:func:`dropctl.policy.probe.probe_model`, through ``dropctl.runtime.loader``), and only then is
TensorFlow imported. ``jobs > 1`` checks files in worker processes. Rendering lives in
:mod:`dropctl.render`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError, DropctlError, UsageError, one_line
from dropctl.policy.config import Config, Policy
from dropctl.policy.discover import expand_paths
from dropctl.policy.evaluate import across_versions, evaluate
from dropctl.policy.probe import probe_model
from dropctl.policy.results import ArtifactResult, CheckReport, Status
from dropctl.policy.workers import WorkerDied, run_tasks
from dropctl.reader.report import InspectReport, Severity
from dropctl.reader.versions import INSTALLED, KerasTarget, representatives, resolve_target


def check_one(path: str, policy: Policy, fail_on: Severity, probe: bool = False,
              custom_objects: tuple[str, ...] = (), debug: bool = False) -> ArtifactResult:
    """Inspect one artifact (and probe it if asked) and judge it. Never raises an Exception:
    whatever goes wrong with this artifact becomes its own ERROR result (fail closed per file),
    except with ``debug`` (``dropctl --debug`` or ``DROPCTL_DEBUG=1``), where an unexpected
    exception is raised with its traceback."""
    start = time.perf_counter()
    try:
        return _check_one(path, policy, fail_on, probe, start, custom_objects)
    except DropctlError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if path not in message:  # one report covers many files: every error names its file
            message = f"{path}: {'--probe: ' if probe else ''}{message}"
        error = message
    except MemoryError:
        error = f"{path}: out of memory while reading"
    except RecursionError:
        error = f"{path}: nests too deeply to check (hostile or corrupt file)"
    except Exception as exc:  # a bug or a library error costs this file only; re-raised under --debug
        if debug or os.environ.get("DROPCTL_DEBUG"):
            raise
        error = (f"{path}: could not be checked ({one_line(exc)}); "
                 "rerun with --debug and please report it")
    return ArtifactResult(path, Status.ERROR, error=error, seconds=time.perf_counter() - start)


def _check_one(path: str, policy: Policy, fail_on: Severity, probe: bool,
               start: float, custom_objects: tuple[str, ...] = ()) -> ArtifactResult:
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():
        # A FIFO or device found by a directory walk would block or stream forever; a
        # directory here is an artifact directory (SavedModel, preset, model + weights).
        raise ArtifactError(f"{path}: is not a regular file (pipe, socket or device)")
    reports = _reports_for_targets(path, policy)
    report = reports[0][1]
    probe_result = probe_model(path, custom_objects=custom_objects) if probe else None
    found = evaluate(report, policy, probe_result)
    if len(reports) > 1:
        found = across_versions(reports, policy, found)
    violations = sorted(found, key=lambda v: (-v.severity.rank, v.rule.id, v.path))
    failed = any(v.severity.rank >= fail_on.rank for v in violations)
    return ArtifactResult(
        path, Status.FAIL if failed else Status.PASS, tuple(violations), None, report,
        probe_result, time.perf_counter() - start,
    )


def policy_targets(policy: Policy) -> tuple[KerasTarget, ...]:
    """The Keras versions the policy's verdicts are computed for: its ``keras`` setting's
    behaviour regimes, the installed Keras for ``keras = "installed"``, else dropctl's stated
    default (never what happens to be installed). Raises UsageError for ``installed`` with no
    Keras installed."""
    if not policy.keras:
        return (resolve_target(None),)
    if policy.keras == (INSTALLED,):
        return (resolve_target(INSTALLED),)
    versions = sorted({v for spec in policy.keras for v in representatives(spec)})
    return tuple(KerasTarget(".".join(str(p) for p in v[:2]), "config") for v in versions)


def targets_label(policy: Policy) -> str:
    """``"Keras 3.15 (default)"``, ``"Keras 3.15.1 (installed)"`` or
    ``"Keras 3.6, 3.16 (policy keras: >=3.6)"``: the target line of every report format."""
    targets = policy_targets(policy)
    if targets[0].source != "config":
        return targets[0].describe()
    return (f"Keras {', '.join(t.version for t in targets)} "
            f"(policy keras: {', '.join(policy.keras)})")


def _reports_for_targets(path: str, policy: Policy) -> list[tuple[str, InspectReport]]:
    """One report per Keras version standing for the policy's ``keras`` (see policy_targets)."""
    from dropctl.reader.deployed import detect, report_from_deployed
    from dropctl.reader.formats import read_model
    from dropctl.reader.inspection import report_from_artifact

    if detect(Path(path)) is not None:  # a deployed graph has no Keras version to vary
        return [("", report_from_deployed(path, path))]
    artifact = read_model(path)
    return [(t.version, report_from_artifact(artifact, display_path=path, include_layers=False,
                                             keras=t))
            for t in policy_targets(policy)]



def _check_star(args: tuple[str, Policy, Severity, bool, tuple[str, ...], bool]
                ) -> ArtifactResult:
    return check_one(*args)


def run_check(
    paths: Sequence[str | os.PathLike[str]],
    config: Config | None = None,
    *,
    cli: Mapping[str, Any] | None = None,
    fail_on: Severity | None = None,
    jobs: int | None = None,
    probe: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
    custom_objects: Sequence[str] = (),
    pre_commit: bool = False,
    debug: bool = False,
) -> CheckReport:
    """Check every artifact under ``paths``. ``cli`` settings override the configuration.

    ``debug``: an unexpected exception inside one artifact is raised, not reported as its
    ERROR result (``dropctl --debug``).

    ``pre_commit``: ``paths`` are the files a commit touched (the pre-commit hook): each is
    checked as the artifact it belongs to, files that belong to no model are passed over, and
    a commit touching no model is an empty, passing report instead of a usage error.

    ``custom_objects`` (with ``probe`` only): the user's ``.py`` files or modules defining the
    models' own classes; they are imported (run) once here, so a bad one is one error, and
    again by each probing worker.

    Raises :class:`UsageError` when no path matches any model file; individual missing
    paths and unreadable artifacts become ERROR results instead, so one bad file never
    hides the verdict on the others.
    """
    config = config or Config()
    fail_on = fail_on or config.fail_on
    jobs = jobs or config.jobs
    probe = config.probe if probe is None else probe
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    if custom_objects and not probe:
        raise UsageError("--custom-objects needs --probe: without it check reads files "
                         "statically and never imports or runs code")
    if custom_objects:
        from dropctl.policy.probe import check_custom_objects

        check_custom_objects(custom_objects)
    files, unmatched = expand_paths(paths, members_only=pre_commit)
    if not files and not pre_commit:
        shown = ", ".join(os.fspath(p) for p in paths) or "(no paths given)"
        raise UsageError(f"no model files (.keras, .h5, .hdf5) matched {shown}")

    tasks = [(str(f), config.policy_for(f, cli), fail_on, probe, tuple(custom_objects), debug)
             for f in files]
    # Before any work: a bad target (keras = "installed" with no Keras) is one usage error.
    labels = list(dict.fromkeys(targets_label(task[1]) for task in tasks))
    results: list[ArtifactResult | None] = [None] * len(tasks)
    total = len(tasks)
    if jobs == 1 or total == 1:
        for i, task in enumerate(tasks):
            results[i] = _check_star(task)
            if progress:
                progress(i + 1, total)
    else:
        # fork is cheap and safe while TensorFlow is not loaded; probing workers import it
        # themselves, and TensorFlow must never be forked after import, so they spawn.
        method = "spawn" if probe or "tensorflow" in sys.modules else "fork"
        ctx = multiprocessing.get_context(method)
        for i, value in enumerate(run_tasks(_check_star, tasks, min(jobs, total), ctx, progress)):
            if isinstance(value, WorkerDied):  # died twice on this task: reported alone
                value = ArtifactResult(tasks[i][0], Status.ERROR, error=(
                    f"{tasks[i][0]}: the worker process checking it died "
                    f"({value.describe()}, twice); hostile or corrupt file?"))
            results[i] = value
    missing = [
        ArtifactResult(arg, Status.ERROR, error=f"{arg}: no such file, or no model files matched")
        for arg in unmatched
    ]
    return CheckReport(
        tuple(r for r in results if r is not None) + tuple(missing),
        fail_on,
        str(config.source) if config.source else None,
        probe,
        "; ".join(labels),
    )


def check_paths(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    config: str | os.PathLike[str] | Config | bool | None = None,
    probe: bool | None = None,
    jobs: int | None = None,
    fail_on: str | Severity | None = None,
    settings: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    custom_objects: Sequence[str] = (),
    pre_commit: bool = False,
    debug: bool = False,
) -> CheckReport:
    """The Python API behind ``dropctl.check``: configuration discovery, then :func:`run_check`.

    ``settings``: policy keys as in ``[tool.dropctl]`` (``{"inference": "on"}``), applied over
    the configuration file like the CLI's options.
    """
    from dropctl.policy.config import find_config, load_config, parse_severity

    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    if isinstance(config, Config):
        cfg = config
    elif config is False:
        cfg = Config()
    elif config is None or config is True:
        cfg = load_config(find_config())
    else:
        cfg = load_config(Path(config))
    settings = dict(settings or {})
    if settings:
        cfg.policy.updated(settings, "check() arguments")  # fail fast on a bad setting
    severity = None
    if fail_on is not None:
        severity = fail_on if isinstance(fail_on, Severity) else parse_severity(fail_on, "fail_on")
    return run_check(paths, cfg, cli=settings or None, fail_on=severity, jobs=jobs, probe=probe,
                     progress=progress, custom_objects=custom_objects, pre_commit=pre_commit,
                     debug=debug)
