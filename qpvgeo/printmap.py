"""Print maps for the rapport: a :class:`qpvgeo.maps.MapSpec` drawn by matplotlib on a true page
(A4 or A3, portrait or landscape) with margins, a title block, legend, scale bar, north arrow,
credits, labels placed without overlaps where possible, and an inset that locates the area.

The map is drawn in the territory's metric CRS (never Web Mercator); the scale bar measures the
ground (map length = ground length × the projection's scale factor). Fonts are embedded as
TrueType in PDF and kept as text in SVG, so the names and figures stay searchable
(docs/rules.md §6).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from .errors import InputError

MM = 1 / 25.4  # inches


@dataclass(frozen=True)
class Page:
    """A sheet of paper, in inches."""

    name: str
    width: float
    height: float

    @property
    def landscape(self) -> bool:
        return self.width > self.height

    @property
    def points(self) -> tuple[int, int]:
        """Width and height in PostScript points (A4 portrait: 595 × 842)."""
        return round(self.width * 72), round(self.height * 72)


PAGES = {
    "a4-portrait": Page("a4-portrait", 210 * MM, 297 * MM),
    "a4-landscape": Page("a4-landscape", 297 * MM, 210 * MM),
    "a3-portrait": Page("a3-portrait", 297 * MM, 420 * MM),
    "a3-landscape": Page("a3-landscape", 420 * MM, 297 * MM),
}
FORMATS = ("png", "pdf", "svg")
MIN_SPAN_M = 1200.0  # a 0.6 ha site is shown with its street block and neighbours
MARGIN_IN = 12 * MM
# Fonts as TrueType in PDF/PS (searchable, editable), text kept as text in SVG (layout software).
RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none", "font.family": "DejaVu Sans"}
# Markers per status, so points stay apart in greyscale too (colours: maps.STATUS_COLOURS).
MARKERS = {"in_qpv": "o", "in_band": "^", "in_qic": "D", "in_fragile": "s", "outside": "X", "undecided": "."}
ZORDER = {"context": 0, "epci": 1, "carreaux": 1, "carreaux_fragiles": 1, "features": 7, "band": 2, "parts": 3,
          "quartier": 4, "outline": 4, "flagged": 5,
          "zones": 5, "site": 6, "points": 7}
LABEL_STYLE = {
    "quartier": {"fontsize": 7.5, "fontweight": "bold", "color": "#1a1a1a", "box": 0.75},
    "zone": {"fontsize": 6, "fontweight": "bold", "color": "#0b3d62", "box": 0.6},
    "commune": {"fontsize": 6.5, "fontstyle": "italic", "color": "#4d4d4d", "box": 0.0},
}
# candidate offsets (points) around a label's anchor, tried in order; a quartier's name goes
# beside its outline first, so that the name does not hide the small quartier it names
OFFSETS = [(0, 0), (0, 9), (0, -9), (14, 0), (-14, 0), (12, 8), (-12, 8), (12, -8), (-12, -8), (0, 18), (0, -18),
           (24, 0), (-24, 0)]
OFFSETS_BESIDE = [(0, 16), (0, -16), (30, 0), (-30, 0), (24, 14), (-24, 14), (24, -14), (-24, -14), (0, 26),
                  (0, -26), (0, 0)]


def page(name: str) -> Page:
    try:
        return PAGES[name]
    except KeyError:
        raise InputError(f"unknown page {name!r}: use one of {', '.join(PAGES)}") from None


def extent(spec, crs_m, aspect: float) -> tuple[float, float, float, float]:
    """The metric extent to show: what the spec focuses on (a site, points, a quartier; default:
    everything but context), padded, at least :data:`MIN_SPAN_M` wide, to the frame's aspect."""
    import geopandas as gpd
    import shapely

    from .crs import WGS84
    from .maps import _bounds

    b = spec.focus or _bounds(spec)
    x0, y0, x1, y1 = gpd.GeoSeries([shapely.box(*b)], crs=WGS84).to_crs(crs_m).total_bounds
    w, h = x1 - x0, y1 - y0
    w, h = max(w * 1.12, MIN_SPAN_M), max(h * 1.12, MIN_SPAN_M)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def figure(spec, *, page_name: str = "a4-portrait", inset: bool = True):
    """Draw ``spec`` on a page. Returns the matplotlib Figure (sized to the page)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .crs import metric_crs, scale_factor
    from .maps import _bounds

    pg = page(page_name)
    with matplotlib.rc_context(RC):
        fig = plt.figure(figsize=(pg.width, pg.height))
        mx, my = MARGIN_IN / pg.width, MARGIN_IN / pg.height
        title_h = 0.62 / pg.height
        # the credits run along the bottom (portrait) or the foot of the side column (landscape);
        # legend and inset sit above them, whatever their length
        if pg.landscape:
            side = 0.30
            map_box = [mx, my, 1 - 2 * mx - side, 1 - 2 * my - title_h - 0.05 / pg.height]
            credits_box = [1 - mx - side + 0.015, side - 0.015]
            legend_box = [1 - mx - side + 0.012, 0.0]
            inset_box = [1 - mx - side + 0.03, 1 - my - title_h - 0.05 - (2.2 / pg.height), side - 0.04,
                         2.2 / pg.height]
        else:
            bottom = 0.27 if pg.name.startswith("a4") else 0.22
            map_box = [mx, my + bottom, 1 - 2 * mx, 1 - 2 * my - title_h - bottom - 0.01]
            credits_box = [mx, 1 - 2 * mx]
            legend_box = [mx, 0.0]
            inset_box = [1 - mx - 0.25, 0.0, 0.25, 0.0]
        ax = fig.add_axes(map_box)
        aspect = (map_box[2] * pg.width) / (map_box[3] * pg.height)
        b = _bounds(spec)
        lon_c, lat_c = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        crs_m = metric_crs(lonlat=(lon_c, lat_c))
        x0, y0, x1, y1 = extent(spec, crs_m, aspect)
        _draw_layers(ax, spec, crs_m, (x0, y0, x1, y1))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal", adjustable="box")
        _bare(ax)
        for s in ax.spines.values():
            s.set_linewidth(0.8)
        k = float(scale_factor(crs_m, lon_c, lat_c)[0])
        _scale_bar(ax, k)
        _north_arrow(ax, crs_m, lon_c, lat_c)
        placed = place_labels(ax, spec.labels, crs_m)
        fig.qpvgeo_labels = placed
        spec_key = _label_key(placed)
        _title_block(fig, spec, mx, my, title_h)
        top_of_credits = my + _credits(fig, spec, crs_m, credits_box, my, pg, spec_key) + 0.08 / pg.height
        legend_box[1] = top_of_credits
        _legend(fig, spec, legend_box, pg)
        if inset:
            if not pg.landscape:
                inset_box[1] = top_of_credits + 0.12 / pg.height
                inset_box[3] = map_box[1] - inset_box[1] - 0.3 / pg.height
            if inset_box[3] > 0.6 / pg.height:
                _inset(fig, inset_box, spec, crs_m, (x0, y0, x1, y1))
    return fig


def _label_key(placed) -> str:
    """The quartiers named on the map by their code, or not named for want of room, in words."""
    coded = [f"{p['shown']} : {p['text']}" for p in placed if p["kind"] == "quartier" and p["shown"]
             and p["shown"] != p["text"]]
    missing = [p["text"] for p in placed if p["kind"] == "quartier" and not p["shown"]]
    parts = []
    if coded:
        parts.append("Quartiers désignés par leur code : " + " ; ".join(coded) + ".")
    if missing:
        parts.append(f"Quartiers non nommés faute de place ({len(missing)}) : " + " ; ".join(missing) + ".")
    return " ".join(parts)


def _draw_layers(ax, spec, crs_m, box) -> None:
    import shapely

    from .maps import STATUS_COLOURS, _with_alpha

    view = shapely.box(*box).buffer((box[2] - box[0]) * 0.05)
    for _name, g, style, kind in spec.layers:
        if not len(g):
            continue
        gm = g.to_crs(crs_m)
        gm = gm[gm.intersects(view)]
        if not len(gm):
            continue
        z = ZORDER.get(kind, 3)
        if kind == "points":
            for key, sub in gm.groupby("groupe"):
                sub.plot(ax=ax, color=STATUS_COLOURS.get(key, "#999999"), marker=MARKERS.get(key, "o"),
                         markersize=42, edgecolor="#000000", linewidth=0.6, zorder=z)
        elif kind == "features":
            from .maps import FEATURE_STYLES

            colour, marker = FEATURE_STYLES[style.get("index", 0) % len(FEATURE_STYLES)]
            gm.plot(ax=ax, color=colour, marker=marker, markersize=36, edgecolor="white", linewidth=0.5, zorder=z)
        elif kind == "carreaux":
            gm.plot(ax=ax, color=gm["couleur"].tolist(), edgecolor="none", zorder=z)
        else:
            fill = style.get("fill", True)
            colour = style.get("color", "#000000")
            face = _with_alpha(style.get("fillColor", colour), style.get("fillOpacity", 0.2)) if fill else "none"
            gm.plot(ax=ax, facecolor=face, edgecolor=colour, linewidth=style.get("weight", 1) * 0.6,
                    linestyle="--" if style.get("dashArray") else "-", zorder=z)


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")


def place_labels(ax, labels, crs_m) -> list[dict]:
    """Place labels (``(lon, lat, text, kind[, width_m[, short]])``: quartiers first, then zones,
    then communes) where they overlap no label already placed and stay inside the frame. A
    commune is named only where its name fits within its width. A quartier whose name finds no
    room is labelled by its short form (its code) if that fits, else left for the list of
    quartiers not named on the map; a zone or commune without room is left out.

    Returns one record per label whose anchor is in the frame: ``text``, ``kind``, ``shown``
    (the text drawn, '' when left out) and ``moved`` (the offset used, in points)."""
    import pyproj

    if not labels:
        return []
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    to_m = pyproj.Transformer.from_crs("EPSG:4326", crs_m, always_xy=True)
    frame = ax.get_window_extent(renderer)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    px_per_m = frame.width / (x1 - x0)
    taken = []
    placed = []
    rank = {"quartier": 0, "zone": 1}
    order = sorted(range(len(labels)), key=lambda i: rank.get(labels[i][3], 2))
    for i in order:
        lon, lat, text, kind, *rest = labels[i]
        room = rest[0] * px_per_m if rest and kind == "commune" else None
        short = rest[1] if len(rest) > 1 else ""
        x, y = to_m.transform(lon, lat)
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            continue
        st = LABEL_STYLE.get(kind, LABEL_STYLE["commune"])
        kw = {k: v for k, v in st.items() if k in ("fontsize", "fontweight", "fontstyle", "color")}
        if st["box"]:
            kw["bbox"] = {"boxstyle": "round,pad=0.18", "fc": "white", "ec": "none", "alpha": st["box"]}
        record = {"text": str(text), "kind": kind, "shown": "", "moved": None}
        for shown in [str(text)] + ([short] if short and kind == "quartier" else []):
            wrapped = "\n".join(textwrap.wrap(shown, 24)) or shown
            for dx, dy in OFFSETS_BESIDE if kind == "quartier" else OFFSETS:
                t = ax.annotate(wrapped, (x, y), xytext=(dx, dy), textcoords="offset points", ha="center",
                                va="center", zorder=20 - rank.get(kind, 2), annotation_clip=True, **kw)
                bb = t.get_window_extent(renderer).expanded(1.04, 1.1)
                fits = (bb.x0 >= frame.x0 and bb.x1 <= frame.x1 and bb.y0 >= frame.y0 and bb.y1 <= frame.y1
                        and (room is None or bb.width <= room))
                if fits and not any(bb.overlaps(o) for o in taken):
                    taken.append(bb)
                    record.update(shown=shown, moved=(dx, dy))
                    break
                t.remove()
            if record["shown"]:
                break
        placed.append(record)
    return placed


def _title_block(fig, spec, mx, my, title_h) -> None:
    top = 1 - my
    fig.text(mx, top, spec.title, fontsize=14, fontweight="bold", va="top", ha="left", wrap=True)
    if spec.subtitle:
        fig.text(mx, top - title_h * 0.55, spec.subtitle, fontsize=9, color="#333333", va="top", ha="left")
    fig.add_artist(_hline(fig, mx, 1 - mx, top - title_h * 0.95))


def _hline(fig, x0, x1, y):
    from matplotlib.lines import Line2D

    return Line2D([x0, x1], [y, y], transform=fig.transFigure, color="#555555", linewidth=0.6)


def _legend(fig, spec, box, pg) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .maps import STATUS_COLOURS, _with_alpha

    handles = []
    for colour, label, kind in spec.legend:
        label = "\n".join(textwrap.wrap(label, 62 if pg.landscape else 58))
        if kind == "feature":
            from .maps import FEATURE_STYLES

            marker = dict(FEATURE_STYLES).get(colour, "o")
            handles.append(Line2D([], [], marker=marker, linestyle="", markerfacecolor=colour,
                                  markeredgecolor="white", markersize=8, label=label))
        elif kind == "point":
            key = next((k for k, v in STATUS_COLOURS.items() if v == colour), "")
            handles.append(Line2D([], [], marker=MARKERS.get(key, "o"), linestyle="", markerfacecolor=colour,
                                  markeredgecolor="#000000", markersize=7, label=label))
        elif kind in ("line", "dashed"):
            handles.append(Line2D([], [], color=colour, linewidth=1.6, linestyle="--" if kind == "dashed" else "-",
                                  label=label))
        else:
            handles.append(Patch(facecolor=_with_alpha(colour, 0.55), edgecolor=colour, label=label))
    if not handles:
        return
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(box[0], box[1]), fontsize=6.8, frameon=False,
               borderaxespad=0, borderpad=0,
               title="Légende", title_fontsize=8, alignment="left", labelspacing=0.45, handlelength=1.6)


def _credits(fig, spec, crs_m, box, my, pg, key: str = "") -> float:
    """Write the credits (sources, date, projection, what is not drawn or not named) from the
    bottom margin up, in ``box`` (x, width as figure fractions); return their height."""
    from .maps import STATUS_FR

    text = (key + " " if key else "") + spec.credits + f" Projection : {crs_m.name} (EPSG:{crs_m.to_epsg()})."
    if spec.not_drawn:
        listed = "; ".join(f"{p} ({STATUS_FR.get(st, st).format(band='300')})" for p, st, _ in spec.not_drawn[:8])
        text += (f" Non représentés ({len(spec.not_drawn)}) : {listed}" + (" …" if len(spec.not_drawn) > 8 else "")
                 + ".")
    size = 5.8
    width = int(box[1] * pg.width * 72 / (size * 0.56))  # characters per line
    lines = textwrap.wrap(text, width)
    fig.text(box[0], my, "\n".join(lines), fontsize=size, color="#333333", va="bottom", ha="left",
             linespacing=1.2)
    return len(lines) * size * 1.2 * 1.2 / 72 / pg.height


def _inset(fig, box, spec, crs_m, view) -> None:
    """A small map of the surroundings (département and EPCI outlines, or the quartiers layer)
    with the main map's extent drawn on it."""
    import geopandas as gpd
    import numpy as np
    import shapely

    try:
        from .territory import load_communes

        communes = load_communes().to_crs(crs_m)
    except Exception:  # noqa: BLE001 - context only
        communes = None
    frame = shapely.box(*view)
    ax = fig.add_axes(box)
    base = None
    if communes is not None and communes.intersects(frame).any():
        base = gpd.GeoSeries([shapely.union_all(communes.geometry.values)], crs=crs_m)
        base.plot(ax=ax, facecolor="#e6e6e6", edgecolor="#666666", linewidth=0.5)
        epci = _epci_outlines(communes)
        if epci is not None:
            near = epci[epci.intersects(frame.buffer(max(view[2] - view[0], view[3] - view[1])))]
            near.boundary.plot(ax=ax, color="#8c8c8c", linewidth=0.3)
    else:
        layers = [g.to_crs(crs_m) for _, g, _, kind in spec.layers if kind in ("quartier", "outline") and len(g)]
        if layers:
            pts = gpd.GeoSeries(np.concatenate([lay.geometry.centroid.values for lay in layers]), crs=crs_m)
            base = pts
            pts.plot(ax=ax, color="#666666", markersize=2)
    gpd.GeoSeries([frame], crs=crs_m).boundary.plot(ax=ax, color="#000000", linewidth=1.2)
    if base is not None:
        bx0, by0, bx1, by1 = base.total_bounds
        bx0, by0, bx1, by1 = min(bx0, view[0]), min(by0, view[1]), max(bx1, view[2]), max(by1, view[3])
        w, h = (bx1 - bx0) * 1.1, (by1 - by0) * 1.1
        fw, fh = fig.get_size_inches()
        aspect = (box[2] * fw) / (box[3] * fh)
        w, h = (h * aspect, h) if w / h < aspect else (w, w / aspect)
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        ax.set_xlim(cx - w / 2, cx + w / 2)
        ax.set_ylim(cy - h / 2, cy + h / 2)
    ax.set_aspect("equal", adjustable="box")
    _bare(ax)
    ax.set_title("Situation", fontsize=7, loc="left")
    ax.qpvgeo_inset = True


