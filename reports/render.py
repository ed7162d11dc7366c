"""Render report sections to one self-contained HTML page and to Markdown.

Every string that comes from the inputs (captions, ids, file names, labels) passes
through :func:`html.escape` (HTML) or :func:`md_escape` (Markdown); figures are inlined
as ``data:`` URIs and a Content-Security-Policy forbids scripts and network loads.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import re

import pandas as pd

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1.5em; color: #222; }
p, figcaption, footer ul { max-width: 60em; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; vertical-align: top; white-space: normal; }
th { vertical-align: bottom; }
th:first-child, td:first-child, td.text { text-align: left; min-width: 8em; }
td.best { font-weight: bold; background: #e6f2ea; }
.notice { border-left: 4px solid #D55E00; background: #fdf0e6; padding: 0.5em 1em; }
img.figure { max-width: 100%; height: auto; display: block; margin: 1em 0; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 12px; }
.card { border: 1px solid #ddd; padding: 6px; font-size: 0.8em; }
.card img { width: 100%; image-rendering: pixelated; } .card .gen { font-weight: bold; margin: 4px 0; }
.card ul { padding-left: 1.2em; margin: 0; color: #555; }
footer { margin-top: 3em; font-size: 0.8em; color: #555; border-top: 1px solid #ddd; }
"""
#: Text in a cell that reads as a number (a value, a difference, a mean ± sd, an interval, a dash) ...
_NUMERIC = re.compile(r"^[−+\-]?(\d|\.\d|—$|\[)")
#: ... unless it holds a word (``3 of 5 comparisons hold``): then it is text.
_WORD = re.compile(r"[^\W\d_]{5,}")
#: An interval ``[lo, hi]``, a ``± sd`` or an ``a vs b`` inside a cell: kept on one line.
_KEEP_WHOLE = re.compile(r"\[[^\]]*\]| ± |[\d.]+ vs [\d.]+")


@dataclasses.dataclass
class Figure:
    """A figure: file name under figures/, PNG bytes and a caption."""

    name: str
    png: bytes
    caption: str


@dataclasses.dataclass
class Section:
    """One report section: a title, a note, tables (with the best cell per column) and figures."""

    title: str
    note: str = ""
    notice: str = ""  # shown first, framed: what the reader must know before reading the section
    tables: list[tuple[str, pd.DataFrame, dict]] = dataclasses.field(default_factory=list)
    figures: list[Figure] = dataclasses.field(default_factory=list)
    gallery: list[dict] = dataclasses.field(default_factory=list)


def _cell(value) -> str:
    if isinstance(value, float):
        return "—" if pd.isna(value) else f"{value:.4g}"
    return "—" if value is None else str(value)


def table_html(table: pd.DataFrame, best: dict) -> str:
    """An escaped HTML table; the best cell of each column gets class ``best``.

    Text wraps at its spaces, numbers never: an interval ``[lo, hi]`` and a ``mean ± sd`` stay
    whole (no-break spaces); cells that are not numbers get class ``text`` (left-aligned).
    """
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "", *table.columns])
    rows = []
    for label, row in table.iterrows():
        cells = [f"<td>{html.escape(str(label))}</td>"]
        for col in table.columns:
            text = _cell(row[col])
            classes = ["best"] if best.get(col) == label else []
            if not _NUMERIC.match(text) or _WORD.search(text):
                classes.append("text")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{cls}>{_keep_numbers_whole(html.escape(text))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _keep_numbers_whole(text: str) -> str:
    """No-break spaces inside each :data:`_KEEP_WHOLE` match: a line never parts a number from its sd or its pair."""
    return _KEEP_WHOLE.sub(lambda m: m.group(0).replace(" ", "\u00a0"), text)


def md_escape(text: str) -> str:
    """Escape Markdown table syntax, emphasis marks (``T*``, ``MAGIC*``) and HTML (``<``, ``>``, ``&``) in a cell.

    Quotes stay as they are: Markdown text is never an HTML attribute value.
    """
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def table_markdown(table: pd.DataFrame, best: dict) -> str:
    """A Markdown table; the best cell of each column in bold."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        cells = [md_escape(label)]
        for col in table.columns:
            text = md_escape(_cell(row[col]))
            cells.append(f"**{text}**" if best.get(col) == label and text != "—" else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page_html(title: str, sections: list[Section], footer: list[str]) -> str:
    """The whole report as one HTML page with everything inlined."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        body.append(f"<section><h2>{html.escape(s.title)}</h2>")
        if s.notice:
            body.append(f'<p class="notice"><strong>{html.escape(s.notice)}</strong></p>')
        if s.note:
            body.append(f"<p>{html.escape(s.note)}</p>")
        for caption, table, best in s.tables:
            body.append(f"<h3>{html.escape(caption)}</h3>{table_html(table, best)}")
        for fig in s.figures:
            body.append(f'<figure><img class="figure" alt="{html.escape(fig.caption, quote=True)}" '
                        f'src="{_data_uri(fig.png)}"><figcaption>{html.escape(fig.caption)}</figcaption></figure>')
        if s.gallery:
            body.append('<div class="gallery">' + "".join(_card(item) for item in s.gallery) + "</div>")
        body.append("</section>")
    body.append("<footer><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in footer) + "</ul></footer>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def _card(item: dict) -> str:
    refs = "".join(f"<li>{html.escape(r)}</li>" for r in item["references"])
    return (f'<div class="card"><img alt="{html.escape(item["image_id"], quote=True)}" src="{_data_uri(item["png"])}">'
            f'<div>{html.escape(item["image_id"])}</div><div class="gen">{html.escape(item["caption"])}</div>'
            f"<ul>{refs}</ul></div>")


def page_markdown(title: str, sections: list[Section], footer: list[str]) -> str:
    """The report as Markdown; figures are linked from figures/."""
    out = [f"# {md_escape(title)}", ""]
    for s in sections:
        out += [f"## {md_escape(s.title)}", ""]
        if s.notice:
            out += [f"> **{md_escape(s.notice)}**", ""]
        if s.note:
            out += [md_escape(s.note), ""]
        for caption, table, best in s.tables:
            out += [f"### {md_escape(caption)}", "", table_markdown(table, best), ""]
        for fig in s.figures:
            out += [f"![{md_escape(fig.caption)}](figures/{fig.name})", ""]
        for item in s.gallery:
            out += [f"- **{md_escape(item['image_id'])}**: {md_escape(item['caption'])} "
                    f"(references: {'; '.join(md_escape(r) for r in item['references'])})"]
        out.append("")
    out += ["---", ""] + [f"- {md_escape(line)}" for line in footer]
    return "\n".join(out) + "\n"
