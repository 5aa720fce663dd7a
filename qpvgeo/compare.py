"""What a new geography changed: two perimeter layers (e.g. the 2015 and 2024 QPV) compared.

Quartiers are matched by overlap, not by code (codes change between generations): quartiers whose
outlines overlap by at least ``min_overlap`` of the smaller one are linked, and each connected
group (one to one, a split, a merge, or a regrouping) is compared as a whole; a quartier linked to
none entered or left the geography. Areas are on the ground (projected area divided by the square
of the local scale factor); people and households in the added and removed parts come from the
carreaux with the method and bracket of :func:`qpvgeo.inhabitants.population`.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import WGS84, metric_crs, scale_factor
from .errors import InputError


@dataclass
class Comparison:
    """``table``: one row per group of matched quartiers; ``parts``: the added and removed parts."""

    table: pd.DataFrame
    parts: gpd.GeoDataFrame


def _ground_area_ha(geoms: np.ndarray, crs) -> np.ndarray:
    if not len(geoms):
        return np.zeros(0)
    c = gpd.GeoSeries(shapely.centroid(geoms), crs=crs).to_crs(WGS84)
    k = scale_factor(crs, c.x.to_numpy(), c.y.to_numpy())  # NaN for an empty geometry (no centroid)
    area = shapely.area(geoms)
    return np.where(area > 0, area / k**2, 0.0) / 10_000


def compare(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame, *, carreaux=None, min_overlap: float = 0.01,
            weights=None) -> Comparison:
    """Compare two perimeter layers (the qpvgeo schema, any CRS).

    Returns
    -------
    Comparison
        ``table``: ``old_code``, ``new_code`` (codes joined by commas; empty when the quartier
        entered or left), ``change`` (``unchanged``, ``modified``, ``split``, ``merged``,
        ``regrouped``, ``entered``, ``left``), ``old_ha``, ``new_ha``, ``kept_ha``, ``added_ha``,
        ``removed_ha``, ``added_people``, ``added_people_low``, ``added_people_high``,
        ``removed_people`` (and ``_low``/``_high``), ``added_households``, ``removed_households``,
        ``people_method``. People are None without ``carreaux`` (or where they do not reach).
        ``parts``: ``kind`` (``added``/``removed``), ``old_code``, ``new_code``, ``area_ha``, geometry
        in the territory's metric CRS.
    """
    for name, layer in (("old", old), ("new", new)):
        if layer.crs is None:
            raise InputError(f"the {name} layer has no CRS")
        if not len(layer):
            raise InputError(f"the {name} layer holds no quartier")
    crs = metric_crs(geodataframe=new)
    o = old.to_crs(crs).reset_index(drop=True)
    n = new.to_crs(crs).reset_index(drop=True)
    og, ng = o.geometry.values, n.geometry.values
    oa, na = shapely.area(og), shapely.area(ng)
    ni, oi = shapely.STRtree(og).query(ng, predicate="intersects")
    inter = shapely.area(shapely.intersection(ng[ni], og[oi]))
    link = inter >= min_overlap * np.minimum(na[ni], oa[oi])
    ni, oi = ni[link], oi[link]
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    size = len(o) + len(n)
    graph = coo_matrix((np.ones(len(ni)), (oi, len(o) + ni)), shape=(size, size))
    _, label = connected_components(graph, directed=False)
    rows, parts = [], []
    for g in np.unique(label):
        olds = np.flatnonzero(label[:len(o)] == g)
        news = np.flatnonzero(label[len(o):] == g)
        uo = shapely.union_all(og[olds]) if olds.size else shapely.Polygon()
        un = shapely.union_all(ng[news]) if news.size else shapely.Polygon()
        added, removed, kept = shapely.difference(un, uo), shapely.difference(uo, un), shapely.intersection(uo, un)
        ha = _ground_area_ha(np.array([uo, un, kept, added, removed], dtype=object), crs)
        old_code = ",".join(o["code_qp"].iloc[olds])
        new_code = ",".join(n["code_qp"].iloc[news])
        change = ("entered" if not olds.size else "left" if not news.size else
                  "split" if olds.size == 1 and news.size > 1 else "merged" if news.size == 1 and olds.size > 1
                  else "regrouped" if news.size > 1 else
                  "unchanged" if ha[3] < 1e-4 and ha[4] < 1e-4 else "modified")
        rows.append({"old_code": old_code, "new_code": new_code, "change": change,
                     "old_ha": round(ha[0], 2), "new_ha": round(ha[1], 2), "kept_ha": round(ha[2], 2),
                     "added_ha": round(ha[3], 2), "removed_ha": round(ha[4], 2)})
        for kind, geom, area in (("added", added, ha[3]), ("removed", removed, ha[4])):
            if not geom.is_empty and area >= 1e-4:
                parts.append({"kind": kind, "old_code": old_code, "new_code": new_code, "area_ha": round(area, 2),
                              "geometry": geom})
    table = pd.DataFrame(rows)
    part_frame = gpd.GeoDataFrame(parts, geometry="geometry", crs=crs) if parts else gpd.GeoDataFrame(
        {"kind": [], "old_code": [], "new_code": [], "area_ha": []}, geometry=[], crs=crs)
    _people(table, part_frame, carreaux, weights)
    # groups of the new geography in code order, then the quartiers that left it
    table = table.assign(_left=table["new_code"] == "").sort_values(["_left", "new_code", "old_code"])
    return Comparison(table.drop(columns="_left").reset_index(drop=True), part_frame)


def _people(table: pd.DataFrame, parts: gpd.GeoDataFrame, carreaux, weights) -> None:
    cols = ["added_people", "added_people_low", "added_people_high", "removed_people", "removed_people_low",
            "removed_people_high", "added_households", "removed_households"]
    for c in cols:
        table[c] = 0.0 if carreaux is not None else None
    table["people_method"] = None
    if carreaux is None:
        return
    from .inhabitants import population

    table["people_method"] = "area-weighted" if weights is None else "dasymetric"
    if not len(parts):
        return
    keyed = parts.assign(code_qp=[f"{k}|{o}|{n}" for k, o, n in zip(parts["kind"], parts["old_code"],
                                                                        parts["new_code"])], nom_qp="")
    pop = population(keyed, carreaux, weights=weights).set_index("code_qp")
    for i, r in table.iterrows():
        for kind in ("added", "removed"):
            key = f"{kind}|{r['old_code']}|{r['new_code']}"
            if key not in pop.index:
                continue
            p = pop.loc[key]
            if p["coverage"] == "not_covered":
                for c in (f"{kind}_people", f"{kind}_people_low", f"{kind}_people_high", f"{kind}_households"):
                    table.at[i, c] = None
                continue
            table.at[i, f"{kind}_people"] = p["estimate"]
            table.at[i, f"{kind}_people_low"] = p["low"]
            table.at[i, f"{kind}_people_high"] = p["high"]
            table.at[i, f"{kind}_households"] = p["households_estimate"]
        table.at[i, "people_method"] = pop["method"].iloc[0]
