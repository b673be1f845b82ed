"""``dropctl convert`` end to end: check the paths, plan on the config (pure), then build and verify.

Planning (:mod:`dropctl.conversion.plan`) needs no Keras, so ``--dry-run`` stays static;
only writing imports the Keras half (:mod:`dropctl.conversion.build`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dropctl.conversion.plan import plan_conversion
from dropctl.conversion.report import OUT_EXTENSIONS, ConvertMode, ConvertReport
from dropctl.errors import InputDataError, UnsupportedModelError, UsageError
from dropctl.fileio import clean_stale_temps
from dropctl.reader.formats import read_model
from dropctl.reader.hub import uses_keras_hub
from dropctl.reader.report import ArtifactFormat


def _check_paths(src: Path, dst: Path, *, force: bool, dry_run: bool) -> ArtifactFormat:
    fmt = OUT_EXTENSIONS.get(dst.suffix.lower())
    if fmt is None:
        raise UsageError(f"OUT must end in .keras, .h5 or .hdf5 (the extension picks the "
                         f"format), got {dst.name}")
    if not src.exists():
        raise InputDataError(f"{src}: no such file")
    same = os.path.abspath(dst) == os.path.abspath(src) or (
        dst.exists() and dst.resolve() == src.resolve())
    if same:
        raise UsageError(f"OUT is the same file as IN ({src}); IN is never modified")
    if dst.is_dir():
        raise InputDataError(f"{dst} is a directory")
    if dst.exists() and not force and not dry_run:
        raise UsageError(f"{dst} exists; pass --force to overwrite it")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not dry_run and (not parent.is_dir() or not os.access(parent, os.W_OK)):
        raise InputDataError(f"cannot write {dst}: {parent} is not a writable directory")
    return fmt


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str],
            mode: ConvertMode | str, *, rate: float | None = None, sites: str | None = None,
            dry_run: bool = False, force: bool = False, verify: bool = True,
            probe_seed: int = 0, config: str | os.PathLike[str] | None = None,
            target_keras: str | None = None, custom_objects: Sequence[str] = ()
            ) -> ConvertReport:
    """Rewrite ``src`` into ``dst`` with every selected site in ``mode``; see the module doc.

    Raises :class:`~dropctl.errors.DropctlError` subclasses: ``UsageError`` / ``InputDataError``
    / ``ArtifactError`` / ``UnsupportedModelError`` (nothing written) and
    ``VerificationError`` (OUT failed verification and was deleted). ``src`` may be a
    SavedModel or preset directory; ``config`` pairs a ``*.weights.h5`` with its architecture.
    OUT's config is written for Keras ``target_keras`` (default: the oldest supported, see
    :mod:`dropctl.conversion.target`).
    ``custom_objects``: ``.py`` files or module names defining the model's own classes
    (imported, which runs their code; see :mod:`dropctl.runtime.custom`).
    """
    from dropctl.conversion.target import OLDEST_SUPPORTED
    from dropctl.reader.versions import parse_version

    target_keras = target_keras or OLDEST_SUPPORTED
    try:
        if parse_version(target_keras) < (3, 0, 0):
            raise UsageError(f"--target-keras {target_keras}: dropctl writes Keras 3 files")
    except ValueError:
        raise UsageError(f"--target-keras {target_keras!r} is not a version (e.g. 3.6)") from None
    try:
        mode = ConvertMode(mode)
    except ValueError:
        raise UsageError(f"unknown mode {mode!r}: use perma, standard or strip") from None
    if rate is not None:
        if mode is ConvertMode.STRIP:
            raise UsageError("--rate makes no sense with --strip (stripped sites have no rate)")
        if not 0.0 <= rate < 1.0:
            raise UsageError(f"--rate must be in [0, 1), got {rate}")
    src_p, dst_p = Path(src), Path(dst)
    if not dry_run:  # a killed run's leftovers go first, also when OUT exists by now
        clean_stale_temps(dst_p)
    dst_fmt = _check_paths(src_p, dst_p, force=force, dry_run=dry_run)
    artifact = read_model(src_p, config=config)
    if not artifact.has_weights and not dry_run:
        raise UnsupportedModelError(f"{src_p} holds no weights (architecture only); "
                                    "nothing to convert")
    if dst_fmt is ArtifactFormat.H5 and uses_keras_hub(artifact.model_config):
        raise UnsupportedModelError(
            f"{src_p} is a keras_hub model: legacy .h5 cannot name keras_hub classes, so it "
            "would not reload; write OUT as .keras")
    from dropctl.reader.resolve import refuse_forged_classes
    from dropctl.reader.walker import walk

    walked = walk(artifact.model_config)
    refuse_forged_classes(src_p, walked)
    from dropctl.conversion.custom import judge_custom_sites  # Keras only with custom sites

    custom = judge_custom_sites(artifact.model_config, custom_objects)
    plan = plan_conversion(artifact, mode, rate=rate, sites=sites, custom=custom)
    if sites is not None and not plan.changes:
        from dropctl.reader.inspection import build_sites
        from dropctl.reader.walker import no_site_error

        raise no_site_error(sites, (site.path for site, _ in build_sites(walked)),
                            (layer.class_name for layer in walked))
    report = ConvertReport(str(src), str(dst), mode, artifact.format, dst_fmt, plan.changes,
                           plan.warnings, target_keras=target_keras)
    if dry_run:
        return report
    from dropctl.conversion.build import build_and_write  # imports Keras: only when writing

    return build_and_write(plan, report, dst_p, verify=verify, probe_seed=probe_seed,
                           force=force, custom_objects=custom_objects, sites=sites,
                           custom=custom)
