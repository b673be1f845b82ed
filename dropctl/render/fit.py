"""Tables that fit the terminal: paths wrap, numbers and short words are never truncated.

Rich shrinks every column of a table wider than the console and cuts cells with an ellipsis,
so a long site path used to turn a rate into ``0.0058...`` and a header into ``predic...``.
:func:`fitted_table` gives each column a minimum width equal to its widest cell (header
included), except the columns named in ``wrap`` (paths, notes), which fold onto more lines
instead; the console width comes from ``COLUMNS`` when set (see
:func:`dropctl.cli._app.out_console`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

MIN_WRAP = 16
"""Narrowest a wrapped (path) column may become before the table turns into a list."""


def _width(cell: Any) -> int:
    if isinstance(cell, Text):
        return max((len(line) for line in cell.plain.splitlines()), default=0)
    return max((len(line) for line in str(cell).splitlines()), default=0)


class FittedTable:
    """A table, or on a console too narrow for its unbreakable columns, the same rows as a
    list (``header: value`` lines per row): a value is never cut."""

    def __init__(self, table: Table, headers: Sequence[str], rows: list[list[Any]],
                 needed: int, title: Any) -> None:
        self.table, self.headers, self.rows, self.needed, self.title = (
            table, headers, rows, needed, title)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width >= self.needed:
            yield self.table
            return
        if self.title:
            yield Text(str(self.title), style="italic")
        label = max(len(h) for h in self.headers)
        for row in self.rows:
            for head, cell in zip(self.headers, row, strict=True):
                line = Text(f"{head:>{label}}: ", style="bold")
                line.append(cell if isinstance(cell, Text) else Text(str(cell)))
                yield line
            yield Text("")


def fitted_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                 wrap: Iterable[str] = ("site",), right: Iterable[str] = (),
                 **table_options: Any) -> FittedTable:
    """A Rich table whose ``wrap`` columns fold and whose other columns are never cut."""
    cells: list[list[Any]] = [list(r) for r in rows]
    wrapped, righted = set(wrap), set(right)
    table = Table(**table_options)
    needed = 1  # the left border; each column adds its width, padding (2) and a border (1)
    for i, head in enumerate(headers):
        if head in wrapped:
            widest = max([len(head), *(_width(r[i]) for r in cells)])
            table.add_column(head, overflow="fold", min_width=min(widest, MIN_WRAP))
            needed += min(widest, MIN_WRAP) + 3
        else:
            # As wide as its widest cell, so no value is ever cut; a long header wraps
            # between words ("predict() / Keras 2") instead of being truncated.
            widest = max([*(len(w) for w in head.split()), *(_width(r[i]) for r in cells)])
            table.add_column(head, overflow="fold", min_width=widest,
                             justify="right" if head in righted else "left")
            needed += widest + 3
    needed -= 2 * (table_options.get("show_edge") is False) + 2 * (
        table_options.get("pad_edge") is False)
    for r in cells:  # plain strings as Text: "[/bold]" in a layer name is not Rich markup
        table.add_row(*(Text(c) if isinstance(c, str) else c for c in r))
    return FittedTable(table, headers, cells, needed, table_options.get("title"))
