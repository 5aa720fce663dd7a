"""Quartiers fragiles from the INSEE 200 m poverty grid (docs/rules.md §4).

A carreau is flagged when its poverty rate (``men_pauv / men``, share of poor households) is at
least ``factor`` times the reference rate of its EPCI (Σ men_pauv / Σ men over the EPCI's
carreaux, unless given), and it holds at least ``min_households`` households OR
``min_individuals`` people. Flagged carreaux that touch (by an edge, or also by a corner) form
candidate zones, proposals for elected officials.

Per-carreau ``status``: ``ok``; ``no_households`` (``men`` = 0: no rate, never flagged);
``invalid_counts`` (missing or negative ``ind``/``men``/``men_pauv``, or more poor households
than households); ``invalid_id`` (``idcar_200m`` does not parse). Nothing is dropped silently:
every carreau read is in the output with its status.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import asdict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .carreaux import grid_crs, has_square, squares, with_squares
from .crs import WGS84, metric_crs, scale_factor
from .errors import DataError, InputError, NotFoundError
from .rules import FragilityRule  # noqa: F401  (part of this module's API)
from .territory import communes_of_epci, coverage_of_perimeters, epci_name, load_communes, load_membership

log = logging.getLogger(__name__)


class FragilityResult:
    """What :func:`fragility` found: ``carreaux`` (one row per carreau, a GeoDataFrame of their
    squares), ``zones`` (a GeoDataFrame) and ``summary`` (a dict).

    The squares of millions of carreaux cost seconds and hundreds of MB, and only the flagged
    ones are needed to draw the zones: ``table`` is the same per-carreau table without them,
    which the writers use; ``carreaux`` builds the squares on first use."""

    def __init__(self, carreaux: pd.DataFrame, zones: gpd.GeoDataFrame, summary: dict | None = None):
        self._table = carreaux
        self._carreaux = None
        self.zones = zones
        self.summary = summary if summary is not None else {}

    @property
    def table(self) -> pd.DataFrame:
        """One row per carreau, with or without its square (``attrs["crs"]`` names the CRS)."""
        return self._table

    @property
    def carreaux(self) -> gpd.GeoDataFrame:
        if self._carreaux is None:
            self._carreaux = with_squares(self._table)
        return self._carreaux

    @carreaux.setter
    def carreaux(self, value) -> None:
        self._table, self._carreaux = value, None

    def __repr__(self) -> str:
        return (f"FragilityResult({len(self._table)} carreaux, {len(self.zones)} zones, "
                f"{self.summary.get('flagged_carreaux', 0)} flagged)")


# ------------------------------------------------------------------------- carreaux → EPCI
def assign_communes(carreaux: pd.DataFrame, *, communes: gpd.GeoDataFrame | None = None,
                    membership: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add ``insee`` (commune) and ``epci`` (SIREN) to each carreau: from ``lcog_geo`` when it names
    a single commune, else from the commune that holds the carreau's centre; a carreau across
    several communes whose centre falls in no known commune takes the first one ``lcog_geo`` names.

    Both are categorical columns ("" for none): a commune code is worked out once per distinct
    ``lcog_geo`` and an EPCI once per commune, not once per carreau."""
    out = carreaux.copy(deep=False)
    table = load_membership() if membership is None else membership
    n = len(out)
    names: list[str] = []  # the commune codes met, in the order met
    single = np.zeros(n, dtype=bool)
    code = np.full(n, -1, dtype=np.int64)  # lcog_geo's (first) commune, as a position in names
    if "lcog_geo" in out.columns:
        lcodes, distinct = pd.factorize(out["lcog_geo"])
        text = pd.Series(np.asarray(distinct, dtype=object), dtype=object).astype(str).str.strip()
        length = text.str.len().to_numpy()
        long = length >= 5
        first = np.full(len(text), -1, dtype=np.int64)
        if long.any():
            f, names_idx = pd.factorize(text[long].str[:5].to_numpy(dtype=object))
            first[long] = f
            names = [str(v) for v in names_idx]
        has = lcodes >= 0
        code[has] = first[lcodes[has]]
        single[has] = (length == 5)[lcodes[has]]
    insee = np.where(single, code, -1)
    todo = (insee < 0) & has_square(out)
    if todo.any():
        comm = (load_communes() if communes is None else communes).to_crs(grid_crs(carreaux))
        cell = out["cell_m"].to_numpy()[todo]
        cx = out["x_ll"].to_numpy()[todo] + cell / 2
        cy = out["y_ll"].to_numpy()[todo] + cell / 2
        tree = shapely.STRtree(comm.geometry.values)
        pi, ci = tree.query(shapely.points(cx, cy), predicate="within")
        known = {c: i for i, c in enumerate(names)}
        comm_codes = comm["insee"].fillna("").astype(str).tolist()
        for c in comm_codes:
            if c:
                known.setdefault(c, len(known))
        names = list(known)
        comm_pos = np.array([known.get(c, -1) for c in comm_codes], dtype=np.int64)
        found = np.full(int(todo.sum()), -1, dtype=np.int64)
        found[pi] = comm_pos[ci]
        insee[todo] = found
    several = (insee < 0) & ~single & (code >= 0)
    insee[several] = code[several]
    none = len(names)  # the category "" (no commune)
    insee[insee < 0] = none
    categories = names + [""]
    out["insee"] = pd.Categorical.from_codes(insee, categories=categories)
    lookup = pd.Series(table["siren_epci"].astype(str).to_numpy(), index=table["insee"].astype(str).to_numpy())
    epci_of = pd.Series(categories, dtype=object).map(lookup).fillna("").to_numpy(dtype=object)
    epci_codes, epci_names = pd.factorize(epci_of)
    epci_names = [str(v) for v in epci_names]
    if "" not in epci_names:
        epci_names.append("")
    out["epci"] = pd.Categorical.from_codes(epci_codes[insee], categories=epci_names)
    return out


