"""One report, written in every format from the same tables and plots: a terminal summary (rich), report.md,
report.html (one self-contained page: tables and base64-embedded plots, opens from disk), report.tex (booktabs)
and one CSV per table. These format values; they never compute them."""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from ablate.report.plots import Image
from ablate.report.tables import Cell, Column, Table
from ablate.scoring import Interval

MANIFEST = "report.files"  # the files the last report wrote here, which the next one replaces


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    header: list[str]
    sections: list[Section]

    @property
    def tables(self) -> list[Table]:
        return [table for section in self.sections for table in section.tables]

    @property
    def images(self) -> list[Image]:
        return [image for section in self.sections for image in section.images]


def _number(x: float, digits: int) -> str:
    return ("inf" if x > 0 else "-inf") if math.isinf(x) else f"{x:.{digits}f}"


def _parts(cell: Cell, column: Column) -> tuple[str, str | None]:
    """A cell as its shown value and, for an interval, its shown interval."""
    if cell is None:
        return "-", None
    if isinstance(cell, Interval):
        low, high = _number(cell.ci_low, column.digits), _number(cell.ci_high, column.digits)
        return _number(cell.value, column.digits), f"[{low}, {high}]"
    if isinstance(cell, float):
        return _number(cell, column.digits), None
    return str(cell), None


def text(cell: Cell, column: Column) -> str:
    """A cell as plain text, e.g. `0.512 [0.401, 0.618]`."""
    value, interval = _parts(cell, column)
    return value if interval is None else f"{value} {interval}"


def _cells(table: Table, fmt: Callable[[str, str | None, bool], str]) -> list[list[str]]:
    """Every row's cells as `fmt` writes a shown value, its interval (or None) and whether it is bold."""
    return [
        [
            fmt(*_parts(cell, column), (i, j) in table.bold)
            for j, (cell, column) in enumerate(zip(row, table.columns, strict=True))
        ]
        for i, row in enumerate(table.rows)
    ]


# -- terminal -------------------------------------------------------------------------------------------------------


def terminal(console: Console, report: Report) -> None:
    """The tables, the status table cut to its incomplete cells, and the notes."""
    console.print(f"[bold]{escape(report.title)}[/]")
    for line in report.header:
        console.print(escape(line))
    for section in report.sections:
        console.rule(escape(section.title))
        for table in section.tables:
            shown = range(len(table.rows)) if table.brief is None else table.brief
            rich = RichTable(title=escape(table.title), title_justify="left")
            for column in table.columns:
                rich.add_column(escape(column.name), overflow="fold")
            for i in shown:
                cells = [text(cell, column) for cell, column in zip(table.rows[i], table.columns, strict=True)]
                rich.add_row(*(Text(c, style="bold" if (i, j) in table.bold else "") for j, c in enumerate(cells)))
            if shown:
                console.print(rich)
            if len(shown) < len(table.rows):
                console.print(f"{len(table.rows) - len(shown)} of {len(table.rows)} rows complete ({table.name}.csv)")
        for note in section.notes:
            console.print(escape(note))


# -- Markdown -------------------------------------------------------------------------------------------------------


