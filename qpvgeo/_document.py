"""One content model for the rapport's pages (fiches quartier, their index, the zones sheet),
rendered two ways: a self-contained HTML page (offline, prints on A4) and A4 PDF pages drawn by
matplotlib with TrueType fonts, so that every name and figure stays searchable text.
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field


@dataclass
class Table:
    headers: list
    rows: list  # lists of str
    widths: list | None = None  # relative column widths for the PDF
    size: float = 7.5  # font size in the PDF


@dataclass
class Section:
    title: str
    rows: list = field(default_factory=list)  # (label, value)
    items: list = field(default_factory=list)  # bullet points
    table: Table | None = None
    note: str = ""


@dataclass
class Document:
    title: str
    subtitle: str = ""
    sections: list = field(default_factory=list)
    footer: str = ""
    maps: list = field(default_factory=list)  # MapSpec drawn as map pages (SVG inline in HTML)
    links: dict = field(default_factory=dict)  # cell text -> href (HTML only)


# ----------------------------------------------------------------------------------- HTML
STYLE = """
body{font:10pt/1.4 "DejaVu Sans",Arial,sans-serif;margin:12mm;color:#1a1a1a;max-width:190mm}
h1{font-size:16pt;margin:0 0 2mm}h2{font-size:11.5pt;margin:5mm 0 1.5mm;border-bottom:1px solid #999}
.sub{color:#444;margin:0 0 4mm}table{border-collapse:collapse;width:100%;margin:1mm 0}
th,td{border-bottom:1px solid #ccc;padding:2px 5px;text-align:left;vertical-align:top}th{background:#eee}
td.k{width:38%;color:#333}.note{color:#444;font-size:9pt}.foot{color:#444;font-size:8pt;margin-top:6mm}
.map svg{width:100%;height:auto}.map{page-break-before:always}
@page{size:A4 portrait;margin:10mm}@media print{body{margin:0}}
"""


def to_html(doc: Document, *, map_html: list[str] = (), style: str = "") -> str:
    """The document as one self-contained page; ``map_html`` (inline SVG or a data-URI image) are
    its map pages."""
    def cell(text):
        t = html.escape(str(text))
        href = doc.links.get(str(text)) or (str(text) if str(text).startswith(("https://", "http://")) else None)
        return f'<a href="{html.escape(href)}">{t}</a>' if href else t

    parts = [f"<h1>{html.escape(doc.title)}</h1>"]
    if doc.subtitle:
        parts.append(f'<p class="sub">{html.escape(doc.subtitle)}</p>')
    for s in doc.sections:
        parts.append(f"<section><h2>{html.escape(s.title)}</h2>")
        if s.rows:
            parts.append("<table>" + "".join(f'<tr><td class="k">{html.escape(k)}</td><td>{cell(v)}</td></tr>'
                                             for k, v in s.rows) + "</table>")
        if s.table is not None:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in s.table.headers)
            body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in s.table.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if s.items:
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in s.items) + "</ul>")
        if s.note:
            parts.append(f'<p class="note">{html.escape(s.note)}</p>')
        parts.append("</section>")
    if doc.footer:
        parts.append(f'<p class="foot">{html.escape(doc.footer)}</p>')
    for block in map_html:
        parts.append(f'<div class="map">{block}</div>')
    return ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(doc.title)}</title><style>{STYLE}{style}</style></head><body>"
            + "".join(parts) + "</body></html>")


def svg_of(fig) -> str:
    """A figure as inline SVG (text kept as text), without the XML prolog."""
    import io

    from .printmap import save_figure

    buf = io.StringIO()
    save_figure(fig, buf, "svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]


# ------------------------------------------------------------------------------------ PDF
class _Flow:
    """Lines of text laid down an A4 page, top to bottom, a new page when one is full."""

    def __init__(self, pdf, page_name: str, footer: str, first_page: int = 1):
        from .printmap import MARGIN_IN, page

        self.pdf, self.pg, self.footer = pdf, page(page_name), footer
        self.m = MARGIN_IN
        self.fig = None
        self.y = 0.0
        self.pages = 0
        self.first = first_page

    def _new(self):
        import matplotlib.pyplot as plt

        self.close()
        self.fig = plt.figure(figsize=(self.pg.width, self.pg.height))
        self.y = self.pg.height - self.m
        self.pages += 1

    def close(self):
        import matplotlib.pyplot as plt

        if self.fig is not None:
            if self.footer:
                self._text(self.m, self.m * 0.6, self.footer, 6.5, color="#444444", width=self.pg.width - 2 * self.m)
            self._text(self.pg.width - self.m, self.m * 0.6, f"{self.first + self.pages - 1}", 7, ha="right")
            self.pdf.savefig(self.fig)
            plt.close(self.fig)
            self.fig = None

    def _text(self, x, y, text, size, *, width=None, ha="left", **kw):
        lines = _wrap(text, size, width) if width else [text]
        self.fig.text(x / self.pg.width, y / self.pg.height, "\n".join(lines), fontsize=size, ha=ha, va="bottom", **kw)

    def need(self, height):
        if self.fig is None or self.y - height < self.m + 0.35:
            self._new()

    def line(self, text, size=9.0, *, x=0.0, width=None, gap=0.25, **kw):
        width = width or (self.pg.width - 2 * self.m - x)
        lines = _wrap(text, size, width)
        h = len(lines) * size * 1.32 / 72
        self.need(h)
        self.fig.text((self.m + x) / self.pg.width, (self.y - h) / self.pg.height, "\n".join(lines), fontsize=size,
                      va="bottom", ha="left", linespacing=1.25, **kw)
        self.y -= h + gap * size / 72

    def rule(self):
        from matplotlib.lines import Line2D

        self.fig.add_artist(Line2D([self.m / self.pg.width, 1 - self.m / self.pg.width],
                                   [self.y / self.pg.height] * 2, transform=self.fig.transFigure,
                                   color="#999999", linewidth=0.5))
        self.y -= 0.06

    def row(self, cells, widths, size=8.0, **kw):
        total = self.pg.width - 2 * self.m
        cols = [w / sum(widths) * total for w in widths]
        wrapped = [_wrap(str(c), size, w - 0.08) for c, w in zip(cells, cols)]
        h = max(len(w) for w in wrapped) * size * 1.3 / 72
        self.need(h)
        x = self.m
        for lines, w in zip(wrapped, cols):
            self.fig.text(x / self.pg.width, self.y / self.pg.height, "\n".join(lines), fontsize=size,
                          va="top", ha="left", linespacing=1.2, **kw)
            x += w
        self.y -= h + 0.04


def _wrap(text: str, size: float, width_in: float) -> list[str]:
    chars = max(8, int(width_in * 72 / (size * 0.58)))  # DejaVu Sans: about 0.58 em per character
    out = []
    for para in str(text).split("\n"):
        out.extend(textwrap.wrap(para, chars) or [""])
    return out


def to_pdf(doc: Document, pdf, *, page_name: str = "a4-portrait", maps_last: bool = False) -> int:
    """Append the document's pages to an open ``matplotlib.backends.backend_pdf.PdfPages``:
    the map pages, then the text (the text first with ``maps_last``). Returns the number of
    pages written."""
    import matplotlib
    import matplotlib.pyplot as plt

    from .printmap import RC, figure

    def map_pages() -> int:
        for spec in doc.maps:
            fig = figure(spec, page_name=page_name)
            pdf.savefig(fig)
            plt.close(fig)
        return len(doc.maps)

    with matplotlib.rc_context(RC):
        n = 0 if maps_last else map_pages()
        f = _Flow(pdf, page_name, doc.footer, first_page=n + 1)
        f.line(doc.title, 15, fontweight="bold")
        if doc.subtitle:
            f.line(doc.subtitle, 9.5, color="#333333")
        f.rule()
        for s in doc.sections:
            f.need(0.9)
            f.line(s.title, 11.5, fontweight="bold", gap=0.5)
            for k, v in s.rows:
                f.row([k, v], [0.38, 0.62], size=8.5)
            if s.table is not None:
                widths = s.table.widths or [1] * len(s.table.headers)
                f.row(s.table.headers, widths, size=s.table.size, fontweight="bold")
                for r in s.table.rows:
                    f.row(r, widths, size=s.table.size)
            for item in s.items:
                f.line("• " + item, 8.5, x=0.1, gap=0.1)
            if s.note:
                f.line(s.note, 7.5, color="#444444")
            f.y -= 0.08
        f.close()
        n += f.pages
        if maps_last:
            n += map_pages()
    return n