STATUSES = ("ok", "no_households", "invalid_counts", "invalid_id", "duplicate")  # per carreau


def _status_codes(c: pd.DataFrame) -> np.ndarray:
    """Each carreau's status as a position in :data:`STATUSES`."""
    ind, men, pauv = (c[k].to_numpy(dtype=float) for k in ("ind", "men", "men_pauv"))
    status = np.zeros(len(c), dtype=np.int8)
    bad = (np.isnan(ind) | np.isnan(men) | np.isnan(pauv) | (ind < 0) | (men < 0) | (pauv < 0)
           | (pauv > men + 0.5))
    status[bad] = 2
    status[~bad & (men == 0)] = 1
    status[(c["id_status"] == "invalid_id").to_numpy()] = 3
    status[(c["id_status"] == "duplicate").to_numpy()] = 4
    return status


def _statuses(c: pd.DataFrame) -> np.ndarray:
    return np.asarray(STATUSES, dtype=object)[_status_codes(c)]


def reference_rate(carreaux: pd.DataFrame, *, population: float | None = None) -> dict:
    """Σ men_pauv / Σ men over the given carreaux (those of one EPCI), with its coverage."""
    use = _status_codes(carreaux) <= 1  # ok, no_households
    men = float(carreaux.loc[use, "men"].sum())
    pauv = float(carreaux.loc[use, "men_pauv"].sum())
    ind = float(carreaux.loc[use, "ind"].sum())
    if men <= 0:
        raise DataError("the carreaux of this territory hold no household: no reference rate can be computed")
    return {"reference_rate": pauv / men, "carreaux": int(use.sum()), "households": round(men, 1),
            "poor_households": round(pauv, 1), "individuals": round(ind, 1),
            "excluded_carreaux": int((~use).sum()),
            "population": population,
            "individuals_share_of_population": None if not population else round(ind / population, 4)}


