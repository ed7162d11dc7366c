"""Result tables that can be read at any terminal width: numbers are never cut.

The one home of how ``measure``, ``align compare`` and ``caption eval``/``score`` print their
results. A table is a label column (metric or method names) beside columns of numbers. Each
number column is exactly as wide as its widest cell, so no number wraps or loses a digit;
headers and labels wrap (``overflow="fold"``, never an ellipsis). When the number columns do
not fit beside the labels, they are split over several tables, each repeating the labels.
"""

from __future__ import annotations

import re
from typing import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

#: Narrowest the label column is squeezed to before the number columns are split over tables.
LABEL_MIN_WIDTH = 12
#: Widest a header alone makes its column (longer headers fold onto more lines).
HEADER_MAX_WIDTH = 12


def _cell_width(markup: str) -> int:
    """Widest line of a cell, as printed (markup removed)."""
    return max(cell_len(line) for line in Text.from_markup(markup).plain.split("\n"))


def _column_width(header: str, cells: Sequence[str]) -> int:
    """Every cell on its lines unbroken; the header's longest word too, up to HEADER_MAX_WIDTH."""
    word = max((cell_len(w) for w in re.split(r"(?<=[_\- ])", header)), default=1)
    return max([min(word, HEADER_MAX_WIDTH), *(_cell_width(c) for c in cells)])


def _wrap_label(label: str, width: int) -> str:
    """``label`` broken after ``_``, ``-`` or spaces into lines of at most ``width`` where it can be."""
    lines = [""]
    for part in filter(None, re.findall(r"[^_\- ]*[_\- ]?", label)):
        if lines[-1] and cell_len(lines[-1] + part.rstrip()) > width:
            lines[-1] = lines[-1].rstrip()
            lines.append("")
        lines[-1] += part
    return "\n".join(line.rstrip() for line in lines)


def _table_width(label: int, columns: Sequence[int]) -> int:
    """Printed width of a rich Table (default box and padding) with these content widths."""
    return label + sum(columns) + 3 * (len(columns) + 1) + 1


def fit_tables(width: int, title: str, corner: str, labels: Sequence[str],
               columns: Sequence[tuple[str, Sequence[str]]]) -> list[Table]:
    """Tables of ``labels`` (rows) by ``columns`` that fit ``width`` characters, numbers whole.

    Parameters
    ----------
    width : int
        Characters available (the console width).
    title : str
        Title of the first table (plain text); later ones say "(continued)".
    corner : str
        Header of the label column.
    labels : sequence of str, length R
        Row labels (plain text); they wrap when space is short.
    columns : sequence of (str, sequence of str)
        Header (plain text) and R cells (rich markup) of each number column, in order.

    Returns
    -------
    list of rich.table.Table
        One table when every column fits beside the labels; else consecutive groups of columns.
    """
    widths = [_column_width(header, cells) for header, cells in columns]
    label_need = max(cell_len(s) for s in [corner, *labels])
    label_min = min(label_need, LABEL_MIN_WIDTH)
    groups: list[list[int]] = [[]]
    for i, w in enumerate(widths):
        group = groups[-1]
        if group and _table_width(label_min, [widths[j] for j in group] + [w]) > width:
            groups.append([])
        groups[-1].append(i)
    tables = []
    for n, group in enumerate(groups):
        label_width = max(1, min(label_need, width - _table_width(0, [widths[j] for j in group])))
        table = Table(title=escape(title if n == 0 else f"{title} (continued)"), title_justify="left")
        table.add_column(escape(corner), style="bold", width=label_width, overflow="fold")
        for j in group:
            table.add_column(escape(_wrap_label(columns[j][0], widths[j])), justify="right", width=widths[j],
                             overflow="fold")
        for r, label in enumerate(labels):
            table.add_row(escape(_wrap_label(label, label_width)), *(columns[j][1][r] for j in group))
        tables.append(table)
    return tables


def print_tables(console: Console, title: str, corner: str, labels: Sequence[str],
                 columns: Sequence[tuple[str, Sequence[str]]], *, before: Sequence[str] = (),
                 after: Sequence[str] = ()) -> None:
    """Print :func:`fit_tables` at the console's width, with plain-text lines ``before`` and ``after``.

    ``before`` carries what would not fit in a header (set paths, what each column is), one
    line each, wrapped by the terminal rather than cut.
    """
    for line in before:
        console.print(escape(line), highlight=False)
    for table in fit_tables(console.width, title, corner, labels, columns):
        console.print(table)
    for line in after:
        console.print(escape(line), highlight=False)
