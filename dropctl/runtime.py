"""Importing TensorFlow and Keras, once and quietly, for the commands that run models.

TensorFlow 2.21 prints oneDNN/CUDA start-up lines from C++ on file descriptor 2 even
with ``TF_CPP_MIN_LOG_LEVEL=3`` (measured), which would bury dropctl's one-line errors
and progress output. Every module that needs Keras imports it through here;
``inspect``, ``check`` (without ``--probe``) and ``--help`` never call this.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any


def quiet_import_tensorflow() -> None:
    """Import tensorflow and keras with fd 2 muted, and turn their Python logging down."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    from absl import logging as absl_logging

    # Keras' advice ("HDF5 is legacy", "do not pass input_shape"...) is not for our users.
    absl_logging.set_verbosity(absl_logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")


def keras_module() -> Any:
    """The keras module, with dropctl's always-on layers registered for deserialization."""
    quiet_import_tensorflow()
    import keras

    import dropctl.layers  # noqa: F401  registers AlwaysDropout & co.

    return keras


def tf_module() -> Any:
    """The tensorflow module (imported quietly)."""
    quiet_import_tensorflow()
    import tensorflow as tf

    return tf
