"""Every artifact form dropctl reads, behind one entry point: :func:`read_model`.

* single files (``.keras``, ``.h5``/``.hdf5``, model ``.json``): :mod:`dropctl.reader.artifact`;
* TensorFlow SavedModel directories written by tf.keras: :mod:`dropctl.reader.savedmodel`;
* Keras / keras_hub preset directories (``config.json`` + ``metadata.json`` +
  ``model.weights.h5``, as ``save_to_preset`` writes them; tokenizer assets are ignored);
* weights + architecture pairs: ``*.weights.h5`` with ``--config MODEL.json``, or a directory
  holding ``model.json`` and ``model.weights.h5`` side by side.

Directory members are read only when they are regular files inside the directory (a symlink,
FIFO or device is refused), and a weights file is checked like any HDF5 artifact (signature,
no links to other files) before it is reported as present. :func:`artifact_dir` tells
``check``'s directory search which directories are artifacts themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dropctl.errors import ArtifactError
from dropctl.reader.artifact import (
    HDF5_SIGNATURE,
    MAX_JSON_BYTES,
    Artifact,
    parse_json,
    read_artifact,
)
from dropctl.reader.report import ArtifactFormat
from dropctl.reader.rescue import keras3_form
from dropctl.reader.savedmodel import (
    is_savedmodel_dir,
    member,
    model_config_of,
    read_metadata,
    refuse_without_metadata,
)

PRESET_CONFIG = "config.json"
PRESET_METADATA = "metadata.json"
PRESET_WEIGHTS = "model.weights.h5"
PAIR_CONFIG = "model.json"
WEIGHTS_SUFFIX = ".weights.h5"

KERAS3_FORMATS = frozenset({ArtifactFormat.KERAS, ArtifactFormat.PRESET})
"""Formats whose config is always in the Keras 3 serialization form."""


def artifact_dir(p: Path) -> bool:
    """A directory that is one artifact (SavedModel, preset, model.json + weights pair).

    A preset is ``config.json`` with ``metadata.json`` or ``model.weights.h5`` beside it
    (``save_to_preset`` writes all three): a lone ``config.json`` is an application's
    settings, which a directory search passes over instead of failing on.
    """
    preset = (p / PRESET_CONFIG).is_file() and (
        (p / PRESET_METADATA).is_file() or (p / PRESET_WEIGHTS).is_file())
    return is_savedmodel_dir(p) or preset or (
        (p / PAIR_CONFIG).is_file() and (p / PRESET_WEIGHTS).is_file())


def is_keras3_config(artifact: Artifact) -> bool:
    """Whether ``artifact``'s config is in the Keras 3 form (``module``/``registered_name``).

    A ``.keras`` zip written by tf.keras 2.13+ holds a Keras 2 style config
    (:func:`dropctl.reader.rescue.keras3_form`): it is built like a legacy ``.h5`` config.
    """
    if artifact.format is ArtifactFormat.KERAS:
        return keras3_form(artifact.format, artifact.keras_major)
    if artifact.format in KERAS3_FORMATS:
        return True
    if artifact.format is ArtifactFormat.WEIGHTS:
        cfg = artifact.model_config
        return "module" in cfg or "registered_name" in cfg or artifact.keras_major == 3
    return False


def read_model(path: str | os.PathLike[str], *,
               config: str | os.PathLike[str] | None = None) -> Artifact:
    """Read any artifact statically; ``config`` pairs a ``*.weights.h5`` with its architecture."""
    p = Path(path)
    if config is not None:
        return read_weights_with_config(p, Path(config))
    if p.is_dir():
        return read_directory(p)
    if p.name.lower().endswith(WEIGHTS_SUFFIX) and p.is_file():
        sibling = p.with_name(p.name[: -len(WEIGHTS_SUFFIX)] + ".json")
        hint = (f"; its architecture looks like {sibling.name}: pass --config {sibling}"
                if sibling.is_file() else "; pass its architecture with --config MODEL.json")
        raise ArtifactError(f"{p}: is a weights-only file (save_weights){hint}")
    return read_artifact(p)


def read_directory(p: Path) -> Artifact:
    """A SavedModel, preset or model.json + weights directory; anything else is an error."""
    if is_savedmodel_dir(p):
        return read_savedmodel(p)
    if (p / PRESET_CONFIG).exists():
        return read_preset(p)
    if (p / PAIR_CONFIG).exists() and (p / PRESET_WEIGHTS).exists():
        return _pair(p / PRESET_WEIGHTS, p / PAIR_CONFIG, display=p)
    raise ArtifactError(f"{p}: is a directory but not a model: no saved_model.pb (SavedModel), "
                        "config.json (Keras preset) or model.json + model.weights.h5")


def read_savedmodel(p: Path) -> Artifact:
    """The model config and versions of a tf.keras SavedModel directory (no TensorFlow)."""
    if not (p / "keras_metadata.pb").exists():
        refuse_without_metadata(p)
    meta = read_metadata(p)
    root = meta.root
    training = root.get("training_config")
    return Artifact(
        path=p,
        format=ArtifactFormat.SAVEDMODEL,
        keras_version=_opt_str(root.get("keras_version")),
        backend=_opt_str(root.get("backend")),
        model_config=model_config_of(p, root),
        training_config=training if isinstance(training, dict) else None,
        has_weights=(p / "variables" / "variables.index").is_file(),
    )


def _json_member(f: Path, what: str) -> Any:
    size = f.stat().st_size
    if size > MAX_JSON_BYTES:
        raise ArtifactError(f"{what} is {size:,} bytes, over the {MAX_JSON_BYTES:,}-byte limit")
    with f.open("rb") as fh:
        return parse_json(fh.read(MAX_JSON_BYTES + 1), what)


def check_weights_file(f: Path) -> None:
    """A weights file must be a plain HDF5 file that points nowhere else (CVE-2026-1669).

    Read in the bounded child (:func:`dropctl.reader.h5read.read_h5`), like every untrusted
    HDF5 file: corrupt bytes, libhdf5 loops and links or external storage pointing outside the
    file are refused there.
    """
    from dropctl.reader.h5read import read_h5

    with f.open("rb") as fh:
        head = fh.read(8)
    if head != HDF5_SIGNATURE:
        raise ArtifactError(f"{f}: is not an HDF5 weights file")
    read_h5(f)


def _require_config(p: Path, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("class_name"), str) or (
            "config" not in doc):
        raise ArtifactError(f"{p}: is not a Keras model config (no top-level class_name/config)")
    return doc


def read_preset(p: Path) -> Artifact:
    """A Keras / keras_hub preset directory (``save_to_preset``)."""
    config = _require_config(p / PRESET_CONFIG,
                             _json_member(member(p, PRESET_CONFIG), f"{p}: {PRESET_CONFIG}"))
    version = None
    if (p / PRESET_METADATA).exists():
        meta = _json_member(member(p, PRESET_METADATA), f"{p}: {PRESET_METADATA}")
        if isinstance(meta, dict):
            version = _opt_str(meta.get("keras_version"))
    weights = p / PRESET_WEIGHTS
    has_weights = weights.exists()
    if has_weights:
        check_weights_file(member(p, PRESET_WEIGHTS))
    return Artifact(path=p, format=ArtifactFormat.PRESET, keras_version=version, backend=None,
                    model_config=config, training_config=None, has_weights=has_weights,
                    weights_path=weights if has_weights else None)


def read_weights_with_config(weights: Path, config: Path) -> Artifact:
    """``*.weights.h5`` (or a legacy ``save_weights`` .h5) with its architecture JSON."""
    if not weights.exists():
        raise ArtifactError(f"{weights}: no such file")
    if not weights.is_file():
        raise ArtifactError(f"{weights}: is not a regular file (--config pairs a weights file "
                            "with its architecture)")
    if not config.is_file():
        raise ArtifactError(f"{config}: no such file (--config must name a model JSON or a "
                            ".keras/.h5 whose architecture goes with the weights)")
    return _pair(weights, config, display=weights)


def _pair(weights: Path, config: Path, *, display: Path) -> Artifact:
    arch = read_artifact(config)  # model.json, or even a .keras/.h5 that carries the config
    check_weights_file(weights)
    return Artifact(path=display, format=ArtifactFormat.WEIGHTS,
                    keras_version=arch.keras_version, backend=arch.backend,
                    model_config=arch.model_config, training_config=arch.training_config,
                    has_weights=True, weights_path=weights)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
