"""How many people live in a perimeter: estimates from the 200 m carreaux, with their method,
coverage and bracket, and official figures beside them (docs/rules.md §10).

Methods
-------
``area-weighted``
    each carreau's people spread evenly over its 4 ha: a carreau half inside counts half. A QPV
    outline is drawn around the buildings where people live, so this under-counts (a third too
    low for the three CAPSO QPV).
``dasymetric``
    each carreau's people shared out in proportion to a weight layer inside it (buildings with
    their number of dwellings, building footprints by area, or address points); a carreau with no
    weight falls back to its area (and says so). The people of a carreau are shared out, never
    created or lost.

The bracket: ``low`` counts the carreaux whose centre lies inside the perimeter, ``high`` every
carreau that overlaps it. A figure without carreaux is ``not_covered``, never 0.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import DataError, InputError

log = logging.getLogger(__name__)

WEIGHT_COLUMNS = ("nombre_de_logements", "nb_logements", "logements", "nb_log")


# ------------------------------------------------------------------------------- weights
def load_weights(path, *, around=None, layer: str | None = None, column: str | None = None,
                 margin_m: float = 400.0) -> gpd.GeoDataFrame:
    """A weight layer for dasymetric estimates, read only around ``around`` (a spatial filter in
    the layer's own CRS, so that a département's buildings are read in bounded memory).

    Polygons weigh ``column`` (default: ``nombre_de_logements`` when present, as in BD TOPO's
    ``BATIMENT``) or, without it, their area; points weigh ``column`` or 1 (an address point).

    Returns
    -------
    GeoDataFrame
        ``w`` (weight, >= 0) and the geometry, in the layer's CRS; ``attrs["weights"]`` describes them.
    """
    import pyogrio

    from . import _tables

    p = _tables.local_input(path, what="weight layer")

    def box(crs):
        if around is None or crs is None:
            return None
        b = around.to_crs(crs).total_bounds
        return (b[0] - margin_m, b[1] - margin_m, b[2] + margin_m, b[3] + margin_m)

    if p.suffix.lower() == ".parquet":  # GeoParquet: read, then keep what lies around
        gdf = _tables.read_vector(p, what="weight layer")
        b = box(gdf.crs)
        gdf = gdf.cx[b[0]:b[2], b[1]:b[3]] if b else gdf
        fields = [c for c in gdf.columns if c != gdf.geometry.name]
    else:
        name = _tables.vector_layer(p, layer, what="weight layer")
        info = pyogrio.read_info(p, layer=name)
        fields = list(info["fields"])
    col = column or next((f for f in fields if f.lower() in WEIGHT_COLUMNS), None)
    if column and column not in fields:
        raise InputError(f"the weight layer {p.name} has no column {column!r}; its columns: {fields}")
    if p.suffix.lower() != ".parquet":
        try:  # a spatial filter in the layer's own CRS: a département's buildings in bounded memory
            gdf = gpd.read_file(p, layer=name, bbox=box(info.get("crs")), columns=[col] if col else [],
                                engine="pyogrio")
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
            raise InputError(f"cannot read the weight layer {p.name}: {str(exc).splitlines()[0]}") from None
    if gdf.crs is None:
        raise InputError(f"the weight layer {p.name} has no CRS")
    return weights_from(gdf, column=col, label=p.name)


def weights_from(gdf: gpd.GeoDataFrame, *, column: str | None = None, label: str = "weights") -> gpd.GeoDataFrame:
    """Weights from a GeoDataFrame already in memory (see :func:`load_weights`)."""
    if gdf.crs is None:
        raise InputError("the weight layer has no CRS")
    geoms = gdf.geometry.values
    kinds = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]))
    points = kinds <= {0, 4}
    if column:
        w = pd.to_numeric(gdf[column], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)
        what = f"{column} of {len(gdf)} {'points' if points else 'buildings'}"
    elif points:
        w = np.ones(len(gdf))
        what = f"{len(gdf)} address points"
    else:
        w = shapely.area(geoms)
        what = f"footprint area of {len(gdf)} buildings"
    out = gpd.GeoDataFrame({"w": w}, geometry=geoms, crs=gdf.crs)
    out = out[out["w"] > 0]
    out.attrs["weights"] = f"{what} ({label})"
    return out


def _shares(cells: np.ndarray, geom, area_share: np.ndarray, weights, tree) -> tuple[np.ndarray, int]:
    """Share of each carreau's people inside ``geom``: the weight inside over the carreau's weight,
    or the area share for a carreau with no weight (their number is returned)."""
    if weights is None:
        return area_share, 0
    wg = weights.geometry.values
    wv = weights["w"].to_numpy()
    ci, bi = tree.query(cells, predicate="intersects")
    share = area_share.copy()
    total = np.zeros(len(cells))
    inside = np.zeros(len(cells))
    if ci.size:
        b = wg[bi]
        pt = shapely.get_type_id(b) == 0
        in_cell = np.zeros(len(b))  # the share of each feature's weight in the carreau
        in_both = np.zeros(len(b))  # ... and in the carreau and the perimeter
        if pt.any():  # a point is wholly in or out
            in_cell[pt] = shapely.within(b[pt], cells[ci[pt]])
            in_both[pt] = in_cell[pt] * shapely.within(b[pt], geom)
        if (~pt).any():  # a building is shared by its area
            poly, where = b[~pt], cells[ci[~pt]]
            area = np.maximum(shapely.area(poly), 1e-12)
            part = shapely.intersection(poly, where)
            in_cell[~pt] = shapely.area(part) / area
            in_both[~pt] = shapely.area(shapely.intersection(part, geom)) / area
        np.add.at(total, ci, wv[bi] * in_cell)
        np.add.at(inside, ci, wv[bi] * in_both)
    has = total > 0
    share[has] = inside[has] / total[has]
    return share, int((~has).sum())


# ------------------------------------------------------------------------------- population
def population(perimeters: gpd.GeoDataFrame, carreaux: gpd.GeoDataFrame | None = None, *, weights=None,
               official=None, source=None, vintage: int | None = None, settings=None) -> pd.DataFrame:
    """People, households and poor households of each perimeter from the carreaux.

    Parameters
    ----------
    perimeters
        Quartiers (or any polygons with ``code_qp`` and ``nom_qp``), any CRS.
    carreaux
        From :func:`qpvgeo.carreaux.load_carreaux`; default: those of ``source`` (the embedded
        extract) around the perimeters.
    weights
        A weight layer (:func:`load_weights`, :func:`weights_from`) for a dasymetric estimate;
        default: area weighting.
    official
        A table of official figures (DataFrame, or a CSV/xlsx path) with a quartier code
        (``code_qp``/``code``), ``population``, and optionally ``year`` and ``source``.

    Returns
    -------
    DataFrame
        One row per perimeter: ``code_qp``, ``nom_qp``, ``coverage`` (``covered``, ``partial`` when
        part of it lies beyond the grid's extent, ``not_covered`` when no carreau reaches it: then
        every figure is empty, never 0), ``estimate``, ``low``, ``high`` (people: the estimate, the
        carreaux whose centre is inside, every overlapping carreau), ``households_estimate``,
        ``households_low``, ``households_high``, ``poor_households``, ``rate`` (poor households /
        households), ``carreaux``, ``imputed_share``, ``area_covered_share``, ``method``,
        ``source``; with ``official``: ``official``, ``official_year``, ``official_source``,
        ``gap`` (estimate − official) and ``official_within_bracket``.
    """
    if perimeters.crs is None:
        raise InputError("the perimeters have no CRS")
    if carreaux is None:
        from .carreaux import load_carreaux

        carreaux = load_carreaux(source, vintage=vintage, around=perimeters, settings=settings)
    per = perimeters.to_crs(carreaux.crs)
    declared = carreaux.attrs.get("coverage")
    valid = carreaux[carreaux["id_status"] == "ok"]
    tree = shapely.STRtree(valid.geometry.values)
    if declared is not None:  # an extract that says which area it covers (tile bands)
        extent = declared
    elif len(valid):
        cell = float(valid["cell_m"].max())
        x0, y0, x1, y1 = valid.total_bounds
        extent = shapely.box(x0 - cell, y0 - cell, x1 + cell, y1 + cell)
    else:
        extent = shapely.Polygon()
    wtree = None
    if weights is not None:
        weights = weights.to_crs(carreaux.crs)
        wtree = shapely.STRtree(weights.geometry.values)
    label = carreaux.attrs.get("source")
    # every (perimeter, carreau) pair that meets, and the area they share, in one pass each
    cg = np.asarray(valid.geometry.values, dtype=object)
    ind_a, men_a, pauv_a, cell_a, x_a, y_a = (valid[k].to_numpy(dtype=float) for k in
                                              ("ind", "men", "men_pauv", "cell_m", "x_ll", "y_ll"))
    imputed_a = valid["i_est_200"].to_numpy() == 1
    pg = np.asarray(per.geometry.values, dtype=object)
    pi_all, ci_all = tree.query(pg, predicate="intersects")
    order = np.argsort(pi_all, kind="stable")  # grouped by perimeter, each in the tree's order
    pi_all, ci_all = pi_all[order], ci_all[order]
    inter_all = shapely.area(shapely.intersection(cg[ci_all], pg[pi_all]))
    bounds = np.searchsorted(pi_all, np.arange(len(pg) + 1))
    rows = []
    for k, (code, name, geom) in enumerate(zip(per["code_qp"], per["nom_qp"], pg)):
        hits, inter = ci_all[bounds[k]:bounds[k + 1]], inter_all[bounds[k]:bounds[k + 1]]
        keep = inter > 0
        hits, inter = hits[keep], inter[keep]
        base = {"code_qp": code, "nom_qp": name, "source": label}
        if not len(hits):
            rows.append({**base, "coverage": "not_covered", "estimate": None, "low": None, "high": None,
                         "households_estimate": None, "households_low": None, "households_high": None,
                         "poor_households": None, "rate": None, "carreaux": 0, "imputed_share": None,
                         "area_covered_share": None, "method": _method(weights, 0)})
            continue
        cell = cell_a[hits]
        area_share = inter / (cell ** 2)
        share, fallback = _shares(cg[hits], geom, area_share, weights, wtree)
        centre = shapely.points(x_a[hits] + cell / 2, y_a[hits] + cell / 2)
        c_in = shapely.within(centre, geom)
        ind, men, pauv = ind_a[hits], men_a[hits], pauv_a[hits]
        est_men = float((men * share).sum())
        est_pauv = float((pauv * share).sum())
        imputed = float((share * imputed_a[hits]).sum())
        rows.append({**base, "coverage": "covered" if extent.covers(geom) else "partial",
                     "estimate": round(float((ind * share).sum()), 1), "low": round(float(ind[c_in].sum()), 1),
                     "high": round(float(ind.sum()), 1), "households_estimate": round(est_men, 1),
                     "households_low": round(float(men[c_in].sum()), 1), "households_high": round(float(men.sum()), 1),
                     "poor_households": round(est_pauv, 1), "rate": round(est_pauv / est_men, 4) if est_men else None,
                     "carreaux": int(len(hits)),
                     "imputed_share": round(imputed / share.sum(), 3) if share.sum() else None,
                     "area_covered_share": round(float(inter.sum() / geom.area), 4) if geom.area else None,
                     "method": _method(weights, fallback)})
    out = pd.DataFrame(rows)
    if official is not None:
        out = _with_official(out, official)
    return out


def _method(weights, fallback: int) -> str:
    if weights is None:
        return "area-weighted"
    text = f"dasymetric: {weights.attrs.get('weights', 'weights')}"
    return text + (f"; {fallback} carreau(x) without weight fell back to area" if fallback else "")


def load_official(table) -> pd.DataFrame:
    """Official figures: ``code_qp``, ``official`` (population), ``official_year``, ``official_source``."""
    if isinstance(table, str | Path):
        from . import _tables

        p = _tables.local_input(table, what="table of official figures")
        frame = pd.concat([c.frame for c in _tables.iter_chunks(p)], ignore_index=True)
    else:
        frame = table
    cols = {str(c).lower(): c for c in frame.columns}
    code = next((cols[c] for c in ("code_qp", "code", "code_quartier", "qp") if c in cols), None)
    popc = next((cols[c] for c in ("population", "pop", "habitants", "official") if c in cols), None)
    if code is None or popc is None:
        raise DataError(f"the table of official figures needs a quartier code and a population column; its columns "
                        f"are {list(frame.columns)}")
    out = pd.DataFrame({"code_qp": frame[code].astype(str).str.strip(),
                        "official": pd.to_numeric(frame[popc].astype(str).str.replace(r"[\s\u00a0\u202f]", "",
                                                                                       regex=True),
                                                  errors="coerce")})
    out["official_year"] = frame[cols["year"]].astype(str) if "year" in cols else (
        frame[cols["annee"]].astype(str) if "annee" in cols else None)
    out["official_source"] = frame[cols["source"]].astype(str) if "source" in cols else None
    return out.drop_duplicates("code_qp")


def _with_official(out: pd.DataFrame, official) -> pd.DataFrame:
    off = load_official(official)
    merged = out.merge(off, on="code_qp", how="left")
    merged["gap"] = (merged["estimate"] - merged["official"]).round(1)
    merged["official_within_bracket"] = np.where(
        merged["official"].notna() & merged["low"].notna(),
        (merged["official"] >= merged["low"]) & (merged["official"] <= merged["high"]), None)
    return merged


def site_population(site, carreaux=None, *, weights=None, source=None, settings=None) -> dict:
    """People and households living on a project site (a GeoDataFrame with a CRS, merged into one
    polygon): the figures of :func:`population` for it, as a dict (``estimate``, ``low``,
    ``high``, ``households_estimate``, ``coverage``, ``method``, ``source``, …)."""
    if site.crs is None:
        raise InputError("the site has no CRS")
    one = gpd.GeoDataFrame({"code_qp": ["site"], "nom_qp": [""]},
                           geometry=[shapely.union_all(site.geometry.values)], crs=site.crs)
    row = population(one, carreaux, weights=weights, source=source, settings=settings).iloc[0]
    row = row.drop(["code_qp", "nom_qp"])
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}


def qpv_inhabitants_by_commune(perimeters: gpd.GeoDataFrame, carreaux=None, *, communes=None, weights=None,
                               source=None, settings=None) -> pd.DataFrame:
    """People living in a QPV, per commune (a QPV on three communes is cut by their outlines),
    for the rules that share money by QPV inhabitants (the DSC « part QPV », 004:242-245).

    Returns a DataFrame: ``insee``, ``nom``, ``estimate``, ``low``, ``high``, ``method``.
    """
    from .territory import load_communes

    outlines = (load_communes() if communes is None else communes).to_crs(perimeters.crs)
    qpv = perimeters[perimeters["classe"] == "QPV"] if "classe" in perimeters else perimeters
    parts = []
    for _, q in qpv.iterrows():
        for code in q["communes"]:
            shape = outlines.loc[outlines["insee"] == code, "geometry"]
            if len(shape):
                piece = shapely.intersection(q.geometry, shape.iloc[0])
                if not piece.is_empty:
                    parts.append({"code_qp": code, "nom_qp": "", "geometry": piece})
    if not parts:
        raise DataError("no commune outline holds these QPV: give the commune outlines (communes=)")
    pop = population(gpd.GeoDataFrame(parts, crs=perimeters.crs), carreaux, weights=weights, source=source,
                     settings=settings)
    out = pop.groupby("code_qp")[["estimate", "low", "high"]].sum(min_count=1).reset_index()
    out = out.rename(columns={"code_qp": "insee"})
    names = dict(zip(outlines["insee"], outlines["nom"]))
    out.insert(1, "nom", out["insee"].map(names))
    out["method"] = pop["method"].iloc[0]
    return out
