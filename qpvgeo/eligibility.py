"""Is a place eligible? Inside a quartier, inside the band around it (300 m by default), or
outside; with the quartier's code and name and the distance on the ground (rules.md §2, §5).

Statuses
--------
``in_qpv``             inside a quartier of class QPV (distance 0)
``in_band``            outside, at a ground distance below the band distance from a quartier
                       whose class gets a band (default QPV only)
``in_qic``             inside a QIC (and not in a QPV's band); ``in_fragile`` likewise
``outside``            none of the above, in the area the loaded perimeters cover
``not_covered``        outside the area the loaded perimeters cover: no data is not a "no"
``outside_territory``  in no French territory (mainland, Antilles, Guyane, Réunion, Mayotte)

Distances are computed in the metric CRS of each territory and divided by the projection's
local scale factor, which brings them within a few millimetres per kilometre of the geodesic
distance (checked against ``pyproj.Geod`` in the tests).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import TERRITORIES, WGS84, Territory, scale_factor, territory_of_departement
from .errors import InputError
from .territory import coverage_of

log = logging.getLogger(__name__)

COMPARISONS = ("<", "<=")
# Largest deviation of a scale factor from 1 in the territories' CRS (Lambert-93: 0.99905-1.0030)
_K_MARGIN = 1.005
_STATUSES = np.array(["", "in_qpv", "in_band", "in_qic", "in_fragile", "outside", "not_covered",
                      "outside_territory"], dtype=object)
_ST = {name: np.int8(i) for i, name in enumerate(_STATUSES)}
# band decisions closer than this to the limit are measured exactly
_UNSURE_M = 0.05


@dataclass(frozen=True)
class Rule:
    """The eligibility rule. Every value is reported with each answer.

    Parameters
    ----------
    band_m
        Band distance on the ground, in metres (300: fonds de concours "Politique de la Ville").
    comparison
        ``"<"`` ("à moins de 300 m", the default) or ``"<="``.
    band_classes
        Classes of quartier that get a band (default QPV only; add ``"QIC"`` on request).
    """

    band_m: float = 300.0
    comparison: str = "<"
    band_classes: tuple[str, ...] = ("QPV",)

    def __post_init__(self):
        if not (isinstance(self.band_m, (int, float)) and np.isfinite(self.band_m) and self.band_m >= 0):
            raise InputError(f"band distance must be a number of metres >= 0, got {self.band_m!r}")
        if self.comparison not in COMPARISONS:
            raise InputError(f"comparison must be '<' or '<=', got {self.comparison!r}")
        bad = set(self.band_classes) - {"QPV", "QIC", "fragile"}
        if bad:
            raise InputError(f"unknown class(es) {sorted(bad)} for the band; use QPV, QIC, fragile")

    def in_band(self, distance_m):
        d = np.asarray(distance_m, dtype=float)
        return d < self.band_m if self.comparison == "<" else d <= self.band_m


@dataclass
class _Zone:
    """Quartiers of one territory, projected in its metric CRS, with a spatial index."""

    territory: Territory
    index: np.ndarray  # row positions in the perimeter frame
    geoms: np.ndarray
    tree: shapely.STRtree
    to_metric: pyproj.Transformer
    to_wgs84: pyproj.Transformer
    band_mask: np.ndarray  # which quartiers get a band
    outline: _Outline | None = None
    band_outline: _Outline | None = None  # outlines of the band classes only (None: all of them)
    inradius_m: float = 0.0  # no point farther than this from every outline is inside a quartier
    touching: np.ndarray | None = None  # quartiers within 1 m of another one
    alone: np.ndarray | None = None  # quartiers with no other within twice the band


@dataclass
class _Outline:
    """Quartier outlines indexed for fast distances with a known error.

    ``kdtree`` holds the outline vertices densified every ``step_m`` metres (densifying adds
    vertices on the outline and moves nothing). The distance ``D`` to the nearest vertex bounds
    the exact distance ``d``: ``d <= D <= d + step²/(8d)``, i.e. within 5 cm beyond 250 m for 10 m.
    Closer than ``exact_within_m`` the distance is made exact: every vertex within
    ``sqrt(D² + step²/4)`` is looked up (this ball always holds the vertex nearest to the true
    foot of the perpendicular) and the pieces of outline on either side of each are measured.
    """

    kdtree: object
    coords: np.ndarray
    ring: np.ndarray  # ring id of each vertex
    owner: np.ndarray  # quartier (position in the zone) of each vertex
    step_m: float = 10.0
    exact_within_m: float = 250.0


def _build_outline(geoms: np.ndarray, *, step_m: float = 10.0) -> _Outline:
    from scipy.spatial import cKDTree

    parts = [shapely.get_rings(shapely.get_parts(g)) for g in geoms]
    owner_ring = np.concatenate([np.full(len(r), i) for i, r in enumerate(parts)])
    coords, ring = shapely.get_coordinates(shapely.segmentize(np.concatenate(parts), step_m), return_index=True)
    # sliding-midpoint tree: several times faster than a balanced one for points far away
    tree = cKDTree(coords, leafsize=32, balanced_tree=False, compact_nodes=False)
    exact = step_m * step_m / (8 * 0.05)  # beyond it the vertex distance is within 5 cm
    return _Outline(tree, coords, ring, owner_ring[ring], step_m, exact)


def _segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(den > 0, den, 1.0), 0.0, 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _nearest(outline: _Outline, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(projected distance, quartier position) of the nearest outline for each point (see _Outline)."""
    xy = np.column_stack([x, y])
    d, vi = outline.kdtree.query(xy, k=1, workers=-1)
    owner = outline.owner[vi].astype(np.int64)
    _exact(outline, x, y, np.flatnonzero(d < outline.exact_within_m), d, owner)
    return d, owner


