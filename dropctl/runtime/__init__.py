"""The runtime: the only package that imports Keras and its backend (TensorFlow, JAX, torch).

* :mod:`~dropctl.runtime.imports`: the one quiet import, and the "install dropctl[EXTRA]" error;
* :mod:`~dropctl.runtime.compat`: every private Keras access and version switch;
* :mod:`~dropctl.runtime.loader`: the one path from a file to a ``keras.Model`` (static read,
  legacy rescue, build from config in safe mode, weights checked complete) and the stochastic
  sites of a loaded model.

Static code (:mod:`dropctl.reader`, :mod:`dropctl.policy` without ``--probe``, rendering, the
CLI) never imports this package; the commands that run a model call into it. It stands above
:mod:`dropctl.layers` (the always-on classes every model is built with) and the static reader,
and imports nothing of the floors above it (mc, conversion, policy, render, cli).
"""

from __future__ import annotations

from typing import Any


def keras_module(what: str = "this command") -> Any:
    """The keras module, quietly imported, with dropctl's always-on layers registered (Keras
    first, so the import of :mod:`dropctl.layers` finds it loaded and stays quiet)."""
    from dropctl.runtime.imports import quiet_import_keras

    keras = quiet_import_keras(what)
    import dropctl.layers  # noqa: F401  registers AlwaysDropout & co.

    return keras
