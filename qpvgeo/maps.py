"""Maps for the screen (Folium, self-contained HTML that opens offline) and for print (PNG/PDF
drawn with matplotlib, without web tiles). Legends and labels are in French (docs/rules.md §6).

Stable colours, so that years can be compared: QPV red, QIC purple, 300 m zone orange,
quartiers fragiles blue; the poverty classes in viridis (distinct in greyscale and for
colour-blind readers, never the QPV red); checked points by status in the Okabe–Ito colours,
never red on red (and, in print, by marker shape as well).
"""

from __future__ import annotations

import base64
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from . import _io
from . import status as _status
from .carreaux import with_squares
from .crs import WGS84, metric_crs
from .eligibility import Checker
from .errors import InputError
from .present import decimal_comma, percent

log = logging.getLogger(__name__)

COLOURS = {"QPV": "#c0392b", "QIC": "#8e44ad", "fragile": "#2471a3", "band": "#e69f00", "zone": "#56b4e9",
           "epci": "#404040", "commune": "#8c8c8c"}
STATUS_COLOURS = {"in_qpv": "#0072b2", "in_band": "#009e73", "in_qic": "#cc79a7", "in_fragile": "#56b4e9",
                  "outside": "#f0e442", "undecided": "#999999"}
STATUS_FR = {**_status.LABELS_FR, "undecided": "non décidé"}
CLASSE_FR = {"QPV": "Quartier prioritaire de l'État (QPV)", "QIC": "Quartier prioritaire communautaire (QIC)",
             "fragile": "Quartier fragile"}
RATE_BINS = [0.0, 0.10, 0.20, 0.30, 0.40, 1.0001]
RATIO_BINS = [0.0, 1.0, 1.5, 2.0, 3.0, np.inf]
SCALE = ["#fde725", "#5ec962", "#21918c", "#3b528b", "#440154"]  # viridis, 5 classes
SIG_URL = "https://sig.ville.gouv.fr/territoire/{code}"
DISPLAY_TOLERANCE_M = 0.5  # below what anyone can see at street zoom


@dataclass
class MapSpec:
    """What a map shows, independent of how it is drawn (Folium or matplotlib)."""

    title: str
    layers: list = field(default_factory=list)  # (name, GeoDataFrame in WGS84, style dict, kind)
    legend: list = field(default_factory=list)  # (colour, label, kind: fill|line|point)
    sources: list = field(default_factory=list)
    not_drawn: list = field(default_factory=list)  # (place, status, note): rows listed, not drawn
    labels: list = field(default_factory=list)  # (lon, lat, text, kind: quartier|zone|commune), for print
    focus: tuple | None = None  # WGS84 bounds the print map must show (a site, a quartier); default: all
    subtitle: str = ""
    made: str = field(default_factory=lambda: date.today().strftime("%d/%m/%Y"))

    @property
    def credits(self) -> str:
        return "Sources : " + " ; ".join(self.sources) + f". Carte réalisée le {self.made} avec qpvgeo."


