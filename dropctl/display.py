"""Notebook and Rich display of the results: ``_repr_html_`` and ``__rich__``, once for all.

The reports of ``inspect``, ``check``, ``mc-predict``, ``diff`` and ``convert`` inherit
:class:`Displayable`, so the last expression of a Jupyter/Colab cell shows the same tables the
CLI prints (as HTML), and ``rich.print(report)`` prints them. The drawing is the rendering
layer's (:mod:`dropctl.render.notebook`, reusing the text renderers), which sits above the
results; so this module imports nothing of dropctl: the package facade (``dropctl/__init__.py``,
which runs before any submodule is used) installs the two renderers here, and they import the
rendering layer only when a report is displayed. Imports keep running down the floors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_RENDERERS: dict[str, Callable[[Any], Any]] = {}


def install(*, html: Callable[[Any], str], rich: Callable[[Any], Any]) -> None:
    """Set the functions that draw a result as HTML and as a Rich renderable."""
    _RENDERERS.update(html=html, rich=rich)


class Displayable:
    """Mixin for frozen result dataclasses: HTML in notebooks, Rich renderables in consoles."""

    __slots__ = ()

    def __rich__(self) -> Any:
        return _RENDERERS["rich"](self)

    def _repr_html_(self) -> str:
        return str(_RENDERERS["html"](self))
