"""Reports as Rich renderables and HTML for notebooks: the text renderers, reused.

:func:`renderable` picks the renderer the CLI uses for each result type (``inspect``'s tables,
``check``'s listing, ``mc-predict``'s, ``diff``'s and ``evaluate``'s tables, ``convert``'s
plan);
:func:`to_html` records it with Rich and exports inline-styled HTML, the fragment Jupyter and
Colab show for ``_repr_html_``. Strings from the file are escaped first
(:func:`dropctl.render.safe.escape_all`), as for the terminal.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from dropctl.render.safe import escape_all

_WIDTH = 120
_HTML = ('<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
         "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>")


def _recorded(print_to: Any) -> Text:
    """What ``print_to(console)`` prints, as styled Text (for renderers that print)."""
    buf = io.StringIO()
    console = Console(file=buf, width=_WIDTH, force_terminal=True, color_system="truecolor",
                      force_jupyter=False, legacy_windows=False)
    print_to(console)
    return Text.from_ansi(buf.getvalue().rstrip("\n"))


def renderable(result: Any) -> RenderableType:
    """The CLI's human report for ``result`` as one Rich renderable."""
    from dropctl.conversion.report import ConvertReport
    from dropctl.policy.results import CheckReport
    from dropctl.reader.report import InspectReport

    shown = escape_all(result)
    if isinstance(shown, InspectReport):
        from dropctl.render.inspect_text import is_large, render_inspect, render_inspect_plain

        if is_large(shown):
            return Text(render_inspect_plain(shown))
        return render_inspect(shown)
    if isinstance(shown, CheckReport):
        from dropctl.render.check_text import print_text

        return _recorded(lambda console: print_text(shown, console))
    if isinstance(shown, ConvertReport):
        from dropctl.render.convert import render_plan, summary_line

        return Group(render_plan(shown), Text(summary_line(shown)))
    from dropctl.mc.evaluation import Evaluation

    if isinstance(shown, Evaluation):
        from dropctl.render.evaluation import evaluation_tables

        return Group(*evaluation_tables(shown))
    from dropctl.render.mc import diff_tables, mc_tables

    if hasattr(shown, "predict_culprits"):  # mc.diff.DiffResult (mc/ imports the runtime)
        return Group(*diff_tables(shown))
    if hasattr(shown, "outputs") and hasattr(shown, "passes"):  # mc.results.MCResult/MCReport
        from dropctl.render.calibration import check_tables
        from dropctl.render.evaluation import evaluation_tables

        ev, checks = getattr(shown, "evaluation", None), getattr(shown, "calibration_checks", ())
        return Group(*mc_tables(shown, getattr(shown, "reliability", None)),
                     *(evaluation_tables(ev) if ev is not None else []),
                     *(check_tables(checks) if checks else []))
    raise TypeError(f"no notebook renderer for {type(result).__name__}")


def to_html(result: Any) -> str:
    """``result``'s report as an HTML fragment (inline styles, no document around it)."""
    console = Console(file=io.StringIO(), record=True, width=_WIDTH, force_terminal=True,
                      color_system="truecolor", force_jupyter=False, legacy_windows=False)
    console.print(renderable(result))
    return console.export_html(inline_styles=True, code_format=_HTML)
