"""Notebook and Rich display of the results: ``_repr_html_`` and ``__rich__``, once for all.

The reports of ``inspect``, ``check``, ``mc-predict``, ``diff`` and ``convert`` inherit
:class:`Displayable`, so the last expression of a Jupyter/Colab cell shows the same tables the
CLI prints (as HTML), and ``rich.print(report)`` prints them. The formatting is the rendering
layer's (:mod:`dropctl.render.notebook`, reusing the text renderers); it is imported only when a
report is displayed, so the static ``inspect``/``check`` path never loads it. This is the one
import from a result up to the rendering layer, and only display hooks make it (the
architecture test allows exactly this edge).
"""

from __future__ import annotations

from typing import Any


class Displayable:
    """Mixin for frozen result dataclasses: HTML in notebooks, Rich renderables in consoles."""

    __slots__ = ()

    def __rich__(self) -> Any:
        from dropctl.render.notebook import renderable

        return renderable(self)

    def _repr_html_(self) -> str:
        from dropctl.render.notebook import to_html

        return to_html(self)
