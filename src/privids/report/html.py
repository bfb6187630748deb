"""A self-contained ``report.html``: inline CSS, figures embedded as base64 PNG, no scripts."""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Figure", "Section", "Table", "Text", "format_cell", "render_report", "write_report"]

SYNTHETIC_BANNER = (
    "Synthetic data: these flows were generated from per-class statistics of CIC-IDS2017 "
    "(privids demo dataset). They are not real captures; the numbers show how the study works, "
    "not how a detector performs on real traffic. Run with --data on real flows for that."
)


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (escaped; blank lines start new paragraphs)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of values; floats are shown with 4 significant digits, None as a dash.

    Parameters
    ----------
    columns : sequence of str
    rows : sequence of sequence
        Each row has one value per column.
    caption : str, default=""
    """

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG image embedded as a data URI.

    Parameters
    ----------
    png : bytes
        Image bytes (e.g. from :mod:`privids.report.figures`).
    caption : str, default=""
        Shown under the image and used as its alt text.
    """

    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class Section:
    """One titled part of the report.

    Parameters
    ----------
    title : str
    blocks : sequence of Text, Table or Figure
    status : str, default=""
        Shown next to the title, e.g. ``"not run: privids.federated has not landed"``.
    """

    title: str
    blocks: Sequence[Text | Table | Figure] = field(default_factory=tuple)
    status: str = ""

    @property
    def anchor(self) -> str:
        """The id used in the table of contents."""
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2430;
 background:#f6f7f9;margin:0}
main{max-width:1040px;margin:0 auto;padding:24px 28px 60px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;padding-top:10px;border-top:1px solid #e3e6ea}
.meta{color:#5b6573;font-size:13px;margin-bottom:18px}
.banner{background:#fff4d6;border:2px solid #e0a800;color:#5c4300;padding:12px 16px;border-radius:6px;
 font-weight:600;margin:14px 0 18px}
nav ol{columns:2;font-size:14px;margin:6px 0 0;padding-left:20px}nav a{color:#1f5f8b;text-decoration:none}
.status{font-size:13px;font-weight:400;color:#8a5a00;margin-left:10px}
table{border-collapse:collapse;margin:10px 0 6px;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e3e6ea;padding:4px 10px;text-align:right}
th{background:#f0f2f5;font-weight:600}td:first-child,th:first-child,td.t{text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;color:#333;padding:4px 0}
figure{margin:14px 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;height:auto;border:1px solid #eceff2}
figcaption{font-size:13px;color:#5b6573;max-width:600px}
p{margin:8px 0;max-width:820px}
"""


def format_cell(value: object) -> str:
    """Text of one table cell: floats to 4 significant digits, ints with separators.

    Examples
    --------
    >>> format_cell(0.987654), format_cell(12345), format_cell(None), format_cell(float("nan"))
    ('0.9877', '12,345', '—', '—')
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        return f"{value:.4g}"
    return str(value)


def _cell(v: object) -> str:
    # Numbers align right for comparison down a column; words read better left-aligned.
    cls = ' class="t"' if isinstance(v, str) else ""
    return f"<td{cls}>{html.escape(format_cell(v))}</td>"


def _block(b: Text | Table | Figure) -> str:
    if isinstance(b, Text):
        return "".join(f"<p>{html.escape(p.strip())}</p>" for p in b.text.split("\n\n") if p.strip())
    if isinstance(b, Table):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.columns)
        body = "".join(
            "<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in b.rows
        )
        cap = f"<caption>{html.escape(b.caption)}</caption>" if b.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        cap = html.escape(b.caption)
        return f'<figure><img alt="{cap}" src="data:image/png;base64,{data}"><figcaption>{cap}</figcaption></figure>'
    raise TypeError(f"report blocks must be Text, Table or Figure; got {type(b).__name__}; wrap the value in one.")


def render_report(
    sections: Sequence[Section], *, title: str, synthetic: bool, subtitle: str = "", generated: datetime | None = None
) -> str:
    """Render the whole report as one HTML string with nothing loaded from elsewhere.

    Parameters
    ----------
    sections : sequence of Section
    title : str
    synthetic : bool
        Show the plain "synthetic data" banner at the top (demo data).
    subtitle : str, default=""
        One line under the title (data source, fingerprint, config).
    generated : datetime or None
        Timestamp shown in the header (None: now, UTC).

    Returns
    -------
    str
        A complete HTML document.

    Examples
    --------
    >>> out = render_report([Section("Data", [Text("a < b")])], title="t", synthetic=True)
    >>> "a &lt; b" in out and "Synthetic data" in out and "<script" not in out
    True
    """
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="meta">{html.escape(subtitle)}{" · " if subtitle else ""}generated {when} by privids</div>',
    ]
    if synthetic:
        parts.append(f'<div class="banner" role="note">{html.escape(SYNTHETIC_BANNER)}</div>')
    parts.append(f"<nav><strong>Contents</strong><ol>{toc}</ol></nav>")
    for s in sections:
        status = f'<span class="status">{html.escape(s.status)}</span>' if s.status else ""
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}{status}</h2>')
        parts.extend(_block(b) for b in s.blocks)
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(document: str, path: str | Path) -> Path:
    """Write a rendered report (UTF-8) and return its path, creating parent folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(document, encoding="utf-8")
    return p