def flag(carreaux: pd.DataFrame, reference, rule: FragilityRule) -> pd.DataFrame:
    """Add ``status``, ``rate``, ``ratio``, ``flagged`` and ``reference_rate`` to each carreau (a
    new frame). ``reference`` is one rate, or one per carreau (the rate of its EPCI)."""
    ref = np.broadcast_to(np.asarray(reference, dtype=float), (len(carreaux),))
    if len(ref) and not (np.isfinite(ref).all() and (ref > 0).all()):
        raise InputError(f"the reference rate must be > 0, got {reference!r}")
    out = carreaux.copy(deep=False)
    st = _status_codes(out)
    ok = st == 0
    men = out["men"].to_numpy(dtype=float)
    pauv = out["men_pauv"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(ok, pauv / men, np.nan)
    # compare rates exactly: rate ≥ factor × reference  ⇔  men_pauv ≥ factor × reference × men
    rhs = rule.factor * ref * men
    tol = 1e-9 * np.maximum(np.abs(rhs), 1.0)
    rate_ok = (pauv >= rhs - tol) if rule.comparison == ">=" else (pauv > rhs + tol)
    size_ok = (men >= rule.min_households) | (out["ind"].to_numpy(dtype=float) >= rule.min_individuals)
    out["status"] = pd.Categorical.from_codes(st, categories=list(STATUSES))
    out["rate"] = rate
    out["ratio"] = rate / ref
    out["reference_rate"] = ref
    out["flagged"] = ok & rate_ok & size_ok
    return out


# ------------------------------------------------------------------------- zones
def group(carreaux: gpd.GeoDataFrame, *, contact: str = "edge", partition=None) -> np.ndarray:
    """Zone labels (0..k-1) of carreaux that touch, from grid indices (no geometry tests);
    -1 for carreaux without a valid id. Carreaux of different ``partition`` values (e.g. EPCI)
    are never joined."""
    ok = (carreaux["id_status"] == "ok").to_numpy()
    labels = np.full(len(carreaux), -1, dtype=np.int64)
    if not ok.any():
        return labels
    cell = carreaux.loc[ok, "cell_m"].to_numpy(dtype=float)
    gi = np.round(carreaux.loc[ok, "x_ll"].to_numpy(dtype=float) / cell).astype(np.int64)
    gj = np.round(carreaux.loc[ok, "y_ll"].to_numpy(dtype=float) / cell).astype(np.int64)
    part = np.zeros(len(gi), dtype=np.int64)
    if partition is not None:
        part = pd.factorize(np.asarray(partition)[ok])[0].astype(np.int64)
    # one integer per cell: partition, column, row (cell indices < 2^20 in every INSEE grid)
    key = (part << 42) + (gi << 21) + gj
    order = np.argsort(key)
    skey = key[order]
    offsets = [(1, 0), (0, 1)] + ([(1, 1), (1, -1)] if contact == "corner" else [])
    rows, cols = [], []
    for di, dj in offsets:
        nk = key + (di << 21) + dj
        pos = np.searchsorted(skey, nk)
        pos = np.clip(pos, 0, len(skey) - 1)
        hit = skey[pos] == nk
        rows.append(np.flatnonzero(hit))
        cols.append(order[pos[hit]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    n = int(ok.sum())
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n, n))
    _, lab = connected_components(graph, directed=False)
    labels[ok] = lab
    return labels


def zones(flagged: pd.DataFrame, *, perimeters: gpd.GeoDataFrame | None,
          contact: str = "edge", names: dict | None = None,
          qpv_parts=None) -> tuple[gpd.GeoDataFrame, pd.Categorical]:
    """Candidate zones from the flagged carreaux (output of :func:`flag`), with their statistics,
    and each carreau's zone id ("" for none). Zones never cross an EPCI limit. ``qpv_parts``:
    the QPV of ``perimeters`` in the grid's CRS as non-overlapping polygons, when already made."""
    crs = grid_crs(flagged)
    where = np.flatnonzero(flagged["flagged"].to_numpy(dtype=bool))
    sel = pd.DataFrame(flagged.iloc[where]).copy()
    sel.attrs = _crs_attrs(crs)
    for c in ("epci", "insee"):  # a few flagged carreaux: plain text from here on
        if c in sel.columns:
            sel[c] = sel[c].astype(object).astype(str)
    if "epci" not in sel.columns:
        sel["epci"] = ""
    cols = ["zone_id", "epci", "carreaux", "carreaux_imputed", "households", "individuals", "poor_households", "rate",
            "ratio", "communes", "noms_communes", "households_in_qpv_share", "inside_qpv", "nearest_qpv",
            "nearest_qpv_nom", "distance_qpv_m", "qpv_coverage"]
    if sel.empty:
        return (gpd.GeoDataFrame(columns=cols, geometry=[], crs=crs),
                pd.Categorical.from_codes(np.zeros(len(flagged), dtype=np.int64), categories=[""]))
    lab = group(sel, contact=contact, partition=sel["epci"].to_numpy())
    sel["_z"] = lab
    sel["_imputed"] = (sel["i_est_200"] == 1).astype(int)
    agg = sel.groupby("_z").agg(epci=("epci", "first"), reference_rate=("reference_rate", "first"),
                                carreaux=("idcar_200m", "size"), households=("men", "sum"),
                                individuals=("ind", "sum"), poor_households=("men_pauv", "sum"),
                                carreaux_imputed=("_imputed", "sum"), _first=("y_ll", "max"))
    # stable ids: largest zones first, then north to south
    agg = agg.sort_values(["households", "_first"], ascending=[False, False])
    rank = np.empty(len(agg), dtype=np.int64)
    rank[agg.index.to_numpy()] = np.arange(len(agg))  # zone label (0..k-1) → position in the ids
    zone_ids = [f"Z{i + 1:02d}" for i in range(len(agg))]
    agg["zone_id"] = zone_ids
    # each zone's outline: its one square, or the union of its squares (numpy groups, no pandas apply);
    # squares are built for the flagged carreaux only
    sq = squares(sel["x_ll"].to_numpy(), sel["y_ll"].to_numpy(), sel["cell_m"].to_numpy())
    labels, shapes = _union_per_label(sq, sel["_z"].to_numpy())
    geoms = pd.Series(shapes, index=labels)
    out = gpd.GeoDataFrame(agg, geometry=geoms.reindex(agg.index).values, crs=crs)
    out["rate"] = out["poor_households"] / out["households"]
    out["ratio"] = out["rate"] / out["reference_rate"]
    pairs = sel.loc[sel["insee"] != "", ["_z", "insee"]].drop_duplicates().sort_values(["_z", "insee"])
    pz, pi = pairs["_z"].to_numpy(), pairs["insee"].to_numpy(dtype=object)
    cut = np.flatnonzero(np.r_[True, pz[1:] != pz[:-1]]) if len(pz) else np.empty(0, dtype=np.int64)
    lists = dict(zip(pz[cut], (list(x) for x in np.split(pi, cut[1:])))) if len(pz) else {}
    out["communes"] = [lists.get(z, []) for z in agg.index]
    names = names or {}
    out["noms_communes"] = out["communes"].map(lambda cs: ", ".join(names.get(c, c) for c in cs))
    _qpv_relations(out, sel, perimeters, qpv_parts)
    codes = np.full(len(flagged), len(zone_ids), dtype=np.int64)  # the last category, "", for no zone
    codes[where] = rank[lab]
    zone_of = pd.Categorical.from_codes(codes, categories=zone_ids + [""])
    out = out.reset_index(drop=True)
    for c in ("households", "individuals", "poor_households"):
        out[c] = out[c].round(1)
    return out[cols + ["geometry"]], zone_of


def _crs_attrs(crs) -> dict:
    """The attrs a table of carreaux carries: its CRS only, as text (pandas copies attrs on every
    operation: costly on millions of rows when they hold more)."""
    return {"crs": crs.to_string() if hasattr(crs, "to_string") else str(crs)}


def _coverage_in(perimeters: gpd.GeoDataFrame, crs):
    """The area the perimeters speak for (:func:`qpvgeo.territory.coverage_of_perimeters`, the
    Checker's test) in the grid's CRS, its edges cut every 0.01° first so that they bend as
    they should once projected: carreaux and zones are then tested where they are."""
    area = shapely.segmentize(coverage_of_perimeters(perimeters), 0.01)
    area = gpd.GeoSeries([area], crs=WGS84).to_crs(crs).iloc[0]
    shapely.prepare(area)  # tested against every carreau and every zone
    return area


def _qpv_parts(perimeters: gpd.GeoDataFrame, crs) -> np.ndarray:
    """The area of the QPV in ``crs`` as polygons whose interiors do not overlap (what the shares
    and the overlaps need): each quartier's own parts, except where quartiers meet, which are
    merged. Merging only those is the same area as ``union_all`` of all, in a fraction of its time."""
    geoms = np.asarray(perimeters[perimeters["classe"] == "QPV"].to_crs(crs).geometry.values, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        return np.empty(0, dtype=object)
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(geoms), len(geoms)))
    _, label = connected_components(graph, directed=False)
    parts = shapely.get_parts(_union_per_label(geoms, label)[1])
    return parts[shapely.area(parts) > 0]