def _exact(outline: _Outline, x, y, idx: np.ndarray, d: np.ndarray, owner: np.ndarray) -> None:
    """Exact distances (in place) for the points ``idx``, whose ``d`` holds the vertex distance."""
    if not idx.size:
        return
    radius = np.sqrt(d[idx] ** 2 + outline.step_m**2 / 4) + 1e-6
    lists = outline.kdtree.query_ball_point(np.column_stack([x[idx], y[idx]]), radius, workers=-1,
                                            return_sorted=False)
    counts = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    vert = np.concatenate(lists).astype(np.int64)
    pid = np.repeat(np.arange(idx.size), counts)
    c, ring, n = outline.coords, outline.ring, len(outline.coords)
    px, py = x[idx][pid], y[idx][pid]
    best = np.full(vert.size, np.inf)
    for nb in (np.maximum(vert - 1, 0), np.minimum(vert + 1, n - 1)):
        seg = _segment_distance(px, py, c[vert, 0], c[vert, 1], c[nb, 0], c[nb, 1])
        best = np.minimum(best, np.where(ring[nb] == ring[vert], seg, np.inf))
    order = np.lexsort((best, pid))
    first = order[np.r_[True, pid[order][1:] != pid[order][:-1]]]
    d[idx[pid[first]]] = best[first]
    owner[idx[pid[first]]] = outline.owner[vert[first]]


@dataclass
class PointResults:
    """Vectorised answer for N points (arrays of length N)."""

    status: np.ndarray
    code_qp: np.ndarray
    nom_qp: np.ndarray
    classe: np.ndarray
    distance_m: np.ndarray
    quartiers: list = field(default_factory=list)  # per point: list of (code, distance_m)

    @property
    def eligible(self) -> np.ndarray:
        return np.isin(self.status, ["in_qpv", "in_band"])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "status": self.status, "eligible": self.eligible, "code_qp": self.code_qp,
            "nom_qp": self.nom_qp, "classe": self.classe, "distance_m": self.distance_m,
            "quartiers": self.quartiers,
        })