def _md(value: str, interval: str | None, bold: bool) -> str:
    shown = f"**{value}**" if bold else value
    return (shown if interval is None else f"{shown} {interval}").replace("|", "\\|")


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", *(f"{line}  " for line in report.header), ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for table in section.tables:
            lines += [f"**{table.title}**", ""]
            lines.append("| " + " | ".join(c.name.replace("|", "\\|") for c in table.columns) + " |")
            lines.append("|" + "|".join(" --- " for _ in table.columns) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in _cells(table, _md)]
            lines += [""] + [f"{note}  " for note in table.notes] + [""]
        lines += [f"{note}  " for note in section.notes]
        lines += [line for image in section.images for line in ("", f"![{image.title}]({image.name})")]
        lines.append("")
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 80em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border-bottom: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #444; }
td.best { font-weight: bold; }
.ci { color: #666; }
.note { color: #555; font-size: 0.9em; }
img { max-width: 100%; }
figure { margin: 1em 0; }
"""


def _html_cell(value: str, interval: str | None, bold: bool) -> str:
    inner = html.escape(value) + (f' <span class="ci">{html.escape(interval)}</span>' if interval else "")
    return f'<td class="best">{inner}</td>' if bold else f"<td>{inner}</td>"


def page(report: Report) -> str:
    """One self-contained page: no script, no stylesheet or image outside it."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        *(f"<p>{html.escape(line)}</p>" for line in report.header),
    ]
    for section in report.sections:
        out.append(f"<section><h2>{html.escape(section.title)}</h2>")
        for table in section.tables:
            out.append(f'<table id="{table.name}"><caption>{html.escape(table.title)}</caption><thead><tr>')
            out += [f"<th>{html.escape(column.name)}</th>" for column in table.columns]
            out.append("</tr></thead><tbody>")
            out += ["<tr>" + "".join(row) + "</tr>" for row in _cells(table, _html_cell)]
            out.append("</tbody></table>")
            out += [f'<p class="note">{html.escape(note)}</p>' for note in table.notes]
        out += [f'<p class="note">{html.escape(note)}</p>' for note in section.notes]
        for image in section.images:
            data = base64.b64encode(image.png).decode("ascii")
            alt = html.escape(image.title)
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"><figcaption>{alt}</figcaption>')
            out.append("</figure>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)


# -- LaTeX ----------------------------------------------------------------------------------------------------------

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_SPECIAL = re.compile("|".join(re.escape(c) for c in _TEX_SPECIALS))
_TEX_WRAP = 40  # a text column with longer cells wraps in a paragraph column
_TEX_FLOAT_ROWS = 30  # a longer table is a longtable, over as many pages as it needs


def tex_escape(value: str) -> str:
    # "--" would print as an en dash, and options must read as typed
    return _TEX_SPECIAL.sub(lambda m: _TEX_SPECIALS[m.group()], value).replace("--", "-{}-")


def _tex_cell(value: str, interval: str | None, bold: bool) -> str:
    if interval is None:
        return rf"\textbf{{{tex_escape(value)}}}" if bold else tex_escape(value)
    shown = rf"\mathbf{{{value}}}" if bold else value
    return rf"${shown}$ {{\scriptsize ${interval}$}}"


def _tex_spec(table: Table) -> str:
    specs = []
    for j in range(len(table.columns)):
        cells = [row[j] for row in table.rows]
        if any(isinstance(c, str) and len(c) > _TEX_WRAP for c in cells):
            specs.append(r">{\raggedright\arraybackslash}p{0.3\linewidth}")
        else:
            specs.append("l" if any(isinstance(c, str) for c in cells) else "r")
    return "".join(specs)


def latex(report: Report) -> str:
    """A standalone document (booktabs tables, the plots beside it as PNG): mean and interval, best in bold."""
    out = [
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[margin=2cm,landscape]{geometry}",
        r"\usepackage{array,booktabs,graphicx,longtable}",
        r"\begin{document}",
        rf"\section*{{{tex_escape(report.title)}}}",
        *(tex_escape(line) + r"\par" for line in report.header),
    ]
    for section in report.sections:
        out.append(rf"\subsection*{{{tex_escape(section.title)}}}")
        for table in section.tables:
            header = " & ".join(tex_escape(column.name) for column in table.columns) + r" \\"
            rows = [" & ".join(row) + r" \\" for row in _cells(table, _tex_cell)]
            caption = rf"\caption{{{tex_escape(table.title)}}}"
            if len(rows) > _TEX_FLOAT_ROWS:  # a float cannot break across pages
                out += [
                    r"{\small\begin{longtable}{" + _tex_spec(table) + "}",
                    caption + r" \\",
                    *(r"\toprule", header, r"\midrule", r"\endhead"),
                    *rows,
                    r"\bottomrule",
                    r"\end{longtable}}",
                ]
            else:
                out += [
                    r"\begin{table}[htbp]\centering\small",
                    caption,
                    rf"\resizebox{{\linewidth}}{{!}}{{\begin{{tabular}}{{{_tex_spec(table)}}}",
                    *(r"\toprule", header, r"\midrule"),
                    *rows,
                    r"\bottomrule",
                    r"\end{tabular}}",
                    r"\end{table}",
                ]
            out += [tex_escape(note) + r"\par" for note in table.notes]
        out += [tex_escape(note) + r"\par" for note in section.notes]
        for image in section.images:
            out += [
                r"\begin{figure}[htbp]\centering",
                rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]{{{image.name}}}",
                rf"\caption{{{tex_escape(image.title)}}}",
                r"\end{figure}",
            ]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


# -- CSV ------------------------------------------------------------------------------------------------------------


def table_csv(table: Table) -> str:
    """Full precision; an interval column becomes three: the value, `<name> ci_low` and `<name> ci_high`."""
    intervals = [any(isinstance(row[j], Interval) for row in table.rows) for j in range(len(table.columns))]
    header = []
    for column, interval in zip(table.columns, intervals, strict=True):
        header += [column.name] + ([f"{column.name} ci_low", f"{column.name} ci_high"] if interval else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        cells: list[object] = []
        for cell, interval in zip(row, intervals, strict=True):
            if isinstance(cell, Interval):
                cells += [cell.value, cell.ci_low, cell.ci_high]
            else:
                cells += [cell] + (["", ""] if interval else [])
        writer.writerow(["" if c is None else c for c in cells])
    return buffer.getvalue()


def write(report: Report, out: Path) -> list[Path]:
    """Every file of the report into `out`; the files an earlier report wrote there are replaced."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists():
        for name in manifest.read_text().split():
            (out / Path(name).name).unlink(missing_ok=True)
    files: dict[str, str | bytes] = {
        "report.md": markdown(report),
        "report.html": page(report),
        "report.tex": latex(report),
        **{f"{table.name}.csv": table_csv(table) for table in report.tables},
        **{image.name: image.png for image in report.images},
    }
    paths = []
    for name, content in files.items():
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        paths.append(path)
    manifest.write_text("\n".join(files) + "\n")
    return paths
