"""Importing Keras (and its backend) once, quietly, or failing with the extra to install.

TensorFlow 2.21 prints oneDNN/CUDA start-up lines from C++ on file descriptor 2 even
with ``TF_CPP_MIN_LOG_LEVEL=3`` (measured), which would bury dropctl's one-line errors
and progress output, so the first import runs with fd 2 muted. When Keras or its backend
is not installed (the core install has neither), the import becomes a
:class:`~dropctl.errors.MissingDependencyError` naming ``pip install 'dropctl[EXTRA]'``.
``inspect``, ``check`` (without ``--probe``) and ``--help`` never call this.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

from dropctl.errors import MissingDependencyError, UsageError, one_line

EXTRAS = {"keras": "tensorflow", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax",
          "torch": "torch", "ray": "ray", "pyarrow": "parquet", "matplotlib": "plot",
          "keras_hub": "hub", "keras_nlp": "hub", "tf2onnx": "onnx", "onnx": "onnx",
          "onnxruntime": "onnx", "ai_edge_litert": "litert", "openvino": "openvino"}
"""Top-level module -> the dropctl extra that installs it."""


BACKEND_EXTRAS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
"""``KERAS_BACKEND`` -> the dropctl extra that installs Keras with that backend."""


def missing(module: str, what: str) -> MissingDependencyError:
    """The error for a feature (``what``) whose dependency ``module`` is not installed."""
    extra = EXTRAS.get(module.split(".", 1)[0], "all")
    if module.split(".", 1)[0] == "keras":  # Keras itself: the extra of the chosen backend
        extra = BACKEND_EXTRAS.get(os.environ.get("KERAS_BACKEND", "tensorflow"), extra)
    return MissingDependencyError(
        f"{what} needs {module.split('.', 1)[0]}, which is not installed: "
        f"pip install 'dropctl[{extra}]'")


def _muted_import(name: str) -> Any:
    import dropctl.interrupt as interrupt

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with interrupt.ending_at_once():  # no KeyboardInterrupt into TensorFlow's C++ start-up
            return importlib.import_module(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_import_keras(what: str = "this command") -> Any:
    """The keras module, imported with fd 2 muted; Keras' own advice filtered from warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if sys.modules.get("keras") is not None:
        return sys.modules["keras"]
    import dropctl.interrupt as interrupt

    interrupt.start_watchdog()  # Ctrl-C must work while TensorFlow runs C++ code
    try:
        keras = _muted_import("keras")
    except ModuleNotFoundError as exc:  # keras itself, or the backend it was told to use
        raise missing(exc.name or "keras", what) from None
    except ValueError as exc:  # KERAS_BACKEND names no backend Keras knows
        if "backend" not in str(exc):
            raise
        raise UsageError(
            f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '')!r} is not a Keras backend "
            f"(dropctl runs on {', '.join(BACKEND_EXTRAS)})") from None
    if keras.backend.backend() == "tensorflow":
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    # Keras' advice ("HDF5 is legacy", "do not pass input_shape"...) is not for our users.
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")
    return keras


def optional_module(name: str, what: str) -> Any:
    """Module ``name`` (an optional runtime such as onnxruntime), imported with fd 2 muted,
    or the :class:`MissingDependencyError` naming the extra that installs it."""
    if sys.modules.get(name) is not None:
        return sys.modules[name]
    try:
        return _muted_import(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: a bug to see
        raise missing(name, what) from None


def _version(*dists: str) -> str:
    """The installed version of the first of ``dists`` that is installed (a nightly provides
    the package under another distribution name: ``keras-hub-nightly``), else ``?``."""
    import importlib.metadata

    for dist in dists:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "?"


def keras_hub_module(what: str = "this command") -> Any:
    """The keras_hub module, imported after Keras; one error naming both versions when it cannot
    import under the installed Keras (keras-hub 0.32.0 on the 3.16 nightly: ``cannot import name
    'get_keras_mask'`` from Keras' private backend package, measured), instead of an ImportError
    from inside the first layer Keras deserializes."""
    from dropctl.reader.versions import installed_keras

    keras = quiet_import_keras(what)
    if sys.modules.get("keras_hub") is not None:
        return sys.modules["keras_hub"]
    try:
        return _muted_import("keras_hub")
    except ModuleNotFoundError as exc:
        if (exc.name or "keras_hub").split(".", 1)[0] in ("keras_hub", "keras_nlp"):
            raise missing("keras_hub", what) from None
        raise MissingDependencyError(
            f"{what} needs keras_hub, which cannot import: it needs {exc.name}, which is not "
            f"installed") from None
    except ImportError as exc:
        keras_version = installed_keras() or str(getattr(keras, "__version__", "?"))
        hub_version = _version("keras-hub", "keras-hub-nightly")
        raise MissingDependencyError(
            f"{what} needs keras_hub, and keras-hub {hub_version} cannot import under "
            f"Keras {keras_version} ({one_line(exc)}); "
            "install a keras-hub release made for this Keras, or the Keras it was made "
            "for") from None


def tf_module(what: str = "this command") -> Any:
    """The tensorflow module (imported quietly), for the code paths that use it directly."""
    quiet_import_keras(what)
    if sys.modules.get("tensorflow") is not None:
        return sys.modules["tensorflow"]
    try:
        return _muted_import("tensorflow")
    except ModuleNotFoundError as exc:
        raise missing(exc.name or "tensorflow", what) from None