class Checker:
    """Answers eligibility questions against a set of perimeters.

    Parameters
    ----------
    perimeters
        A frame in the qpvgeo schema (:func:`qpvgeo.perimeters.load_perimeters`), any CRS.
    rule
        The :class:`Rule` (band distance, comparison, classes with a band).
    coverage
        The area (shapely geometry in WGS84) the perimeters cover. Default: the outlines of their
        départements where qpvgeo ships them (Pas-de-Calais), else their territories' extents.
    """

    def __init__(self, perimeters: gpd.GeoDataFrame, *, rule: Rule | None = None, coverage=None):
        if perimeters.crs is None:
            raise InputError("the perimeters have no CRS")
        if len(perimeters) == 0:
            raise InputError("no quartier loaded: check the filters or the perimeter file")
        self.rule = rule or Rule()
        self.perimeters = perimeters.reset_index(drop=True)
        self.codes = self.perimeters["code_qp"].to_numpy(dtype=object)
        self.names = self.perimeters["nom_qp"].to_numpy(dtype=object)
        self.classes = self.perimeters["classe"].to_numpy(dtype=object)
        vint = self.perimeters["vintage"].dropna().unique()
        self.vintage = int(vint[0]) if len(vint) == 1 else [int(v) for v in vint]
        deps = self.perimeters["departement"].fillna("").astype(str)
        wgs = self.perimeters.to_crs(WGS84)
        self.coverage = coverage if coverage is not None else coverage_of([d for d in deps if d])
        shapely.prepare(self.coverage)
        self.zones: list[_Zone] = []
        terr_of_row = np.array([_territory_key(d, g) for d, g in zip(deps, wgs.geometry)], dtype=object)
        for t in TERRITORIES:
            idx = np.flatnonzero(terr_of_row == t.key)
            if idx.size == 0:
                continue
            geoms = self.perimeters.geometry.iloc[idx].to_crs(t.crs).to_numpy()
            self.zones.append(_Zone(
                territory=t, index=idx, geoms=geoms, tree=shapely.STRtree(geoms),
                to_metric=pyproj.Transformer.from_crs(WGS84, t.crs, always_xy=True),
                to_wgs84=pyproj.Transformer.from_crs(t.crs, WGS84, always_xy=True),
                band_mask=np.isin(self.classes[idx], self.rule.band_classes),
            ))
            z = self.zones[-1]
            z.outline = _build_outline(geoms)
            if z.band_mask.any() and not z.band_mask.all():
                z.band_outline = _build_outline(geoms[z.band_mask])
            z.inradius_m = max(shapely.length(shapely.maximum_inscribed_circle(g, 1.0)) for g in geoms)
            shapely.prepare(geoms)
            # quartiers that touch or overlap another: the nearest outline may not be their own
            a, b = z.tree.query(geoms, predicate="dwithin", distance=1.0)
            z.touching = np.zeros(len(geoms), dtype=bool)
            z.touching[a[a != b]] = True
            a, b = z.tree.query(geoms, predicate="dwithin", distance=2 * self.rule.band_m * _K_MARGIN + 2.0)
            z.alone = np.ones(len(geoms), dtype=bool)
            z.alone[a[a != b]] = False

    # ------------------------------------------------------------------ points
    def rule_dict(self) -> dict:
        d = dataclasses.asdict(self.rule)
        d["band_classes"] = list(d["band_classes"])
        d["vintage"] = self.vintage
        d["distance"] = "ground (projected distance / local scale factor)"
        return d

    def check_lonlat(self, lon, lat, *, with_quartiers: bool = True, block: int = 1_000_000) -> PointResults:
        """Classify WGS84 points (arrays of lon, lat). NaN coordinates give ``status`` ''.

        Large arrays are processed in blocks of ``block`` points (same answers, less memory)."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        if lon.size > 2 * block:
            parts = [self.check_lonlat(lon[i:i + block], lat[i:i + block], with_quartiers=with_quartiers,
                                       block=block) for i in range(0, lon.size, block)]
            return PointResults(*(np.concatenate([getattr(p, f) for p in parts])
                                  for f in ("status", "code_qp", "nom_qp", "classe", "distance_m")),
                                quartiers=[q for p in parts for q in p.quartiers])
        n = lon.size
        # integer codes while working; text once at the end
        status = np.full(n, _ST["outside_territory"], dtype=np.int8)
        row = np.full(n, -1, dtype=np.int64)  # row of the reported quartier in self.perimeters
        dist = np.full(n, np.nan)
        quartiers: list = [[] for _ in range(n)] if with_quartiers else []
        finite = np.isfinite(lon) & np.isfinite(lat)
        status[~finite] = _ST[""]
        assigned = ~finite
        for t in TERRITORIES:
            in_t = ~assigned & t.contains_lonlat(lon, lat)
            if not in_t.any():
                continue
            assigned |= in_t
            zone = next((z for z in self.zones if z.territory.key == t.key), None)
            pos = np.flatnonzero(in_t)
            if zone is None:
                status[pos] = _ST["not_covered"]
                continue
            self._classify_zone(zone, lon[pos], lat[pos], pos, status, row, dist,
                                quartiers if with_quartiers else None)
        # outside the covered area: "no data", unless a quartier answers yes
        maybe = np.flatnonzero(status == _ST["outside"])
        if maybe.size:
            covered = shapely.contains_xy(self.coverage, lon[maybe], lat[maybe])
            status[maybe[~covered]] = _ST["not_covered"]
        has = row >= 0
        text = np.full(n, "", dtype=object)

        def column(values):
            out = text.copy()
            out[has] = values[row[has]]
            return out

        return PointResults(_STATUSES[status], column(self.codes), column(self.names), column(self.classes),
                            dist, quartiers)

    def _classify_zone(self, zone, lon, lat, pos, status, row, dist, quartiers):
        x, y = zone.to_metric.transform(lon, lat)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        k = scale_factor(zone.territory.crs, lon, lat)
        m = x.size
        band = self.rule.band_m
        # nearest outline of any quartier; exact near the outlines
        dproj, nearest = _nearest(zone.outline, x, y)
        cls_q = self.classes[zone.index]
        st = np.full(m, _ST["outside"], dtype=np.int8)
        best = nearest
        bestd = dproj / k
        # the band: nearest outline of a quartier of the band classes
        if zone.band_mask.any():
            if zone.band_outline is None:
                dband, qband = dproj.copy(), nearest.copy()
            else:
                dband, qb = _nearest(zone.band_outline, x, y)
                qband = np.flatnonzero(zone.band_mask)[qb]
            gband = dband / k
            # beyond exact_within_m the distance is a bound: where it leaves the answer open, measure
            outline = zone.outline if zone.band_outline is None else zone.band_outline
            unsure = np.flatnonzero((np.abs(gband - band) < _UNSURE_M) & (dband >= outline.exact_within_m))
            if unsure.size:
                qq = np.zeros(m, dtype=np.int64)
                _exact(outline, x, y, unsure, dband, qq)
                qband[unsure] = qq[unsure] if zone.band_outline is None else np.flatnonzero(zone.band_mask)[qq[unsure]]
                gband = dband / k
            in_b = self.rule.in_band(gband) & (gband > 0)
            st[in_b] = _ST["in_band"]
            best = np.where(in_b, qband, best)
            bestd = np.where(in_b, gband, bestd)
        # inside a quartier: only points closer to an outline than the largest inscribed radius.
        # A point inside a quartier that touches no other is nearest to that quartier's outline,
        # so one point-in-polygon test against it decides; the others go through the index.
        cand = np.flatnonzero(dproj <= zone.inradius_m + 1.0)
        simple = cand[~zone.touching[nearest[cand]]]
        hits_p, hits_q = [], []
        if simple.size:
            order = simple[np.argsort(nearest[simple], kind="stable")]
            owners = nearest[order]
            cuts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1], True])
            for a, b in zip(cuts[:-1], cuts[1:]):
                q = owners[a]
                sel = order[a:b]
                ins = shapely.contains_xy(zone.geoms[q], x[sel], y[sel])
                hits_p.append(sel[ins])
                hits_q.append(np.repeat(np.int64(q), int(ins.sum())))
        other = cand[zone.touching[nearest[cand]]]
        if other.size:
            ip, iq = zone.tree.query(shapely.points(x[other], y[other]), predicate="intersects")
            hits_p.append(other[ip])
            hits_q.append(iq.astype(np.int64))
        ip = np.concatenate(hits_p) if hits_p else np.empty(0, dtype=np.int64)
        iq = np.concatenate(hits_q) if hits_q else np.empty(0, dtype=np.int64)
        if ip.size:
            rank = np.where(cls_q[iq] == "QPV", 0, 1)
            order = np.lexsort((rank, ip))
            ip, iq, rank = ip[order], iq[order], rank[order]
            first = np.r_[True, ip[1:] != ip[:-1]]
            ip, iq, rank = ip[first], iq[first], rank[first]
            take = (rank == 0) | (st[ip] != _ST["in_band"])
            ip, iq = ip[take], iq[take]
            st[ip] = np.where(cls_q[iq] == "QPV", _ST["in_qpv"],
                              np.where(cls_q[iq] == "QIC", _ST["in_qic"], _ST["in_fragile"])).astype(np.int8)
            best[ip] = iq
            bestd[ip] = 0.0
        status[pos] = st
        row[pos] = zone.index[best]
        dist[pos] = np.round(bestd, 2)
        if quartiers is not None:
            self._quartiers_within(zone, x, y, k, dproj, nearest, st, best, pos, quartiers)

    def _quartiers_within(self, zone, x, y, k, dproj, nearest, st, best, pos, quartiers) -> None:
        """Every quartier within the band of each point, nearest first (exact ground distances)."""
        band = self.rule.band_m
        inside = np.isin(st, [_ST["in_qpv"], _ST["in_qic"], _ST["in_fragile"]])
        g = dproj / k
        reach = np.flatnonzero(self.rule.in_band(g) | inside)
        # a point within the band of two quartiers means they are within twice the band of each
        # other: around a quartier with no such neighbour the nearest one is the only candidate
        alone = zone.alone[nearest[reach]]
        for p in reach[alone]:
            quartiers[pos[p]].append((self.codes[zone.index[nearest[p]]], 0.0 if inside[p] else round(float(g[p]), 2)))
        crowded = reach[~alone]
        if not crowded.size:
            return
        pts = shapely.points(x[crowded], y[crowded])
        pi, qi = zone.tree.query(pts, predicate="dwithin", distance=band * _K_MARGIN + 1.0)
        pd_ = shapely.distance(pts[pi], zone.geoms[qi]) / k[crowded[pi]]
        within = self.rule.in_band(pd_)
        wp, wq, wd = crowded[pi[within]], qi[within], pd_[within]
        order = np.lexsort((wd, wp))
        for p, q, d in zip(wp[order], wq[order], wd[order]):
            quartiers[pos[p]].append((self.codes[zone.index[q]], round(float(d), 2)))

    def check_point(self, lon: float, lat: float) -> dict:
        """Answer for one WGS84 point, as a dict (the shape of ``qpvgeo check --json``)."""
        r = self.check_lonlat([lon], [lat])
        rows = {c: i for i, c in enumerate(self.codes)}
        out = {
            "lon": round(float(lon), 7), "lat": round(float(lat), 7),
            "status": str(r.status[0]), "eligible": bool(r.eligible[0]),
            "code_qp": r.code_qp[0] or None, "nom_qp": r.nom_qp[0] or None,
            "classe": r.classe[0] or None,
            "distance_m": None if np.isnan(r.distance_m[0]) else float(r.distance_m[0]),
            "quartiers": [
                {"code_qp": c, "nom_qp": self.names[rows[c]], "classe": self.classes[rows[c]],
                 "distance_m": d} for c, d in r.quartiers[0]
            ],
            "rule": self.rule_dict(),
        }
        if out["status"] in ("not_covered", "outside_territory"):
            # no data here: a nearest loaded quartier would not be the nearest quartier
            out["code_qp"] = out["nom_qp"] = out["classe"] = out["distance_m"] = None
            out["eligible"] = None
        return out

    # ------------------------------------------------------------------ sites
    def check_site(self, site: gpd.GeoDataFrame | shapely.Geometry, *, crs=None) -> dict:
        """Answer for a project site (polygon or multipolygon).

        Reports whether any part, the centroid and the whole site lie in a QPV and in the
        eligible zone (quartiers of the band classes ∪ their band), the site's area (m², on the
        ground) inside each, and the nearest quartier with its ground distance.
        """
        if isinstance(site, gpd.GeoDataFrame | gpd.GeoSeries):
            if site.crs is None:
                raise InputError("the site has no CRS: set it, or give WKT with --crs")
            geom_wgs = shapely.union_all(site.to_crs(WGS84).geometry.values)
        else:
            geom_wgs = site
            if crs is not None:
                geom_wgs = gpd.GeoSeries([site], crs=crs).to_crs(WGS84).iloc[0]
        if geom_wgs is None or geom_wgs.is_empty:
            raise InputError("the site geometry is empty")
        if geom_wgs.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"a site must be a polygon or multipolygon, got a {geom_wgs.geom_type}; "
                             "for a point use `qpvgeo check LON,LAT`")
        if not geom_wgs.is_valid:
            geom_wgs = shapely.make_valid(geom_wgs)
        c = geom_wgs.centroid
        zone = next((z for z in self.zones if z.territory.contains_lonlat(c.x, c.y)), None)
        if zone is None:
            return {"status": "not_covered", "rule": self.rule_dict()}
        site_m = shapely.transform(geom_wgs, lambda xy: np.column_stack(zone.to_metric.transform(xy[:, 0], xy[:, 1])))
        k = float(scale_factor(zone.territory.crs, c.x, c.y)[0])
        hits = zone.tree.query(site_m, predicate="dwithin", distance=self.rule.band_m * _K_MARGIN + 1)
        cls = self.classes[zone.index]
        qpv_geoms = zone.geoms[hits[cls[hits] == "QPV"]]
        band_geoms = zone.geoms[hits[zone.band_mask[hits]]]
        qpv_union = shapely.union_all(qpv_geoms) if qpv_geoms.size else shapely.Polygon()
        # band in projected metres = ground band × k
        zone_union = (shapely.union_all([shapely.buffer(g, self.rule.band_m * k, quad_segs=32)
                                         for g in band_geoms]) if band_geoms.size else shapely.Polygon())
        d_band = (min(shapely.distance(site_m, g) for g in band_geoms) / k) if band_geoms.size else np.inf
        centroid = self.check_point(c.x, c.y)
        area = site_m.area / k**2
        near_i, near_d = zone.tree.query_nearest(site_m, return_distance=True)
        nearest = zone.index[near_i[0]]
        return {
            "status": ("in_qpv" if qpv_union.intersects(site_m) else
                       "in_band" if self.rule.in_band(d_band) else "outside"),
            "area_m2": round(area, 1),
            "in_qpv": {"any_part": bool(qpv_union.intersects(site_m)),
                       "centroid": centroid["status"] == "in_qpv",
                       "whole": bool(qpv_union.covers(site_m)),
                       "area_m2": round(qpv_union.intersection(site_m).area / k**2, 1)},
            "in_eligible_zone": {"any_part": bool(self.rule.in_band(d_band) or qpv_union.intersects(site_m)),
                                 "centroid": bool(centroid["eligible"]),
                                 "whole": bool(zone_union.covers(site_m)),
                                 "area_m2": round(zone_union.intersection(site_m).area / k**2, 1)},
            "code_qp": self.codes[nearest], "nom_qp": self.names[nearest],
            "classe": self.classes[nearest],
            "distance_m": round(float(near_d[0]) / k, 2),
            "centroid": {"lon": c.x, "lat": c.y, "status": centroid["status"]},
            "quartiers": [{"code_qp": self.codes[zone.index[q]],
                           "distance_m": round(float(shapely.distance(site_m, zone.geoms[q])) / k, 2)}
                          for q in hits],
            "rule": self.rule_dict(),
        }


def _territory_key(departement: str, geom_wgs) -> str:
    if departement:
        try:
            return territory_of_departement(departement).key
        except InputError:
            pass
    c = geom_wgs.centroid
    for t in TERRITORIES:
        if t.contains_lonlat(c.x, c.y):
            return t.key
    raise InputError(f"quartier at lon={c.x:.4f}, lat={c.y:.4f} lies in no French territory")
