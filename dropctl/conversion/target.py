"""Writing a converted file that an older Keras accepts (``convert --target-keras VERSION``).

Keras writes every constructor argument into a config, including ones added in later releases
with their default value; an older Keras rejects the unknown keyword and the file does not load
(Keras 3.6-3.14: ``GlorotUniform.__init__() got an unexpected keyword argument 'input_axes'``).
:data:`NEW_KEYS` lists those keys with the first release that accepts them (read from the keras
release tags) and their default. For a target older than that release, a key holding its
default is dropped, which changes nothing (the old Keras uses the same default); a key holding
any other value cannot be expressed for that target and is an error naming the layer.
scripts/matrix.sh converts every sample with the newest Keras and loads and predicts the result
with the oldest supported one.

Pure Python over JSON, zip and HDF5 attributes: no Keras import.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dropctl.errors import UsageError
from dropctl.reader.versions import parse_version

__all__ = ["NEW_KEYS", "OLDEST_SUPPORTED", "NewKey", "downgrade_config", "write_for_target"]

OLDEST_SUPPORTED = "3.6"
"""The oldest Keras dropctl supports and tests (scripts/matrix.sh): convert's default target."""

INITIALIZERS = frozenset({
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
    "LecunNormal", "Orthogonal", "OrthogonalInitializer",
})


@dataclass(frozen=True)
class NewKey:
    """A config key a later Keras writes and an older one rejects."""

    key: str
    classes: frozenset[str] | None
    """Class names that carry it (None: any layer)."""
    default: Any
    """The value that means "not used" (dropped for an older target)."""
    since: tuple[int, int, int]
    """First Keras release that accepts it."""


NEW_KEYS: tuple[NewKey, ...] = (
    NewKey("ragged", frozenset({"InputLayer"}), False, (3, 9, 0)),
    NewKey("quantization_config", None, None, (3, 13, 0)),
    NewKey("renorm", frozenset({"BatchNormalization"}), False, (3, 14, 0)),
    NewKey("renorm_clipping", frozenset({"BatchNormalization"}), None, (3, 14, 0)),
    NewKey("renorm_momentum", frozenset({"BatchNormalization"}), 0.99, (3, 14, 0)),
    NewKey("use_gate", frozenset({"MultiHeadAttention", "GroupedQueryAttention"}), False,
           (3, 14, 0)),
    NewKey("sliding_window", frozenset({"MultiHeadAttention", "GroupedQueryAttention"}), None,
           (3, 15, 0)),
    NewKey("input_axes", INITIALIZERS, None, (3, 15, 0)),
    NewKey("output_axes", INITIALIZERS, None, (3, 15, 0)),
)
"""Keys newer Keras writes (checked against the keras release tags 3.6.0-3.15.0)."""


def _objects(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every serialized object (a dict with ``class_name`` and a ``config`` dict), iteratively."""
    stack: list[tuple[Any, str]] = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            cfg = item.get("config")
            if isinstance(item.get("class_name"), str) and isinstance(cfg, dict):
                name = cfg.get("name")
                here = (f"{where}/{name}" if where else name) if isinstance(name, str) else where
                yield here or item["class_name"], item
                where = here
            stack.extend((v, where) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, where) for v in item)


def downgrade_config(config: dict[str, Any], target: str) -> list[str]:
    """Drop (in place) every key of :data:`NEW_KEYS` Keras ``target`` would reject.

    Returns what was dropped (``"path: key"``). Raises :class:`UsageError` when such a key holds
    a non-default value (the behaviour cannot be written for that Keras).
    """
    version = parse_version(target)
    dropped: list[str] = []
    for where, obj in _objects(config):
        cls, cfg = obj["class_name"], obj["config"]
        for rule in NEW_KEYS:
            if version >= rule.since or rule.key not in cfg:
                continue
            if rule.classes is not None and cls not in rule.classes:
                continue
            if cfg[rule.key] != rule.default:
                since = ".".join(str(p) for p in rule.since[:2])
                raise UsageError(
                    f"{where}: {cls} uses {rule.key}={cfg[rule.key]!r}, which Keras {target} "
                    f"does not have (Keras >= {since}); use --target-keras {since} or newer")
            del cfg[rule.key]
            dropped.append(f"{where}: {rule.key}")
    return dropped


def write_for_target(path: Path, target: str) -> list[str]:
    """Rewrite the config inside a written ``.keras`` zip or ``.h5`` file for Keras ``target``."""
    if path.suffix == ".keras" or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zin:
            config = json.loads(zin.read("config.json"))
            dropped = downgrade_config(config, target)
            if not dropped:
                return []
            tmp = path.with_name(path.name + ".target")
            with zipfile.ZipFile(tmp, "w") as zout:
                for info in zin.infolist():
                    data = (json.dumps(config).encode() if info.filename == "config.json"
                            else zin.read(info.filename))
                    zout.writestr(info, data)
        os.replace(tmp, path)
        return dropped
    import h5py

    with h5py.File(path, "r+") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            return []
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        dropped = downgrade_config(config, target)
        if dropped:
            f.attrs["model_config"] = json.dumps(config).encode()
    return dropped
