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
from dataclasses import asdict, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .crs import metric_crs, scale_factor
from .errors import DataError, InputError, NotFoundError
from .rules import FragilityRule  # noqa: F401  (part of this module's API)
from .territory import communes_of_epci, epci_name, load_communes, load_membership

log = logging.getLogger(__name__)


@dataclass
class FragilityResult:
    carreaux: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    summary: dict = field(default_factory=dict)


# ------------------------------------------------------------------------- carreaux → EPCI
def assign_communes(carreaux: gpd.GeoDataFrame, *, communes: gpd.GeoDataFrame | None = None,
                    membership: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Add ``insee`` (commune) and ``epci`` (SIREN) to each carreau: from ``lcog_geo`` when it names
    a single commune, else from the commune that holds the carreau's centre; a carreau across
    several communes whose centre falls in no known commune takes the first one ``lcog_geo`` names."""
    out = carreaux.copy()
    table = load_membership() if membership is None else membership
    insee = pd.Series([""] * len(out), index=out.index, dtype=object)
    lc = None
    if "lcog_geo" in out.columns:
        lc = out["lcog_geo"].fillna("").astype(str).str.strip()
        single = lc.str.len() == 5
        insee[single] = lc[single]
    todo = (insee == "") & out.geometry.notna()
    if todo.any():
        comm = (load_communes() if communes is None else communes).to_crs(out.crs)
        cx = out.loc[todo, "x_ll"].to_numpy() + out.loc[todo, "cell_m"].to_numpy() / 2
        cy = out.loc[todo, "y_ll"].to_numpy() + out.loc[todo, "cell_m"].to_numpy() / 2
        tree = shapely.STRtree(comm.geometry.values)
        pi, ci = tree.query(shapely.points(cx, cy), predicate="within")
        found = np.full(todo.sum(), "", dtype=object)
        found[pi] = comm["insee"].to_numpy()[ci]
        insee[todo] = found
    if lc is not None:
        several = (insee == "") & (lc.str.len() > 5)
        insee[several] = lc[several].str[:5]
    out["insee"] = insee.to_numpy()
    lookup = pd.Series(table["siren_epci"].to_numpy(), index=table["insee"].to_numpy())
    # each commune looked up once (some 35 000), not each of millions of carreaux
    codes, uniques = pd.factorize(out["insee"])
    epci = pd.Series(uniques).map(lookup).fillna("").to_numpy(dtype=object)
    out["epci"] = np.r_[epci, np.array([""], dtype=object)][codes]  # code -1 (none) takes the ""
    return out


def _statuses(c: gpd.GeoDataFrame) -> np.ndarray:
    ind, men, pauv = (c[k].to_numpy(dtype=float) for k in ("ind", "men", "men_pauv"))
    status = np.full(len(c), "ok", dtype=object)
    bad = (np.isnan(ind) | np.isnan(men) | np.isnan(pauv) | (ind < 0) | (men < 0) | (pauv < 0)
           | (pauv > men + 0.5))
    status[bad] = "invalid_counts"
    status[~bad & (men == 0)] = "no_households"
    ids = c["id_status"].to_numpy()
    status[ids == "invalid_id"] = "invalid_id"
    status[ids == "duplicate"] = "duplicate"
    return status


def reference_rate(carreaux: gpd.GeoDataFrame, *, population: float | None = None) -> dict:
    """Σ men_pauv / Σ men over the given carreaux (those of one EPCI), with its coverage."""
    st = _statuses(carreaux)
    use = np.isin(st, ["ok", "no_households"])
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


def flag(carreaux: gpd.GeoDataFrame, reference, rule: FragilityRule) -> gpd.GeoDataFrame:
    """Add ``status``, ``rate``, ``ratio``, ``flagged`` and ``reference_rate`` to each carreau (a
    new frame). ``reference`` is one rate, or one per carreau (the rate of its EPCI)."""
    ref = np.broadcast_to(np.asarray(reference, dtype=float), (len(carreaux),))
    if len(ref) and not (np.isfinite(ref).all() and (ref > 0).all()):
        raise InputError(f"the reference rate must be > 0, got {reference!r}")
    out = carreaux.copy()
    st = _statuses(out)
    men = out["men"].to_numpy(dtype=float)
    pauv = out["men_pauv"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(st == "ok", pauv / men, np.nan)
    # compare rates exactly: rate ≥ factor × reference  ⇔  men_pauv ≥ factor × reference × men
    rhs = rule.factor * ref * men
    tol = 1e-9 * np.maximum(np.abs(rhs), 1.0)
    rate_ok = (pauv >= rhs - tol) if rule.comparison == ">=" else (pauv > rhs + tol)
    size_ok = (men >= rule.min_households) | (out["ind"].to_numpy(dtype=float) >= rule.min_individuals)
    out["status"] = st
    out["rate"] = rate
    out["ratio"] = rate / ref
    out["reference_rate"] = ref
    out["flagged"] = (st == "ok") & rate_ok & size_ok
    return out


# ------------------------------------------------------------------------- zones
def group(carreaux: gpd.GeoDataFrame, *, contact: str = "edge", partition=None) -> np.ndarray:
    """Zone labels (0..k-1) of carreaux that touch, from grid indices (no geometry tests);
    -1 for carreaux without a valid id. Carreaux of different ``partition`` values (e.g. EPCI)
    are never joined."""
    ok = carreaux["id_status"].to_numpy() == "ok"
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


def zones(flagged: gpd.GeoDataFrame, *, perimeters: gpd.GeoDataFrame | None,
          contact: str = "edge", names: dict | None = None) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Candidate zones from the flagged carreaux (output of :func:`flag`), with their statistics,
    and each carreau's zone id. Zones never cross an EPCI limit."""
    sel = flagged[flagged["flagged"]].copy()
    zone_of = np.full(len(flagged), "", dtype=object)
    if "epci" not in sel.columns:
        sel["epci"] = ""
    cols = ["zone_id", "epci", "carreaux", "carreaux_imputed", "households", "individuals", "poor_households", "rate",
            "ratio", "communes", "noms_communes", "households_in_qpv_share", "inside_qpv", "nearest_qpv",
            "nearest_qpv_nom", "distance_qpv_m"]
    if sel.empty:
        return gpd.GeoDataFrame(columns=cols, geometry=[], crs=flagged.crs), zone_of
    lab = group(sel, contact=contact, partition=sel["epci"].to_numpy())
    sel["_z"] = lab
    sel["_imputed"] = (sel["i_est_200"] == 1).astype(int)
    agg = sel.groupby("_z").agg(epci=("epci", "first"), reference_rate=("reference_rate", "first"),
                                carreaux=("idcar_200m", "size"), households=("men", "sum"),
                                individuals=("ind", "sum"), poor_households=("men_pauv", "sum"),
                                carreaux_imputed=("_imputed", "sum"), _first=("y_ll", "max"))
    # stable ids: largest zones first, then north to south
    agg = agg.sort_values(["households", "_first"], ascending=[False, False])
    ids = {z: f"Z{i + 1:02d}" for i, z in enumerate(agg.index)}
    agg["zone_id"] = [ids[z] for z in agg.index]
    # each zone's outline: its one square, or the union of its squares (numpy groups, no pandas apply)
    zl = sel["_z"].to_numpy()
    order = np.argsort(zl, kind="stable")
    labels, starts, sizes = np.unique(zl[order], return_index=True, return_counts=True)
    squares = sel.geometry.values[order]
    shapes = np.array([squares[a] if k == 1 else shapely.union_all(squares[a:a + k])
                       for a, k in zip(starts, sizes)], dtype=object)
    geoms = pd.Series(shapes, index=labels)
    out = gpd.GeoDataFrame(agg, geometry=geoms.reindex(agg.index).values, crs=flagged.crs)
    out["rate"] = out["poor_households"] / out["households"]
    out["ratio"] = out["rate"] / out["reference_rate"]
    pairs = sel.loc[sel["insee"] != "", ["_z", "insee"]].drop_duplicates().sort_values(["_z", "insee"])
    pz, pi = pairs["_z"].to_numpy(), pairs["insee"].to_numpy(dtype=object)
    cut = np.flatnonzero(np.r_[True, pz[1:] != pz[:-1]]) if len(pz) else np.empty(0, dtype=np.int64)
    lists = dict(zip(pz[cut], (list(x) for x in np.split(pi, cut[1:])))) if len(pz) else {}
    out["communes"] = [lists.get(z, []) for z in agg.index]
    names = names or {}
    out["noms_communes"] = out["communes"].map(lambda cs: ", ".join(names.get(c, c) for c in cs))
    _qpv_relations(out, sel, perimeters)
    zone_of[sel.index.map(flagged.index.get_loc)] = [ids[z] for z in lab]
    out = out.reset_index(drop=True)
    for c in ("households", "individuals", "poor_households"):
        out[c] = out[c].round(1)
    return out[cols + ["geometry"]], zone_of


def _qpv_union(perimeters: gpd.GeoDataFrame, crs):
    return shapely.union_all(perimeters[perimeters["classe"] == "QPV"].to_crs(crs).geometry.values)


def qpv_share(carreaux: gpd.GeoDataFrame, union) -> np.ndarray:
    """Share of each carreau's area inside ``union`` (the QPV, in the carreaux' CRS); 0 without geometry."""
    ok = carreaux.geometry.notna().to_numpy()
    share = np.zeros(len(carreaux))
    share[ok] = shapely.area(shapely.intersection(carreaux.geometry.values[ok], union)) / (
        carreaux["cell_m"].to_numpy()[ok] ** 2)
    return share


def _qpv_relations(out: gpd.GeoDataFrame, sel: gpd.GeoDataFrame, perimeters) -> None:
    out["households_in_qpv_share"] = np.nan
    out["inside_qpv"] = False
    out["nearest_qpv"] = ""
    out["nearest_qpv_nom"] = ""
    out["distance_qpv_m"] = np.nan
    if perimeters is None or len(perimeters) == 0:
        return
    qpv = perimeters[perimeters["classe"] == "QPV"]
    if qpv.empty:
        return
    union = _qpv_union(perimeters, out.crs)
    share = sel["qpv_share"].to_numpy() if "qpv_share" in sel.columns else qpv_share(sel, union)
    in_men = sel["men"].to_numpy() * share
    tot = pd.Series(in_men, index=sel.index).groupby(sel["_z"]).sum()
    out["households_in_qpv_share"] = (tot.reindex(out.index) / out["households"]).round(4)
    zone_area = shapely.area(out.geometry.values)
    out["inside_qpv"] = shapely.area(shapely.intersection(out.geometry.values, union)) >= 0.999 * zone_area
    # nearest QPV, ground distance in the territory's metric CRS
    wgs_c = out.geometry.centroid.to_crs(4326)
    crs_m = metric_crs(lonlat=(wgs_c.x.mean(), wgs_c.y.mean()))
    q_m = qpv.to_crs(crs_m)
    z_m = out.to_crs(crs_m)
    tree = shapely.STRtree(q_m.geometry.values)
    (zi, qi), d = tree.query_nearest(z_m.geometry.values, return_distance=True, all_matches=False)
    k = scale_factor(crs_m, wgs_c.x.to_numpy(), wgs_c.y.to_numpy())
    codes = q_m["code_qp"].to_numpy()
    names = q_m["nom_qp"].to_numpy()
    idx = out.index.to_numpy()
    out.loc[idx[zi], "nearest_qpv"] = codes[qi]
    out.loc[idx[zi], "nearest_qpv_nom"] = names[qi]
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
    grid = load_carreaux(source, vintage=vintage, around=around, communes=codes, settings=settings)
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
    c = assign_communes(carreaux, communes=communes, membership=table)
    c.attrs = {}  # pandas copies attrs on every operation: costly on millions of rows
    known = c["epci"].to_numpy() != ""
    if wanted is None:
        mine = c[known]
    else:
        mine = c[c["epci"].isin(wanted)]
        absent = [e for e in wanted if not (mine["epci"] == e).any()]
        if absent:
            raise NotFoundError(
                f"no carreau of the loaded grid lies in EPCI {', '.join(absent)} "
                f"({', '.join(names_epci.get(e) or '?' for e in absent)}): load the Filosofi file that covers "
                "it, and commune outlines when the file has no lcog_geo")
    # carreaux that cannot be placed in an EPCI (no lcog_geo and no geometry) stay in the output
    unplaced = c[~known & (c["id_status"] != "ok").to_numpy()]
    st = _statuses(mine)
    use = np.isin(st, ["ok", "no_households"])
    sums = pd.DataFrame({"epci": mine["epci"].to_numpy()[use], "households": mine["men"].to_numpy()[use],
                         "poor_households": mine["men_pauv"].to_numpy()[use],
                         "individuals": mine["ind"].to_numpy()[use]}).groupby("epci").sum()
    sums = sums.reindex(sorted(mine["epci"].unique()), fill_value=0.0)
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
    pairs = pd.DataFrame({"epci": mine["epci"].to_numpy(dtype=object), "insee": mine["insee"].to_numpy(dtype=object)})
    pairs = pairs.drop_duplicates()
    covered = pairs.groupby("epci")["insee"].agg(set)
    count = mine["epci"].value_counts()  # one pass, not one comparison of every carreau per EPCI
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
                     "carreaux": int(count.get(e, 0)), "households": round(float(r["households"]), 1),
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
    mine = mine[mine["epci"].isin(per_epci.index)]
    ref = mine["epci"].map(per_epci["reference_rate"]).to_numpy(dtype=float)
    flagged = flag(mine, ref, rule)
    if perimeters is not None and len(perimeters):
        # once for every carreau; the zones' statistics reuse it
        flagged["qpv_share"] = qpv_share(flagged, _qpv_union(perimeters, flagged.crs))
    names = dict(zip(table["insee"], table["nom_commune"]))
    zt, zone_of = zones(flagged, perimeters=perimeters, contact=rule.contact, names=names)
    flagged["zone_id"] = zone_of
    if "qpv_share" in flagged.columns:
        flagged["qpv_share"] = flagged["qpv_share"].round(4)
    flagged["partial"] = flagged["epci"].isin(partial).to_numpy()
    if len(unplaced):
        extra = flag(unplaced, np.ones(len(unplaced)), rule).assign(zone_id="", partial=False)
        flagged = gpd.GeoDataFrame(pd.concat([flagged, extra], ignore_index=True), crs=flagged.crs)
    _against_the_qpv_rule(zt, perimeters, c)
    zt.insert(2, "nom_epci", zt["epci"].map(names_epci).to_numpy(dtype=object))
    zt.insert(len(zt.columns) - 1, "partial", zt["epci"].isin(partial).to_numpy())
    per_epci["flagged_carreaux"] = flagged[flagged["epci"] != ""].groupby("epci")["flagged"].sum().reindex(
        per_epci.index).fillna(0).astype(int)
    per_epci["zones"] = zt.groupby("epci").size().reindex(per_epci.index).fillna(0).astype(int)
    f = flagged["flagged"].to_numpy(dtype=bool)
    records = per_epci.reset_index().to_dict("records")
    for r in records:
        r["flagged_carreaux"], r["zones"] = int(r["flagged_carreaux"]), int(r["zones"])
    summary = {
        "epci": records,
        "carreaux": int(len(mine)),
        "carreaux_without_epci": int((~known).sum()),
        "epci_without_reference": no_ref,
        "carreaux_status": flagged["status"].value_counts().to_dict(),
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
    pop = estimate(qpv, carreaux).set_index("code_qp")["estimate"]
    outside = zt["individuals"] * (1 - zt["households_in_qpv_share"].fillna(0))
    zt["nearest_qpv_population"] = zt["nearest_qpv"].map(pop).astype(float).round(0)
    zt["qpv_population_with_zone"] = (zt["nearest_qpv_population"] + outside).round(0)


def _zone_records(zt: gpd.GeoDataFrame) -> list[dict]:
    recs = []
    table = pd.DataFrame(zt.drop(columns="geometry"))
    maybe_nan = [c for c in table.columns if table[c].dtype.kind in "fO"]
    for c in maybe_nan:  # NaN becomes None column by column, not value by value
        missing = table[c].isna().to_numpy()
        if missing.any():
            values = table[c].to_numpy(dtype=object).copy()
            values[missing] = None
            table[c] = pd.Series(values, index=table.index, dtype=object)
    for r in table.to_dict("records"):
        r["rate"] = round(r["rate"], 4)
        r["ratio"] = round(r["ratio"], 3)
        r["inside_qpv"] = bool(r["inside_qpv"])
        r["carreaux"] = int(r["carreaux"])
        r["carreaux_imputed"] = int(r["carreaux_imputed"])
        r["partial"] = bool(r["partial"])
        r["meets_qpv_size"] = bool(r["meets_qpv_size"])
        recs.append(r)
    return recs


class _CallableModule(type(logging)):
    """``qpvgeo.fragility(...)`` is the notebook call (:func:`qpvgeo.api.fragility`) even once this
    module, of the same name, has been imported and so become the package's attribute."""

    def __call__(self, *args, **kwargs):
        from .api import fragility as api_fragility

        return api_fragility(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