def _epci_outlines(communes_m):
    from .territory import load_membership

    try:
        m = load_membership()
    except Exception:  # noqa: BLE001 - context only
        return None
    c = communes_m.merge(m[["insee", "siren_epci"]], on="insee", how="inner")
    if c.empty:
        return None
    return c.dissolve(by="siren_epci", as_index=False)


def _scale_bar(ax, k: float) -> None:
    """A scale bar whose length is on the ground (map length = ground length × scale factor)."""
    from .present import grouped

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    nice = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000]
    ground = max([n for n in nice if n * k <= target] or [nice[0]])
    length = ground * k
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.035
    ax.plot([bx, bx + length], [by, by], color="black", linewidth=3.2, solid_capstyle="butt", zorder=30)
    ax.plot([bx, bx + length / 2], [by, by], color="white", linewidth=1.4, solid_capstyle="butt", zorder=31)
    label = f"{grouped(ground / 1000, digits=1 if ground % 1000 else 0)} km" if ground >= 1000 else f"{ground:g} m"
    ax.text(bx + length / 2, by + (y1 - y0) * 0.012, label, ha="center", va="bottom", fontsize=7, zorder=32,
            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7})


def _north_arrow(ax, crs_m, lon, lat) -> None:
    """North arrow towards true north (the grid is rotated by the meridian convergence)."""
    import numpy as np
    import pyproj

    conv = float(pyproj.Proj(crs_m).get_factors(lon, lat).meridian_convergence)
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    cx, cy = x1 - (x1 - x0) * 0.05, y1 - (y1 - y0) * 0.11
    length = (y1 - y0) * 0.055
    a = np.radians(conv)
    dx, dy = -np.sin(a) * length, np.cos(a) * length
    ax.annotate("", xy=(cx + dx, cy + dy), xytext=(cx, cy),
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5}, zorder=32)
    ax.text(cx + dx * 1.3, cy + dy * 1.3, "N", ha="center", va="center", fontsize=9, fontweight="bold", zorder=32)


def save_figure(fig, target, fmt: str, *, dpi: int = 300, title: str = "") -> None:
    """Write a figure as PNG, PDF (TrueType fonts) or SVG (text kept as text)."""
    import matplotlib

    if fmt not in FORMATS:
        raise InputError(f"unknown print format {fmt!r}: use {', '.join(FORMATS)}")
    meta = {"Title": title, "Creator": "qpvgeo"} if fmt in ("pdf", "svg") else None
    with matplotlib.rc_context(RC):
        fig.savefig(target, format=fmt, dpi=dpi, metadata=meta)
