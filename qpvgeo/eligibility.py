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


@dataclass
class _Outline:
    """Quartier outlines as indexes for fast distances.

    ``kdtree`` holds the outline vertices densified every ``step_m`` metres: the distance to the
    nearest such vertex is the exact distance to the outline within ``step_m² / (8 d)`` (1.25 cm
    at 1 km for 10 m). ``segments`` is an STRtree of the original outline segments, used for exact
    distances near the quartiers. ``near_m``: beyond it no point can be inside a quartier or in its
    band, and distances come from the vertex index alone.
    """

    kdtree: object
    vertex_owner: np.ndarray
    segments: shapely.STRtree
    segment_owner: np.ndarray
    near_m: float
    step_m: float


def _build_outline(geoms: np.ndarray, band_m: float, *, step_m: float = 10.0,
                   exact_within_m: float = 1000.0) -> _Outline:
    from scipy.spatial import cKDTree

    rings = [shapely.get_rings(shapely.get_parts(g)) for g in geoms]
    owner_ring = np.concatenate([np.full(len(r), i) for i, r in enumerate(rings)])
    rings = np.concatenate(rings)
    dense = shapely.segmentize(rings, step_m)
    coords, ring_idx = shapely.get_coordinates(dense, return_index=True)
    seg_coords, seg_ring = shapely.get_coordinates(rings, return_index=True)
    same = seg_ring[1:] == seg_ring[:-1]
    starts, ends = seg_coords[:-1][same], seg_coords[1:][same]
    segments = shapely.linestrings(np.stack([starts, ends], axis=1))
    radius = max((shapely.length(shapely.maximum_inscribed_circle(g, 1.0)) for g in geoms), default=0.0)
    near = max(radius, band_m * _K_MARGIN, exact_within_m) + 2 * step_m
    # sliding-midpoint tree: several times faster than the balanced one for points far away
    tree = cKDTree(coords, leafsize=32, balanced_tree=False, compact_nodes=False)
    return _Outline(tree, owner_ring[ring_idx], shapely.STRtree(segments),
                    owner_ring[seg_ring[1:][same]], near, step_m)


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
                outline=_build_outline(geoms, self.rule.band_m),
            ))

    # ------------------------------------------------------------------ points
    def rule_dict(self) -> dict:
        d = dataclasses.asdict(self.rule)
        d["band_classes"] = list(d["band_classes"])
        d["vintage"] = self.vintage
        d["distance"] = "ground (projected distance / local scale factor)"
        return d

    def check_lonlat(self, lon, lat, *, with_quartiers: bool = True) -> PointResults:
        """Classify WGS84 points (arrays of lon, lat). NaN coordinates give ``status`` ''."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        n = lon.size
        status = np.full(n, "outside_territory", dtype=object)
        code = np.full(n, "", dtype=object)
        name = np.full(n, "", dtype=object)
        classe = np.full(n, "", dtype=object)
        dist = np.full(n, np.nan)
        quartiers: list = [[] for _ in range(n)] if with_quartiers else []
        finite = np.isfinite(lon) & np.isfinite(lat)
        status[~finite] = ""
        assigned = ~finite
        for t in TERRITORIES:
            in_t = ~assigned & t.contains_lonlat(lon, lat)
            if not in_t.any():
                continue
            assigned |= in_t
            zone = next((z for z in self.zones if z.territory.key == t.key), None)
            pos = np.flatnonzero(in_t)
            if zone is None:
                status[pos] = "not_covered"
                continue
            self._classify_zone(zone, lon[pos], lat[pos], pos, status, code, name, classe, dist,
                                quartiers if with_quartiers else None)
        # outside the covered area: "no data", unless a quartier answers yes
        maybe = np.flatnonzero(status == "outside")
        if maybe.size:
            covered = shapely.contains_xy(self.coverage, lon[maybe], lat[maybe])
            status[maybe[~covered]] = "not_covered"
        return PointResults(status, code, name, classe, dist, quartiers)

    def _classify_zone(self, zone, lon, lat, pos, status, code, name, classe, dist, quartiers):
        x, y = zone.to_metric.transform(lon, lat)
        k = scale_factor(zone.territory.crs, lon, lat)
        m = len(x)
        ol = zone.outline
        # every point: nearest densified outline vertex (exact within step²/8d; see _Outline)
        dproj, vi = ol.kdtree.query(np.column_stack([x, y]), k=1, workers=-1)
        nearest = ol.vertex_owner[vi].astype(np.int64)
        # near the quartiers: exact distances to the outline segments, inside and band tests
        near = np.flatnonzero(dproj <= ol.near_m)
        pts = shapely.points(x[near], y[near])
        if near.size:
            (pn, sn), dn = ol.segments.query_nearest(pts, return_distance=True, all_matches=False,
                                                     max_distance=ol.near_m + ol.step_m)
            dproj[near[pn]] = dn
            nearest[near[pn]] = ol.segment_owner[sn]
        ground = dproj / k
        reach = self.rule.band_m * _K_MARGIN + 1.0
        pi, qi = zone.tree.query(pts, predicate="dwithin", distance=reach)
        pd_ = shapely.distance(pts[pi], zone.geoms[qi]) / k[near[pi]]
        pi = near[pi]
        inside_pair = pd_ == 0.0
        band_pair = zone.band_mask[qi] & self.rule.in_band(pd_) & ~inside_pair
        cls_q = self.classes[zone.index]

        st = np.full(m, "outside", dtype=object)
        best = nearest.copy()
        bestd = ground.copy()
        # band: nearest band-class quartier within the band
        if band_pair.any():
            bp, bq, bd = pi[band_pair], qi[band_pair], pd_[band_pair]
            order = np.lexsort((bd, bp))
            bp, bq, bd = bp[order], bq[order], bd[order]
            first = np.r_[True, bp[1:] != bp[:-1]]
            st[bp[first]] = "in_band"
            best[bp[first]] = bq[first]
            bestd[bp[first]] = bd[first]
        # inside a quartier: QPV first, then the other classes (if not in a QPV band)
        if inside_pair.any():
            ip, iq = pi[inside_pair], qi[inside_pair]
            rank = np.where(cls_q[iq] == "QPV", 0, 1)
            order = np.lexsort((rank, ip))
            ip, iq, rank = ip[order], iq[order], rank[order]
            first = np.r_[True, ip[1:] != ip[:-1]]
            ip, iq, rank = ip[first], iq[first], rank[first]
            take = (rank == 0) | (st[ip] != "in_band")
            ip, iq = ip[take], iq[take]
            st[ip] = np.array([f"in_{c.lower()}" for c in cls_q[iq]], dtype=object)
            best[ip] = iq
            bestd[ip] = 0.0
        rows = zone.index[best]
        status[pos] = st
        code[pos] = self.codes[rows]
        name[pos] = self.names[rows]
        classe[pos] = self.classes[rows]
        dist[pos] = np.round(bestd, 2)
        if quartiers is not None and pi.size:
            within = self.rule.in_band(pd_)
            wp, wq, wd = pi[within], qi[within], pd_[within]
            order = np.lexsort((wd, wp))
            for p, q, d in zip(wp[order], wq[order], wd[order]):
                quartiers[pos[p]].append((self.codes[zone.index[q]], round(float(d), 2)))

    def check_point(self, lon: float, lat: float) -> dict:
        """Answer for one WGS84 point, as a dict (the shape of ``qpvgeo check --json``)."""
        r = self.check_lonlat([lon], [lat])
        rows = {c: i for i, c in enumerate(self.codes)}
        out = {
            "lon": float(lon), "lat": float(lat),
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
            out["code_qp"] = out["nom_qp"] = out["classe"] = None
            out["distance_m"] = None if out["status"] == "outside_territory" else out["distance_m"]
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
