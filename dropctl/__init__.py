"""dropctl: the dropout behaviour of saved Keras models.

Public API (TensorFlow is imported only by the functions that run a model)::

    dropctl.inspect(path)            -> InspectReport   (static, never imports TensorFlow)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dropctl.report import InspectReport

__all__ = ["__version__", "inspect"]


def inspect(path: Any, *, include_layers: bool = True) -> InspectReport:
    """Read ``path`` statically and report every stochastic site and finding.

    Never imports TensorFlow or Keras and never executes anything from the file.
    Raises :class:`dropctl.errors.ArtifactError` for unreadable artifacts.
    """
    from dropctl.inspection import inspect_path

    return inspect_path(path, include_layers=include_layers)