def _union_per_label(geoms: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each label, the union of its geometries): a lone geometry as it is, in numpy groups."""
    order = np.argsort(labels, kind="stable")
    distinct, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    g = geoms[order]
    return distinct, np.array([g[i] if k == 1 else shapely.union_all(g[i:i + k]) for i, k in zip(starts, sizes)],
                              dtype=object)


def near_boxes(carreaux: pd.DataFrame, bounds: np.ndarray) -> np.ndarray:
    """True for each carreau (with a valid id) whose square meets one of the boxes ``bounds``
    (``(n, 4)``: xmin, ymin, xmax, ymax in the grid's CRS), found on grid indices: no square is
    built. A few thousand quartiers' boxes hold a few hundred thousand cells."""
    ok = has_square(carreaux)
    hit = np.zeros(len(carreaux), dtype=bool)
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    if not ok.any() or not len(bounds):
        return hit
    x, y, cell = (carreaux[k].to_numpy(dtype=float) for k in ("x_ll", "y_ll", "cell_m"))
    for size in np.unique(cell[ok]):
        mine = ok & (cell == size)
        gi = np.round(x[mine] / size).astype(np.int64)
        gj = np.round(y[mine] / size).astype(np.int64)
        i0, i1 = np.floor(bounds[:, 0] / size).astype(np.int64), np.ceil(bounds[:, 2] / size).astype(np.int64)
        j0, j1 = np.floor(bounds[:, 1] / size).astype(np.int64), np.ceil(bounds[:, 3] / size).astype(np.int64)
        if int(((i1 - i0) * (j1 - j0)).sum()) > 4 * len(gi):  # boxes as large as the grid: keep them all
            hit[mine] = True
            continue
        keys = np.unique(np.concatenate([
            ((np.arange(a, b)[:, None] << 32) + np.arange(c, d)[None, :]).ravel()
            for a, b, c, d in zip(i0, i1, j0, j1)]))
        pos = np.minimum(np.searchsorted(keys, (gi << 32) + gj), len(keys) - 1)
        hit[mine] = keys[pos] == (gi << 32) + gj
    return hit


def _area_inside(geoms: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Area of each geometry inside the ``parts`` (polygons that do not overlap, so that their
    areas add up), measured against the parts it meets only, never against all at once."""
    gi, pi = shapely.STRtree(parts).query(geoms, predicate="intersects")
    area = shapely.area(shapely.intersection(geoms[gi], parts[pi]))
    return np.bincount(gi, weights=area, minlength=len(geoms))


def qpv_share(carreaux: pd.DataFrame, union, coverage=None) -> np.ndarray:
    """Share of each carreau's area inside ``union`` (the QPV in the carreaux' CRS: one geometry,
    or polygons that do not overlap). NaN for a carreau without a square, and for one whose
    centre lies outside ``coverage`` (in the same CRS: the area the perimeters speak for, see
    :func:`_coverage_in`), where a QPV may lie that was not loaded.
    Only the carreaux whose square meets the box of one part are measured (their squares built
    then), each against the parts it meets."""
    known = has_square(carreaux).copy()
    if coverage is not None and known.any():
        half = carreaux["cell_m"].to_numpy(dtype=float)[known] / 2
        known[known] = shapely.contains_xy(coverage, carreaux["x_ll"].to_numpy(dtype=float)[known] + half,
                                           carreaux["y_ll"].to_numpy(dtype=float)[known] + half)
    share = np.where(known, 0.0, np.nan)
    parts = shapely.get_parts(np.atleast_1d(np.asarray(union, dtype=object))) if union is not None else []
    if not len(parts):
        return share
    near = np.flatnonzero(near_boxes(carreaux, shapely.bounds(parts)) & known)
    if not len(near):
        return share
    cell = carreaux["cell_m"].to_numpy(dtype=float)[near]
    sq = squares(carreaux["x_ll"].to_numpy(dtype=float)[near], carreaux["y_ll"].to_numpy(dtype=float)[near], cell)
    share[near] = _area_inside(sq, parts) / cell ** 2
    return share


def _nearest(geoms: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry, the position of the nearest target (the first of equals) and the
    distance to it, as ``STRtree.query_nearest`` gives them, faster for far ones: the distance
    from a point inside the geometry to the nearest outline vertex of any target bounds the
    answer, so that exact distances are measured to the few targets within that bound only."""
    from scipy.spatial import cKDTree

    coords = shapely.get_coordinates(shapely.boundary(targets))
    inside = shapely.point_on_surface(geoms)
    bound, _ = cKDTree(coords).query(shapely.get_coordinates(inside))
    tree = shapely.STRtree(targets)
    bound[tree.query(inside, predicate="intersects")[0]] = 0.0  # inside a target: distance 0
    # every target at most `bound` away from the geometry (bound ≥ the nearest distance)
    gi, ti = tree.query(geoms, predicate="dwithin", distance=bound + 1e-6)
    d = shapely.distance(geoms[gi], targets[ti])
    order = np.lexsort((ti, d, gi))
    gi, ti, d = gi[order], ti[order], d[order]
    first = np.r_[True, gi[1:] != gi[:-1]]
    best_t = np.full(len(geoms), -1, dtype=np.int64)
    best_d = np.full(len(geoms), np.nan)
    best_t[gi[first]], best_d[gi[first]] = ti[first], d[first]
    return best_t, best_d


QPV_COVERAGE = ("covered", "partial", "not_covered")  # of a zone by the perimeters loaded


def _qpv_relations(out: gpd.GeoDataFrame, sel: pd.DataFrame, perimeters, parts=None) -> None:
    """Each zone's share of households in a QPV, whether it lies inside one, its nearest QPV and
    the ground distance, and ``qpv_coverage``: whether the perimeters loaded speak for where the
    zone lies (:func:`qpvgeo.territory.coverage_of_perimeters`, the Checker's decision). Where
    they do not (no perimeters, no QPV among them, or a zone outside their départements), these
    are empty, never "not in a QPV": a QPV may be there that was not loaded."""
    out["households_in_qpv_share"] = np.nan
    out["inside_qpv"] = pd.array([pd.NA] * len(out), dtype="boolean")
    out["nearest_qpv"] = ""
    out["nearest_qpv_nom"] = ""
    out["distance_qpv_m"] = np.nan
    out["qpv_coverage"] = "not_covered"
    if perimeters is None or len(perimeters) == 0 or not len(out):
        return
    qpv = perimeters[perimeters["classe"] == "QPV"]
    if qpv.empty:
        return
    coverage = _coverage_in(perimeters, out.crs)
    whole = shapely.covers(coverage, out.geometry.values)
    some = whole | shapely.intersects(coverage, out.geometry.values)
    out["qpv_coverage"] = np.where(whole, "covered", np.where(some, "partial", "not_covered"))
    if not some.any():
        return
    idx = out.index.to_numpy()[some]
    z = out.loc[idx]
    parts = _qpv_parts(perimeters, out.crs) if parts is None else parts
    share = sel["qpv_share"].to_numpy() if "qpv_share" in sel.columns else qpv_share(sel, parts, coverage)
    in_men = pd.Series(sel["men"].to_numpy() * share, index=sel.index)
    tot = in_men.groupby(sel["_z"]).sum()  # a carreau outside the coverage (NaN) adds nothing
    out.loc[idx, "households_in_qpv_share"] = (tot.reindex(idx) / z["households"]).round(4)
    out.loc[idx, "inside_qpv"] = _area_inside(z.geometry.values, parts) >= 0.999 * shapely.area(z.geometry.values)
    # nearest QPV, ground distance in the territory's metric CRS
    wgs_c = z.geometry.centroid.to_crs(4326)
    crs_m = metric_crs(lonlat=(wgs_c.x.mean(), wgs_c.y.mean()))
    q_m = qpv.to_crs(crs_m)
    qi, d = _nearest(z.to_crs(crs_m).geometry.values, q_m.geometry.values)
    zi = np.flatnonzero(qi >= 0)
    qi, d = qi[zi], d[zi]
    k = scale_factor(crs_m, wgs_c.x.to_numpy(), wgs_c.y.to_numpy())
    out.loc[idx[zi], "nearest_qpv"] = q_m["code_qp"].to_numpy()[qi]
    out.loc[idx[zi], "nearest_qpv_nom"] = q_m["nom_qp"].to_numpy()[qi]
    out.loc[idx[zi], "distance_qpv_m"] = np.round(d / k[zi], 1)


# ------------------------------------------------------------------------- population
def load_grid(source=None, *, epci: str | None = None, vintage: int | None = None, membership=None,
              communes=None, settings=None):
    """The carreaux, membership table and commune outlines a fragility run needs.

    With ``epci``, only the carreaux of its communes (``lcog_geo``), or for a grid without it,
    those within 400 m of its communes' outlines, are read. ``membership`` and ``communes`` are
    paths (default: the embedded Pas-de-Calais tables). Returns ``(carreaux, membership table,
    commune outlines or None)``.
    """
    from .carreaux import load_carreaux

    table = load_membership(membership)
    outlines = load_communes(communes) if communes else None
    around = codes = None
    if epci:
        codes = communes_of_epci(epci, table)
        shapes = (outlines if outlines is not None else load_communes())
        shapes = shapes[shapes["insee"].isin(codes)]
        around = shapes if len(shapes) else None
    grid = load_carreaux(source, vintage=vintage, around=around, communes=codes, settings=settings, geometry=False)
    return grid, table, outlines


# ------------------------------------------------------------------------- whole job
PARTIAL_BELOW = 0.85  # individuals of the grid / known population under which an EPCI is partly covered


def fragility(
    carreaux: gpd.GeoDataFrame,
    *,
    epci: str | list[str] | None = None,
    perimeters: gpd.GeoDataFrame | None = None,
    rule: FragilityRule | None = None,
    reference_rate: float | None = None,
    known_population: float | None = None,
    membership: pd.DataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    allow_partial: bool = False,
) -> FragilityResult:
    """Flag the carreaux of one EPCI, several, or every EPCI of the grid, and group them into
    candidate zones; each carreau is compared with the reference rate of its own EPCI, and zones
    never cross an EPCI limit. The one orchestrator of fragility.

    Parameters
    ----------
    carreaux
        From :func:`qpvgeo.carreaux.load_carreaux` (any territory; those of the EPCI are kept).
    epci
        SIREN of an EPCI (CAPSO: 200069037), a list of them, or None for every EPCI of the grid.
    perimeters
        QPV perimeters, to measure each zone's overlap with and distance to the QPV.
    reference_rate
        The reference poverty rate (a fraction, e.g. 0.1724) instead of the computed one (one EPCI only).
    known_population
        Population of the (one) EPCI to report coverage against (default: Σ ``pmun`` of its
        communes in the membership table).
    allow_partial
        An EPCI asked for by name whose carreaux miss some of its communes, or hold fewer than
        85 % of its population, is refused (its reference rate would be wrong) unless this is
        True; every output then says ``partial``. With ``epci=None`` partly covered EPCI (at the
        edge of an extract) are kept and marked.

    Returns
    -------
    FragilityResult
        ``carreaux`` (the input columns, ``insee``, ``epci``, ``status``, ``rate``, ``ratio``,
        ``reference_rate``, ``flagged``, ``zone_id``, ``qpv_share``, ``partial``), ``zones`` (see
        :func:`zones`, plus ``nom_epci`` and ``partial``) and ``summary``, a dict of the same shape
        whatever ``epci`` is: ``epci`` (a list, one record per EPCI: ``epci``, ``nom_epci``,
        ``reference_rate``, ``reference_method``, ``computed_reference_rate``, ``carreaux``,
        ``households``, ``poor_households``, ``individuals``, ``population``,
        ``individuals_share_of_population``, ``communes``, ``communes_without_carreau``,
        ``partial``, ``flagged_carreaux``, ``zones``), ``carreaux``, ``carreaux_without_epci``,
        ``carreaux_status``, ``flagged_carreaux``, ``flagged_imputed``, ``flagged_households``,
        ``flagged_individuals``, ``zones`` (records), ``zones_count``, ``partial``, ``rule``,
        ``source``, ``vintage``.
    """
    rule = rule or FragilityRule()
    table = load_membership() if membership is None else membership
    wanted = None if epci is None else ([str(epci)] if isinstance(epci, str) else [str(e) for e in epci])
    if reference_rate is not None:
        if wanted is None or len(wanted) != 1:
            raise InputError("a given reference rate applies to one EPCI; each EPCI has its own otherwise")
        if not 0 < reference_rate < 1:
            raise InputError(f"the reference rate is a fraction between 0 and 1 (e.g. 0.1724), got {reference_rate!r}")
    names_epci = dict(zip(table["siren_epci"], table["nom_epci"]))
    for e in wanted or []:
        epci_name(e, table)  # an unknown SIREN is an error that says how to fix it
    source, vintage = carreaux.attrs.get("source"), carreaux.attrs.get("vintage")
    crs = grid_crs(carreaux)
    if crs is None:
        raise InputError("the carreaux have no CRS: read them with qpvgeo.carreaux.load_carreaux")
    c = assign_communes(carreaux, communes=communes, membership=table)
    c.attrs = _crs_attrs(crs)
    # per EPCI, on the integer codes of the categorical column (one pass each, no text compared)
    ecats = [str(e) for e in c["epci"].cat.categories]
    ecode = c["epci"].cat.codes.to_numpy()
    nocode = ecats.index("")
    known = ecode != nocode
    if wanted is None:
        keep_code = np.array([e != "" for e in ecats])
    else:
        keep_code = np.isin(np.asarray(ecats, dtype=object), wanted)
        present = set(np.asarray(ecats, dtype=object)[np.bincount(ecode, minlength=len(ecats)) > 0])
        absent = [e for e in wanted if e not in present]
        if absent:
            raise NotFoundError(
                f"no carreau of the loaded grid lies in EPCI {', '.join(absent)} "
                f"({', '.join(names_epci.get(e) or '?' for e in absent)}): load the Filosofi file that covers "
                "it, and commune outlines when the file has no lcog_geo")
    # carreaux that cannot be placed in an EPCI (no lcog_geo and no valid id) stay in the output
    unplaced = c[~known & (c["id_status"] != "ok").to_numpy()]
    mask = keep_code[ecode]
    mine = c if mask.all() else c[mask]
    mcode = ecode[mask]
    st = _status_codes(mine)
    use = st <= 1  # ok, no_households
    k = len(ecats)

    def per_code(values, where=use):  # pandas' sums (compensated), grouped on the integer codes
        v = pd.Series(np.asarray(values, dtype=float)[where]).groupby(mcode[where]).sum()
        return v.reindex(np.arange(k), fill_value=0.0).to_numpy()

    count = np.bincount(mcode, minlength=k)
    here = np.flatnonzero(count > 0)
    order = here[np.argsort(np.asarray(ecats, dtype=object)[here])]
    sums = pd.DataFrame({"households": per_code(mine["men"].to_numpy())[order],
                         "poor_households": per_code(mine["men_pauv"].to_numpy())[order],
                         "individuals": per_code(mine["ind"].to_numpy())[order]},
                        index=pd.Index([ecats[i] for i in order], dtype=object, name="epci"))
    sums["computed_reference_rate"] = sums["poor_households"] / sums["households"].where(sums["households"] > 0)
    no_ref = sorted(sums.index[~(sums["computed_reference_rate"] > 0)])
    if no_ref and wanted is not None:
        raise DataError(f"the carreaux of EPCI {', '.join(no_ref)} hold no (poor) household: no reference rate "
                        "can be computed")
    if no_ref:
        log.warning("%d EPCI have no poor household or no household at all: left out (%s…)", len(no_ref),
                    ", ".join(no_ref[:5]))
    sums = sums.drop(index=no_ref)
    sums["reference_rate"] = reference_rate if reference_rate is not None else sums["computed_reference_rate"]
    sums["reference_method"] = "given" if reference_rate is not None else "computed: Σ men_pauv / Σ men"
    # coverage of each EPCI by the grid: communes without carreau, people against the known population
    members = table.groupby("siren_epci")["insee"].agg(list)
    pop = table.groupby("siren_epci")["pmun"].sum(min_count=1)
    icats = np.asarray(c["insee"].cat.categories, dtype=object)
    pair = np.unique(mcode.astype(np.int64) * len(icats) + mine["insee"].cat.codes.to_numpy())
    covered: dict = {}
    for e, i in zip(pair // len(icats), pair % len(icats)):
        covered.setdefault(ecats[e], set()).add(icats[i])
    carreaux_of = dict(zip(ecats, count.tolist()))
    rows = []
    for e, r in sums.iterrows():
        ms = members.get(e, [])
        population_e = known_population if (known_population is not None and wanted and len(wanted) == 1) else (
            None if pd.isna(pop.get(e, np.nan)) else float(pop[e]))
        share = None if not population_e else round(float(r["individuals"]) / population_e, 4)
        missing = sorted(set(ms) - covered.get(e, set()))
        rows.append({"epci": e, "nom_epci": names_epci.get(e), "reference_rate": float(r["reference_rate"]),
                     "reference_method": r["reference_method"],
                     "computed_reference_rate": float(r["computed_reference_rate"]),
                     "carreaux": int(carreaux_of.get(e, 0)), "households": round(float(r["households"]), 1),
                     "poor_households": round(float(r["poor_households"]), 1),
                     "individuals": round(float(r["individuals"]), 1), "population": population_e,
                     "individuals_share_of_population": share, "communes": len(ms),
                     "communes_without_carreau": missing,
                     "partial": bool(missing) or share is None or share < PARTIAL_BELOW})
    per_epci = pd.DataFrame(rows).set_index("epci") if rows else pd.DataFrame(columns=["partial"])
    partial = per_epci.index[per_epci["partial"].astype(bool)].tolist()
    if partial:
        detail = "; ".join(
            f"{e}: {len(per_epci.at[e, 'communes_without_carreau'])} of {per_epci.at[e, 'communes']} communes "
            "without carreau, individuals = "
            + ("unknown share" if per_epci.at[e, "individuals_share_of_population"] is None
               else f"{per_epci.at[e, 'individuals_share_of_population']:.1%}") + " of the population"
            for e in partial[:3])
        if wanted is not None and not allow_partial:
            raise DataError(f"the loaded grid covers only part of EPCI {', '.join(partial)} ({detail}): its reference "
                            "rate and flags would be wrong. Load the Filosofi file that covers the whole EPCI, "
                            "or allow a partial result (allow_partial=True, --allow-partial), whose outputs are "
                            "all marked partial")
        warnings.warn(f"partial coverage, outputs marked partial: {detail}"
                      + (f" (+{len(partial) - 3} EPCI)" if len(partial) > 3 else ""), stacklevel=2)
    rate_of = per_epci["reference_rate"].reindex(ecats).to_numpy(dtype=float) if len(per_epci) else np.full(k, np.nan)
    with_ref = np.isfinite(rate_of[mcode])
    if not with_ref.all():
        mine, mcode = mine[with_ref], mcode[with_ref]
    flagged = flag(mine, rate_of[mcode], rule)
    parts = None  # the QPV's area, in polygons that do not overlap
    if perimeters is not None and len(perimeters):
        # once for every carreau; the zones' statistics reuse it
        parts = _qpv_parts(perimeters, crs)
        flagged["qpv_share"] = qpv_share(flagged, parts, _coverage_in(perimeters, crs))
    names = dict(zip(table["insee"], table["nom_commune"]))
    zt, zone_of = zones(flagged, perimeters=perimeters, contact=rule.contact, names=names, qpv_parts=parts)
    flagged["zone_id"] = zone_of
    if "qpv_share" in flagged.columns:
        flagged["qpv_share"] = flagged["qpv_share"].round(4)
    is_partial = np.isin(np.asarray(ecats, dtype=object), partial)
    flagged["partial"] = is_partial[mcode]
    if len(unplaced):
        extra = flag(unplaced, np.ones(len(unplaced)), rule)
        extra["zone_id"] = pd.Categorical.from_codes(np.full(len(extra), len(zone_of.categories) - 1),
                                                     categories=zone_of.categories)
        extra["partial"] = False
        flagged = pd.concat([flagged, extra], ignore_index=True)
        flagged.attrs = dict(c.attrs)
    _against_the_qpv_rule(zt, perimeters, c)
    zt.insert(2, "nom_epci", zt["epci"].map(names_epci).to_numpy(dtype=object))
    zt.insert(len(zt.columns) - 1, "partial", zt["epci"].isin(partial).to_numpy())
    f = flagged["flagged"].to_numpy(dtype=bool)
    per_flag = pd.Series(np.bincount(mcode, weights=f[:len(mcode)], minlength=k), index=ecats)
    per_epci["flagged_carreaux"] = per_flag.reindex(per_epci.index).fillna(0).astype(int)
    per_epci["zones"] = zt.groupby("epci").size().reindex(per_epci.index).fillna(0).astype(int)
    records = per_epci.reset_index().to_dict("records")
    for r in records:
        r["flagged_carreaux"], r["zones"] = int(r["flagged_carreaux"]), int(r["zones"])
    status = flagged["status"].value_counts()
    summary = {
        "epci": records,
        "carreaux": int(len(mine)),
        "carreaux_without_epci": int((~known).sum()),
        "epci_without_reference": no_ref,
        "carreaux_status": {str(k): int(v) for k, v in status[status > 0].items()},
        "flagged_carreaux": int(f.sum()),
        "flagged_imputed": int((f & (flagged["i_est_200"].to_numpy() == 1)).sum()),
        "flagged_households": round(float(flagged.loc[f, "men"].sum()), 1),
        "flagged_individuals": round(float(flagged.loc[f, "ind"].sum()), 1),
        "zones": _zone_records(zt),
        "zones_count": int(len(zt)),
        "partial": bool(partial),
        "rule": asdict(rule),
        "source": source, "vintage": vintage,
    }
    return FragilityResult(flagged, zt, summary)


QPV_MIN_INHABITANTS = 1000  # the QPV definition's size threshold (004:887)


def _against_the_qpv_rule(zt: gpd.GeoDataFrame, perimeters, carreaux) -> None:
    """For each candidate zone: whether it reaches the QPV size threshold on its own, and the
    population of its nearest QPV with the zone's people outside it added ("possibilité de
    rattachage aux périmètres existants", 004:901)."""
    zt["meets_qpv_size"] = zt["individuals"] >= QPV_MIN_INHABITANTS if len(zt) else pd.Series(dtype=bool)
    zt["nearest_qpv_population"] = np.nan
    zt["qpv_population_with_zone"] = np.nan
    if not len(zt) or perimeters is None or not len(perimeters):
        return
    from .inhabitants import population as estimate

    codes = sorted({c for c in zt["nearest_qpv"] if c})
    qpv = perimeters[perimeters["code_qp"].isin(codes)]
    if not len(qpv):
        return
    # the carreaux around these quartiers, with their squares (the estimate needs no others)
    near = near_boxes(carreaux, shapely.bounds(qpv.to_crs(grid_crs(carreaux)).geometry.values))
    pop = estimate(qpv, with_squares(carreaux, near)).set_index("code_qp")["estimate"]
    outside = zt["individuals"] * (1 - zt["households_in_qpv_share"].fillna(0))
    zt["nearest_qpv_population"] = zt["nearest_qpv"].map(pop).astype(float).round(0)
    zt["qpv_population_with_zone"] = (zt["nearest_qpv_population"] + outside).round(0)


def _zone_records(zt: gpd.GeoDataFrame) -> list[dict]:
    """The zones as plain records for the summary (JSON): Python numbers and bools, None for
    NaN, rates rounded; built column by column (tens of thousands of zones nationally)."""
    table = pd.DataFrame(zt.drop(columns="geometry"))
    columns = {}
    for c in table.columns:
        col = table[c]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind == "b":  # nullable booleans: below, NA as None
            values = col.to_numpy(dtype=bool).tolist()
        elif col.dtype.kind in "iu":
            values = col.to_numpy().tolist()
        else:
            arr = col.to_numpy(dtype=object)
            missing = col.isna().to_numpy()
            values = arr.tolist()
            if missing.any():
                for i in np.flatnonzero(missing):
                    values[i] = None
            if col.dtype.kind == "f":
                values = [v if v is None else float(v) for v in values]
        columns[c] = values
    for c, digits in (("rate", 4), ("ratio", 3)):
        if c in columns:
            columns[c] = [v if v is None else round(v, digits) for v in columns[c]]
    for c in ("inside_qpv", "partial", "meets_qpv_size"):
        if c in columns:
            columns[c] = [None if v is None else bool(v) for v in columns[c]]
    for c in ("carreaux", "carreaux_imputed"):
        if c in columns:
            columns[c] = [int(v) for v in columns[c]]
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())]


class _CallableModule(type(logging)):
    """``qpvgeo.fragility(...)`` is the notebook call (:func:`qpvgeo.api.fragility`) even once this
    module, of the same name, has been imported and so become the package's attribute."""

    def __call__(self, *args, **kwargs):
        from .api import fragility as api_fragility

        return api_fragility(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