def web_geometries(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """WGS84 copy, simplified by 0.5 m in the territory's metric CRS (invisible on screen and paper)."""
    if gdf.empty:
        return gdf.to_crs(WGS84)
    crs_m = metric_crs(geodataframe=gdf)
    m = gdf.to_crs(crs_m)
    m["geometry"] = m.geometry.simplify(DISPLAY_TOLERANCE_M, preserve_topology=True)
    out = m.to_crs(WGS84)
    out["geometry"] = shapely.set_precision(out.geometry.values, 1e-7)
    return out


def _source_of(perimeters: gpd.GeoDataFrame) -> str:
    v = perimeters["vintage"].dropna().unique()
    vint = ", ".join(str(int(x)) for x in v)
    return f"ANCT, périmètres des quartiers prioritaires {vint}".strip()


def _context_layer(spec: MapSpec, extent_wgs84) -> None:
    """Commune limits, their names and the EPCI outlines around the mapped area, for orientation
    (where qpvgeo has them)."""
    from .territory import load_communes, load_membership

    try:
        communes = load_communes()
    except Exception:  # noqa: BLE001 - context only: a map without it is still right
        return
    x0, y0, x1, y1 = extent_wgs84
    dx, dy = (x1 - x0) * 0.1 + 0.01, (y1 - y0) * 0.1 + 0.01
    near = communes[communes.intersects(shapely.box(x0 - dx, y0 - dy, x1 + dx, y1 + dy))]
    if near.empty:
        return
    g = web_geometries(near[["insee", "nom", "geometry"]])
    g["popup"] = [f"{_esc(n)} ({_esc(c)})" for n, c in zip(g["nom"], g["insee"])]
    spec.layers.insert(0, ("Communes", g, {"color": COLOURS["commune"], "weight": 0.8, "fill": False}, "context"))
    spec.legend.append((COLOURS["commune"], "Limite communale", "line"))
    spec.labels.extend(_label_points(near, "nom", "commune", by_area=True))
    try:
        m = load_membership()
    except Exception:  # noqa: BLE001 - context only
        m = None
    if m is not None:
        sirens = set(m.loc[m["insee"].isin(near["insee"]), "siren_epci"])
        if sirens:
            members = communes.merge(m[m["siren_epci"].isin(sirens)][["insee", "siren_epci", "nom_epci"]], on="insee")
            epci = web_geometries(members.dissolve(by="siren_epci", as_index=False)[
                ["siren_epci", "nom_epci", "geometry"]])
            epci["popup"] = [f"{_esc(n)} ({_esc(c)})" for n, c in zip(epci["nom_epci"], epci["siren_epci"])]
            spec.layers.insert(1, ("EPCI", epci, {"color": COLOURS["epci"], "weight": 2.2, "fill": False,
                                                  "dashArray": "8 4"}, "epci"))
            spec.legend.append((COLOURS["epci"], "Limite d'EPCI", "dashed"))
    spec.sources.append("IGN, Admin Express (limites communales) ; DGCL (EPCI)")


def _label_points(gdf: gpd.GeoDataFrame, column: str, kind: str, *, by_area: bool = False,
                  short: str | None = None) -> list:
    """(lon, lat, text, kind, width_m, short) at a point inside each feature, with the feature's
    width on the ground (a print map names a commune only where its name fits inside) and a short
    form (``short`` column, e.g. the quartier's code) for where the name does not fit; largest
    first when ``by_area``."""
    if gdf.empty:
        return []
    crs_m = metric_crs(geodataframe=gdf)
    m = gdf.to_crs(crs_m)
    if by_area:
        m = m.iloc[np.argsort(-m.geometry.area.to_numpy(), kind="stable")]
    b = m.geometry.bounds
    width = (b["maxx"] - b["minx"]).to_numpy()
    pts = gpd.GeoSeries(m.geometry.representative_point().values, crs=crs_m).to_crs(WGS84)
    alt = m[short].astype(str).tolist() if short else [""] * len(m)
    return [(p.x, p.y, str(t), kind, float(w), a) for p, t, w, a in zip(pts, m[column], width, alt)]


def _quartier_layers(spec: MapSpec, perimeters: gpd.GeoDataFrame) -> None:
    for classe in ("QPV", "QIC", "fragile"):
        sub = perimeters[perimeters["classe"] == classe]
        if sub.empty:
            continue
        g = web_geometries(sub[["code_qp", "nom_qp", "classe", "geometry"]])
        g["lien"] = [SIG_URL.format(code=c) if classe == "QPV" else "" for c in g["code_qp"]]
        name = {"QPV": "QPV (État)", "QIC": "QIC (communautaire)", "fragile": "Quartiers fragiles"}[classe]
        spec.layers.append((name, g, {"color": COLOURS[classe], "weight": 2.5, "fill": True,
                                      "fillColor": COLOURS[classe], "fillOpacity": 0.15}, "quartier"))
        spec.legend.append((COLOURS[classe], CLASSE_FR[classe], "fill"))
        spec.labels.extend(_label_points(sub, "nom_qp", "quartier", short="code_qp"))


def eligibility_spec(checker: Checker, *, shown: gpd.GeoDataFrame | None = None, points=None,
                     site: gpd.GeoDataFrame | None = None) -> MapSpec:
    """Map of the quartiers, the band, and checked points or a project site.

    Every answer comes from ``checker`` (built on the whole layer); ``shown`` (a selection of its
    quartiers, e.g. one EPCI's) only limits what is drawn, never what is answered. ``points`` is
    ``(frame, lon, lat)`` as returned by :func:`qpvgeo.batch.check_rows`: decided rows are drawn,
    coloured by status; undecided rows and rows without data are listed in the map, not drawn.
    """
    per = checker.perimeters if shown is None else shown
    band_m = f"{checker.rule.band_m:g}"
    spec = MapSpec(title=f"Éligibilité : quartiers prioritaires et bande des {band_m} m",
                   sources=[_source_of(per)])
    band = checker.band_geometry(codes=None if shown is None else list(shown["code_qp"]))
    spec.layers.append((f"Zone des {band_m} m", web_geometries(band),
                        {"color": COLOURS["band"], "weight": 1, "fill": True, "fillColor": COLOURS["band"],
                         "fillOpacity": 0.25, "dashArray": "4 4"}, "band"))
    spec.legend.append((COLOURS["band"], f"Zone des {band_m} m "
                        f"(distance au sol {checker.rule.comparison} {band_m} m)", "fill"))
    _quartier_layers(spec, per)
    if site is not None:
        ans = checker.check_site(site)
        colour = STATUS_COLOURS.get(ans["status"], STATUS_COLOURS["undecided"])
        g = web_geometries(site.to_crs(WGS84)[["geometry"]].dissolve())
        g["popup"] = _popup_site(ans, band_m)
        spec.layers.append(("Site du projet", g, {"color": "#000000", "weight": 2, "fill": True, "fillColor": colour,
                                                  "fillOpacity": 0.45}, "site"))
        spec.legend.append((colour, "Site du projet : " + STATUS_FR.get(ans["status"], ans["status"]).format(
            band=band_m), "fill"))
        spec.focus = _around(site, checker.rule.band_m + 100)
    if points is not None:
        frame, lon, lat = points
        drawn, listed = _points_frame(frame, lon, lat)
        spec.not_drawn.extend(listed)
        if len(drawn):
            spec.layers.append(("Points vérifiés", drawn, {}, "points"))
            present = set(drawn["groupe"])
            for key in [k for k in STATUS_COLOURS if k in present]:
                spec.legend.append((STATUS_COLOURS[key], STATUS_FR[key].format(band=band_m), "point"))
        if "geo_label" in frame.columns:
            spec.sources.append("Base Adresse Nationale (géocodage)")
    _context_layer(spec, _bounds(spec))
    return spec


def _around(gdf: gpd.GeoDataFrame, margin_m: float) -> tuple:
    """WGS84 bounds of ``gdf`` widened by ``margin_m`` on the ground."""
    crs_m = metric_crs(geodataframe=gdf.to_crs(WGS84))
    box = shapely.box(*gdf.to_crs(crs_m).total_bounds).buffer(margin_m, join_style="mitre")
    return tuple(gpd.GeoSeries([box], crs=crs_m).to_crs(WGS84).total_bounds)


def _points_frame(points: pd.DataFrame, lon, lat) -> tuple[gpd.GeoDataFrame, list]:
    """(decided rows as coloured points, [(place, status, note)] of the rows not drawn)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    p = points.reset_index(drop=True)
    status = p["qpv_status"].astype(str)
    label_col = next((c for c in ("geo_label", "adresse", "address", "nom", "name", "id") if c in p.columns), None)
    place = (p[label_col].astype(str) if label_col else pd.Series(
        [f"{x:.5f}, {y:.5f}" if np.isfinite(x) and np.isfinite(y) else f"ligne {i + 1}"
         for i, (x, y) in enumerate(zip(lon, lat))]))
    drawn = (status.isin(_status.DECIDED) & np.isfinite(lon) & np.isfinite(lat)).to_numpy()
    listed = [(place.iloc[i] or f"ligne {i + 1}", status.iloc[i], str(p["qpv_note"].iloc[i]))
              for i in np.flatnonzero(~drawn)]
    d = p[drawn]
    g = gpd.GeoDataFrame({
        "lieu": place[drawn].values,
        "statut": [STATUS_FR.get(s, s).replace("{band}", "300") for s in status[drawn]],
        "groupe": status[drawn].where(status[drawn].isin(list(STATUS_COLOURS)), "undecided").values,
        "code_qp": d["qpv_code"].astype(str).values, "nom_qp": d["qpv_nom"].astype(str).values,
        "distance_m": pd.to_numeric(d["qpv_distance_m"], errors="coerce").values,
        "precision": (d["geo_type"].astype(str) + " " + d["geo_score"].astype(str)).values
        if "geo_type" in d.columns else ["coordonnées"] * len(d),
    }, geometry=gpd.points_from_xy(lon[drawn], lat[drawn]), crs=WGS84)
    return g, listed


def fragility_spec(result, perimeters: gpd.GeoDataFrame | None = None, *, variable: str = "rate") -> MapSpec:
    """Map of the carreaux (classed poverty rate or ratio), flagged carreaux, zones and QPV."""
    if variable not in ("rate", "ratio"):
        raise InputError(f"variable must be 'rate' or 'ratio', got {variable!r}")
    s = result.summary
    epcis = s["epci"]
    where = epcis[0]["nom_epci"] if len(epcis) == 1 else f"{len(epcis)} EPCI"
    reference = percent(epcis[0]["reference_rate"]) if len(epcis) == 1 else "le taux de son EPCI"
    spec = MapSpec(title=f"Quartiers fragiles : {where} (Filosofi {s.get('vintage')})"
                   + (" — couverture partielle" if s.get("partial") else ""),
                   sources=[f"INSEE, Filosofi {s.get('vintage')} carroyé 200 m"],
                   subtitle=(f"Taux de pauvreté de référence : {reference} ({where})" if len(epcis) == 1
                             else "Chaque carreau est comparé au taux de son EPCI"))
    car = with_squares(result.table, (result.table["status"] == "ok").to_numpy())
    bins = RATE_BINS if variable == "rate" else RATIO_BINS
    cls = np.clip(np.digitize(car[variable].to_numpy(), bins) - 1, 0, len(SCALE) - 1)
    g = web_geometries(car[["idcar_200m", "men", "ind", "rate", "ratio", "flagged", "geometry"]])
    g["couleur"] = [SCALE[i] for i in cls]
    name = "Taux de pauvreté des ménages" if variable == "rate" else "Ratio au taux de référence"
    spec.layers.append((f"Carreaux 200 m : {name.lower()}", g, {"fillOpacity": 0.65, "weight": 0}, "carreaux"))
    for i, col in enumerate(SCALE):
        lo, hi = bins[i], bins[i + 1]
        lab = (f"{percent(lo, digits=0)} à {percent(min(hi, 1), digits=0)}" if variable == "rate"
               else (f"{decimal_comma(lo)} à {decimal_comma(hi)}" if np.isfinite(hi)
                     else f"{decimal_comma(lo)} et plus"))
        spec.legend.append((col, f"{name} : {lab}", "fill"))
    flagged = g[g["flagged"]]
    spec.layers.append(("Carreaux fragiles", flagged, {"color": "#000000", "weight": 2, "fill": False}, "flagged"))
    spec.legend.append(("#000000", f"Carreau fragile (taux ≥ {s['rule']['factor']:g} × {reference},"
                                   f" ≥ {s['rule']['min_households']:g} ménages ou "
                                   f"≥ {s['rule']['min_individuals']:g} individus)", "line"))
    z = result.zones.copy()
    z["communes"] = z["communes"].map(lambda xs: ", ".join(xs))
    spec.layers.append(("Zones candidates", web_geometries(z), {"color": COLOURS["zone"], "weight": 3, "fill": True,
                                                         "fillColor": COLOURS["zone"], "fillOpacity": 0.1},
                        "zones"))
    spec.legend.append((COLOURS["zone"], "Zone candidate (carreaux fragiles contigus)", "line"))
    if len(z):
        spec.labels.extend(_label_points(z, "zone_id", "zone"))
    if perimeters is not None:
        spec.sources.append(_source_of(perimeters))
        near = perimeters.to_crs(car.crs)
        bbox = shapely.box(*car.total_bounds)
        _quartier_layers(spec, perimeters[near.intersects(bbox).to_numpy()])
    _context_layer(spec, _bounds(spec))
    return spec


def comparison_spec(res, old: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> MapSpec:
    """Map of two geographies: the old outlines, the new ones, the parts added and removed."""
    spec = MapSpec(title="Évolution des périmètres : parties ajoutées et retirées",
                   sources=[_source_of(old), _source_of(new)])
    for kind, colour, label in (("added", "#1e8449", "Partie ajoutée"), ("removed", "#7d3c98", "Partie retirée")):
        part = res.parts[res.parts["kind"] == kind]
        if len(part):
            g = web_geometries(part[["old_code", "new_code", "area_ha", "geometry"]])
            spec.layers.append((label + "s", g, {"color": colour, "weight": 1, "fill": True, "fillColor": colour,
                                                 "fillOpacity": 0.45}, "parts"))
            spec.legend.append((colour, label, "fill"))
    for frame, colour, label, dash in ((old, "#7f8c8d", "Ancien périmètre", "4 4"),
                                       (new, COLOURS["QPV"], "Nouveau périmètre", None)):
        g = web_geometries(frame[["code_qp", "nom_qp", "geometry"]])
        style = {"color": colour, "weight": 2, "fill": False}
        if dash:
            style["dashArray"] = dash
        spec.layers.append((label, g, style, "outline"))
        spec.legend.append((colour, label, "line"))
    _context_layer(spec, _bounds(spec))
    return spec


FEATURE_STYLES = [("#000000", "P"), ("#6a3d9a", "*"), ("#b15928", "v"), ("#1f78b4", "h"), ("#33a02c", "p")]


def fiche_spec(checker: Checker, code: str, *, result=None, point_layers=(), near_m: float = 1000) -> MapSpec:
    """Map of one quartier for its fiche: the quartier and its band, its neighbours, the fragile
    carreaux and candidate zones around it (from ``result``, a fragility result), commune and EPCI
    limits, and the user's point layers (:class:`qpvgeo.fiche.PointLayer`)."""
    per = checker.perimeters
    q = per[per["code_qp"] == code]
    if q.empty:
        raise InputError(f"unknown quartier code {code!r}")
    band_m = f"{checker.rule.band_m:g}"
    row = q.iloc[0]
    spec = MapSpec(title=f"{row['nom_qp']} ({code})", subtitle=f"{CLASSE_FR.get(row['classe'], row['classe'])}, "
                   f"avec la bande des {band_m} m", sources=[_source_of(q)])
    crs_m = metric_crs(geodataframe=q)
    qm = q.to_crs(crs_m)
    view = shapely.box(*qm.total_bounds).buffer(checker.rule.band_m + near_m / 2, join_style="mitre")
    if result is not None:
        flagged = with_squares(result.table, result.table["flagged"].to_numpy(dtype=bool)).to_crs(crs_m)
        flagged = flagged[flagged.intersects(view)]
        if len(flagged):
            spec.layers.append(("Carreaux fragiles", web_geometries(flagged[["idcar_200m", "rate", "geometry"]]),
                                {"color": COLOURS["zone"], "weight": 0.5, "fill": True, "fillColor": COLOURS["zone"],
                                 "fillOpacity": 0.35}, "carreaux_fragiles"))
            spec.legend.append((COLOURS["zone"], "Carreau fragile (Filosofi 200 m)", "fill"))
        z = result.zones.to_crs(crs_m)
        z = z[z.intersects(view)]
        if len(z):
            z = z.assign(communes=z["communes"].map(lambda xs: ", ".join(xs)))
            spec.layers.append(("Zones candidates", web_geometries(z[["zone_id", "communes", "geometry"]]),
                                {"color": "#0b3d62", "weight": 3, "fill": False}, "zones"))
            spec.legend.append(("#0b3d62", "Zone candidate (carreaux fragiles contigus)", "line"))
            spec.labels.extend(_label_points(z, "zone_id", "zone"))
        spec.sources.append(f"INSEE, Filosofi {result.summary.get('vintage')} carroyé 200 m")
    band = checker.band_geometry(codes=[code])
    spec.layers.append((f"Zone des {band_m} m", web_geometries(band),
                        {"color": COLOURS["band"], "weight": 1, "fill": True, "fillColor": COLOURS["band"],
                         "fillOpacity": 0.2, "dashArray": "4 4"}, "band"))
    spec.legend.append((COLOURS["band"], f"Zone des {band_m} m autour du quartier", "fill"))
    near = per.to_crs(crs_m)
    _quartier_layers(spec, per[near.intersects(view).to_numpy()])
    for i, layer in enumerate(point_layers):
        colour, _marker = FEATURE_STYLES[i % len(FEATURE_STYLES)]
        ok = np.isfinite(layer.lon) & np.isfinite(layer.lat)
        g = gpd.GeoDataFrame({"lieu": layer.labels[ok]}, geometry=gpd.points_from_xy(layer.lon[ok], layer.lat[ok]),
                             crs=WGS84)
        gm = g.to_crs(crs_m)
        g = g[gm.intersects(view).to_numpy()]
        spec.layers.append((layer.name, g, {"color": colour, "index": i}, "features"))
        spec.legend.append((colour, layer.name, "feature"))
    spec.focus = tuple(gpd.GeoSeries([view], crs=crs_m).to_crs(WGS84).total_bounds)
    _context_layer(spec, spec.focus)
    return spec


def qpv_spec(perimeters: gpd.GeoDataFrame, *, title: str | None = None) -> MapSpec:
    spec = MapSpec(title=title or "Quartiers prioritaires de la politique de la ville",
                   sources=[_source_of(perimeters)])
    _quartier_layers(spec, perimeters)
    _context_layer(spec, _bounds(spec))
    return spec


# ------------------------------------------------------------------------------- Folium
def _esc(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return html.escape(str(v), quote=True)


def _popup_quartier(row) -> str:
    link = (f'<br><a href="{_esc(row["lien"])}" target="_blank" rel="noopener">Fiche du quartier '
            f'(sig.ville.gouv.fr)</a>' if row.get("lien") else "")
    return (f"<b>{_esc(row['code_qp'])}</b> {_esc(row['nom_qp'])}<br>"
            f"{_esc(CLASSE_FR.get(row['classe'], row['classe']))}{link}")


def _popup_point(row) -> str:
    d = row["distance_m"]
    dist = f"{d:,.1f} m".replace(",", " ") if np.isfinite(d) else "—"
    return (f"<b>{_esc(row['lieu'])}</b><br>Statut : {_esc(row['statut'])}<br>"
            f"Quartier : {_esc(row['code_qp'])} {_esc(row['nom_qp'])}<br>Distance : {_esc(dist)}<br>"
            f"Précision : {_esc(row['precision'])}")


def _popup_site(ans: dict, band_m: str = "300") -> str:
    def yes(v):
        return "n/c" if v is None else ("oui" if v else "non")

    q, z = ans.get("in_qpv", {}), ans.get("in_eligible_zone", {})
    label = STATUS_FR.get(ans["status"], ans["status"]).format(band=band_m)
    if ans.get("code_qp") is None:
        return f"<b>Site du projet</b><br>Statut : {_esc(label)}"
    return (f"<b>Site du projet</b> ({ans['area_m2']:,.0f} m²)".replace(",", " ")
            + f"<br>Statut : {_esc(label)}"
            + f"<br>En QPV : une partie {yes(q['any_part'])}, centroïde {yes(q['centroid'])}, "
              f"en entier {yes(q['whole'])}"
            + f"<br>En zone éligible : une partie {yes(z['any_part'])}, centroïde {yes(z['centroid'])}, "
              f"en entier {yes(z['whole'])} ({z['area_m2']:,.0f} m²)".replace(",", " ")
            + f"<br>Quartier le plus proche : {_esc(ans['code_qp'])} {_esc(ans['nom_qp'])}, "
              f"{ans['distance_m']:.1f} m")


def _popup_zone(row) -> str:
    return (f"<b>Zone {_esc(row['zone_id'])}</b> ({_esc(row['communes'])})<br>"
            f"{int(row['carreaux'])} carreaux, {row['households']:.0f} ménages, {row['individuals']:.0f} individus"
            f"<br>Taux de pauvreté : {row['rate']:.1%} (× {row['ratio']:.2f} la référence)"
            + (f"<br>Ménages en QPV : {row['households_in_qpv_share']:.0%}"
               f"<br>QPV le plus proche : {_esc(row['nearest_qpv'])} à {row['distance_qpv_m']:.0f} m"
               if row.get("nearest_qpv") else "<br>QPV : pas de données (périmètres non chargés ici)"))


_BIND_POPUP = folium.JsCode(
    "function(feature, layer) { if (feature.properties && feature.properties.popup) {"
    " layer.bindPopup(feature.properties.popup, {maxWidth: 360}); } }"
)


def _geojson_layer(name: str, g: gpd.GeoDataFrame, style: dict, kind: str) -> folium.GeoJson:
    """One Leaflet GeoJSON layer per map layer; popups are HTML built here with every value
    escaped, bound by a small script (no jQuery)."""
    g = g.copy()
    if kind == "quartier":
        g["popup"] = [_popup_quartier(r) for _, r in g.iterrows()]
    elif kind == "zones":
        g["popup"] = [_popup_zone(r) for _, r in g.iterrows()]
    elif kind == "points":
        g["popup"] = [_popup_point(r) for _, r in g.iterrows()]
        g["couleur"] = [STATUS_COLOURS[x] for x in g["groupe"]]
    keep = [c for c in ("popup", "couleur", "code_qp", "zone_id", "statut") if c in g.columns]
    data = g[keep + ["geometry"]]
    if kind in ("carreaux", "points"):
        def style_function(f, base=style):
            c = f["properties"]["couleur"]
            extra = ({"fillColor": c, "color": c, "weight": 0.2, "fillOpacity": 0.65} if kind == "carreaux"
                     else {"fillColor": c, "color": "#ffffff", "weight": 1, "fill": True, "fillOpacity": 0.95})
            return {**base, **extra}
    else:
        def style_function(f, base=style):
            return base
    marker = folium.CircleMarker(radius=6) if kind == "points" else None
    return folium.GeoJson(data, name=name, style_function=style_function, marker=marker,
                          on_each_feature=_BIND_POPUP if "popup" in data.columns else None)


def to_folium(spec: MapSpec, *, tiles: str | None = "OpenStreetMap") -> folium.Map:
    """Draw a :class:`MapSpec` with Folium (layer control, French legend, scale bar, title, credits)."""
    bounds = _bounds(spec)
    m = folium.Map(tiles=None, control_scale=False, zoom_snap=0.25, zoom_delta=0.5)
    _MetricScale().add_to(m)
    m.default_js = [("leaflet", _INLINE + "leaflet.js")]
    m.default_css = [("leaflet_css", _INLINE + "leaflet.css")]
    if tiles and tiles.lower() != "none":
        folium.TileLayer(tiles, name="Fond de carte").add_to(m)
    for name, g, style, kind in spec.layers:
        if len(g):
            _geojson_layer(name, g, style, kind).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    m.get_root().html.add_child(folium.Element(_legend_html(spec)))
    m.get_root().header.add_child(folium.Element(f"<title>{_esc(spec.title)}</title>"))
    return m


def _bounds(spec: MapSpec):
    frames = [g for _, g, _, kind in spec.layers if len(g) and kind not in ("band", "context", "epci")] or [
        g for _, g, _, kind in spec.layers if kind not in ("context", "epci")]
    b = np.array([g.total_bounds for g in frames if len(g)])
    if not len(b):
        raise InputError("nothing to map")
    return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()


def _legend_html(spec: MapSpec) -> str:
    items = []
    for colour, label, kind in spec.legend:
        if kind == "point":
            sw = ('<span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
                  f'background:{colour}"></span>')
        elif kind in ("line", "dashed"):
            border = "dashed" if kind == "dashed" else "solid"
            sw = f'<span style="display:inline-block;width:14px;height:10px;border:2px {border} {colour}"></span>'
        else:
            sw = (f'<span style="display:inline-block;width:14px;height:12px;background:{colour};opacity:.7;'
                  f'border:1px solid {colour}"></span>')
        items.append(f"<div>{sw} {_esc(label)}</div>")
    if spec.not_drawn:
        rows = "".join(f"<li>{_esc(p)} : {_esc(STATUS_FR.get(st, st).format(band='300'))}"
                       + (f" ({_esc(n)})" if n else "") + "</li>" for p, st, n in spec.not_drawn[:30])
        more = f"<li>… et {len(spec.not_drawn) - 30} autres</li>" if len(spec.not_drawn) > 30 else ""
        items.append(f'<div id="qpvgeo-not-drawn" style="margin-top:6px"><b>Non représentés sur la carte '
                     f'({len(spec.not_drawn)})</b><ul style="margin:2px 0 0 16px;padding:0">{rows}{more}</ul></div>')
    return (
        '<div id="qpvgeo-title" style="position:fixed;top:10px;left:60px;z-index:1000;background:#fff;'
        'padding:6px 10px;font:bold 16px sans-serif;border-radius:4px;box-shadow:0 1px 4px #0004">'
        f"{_esc(spec.title)}</div>"
        '<div id="qpvgeo-legend" style="position:fixed;bottom:24px;right:10px;z-index:1000;background:#fff;'
        'padding:8px 10px;font:12px sans-serif;max-width:360px;border-radius:4px;box-shadow:0 1px 4px #0004">'
        '<b>Légende</b>' + "".join(items) +
        f'<div id="qpvgeo-credits" style="margin-top:6px;color:#444;font-size:11px">{_esc(spec.credits)}</div></div>'
    )


_INLINE = "qpvgeo-inline:"


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres only."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, maxWidth: 200}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def _leaflet_assets() -> dict[str, str]:
    import xstatic.pkg.leaflet as xl

    base = Path(xl.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match):
        img = base / "images" / match.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", data_uri, css)
    return {"leaflet.js": (base / "leaflet.js").read_text(encoding="utf-8"), "leaflet.css": css}


def render_html(m: folium.Map) -> str:
    """The map as one self-contained HTML page: Leaflet's script and styles inlined from the
    packaged XStatic-Leaflet copy, so it opens from disk without network."""
    page = m.get_root().render()
    assets = _leaflet_assets()
    page = re.sub(rf'<script src="{_INLINE}leaflet.js"></script>',
                  lambda _: "<script>" + assets["leaflet.js"] + "</script>", page)
    page = re.sub(rf'<link rel="stylesheet" href="{_INLINE}leaflet.css"\s*/?>',
                  lambda _: "<style>" + assets["leaflet.css"] + "</style>", page)
    remaining = re.findall(r'<script[^>]+src="(http[^"]+)"', page) + re.findall(
        r'<link[^>]+href="(http[^"]+\.css)"', page)
    if remaining:
        raise RuntimeError(f"the map still loads assets from the network: {remaining}")
    return page


def embed_snippet(html_name: str, title: str, *, height_px: int = 600) -> str:
    """An iframe to paste into the rapport (the HTML file next to the document)."""
    return (f'<iframe src="{html.escape(html_name)}" title="{html.escape(title)}" width="100%" '
            f'height="{height_px}" style="border:0" loading="lazy"></iframe>\n')


# ------------------------------------------------------------------------------- print
def to_figure(spec: MapSpec, *, page: str = "a4-portrait", inset: bool = True):
    """Draw a :class:`MapSpec` for print on a true page (see :mod:`qpvgeo.printmap`)."""
    from . import printmap

    return printmap.figure(spec, page_name=page, inset=inset)


def _with_alpha(colour: str, alpha: float):
    from matplotlib.colors import to_rgba

    return to_rgba(colour, alpha)


# ------------------------------------------------------------------------------- writing
def save(spec: MapSpec, path: str | Path, *, fmt: str | None = None, tiles: str | None = "OpenStreetMap",
         overwrite: bool = False, dpi: int = 300, page: str = "a4-portrait") -> list[Path]:
    """Write the map as ``html`` (self-contained, with an ``.embed.html`` iframe snippet next to
    it), or for print as ``png`` (``dpi`` ≥ 300), ``pdf`` (TrueType fonts) or ``svg`` (text kept as
    text) on ``page`` (a4-portrait, a4-landscape, a3-portrait, a3-landscape). Returns the files
    written."""
    from . import printmap

    p = Path(path)
    fmt = (fmt or p.suffix.lstrip(".") or "html").lower()
    if fmt not in ("html", *printmap.FORMATS):
        raise InputError(f"unknown map format {fmt!r}: use html, png, pdf or svg")
    if p.suffix.lower() != f".{fmt}":
        p = p.with_suffix(f".{fmt}")
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        snippet = p.with_name(p.stem + ".embed.html")
        _io.check_target(snippet, overwrite=overwrite)
        _io.write_text(render_html(to_folium(spec, tiles=tiles)), p, overwrite=overwrite)
        _io.write_text(embed_snippet(p.name, spec.title), snippet, overwrite=overwrite)
        return [p, snippet]
    if dpi < 300:
        raise InputError(f"print maps need at least 300 dpi, got {dpi}")
    printmap.page(page)
    import matplotlib.pyplot as plt

    fig = to_figure(spec, page=page)
    try:
        with _io.atomic_path(p, overwrite=overwrite) as tmp:
            printmap.save_figure(fig, tmp, fmt, dpi=dpi, title=spec.title)
    finally:
        plt.close(fig)
    return [p]
