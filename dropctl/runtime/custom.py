"""``--custom-objects``: the user's own Keras classes, imported on request (this RUNS their code).

A model with a custom layer or a subclassed model names classes that only the user's code
defines; Keras cannot rebuild it without them. The runtime commands (``mc-predict``, ``diff``,
``convert``, ``check --probe``) take ``--custom-objects PATH.py`` or ``--custom-objects
package.module`` (repeatable): dropctl imports each one (executing it, like ``import`` does)
and hands the loader

* every object the import registered with ``keras.saving.register_keras_serializable``
  (by its registered name, ``package>Name``), and
* every Keras layer/model/initializer/regularizer/constraint/loss/metric class and every
  plain function the module defines itself (by its name).

Nothing from the model file is executed: the classes come from code the user chose to run.
Static commands (``inspect``, ``check`` without ``--probe``) never import anything. A missing
file or module, or an import that raises, is a :class:`UsageError` in one line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from dropctl.errors import UsageError, one_line
from dropctl.runtime import keras_module

_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"--custom-objects {path}: no such file")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"dropctl_custom_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"--custom-objects {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its sibling modules
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(
            f"--custom-objects {path}: importing it failed: {one_line(exc)}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_module(name: str) -> ModuleType:
    if not _MODULE_NAME.match(name):
        raise UsageError(f"--custom-objects {name}: neither a .py file nor a module name")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise UsageError(f"--custom-objects {name}: no module named '{exc.name}'") from None
        raise UsageError(f"--custom-objects {name}: importing it failed: {one_line(exc)}"
                         ) from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(f"--custom-objects {name}: importing it failed: {one_line(exc)}"
                         ) from None


def _own_objects(module: ModuleType, keras: Any) -> dict[str, Any]:
    """Keras classes and plain functions defined in ``module`` itself (not imported into it)."""
    bases = (keras.layers.Layer, keras.Model, keras.initializers.Initializer,
             keras.regularizers.Regularizer, keras.constraints.Constraint, keras.losses.Loss,
             keras.metrics.Metric)
    out: dict[str, Any] = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if (inspect.isclass(obj) and issubclass(obj, bases)) or inspect.isfunction(obj):
            out[name] = obj
    return out


def import_custom_objects(sources: Sequence[str]) -> dict[str, Any]:
    """Import each of ``sources`` (a ``.py`` path or a module name) and return the custom
    objects they provide, by registered name and by class/function name."""
    if not sources:
        return {}
    keras = keras_module("--custom-objects")
    objects: dict[str, Any] = {}
    for source in sources:
        before = dict(keras.saving.get_custom_objects())
        looks_like_file = source.endswith(".py") or "/" in source or "\\" in source
        module = _import_file(Path(source)) if looks_like_file else _import_module(source)
        registered = {k: v for k, v in keras.saving.get_custom_objects().items()
                      if before.get(k) is not v
                      or getattr(v, "__module__", None) == module.__name__}
        found = {**_own_objects(module, keras), **registered}
        if not found:
            raise UsageError(f"--custom-objects {source}: defines no Keras class or function "
                             "(layers, models, initializers, losses, metrics...)")
        objects.update(found)
    return objects
