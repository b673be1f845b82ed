"""What a Monte Carlo run starts from: the model (loaded once), its inputs, its static sites.

A run accepts a path, a :class:`dropctl.runtime.loader.LoadedModel` or a ``keras.Model``.
:func:`open_model` reads a path's artifact once (:func:`dropctl.reader.formats.read_model`)
and uses that one parse twice: to build the model (:func:`dropctl.runtime.loader.load_artifact`)
and for the static report whose sites :func:`static_gaps` compares with the runtime's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.mc.inputs import model_input_specs
from dropctl.reader.report import SiteKind

__all__ = ["OpenedModel", "open_model", "output_names", "resolve_inputs", "resolve_model",
           "static_gaps"]


@dataclass(frozen=True)
class OpenedModel:
    """A model ready to run, with what the run reports about where it came from."""

    model: Any
    """The ``keras.Model``."""
    rescues: tuple[str, ...]
    """What the loader rewrote to make the file loadable (``path: action``)."""
    source: Path | None
    """The artifact path (None for a ``keras.Model`` given as is)."""
    artifact: Any = None
    """The artifact as read statically when this run read it (reused by :func:`static_gaps`)."""
    config: Path | None = None
    """The architecture JSON paired with a ``*.weights.h5`` (``--config``)."""


def open_model(model_or_path: Any, *, config: str | os.PathLike[str] | None = None,
               custom_objects: Sequence[str] = ()) -> OpenedModel:
    """:class:`OpenedModel` from a path (read and loaded once), a ``LoadedModel`` or a model."""
    from dropctl.runtime.loader import LoadedModel, load_artifact

    if isinstance(model_or_path, str | os.PathLike):
        from dropctl.reader.formats import read_model

        path = Path(os.fspath(model_or_path))
        art = read_model(path, config=config)
        loaded = load_artifact(art, custom_objects=custom_objects)
        return OpenedModel(loaded.model, _rescues(loaded), loaded.path, art,
                           Path(config) if config is not None else None)
    if isinstance(model_or_path, LoadedModel):
        return OpenedModel(model_or_path.model, _rescues(model_or_path), model_or_path.path)
    return OpenedModel(model_or_path, (), None)


def _rescues(loaded: Any) -> tuple[str, ...]:
    return tuple(f"{r.path}: {r.action}" for r in loaded.rescues)


def resolve_model(model_or_path: Any) -> tuple[Any, tuple[str, ...]]:
    """(keras.Model, loader rescues) from a path, a :class:`LoadedModel` or a ``keras.Model``."""
    opened = open_model(model_or_path)
    return opened.model, opened.rescues


def _static_report(opened: OpenedModel) -> Any:
    from dropctl.reader.deployed import detect, report_from_deployed
    from dropctl.reader.inspection import inspect_path, report_from_artifact

    assert opened.source is not None  # callers check
    if opened.artifact is None:  # a LoadedModel from elsewhere: read the file statically
        return inspect_path(opened.source, include_layers=False, config=opened.config)
    if opened.config is None and detect(opened.source) is not None:  # as inspect_path does
        return report_from_deployed(opened.source, str(opened.source))
    return report_from_artifact(opened.artifact, display_path=str(opened.source),
                                include_layers=False)


def static_gaps(model: OpenedModel | str | os.PathLike[str], runtime_paths: Sequence[str],
                sites: str | None = None) -> tuple[str, ...]:
    """Sites ``dropctl inspect`` lists in the artifact (those ``sites`` selects) without a
    runtime site of the same path: one path scheme, so no correspondence table is needed.

    ``model``: an :class:`OpenedModel` (its artifact, if this run read it, is not read again)
    or a path. Static reading cannot see inside subclassed/opaque models, so the runtime may
    list more sites than inspect; that is not a gap, and a ``custom`` site inspect gives such
    a model as a whole is covered by any runtime site inside it.
    """
    from dropctl.reader.walker import site_matches

    opened = model if isinstance(model, OpenedModel) else OpenedModel(None, (), Path(model))
    if opened.source is None:
        return ()
    have = set(runtime_paths)
    return tuple(
        site.path for site in _static_report(opened).sites
        if (sites is None or site_matches(site.path, sites))
        and site.path not in have
        and not (site.kind is SiteKind.CUSTOM and any(p.startswith(site.path + "/") for p in have)))


def resolve_inputs(model: Any, inputs: Any, synthetic: int | None, seed: int) -> list[np.ndarray]:
    """Checked input arrays from an array, a list, a dict by input name, a file (.npy, .npz,
    .csv: :func:`dropctl.mc.inputs.read_inputs`) or ``synthetic`` N seeded draws."""
    from dropctl.errors import InputDataError
    from dropctl.mc.inputs import check_inputs, read_inputs, synthetic_inputs

    specs = model_input_specs(model)
    if inputs is None:
        if synthetic is None:
            raise InputDataError("no inputs: pass arrays (or --input FILE) or --synthetic N")
        return synthetic_inputs(specs, synthetic, seed)
    if isinstance(inputs, str | os.PathLike):
        inputs = read_inputs(Path(inputs), specs)
    if isinstance(inputs, dict):
        missing = [s.name for s in specs if s.name not in inputs]
        if missing:
            raise InputDataError(f"inputs miss {missing} (model inputs: "
                                 f"{[s.name for s in specs]})")
        arrays = [inputs[s.name] for s in specs]
    elif isinstance(inputs, list | tuple):
        arrays = list(inputs)
    else:
        arrays = [inputs]
    return check_inputs(arrays, specs, "inputs")


def output_names(model: Any, count: int) -> list[str]:
    """Names of a model's ``count`` outputs (``output``, ``output_0``... when it has none)."""
    names = getattr(model, "output_names", None)
    if isinstance(names, list | tuple) and len(names) == count and len(set(names)) == count:
        return [str(n) for n in names]
    return [f"output_{i}" for i in range(count)] if count > 1 else ["output"]
