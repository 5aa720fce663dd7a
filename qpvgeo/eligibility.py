"""Is a place eligible? Inside a quartier, inside the band around it (300 m by default), or
outside; with the quartier's code and name and the distance on the ground (docs/rules.md §2, §5).

One decider: points (:meth:`Checker.check_lonlat`, :meth:`Checker.check_point`), addresses
(:meth:`Checker.check_address`), project sites (:meth:`Checker.check_site`), files
(:func:`qpvgeo.batch.check_file`), maps and the server all go through the same territory,
coverage and band tests of a :class:`Checker`, and answer with the statuses of
:mod:`qpvgeo.status`.

Distances are computed in the metric CRS of each territory and divided by the projection's
local scale factor, which brings them within a few millimetres per kilometre of the geodesic
distance (checked against ``pyproj.Geod`` in the tests).
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from . import _parallel
from . import status as _status
from .crs import (
    TERRITORIES,
    WGS84,
    Territory,
    scale_factor,
    territory_of_departement,
    territory_of_lonlat,
    transformer,
)
from .errors import InputError
from .rules import COMPARISONS, Rule  # noqa: F401  (Rule is part of this module's API)
from .territory import coverage_of_perimeters

log = logging.getLogger(__name__)

# Largest deviation of a scale factor from 1 in the territories' CRS (Lambert-93: 0.99905-1.0030)
_K_MARGIN = 1.005
_STATUSES = np.array(("",) + _status.DECIDED + _status.NO_DATA, dtype=object)
_ST = {name: np.int8(i) for i, name in enumerate(_STATUSES)}
# a point closer than this to an outline is on it, hence in the quartier (distances are reported
# to the centimetre: "0 m" and "outside" must never appear together)
ON_OUTLINE_M = 0.005


@dataclass
class _Zone:
    """Quartiers of one territory, projected in its metric CRS, with a spatial index."""

    territory: Territory
    index: np.ndarray  # row positions in the perimeter frame
    geoms: np.ndarray
    tree: shapely.STRtree
    band_mask: np.ndarray  # which quartiers get a band
    outline: _Outline | None = None
    band_outline: _Outline | None = None  # outlines of the band classes only (None: all of them)
    inradius_m: float = 0.0  # no point farther than this from every outline is inside a quartier
    touching: np.ndarray | None = None  # quartiers within 1 m of another one
    neighbours: tuple | None = None  # per quartier, the others within twice the band (CSR: starts, positions)
    band_polygons: np.ndarray | None = None  # per quartier, its band (projected), computed once
    _bounds: np.ndarray | None = None

    @property
    def bounds(self) -> np.ndarray:
        """Each quartier's box (xmin, ymin, xmax, ymax), projected; made once."""
        if self._bounds is None:
            self._bounds = shapely.bounds(self.geoms)
        return self._bounds

    @property
    def alone(self) -> np.ndarray:
        """Quartiers with no other within twice the band."""
        return np.diff(self.neighbours[0]) == 0

    @property
    def to_metric(self) -> pyproj.Transformer:
        return transformer(WGS84, self.territory.crs)  # this thread's own (pyproj is not thread-safe)

    @property
    def to_wgs84(self) -> pyproj.Transformer:
        return transformer(self.territory.crs, WGS84)


@dataclass
class _Outline:
    """Quartier outlines indexed for fast distances with a known error.

    ``kdtree`` holds the outline vertices densified every ``step_m`` metres (densifying adds
    vertices on the outline and moves nothing). The distance ``D`` to the nearest vertex bounds
    the exact distance ``d``: ``d <= D <= d + step²/(8d)``, i.e. within 5 cm beyond 250 m for 10 m.
    Closer than ``exact_within_m`` (at least the band's reach, so that every distance a decision or
    a list of quartiers depends on is exact) the distance is made exact: every vertex within
    ``sqrt(D² + step²/4)`` is looked up (this ball always holds the vertex nearest to the true
    foot of the perpendicular) and the pieces of outline on either side of each are measured.
    The vertices of each quartier are contiguous (``owner`` does not decrease): :meth:`part` is
    the outline of one quartier, with its own index.
    """

    coords: np.ndarray
    ring: np.ndarray  # ring id of each vertex
    owner: np.ndarray  # quartier (position in the zone) of each vertex
    step_m: float = 10.0
    exact_within_m: float = 250.0
    direct_max: int = 4_000_000  # point × vertex pairs compared directly (32 MB of float64 at most)
    direct_total: int | None = 4_000_000  # pairs compared directly in all, before the tree is built (None: no limit)
    _tree: object = None
    _direct_pairs: int = 0  # pairs compared directly so far (many single checks: a server)
    _parts: dict = field(default_factory=dict)

    @property
    def kdtree(self):
        """The k-d tree of the vertices (pykdtree: its queries run on every core, without the
        GIL), built on first use; a few points are answered by a direct search, which needs no
        tree: a single check starts at once."""
        if self._tree is None:
            with _BUILD_LOCK:  # chunks are classified in threads: one of them builds it
                if self._tree is None:
                    self._tree = _kdtree_class()(np.ascontiguousarray(self.coords, dtype=float), leafsize=16)
        return self._tree

    def direct(self, n: int, *, count: bool = False) -> bool:
        """Whether ``n`` points are cheaper to answer by comparing them with every vertex: a few
        points, as long as the tree is not built and the direct searches so far, this one included,
        compare no more than ``direct_total`` pairs (about 20 ms, what importing and building the
        tree costs: a server answering single checks builds it after a few of them; a single check
        from the command line never does, and imports no k-d tree). ``count``: the search is made
        now, and counted."""
        pairs = n * len(self.coords)
        if self._tree is not None or pairs > self.direct_max or (
                self.direct_total is not None and self._direct_pairs + pairs > self.direct_total):
            return False
        if count:
            self._direct_pairs += pairs  # a count shared by threads: a race only moves the moment
        return True

    def part(self, q: int) -> _Outline:
        """The outline of quartier ``q`` alone (made once, kept)."""
        got = self._parts.get(q)
        if got is None:
            a, b = np.searchsorted(self.owner, [q, q + 1])
            got = _Outline(self.coords[a:b], self.ring[a:b], self.owner[a:b], self.step_m, self.exact_within_m,
                           # its small tree pays only for many points at once (a query has a fixed cost)
                           direct_max=20_000, direct_total=None)
            self._parts[q] = got
        return got


_BUILD_LOCK = threading.Lock()
_SORT_FROM = 1_000  # points sorted along a Morton curve before the search, from this many
_GRID_FROM = 50_000  # the covered-area test through a grid of the area (built once), from this many points


def _spread(v: np.ndarray) -> np.ndarray:
    v = v & 0xFFFF
    v = (v | (v << 8)) & 0x00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F
    v = (v | (v << 2)) & 0x33333333
    return (v | (v << 1)) & 0x55555555


def _morton_order(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """An order of the points along a Z curve of their coordinates (the order changes no answer,
    only how fast the trees are searched; NaN points go with the largest codes)."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return np.arange(lon.size)
    lo, la = np.where(ok, lon, np.inf), np.where(ok, lat, np.inf)
    x0, x1, y0, y1 = lon[ok].min(), lon[ok].max(), lat[ok].min(), lat[ok].max()
    qx = ((lo - x0) * (65535 / max(x1 - x0, 1e-9))).clip(0, 65535).astype(np.uint32)
    qy = ((la - y0) * (65535 / max(y1 - y0, 1e-9))).clip(0, 65535).astype(np.uint32)
    code = _spread(qx) | (_spread(qy) << 1)
    # two stable passes on 16-bit halves: numpy sorts them by radix (three times faster than one
    # sort of the whole codes)
    order = np.argsort((code & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((code[order] >> 16).astype(np.uint16), kind="stable")]


_KNN = 4  # nearest vertices looked up as arrays for an exact distance
_NOTHING = np.empty(0)


OUTLINE_STEP_M = 10.0  # outlines densified every this many metres for the k-d tree
FAR_ERROR_M = 0.05  # beyond the exact distances, the vertex distance is at most this much too long


def _build_outline(geoms: np.ndarray, *, step_m: float = OUTLINE_STEP_M) -> _Outline:
    parts = [shapely.get_rings(shapely.get_parts(g)) for g in geoms]
    owner_ring = np.concatenate([np.full(len(r), i) for i, r in enumerate(parts)])
    coords, ring = shapely.get_coordinates(shapely.segmentize(np.concatenate(parts), step_m), return_index=True)
    exact = step_m * step_m / (8 * FAR_ERROR_M)  # beyond it the vertex distance is within FAR_ERROR_M
    return _Outline(coords, ring, owner_ring[ring], step_m, exact)


def _kdtree_class():
    """pykdtree's KDTree, its OpenMP threads set from the ``threads`` setting when the process has
    not set them (``OMP_NUM_THREADS``), and made to sleep rather than spin while they wait (the
    batch classifies chunks in several threads at once)."""
    import os

    if "pykdtree.kdtree" not in sys.modules:
        from .config import threads

        os.environ.setdefault("OMP_NUM_THREADS", str(threads()))
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from pykdtree.kdtree import KDTree

    return KDTree


def one_openmp_thread() -> None:
    """Let this thread's k-d tree queries run on one core (for threads that already share the
    cores between them, such as the batch's chunk workers: one OpenMP team each would
    oversubscribe the machine). Other threads keep theirs."""
    _kdtree_class()  # the OpenMP library is loaded with pykdtree
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")


def _segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    dx, dy = bx - ax, by - ay
    den = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(den > 0, den, 1.0), 0.0, 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _nearest(outline: _Outline, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(projected distance, quartier position) of the nearest outline for each point (see _Outline)."""
    direct = outline.direct(len(x), count=True)
    if direct:
        d2 = (outline.coords[:, 0] - x[:, None]) ** 2 + (outline.coords[:, 1] - y[:, None]) ** 2
        vi = np.argmin(d2, axis=1)
    else:
        vi = outline.kdtree.query(np.column_stack([x, y]), k=1)[1]
    # the distance to that vertex by one formula, whichever search found it (same last digits)
    v = outline.coords[vi]
    d = np.sqrt((v[:, 0] - x) ** 2 + (v[:, 1] - y) ** 2)
    owner = outline.owner[vi].astype(np.int64)
    _exact(outline, x, y, np.flatnonzero(d < outline.exact_within_m), d, owner, direct=direct)
    return d, owner


def _exact(outline: _Outline, x, y, idx: np.ndarray, d: np.ndarray, owner: np.ndarray, *, direct: bool) -> None:
    """Exact distances (in place) for the points ``idx``, whose ``d`` holds the vertex distance
    (``direct``: searched as the nearest vertices were, see :meth:`_Outline.direct`)."""
    if not idx.size:
        return
    pid, vert = _ball_vertices(outline, x[idx], y[idx], np.sqrt(d[idx] ** 2 + outline.step_m**2 / 4) + 1e-6,
                               direct=direct)
    c, ring, n = outline.coords, outline.ring, len(outline.coords)
    px, py = x[idx][pid], y[idx][pid]
    best = np.full(vert.size, np.inf)
    for nb in (np.maximum(vert - 1, 0), np.minimum(vert + 1, n - 1)):
        seg = _segment_distance(px, py, c[vert, 0], c[vert, 1], c[nb, 0], c[nb, 1])
        best = np.minimum(best, np.where(ring[nb] == ring[vert], seg, np.inf))
    # per point, the nearest piece (equal ones: the lowest vertex, whatever search found them)
    if (np.diff(pid) < 0).any():
        o = np.argsort(pid, kind="stable")
        pid, vert, best = pid[o], vert[o], best[o]
    start = np.flatnonzero(np.r_[True, pid[1:] != pid[:-1]])
    low = np.minimum.reduceat(best, start)
    first = np.minimum.reduceat(np.where(best == np.repeat(low, np.diff(np.r_[start, pid.size])), vert, n), start)
    d[idx[pid[start]]] = low
    owner[idx[pid[start]]] = outline.owner[first]


def _ball_vertices(outline: _Outline, x, y, radius, *, direct: bool) -> tuple[np.ndarray, np.ndarray]:
    """(point, vertex) pairs of every vertex within ``radius`` of each point (every point has one)."""
    n = len(outline.coords)
    if direct:
        c = outline.coords
        pid, vert = np.nonzero((c[:, 0] - x[:, None]) ** 2 + (c[:, 1] - y[:, None]) ** 2 <= (radius * radius)[:, None])
        return pid.astype(np.int64), vert.astype(np.int64)
    # the ball holds one to three vertices almost always: the _KNN nearest, as arrays, hold all of
    # it whenever the last of them lies beyond it; the other points ask for more, until they do
    pid_parts, vert_parts = [], []
    todo = np.arange(x.size)
    k = min(_KNN, n)
    while todo.size:
        dk, vk = outline.kdtree.query(np.column_stack([x[todo], y[todo]]), k=k)
        dk, vk = dk.reshape(todo.size, k), vk.reshape(todo.size, k)
        within = dk <= radius[todo, None]
        full = within[:, -1].copy() if k < n else np.zeros(todo.size, dtype=bool)
        within[full] = False
        p, slot = np.nonzero(within)
        pid_parts.append(todo[p])
        vert_parts.append(vk[p, slot].astype(np.int64))
        todo, k = todo[full], min(8 * k, n)
    pid, vert = np.concatenate(pid_parts), np.concatenate(vert_parts)
    return pid, vert


STATUSES = _STATUSES  # the text of each integer status of :class:`_Codes`


@dataclass
class _Codes:
    """Integer answers for N points: ``status`` indexes :data:`STATUSES`, ``row`` the perimeter
    rows (-1: none), ``dist`` ground metres; ``pairs`` (point, row, metres) within the band."""

    status: np.ndarray
    row: np.ndarray
    dist: np.ndarray
    pairs: tuple | None = None


@dataclass
class PointResults:
    """Vectorised answer for N points (arrays of length N); see :meth:`Checker.check_lonlat`.

    The quartiers within the band are held as flat arrays (``pairs``: point, quartier code,
    ground metres; sorted by point, nearest first), so that a million answers need no Python
    object per point; :attr:`quartiers` gives them as per-point lists on demand."""

    status: np.ndarray
    code_qp: np.ndarray
    nom_qp: np.ndarray
    classe: np.ndarray
    distance_m: np.ndarray
    pairs: tuple | None = None  # (point index, code, metres) arrays
    rule: Rule = field(default_factory=Rule)

    @property
    def eligible(self) -> np.ndarray:
        """True / False / None per point (:meth:`Rule.eligible`)."""
        return self.rule.eligible(self.status)

    @property
    def quartiers(self) -> list:
        """Per point: the (code, metres) of every quartier within the band, nearest first
        (empty lists when asked without quartiers)."""
        out: list = [[] for _ in range(len(self.status))]
        if self.pairs is not None:
            for i, c, d in zip(*self.pairs):
                out[i].append((c, float(d)))
        return out

    def quartiers_text(self) -> np.ndarray:
        """Per point, ``CODE:metres;CODE:metres`` (nearest first; '' when none)."""
        return quartiers_text(self.pairs, len(self.status)).to_numpy(zero_copy_only=False).astype(object)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "status": self.status, "eligible": self.eligible, "code_qp": self.code_qp,
            "nom_qp": self.nom_qp, "classe": self.classe, "distance_m": self.distance_m,
            "quartiers": self.quartiers,
        })


def quartiers_text(pairs, n: int):
    """Per point of ``n``, the text ``CODE:metres;CODE:metres`` of its ``pairs`` (point, code,
    metres; grouped by point, nearest first), '' when it has none: an Arrow array, built without
    a Python loop (the batch writes it as it is)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pa.array([""], type=pa.large_string())
    if pairs is None or not len(pairs[0]):
        return empty.take(pa.array(np.zeros(n, dtype=np.int32)))
    p, c, d = pairs
    item = pc.binary_join_element_wise(pa.array(c, type=pa.large_string()),
                                       pc.cast(pa.array(d, type=pa.float64()), pa.large_string()),
                                       pa.scalar(":", type=pa.large_string()))
    start = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    lists = pa.LargeListArray.from_arrays(pa.array(np.r_[start, len(p)], type=pa.int64()), item)
    joined = pa.concat_arrays([empty, pc.binary_join(lists, pa.scalar(";", type=pa.large_string()))])
    pos = np.zeros(n, dtype=np.int64)
    pos[p[start]] = np.arange(1, start.size + 1)
    return joined.take(pa.array(pos))


class Checker:
    """Answers eligibility questions against a set of perimeters: the one decider of qpvgeo.

    Parameters
    ----------
    perimeters
        A frame in the qpvgeo schema (:func:`qpvgeo.perimeters.load_perimeters`), any CRS. Give
        the whole layer: what a map or a report *shows* is selected afterwards. A selection made
        with :func:`qpvgeo.perimeters.select` is accepted, and then covers only what was selected
        (an EPCI's communes, a département, the selected quartiers themselves): elsewhere the
        answer is ``not_covered``, never a wrong ``outside``.
    rule
        The :class:`Rule` (band distance, comparison, classes with a band).
    coverage
        The area the perimeters cover: a shapely geometry in WGS84, or a GeoDataFrame/GeoSeries
        with a CRS. Default: the outlines of their départements where qpvgeo ships them
        (Pas-de-Calais), else their territories' extents; narrowed to a selection's area.

    Examples
    --------
    On the embedded QPV 2024 of Pas-de-Calais:

    >>> from qpvgeo.perimeters import load_perimeters
    >>> checker = Checker(load_perimeters())
    >>> ans = checker.check_point(2.26006, 50.75359)
    >>> ans["status"], ans["code_qp"], ans["distance_m"]
    ('in_qpv', 'QN06237M', 0.0)
    >>> checker.check_point(3.06, 50.63)["status"]  # Lille: Nord is not loaded
    'not_covered'
    """

    def __init__(self, perimeters: gpd.GeoDataFrame, *, rule: Rule | None = None, coverage=None):
        if not isinstance(perimeters, gpd.GeoDataFrame):
            raise InputError("the perimeters must be a GeoDataFrame in the qpvgeo schema (see load_perimeters)")
        if perimeters.crs is None:
            raise InputError("the perimeters have no CRS: set it (e.g. gdf.set_crs('EPSG:2154'))")
        if len(perimeters) == 0:
            raise InputError("no quartier loaded: check the filters or the perimeter file")
        selection = dict(perimeters.attrs.get("qpvgeo_selection") or {})
        self.rule = rule or Rule()
        self.perimeters = perimeters.reset_index(drop=True)
        self.perimeters.attrs = {}
        self.selection = selection
        self.codes = self.perimeters["code_qp"].to_numpy(dtype=object)
        self.names = self.perimeters["nom_qp"].to_numpy(dtype=object)
        self.classes = self.perimeters["classe"].to_numpy(dtype=object)
        self._row_of_code = {c: i for i, c in enumerate(self.codes)}
        # code, name and class by row + 1 ('' first: row -1, no quartier), for text answers by one lookup
        self.texts_by_row = {name: np.r_[np.array([""], dtype=object), values]
                             for name, values in (("code", self.codes), ("nom", self.names), ("classe", self.classes))}
        vint = self.perimeters["vintage"].dropna().unique()
        self.vintage = int(vint[0]) if len(vint) == 1 else sorted(int(v) for v in vint)
        deps = self.perimeters["departement"].fillna("").astype(str)
        wgs = self.perimeters.to_crs(WGS84)
        if coverage is None:
            coverage = coverage_of_perimeters(perimeters)
        elif isinstance(coverage, gpd.GeoDataFrame | gpd.GeoSeries):
            if coverage.crs is None:
                raise InputError("the coverage layer has no CRS")
            coverage = shapely.union_all(coverage.to_crs(WGS84).geometry.values)
        self.coverage = coverage
        _prepare_for_threads(np.array([self.coverage], dtype=object), probe=1e-5)
        self._coverage_grid: _AreaGrid | None = None  # made for the first call with many points
        self.zones: list[_Zone] = []
        terr_of_row = np.array([_territory_key(d, g) for d, g in zip(deps, wgs.geometry)], dtype=object)
        for t in TERRITORIES:
            idx = np.flatnonzero(terr_of_row == t.key)
            if idx.size == 0:
                continue
            geoms = self.perimeters.geometry.iloc[idx].to_crs(t.crs).to_numpy()
            self.zones.append(_Zone(
                territory=t, index=idx, geoms=geoms, tree=shapely.STRtree(geoms),
                band_mask=np.isin(self.classes[idx], self.rule.band_classes),
            ))
            self._index_zone(self.zones[-1])

    def _index_zone(self, z: _Zone) -> None:
        """The costly parts of a zone's index, from the on-disk cache when the same layer and
        rule were indexed before (:mod:`qpvgeo._index_cache`)."""
        from . import _index_cache

        geoms = z.geoms
        k = _index_cache.key(z.territory.key, geoms, z.band_mask, self.rule.band_m)
        got = _index_cache.load(k)
        _prepare_for_threads(geoms, probe=1.0)
        # GEOS builds an STRtree on its first query: here, in one thread (with the index read from
        # the disk the tree was otherwise first queried by two chunks at once: a corrupted heap)
        z.tree.query(shapely.points(shapely.get_coordinates(geoms[:1])[:1]), predicate="intersects")
        # every distance within the band's reach is exact (decisions and lists of quartiers)
        reach = self.rule.band_m * _K_MARGIN + 2.0
        if got is not None:  # saved with its exact reach (the key holds the band distance)
            exact = float(got["exact"])
            z.outline = _Outline(got["coords"], got["ring"], got["owner"], float(got["step"]), exact)
            if "b_coords" in got:
                z.band_outline = _Outline(got["b_coords"], got["b_ring"], got["b_owner"], float(got["step"]), exact)
            z.inradius_m, z.touching = float(got["inradius"]), got["touching"]
            z.neighbours = (got["nb_start"], got["nb_pos"])
            return
        z.outline = _build_outline(geoms)
        z.outline.exact_within_m = max(z.outline.exact_within_m, reach)
        if z.band_mask.any() and not z.band_mask.all():
            z.band_outline = _build_outline(geoms[z.band_mask])
            z.band_outline.exact_within_m = z.outline.exact_within_m
        z.inradius_m = max(shapely.length(shapely.maximum_inscribed_circle(g, 1.0)) for g in geoms)
        # quartiers that touch or overlap another: the nearest outline may not be their own
        a, b = z.tree.query(geoms, predicate="dwithin", distance=1.0)
        z.touching = np.zeros(len(geoms), dtype=bool)
        z.touching[a[a != b]] = True
        # a point within the band of two quartiers means they are within twice the band of each other
        a, b = z.tree.query(geoms, predicate="dwithin", distance=2 * reach)
        keep = a != b
        a, b = a[keep], b[keep]
        o = np.lexsort((b, a))
        z.neighbours = (np.searchsorted(a[o], np.arange(len(geoms) + 1)), b[o].astype(np.int64))
        arrays = {"coords": z.outline.coords, "ring": z.outline.ring, "owner": z.outline.owner,
                  "step": z.outline.step_m, "exact": z.outline.exact_within_m, "inradius": z.inradius_m,
                  "touching": z.touching, "nb_start": z.neighbours[0], "nb_pos": z.neighbours[1]}
        if z.band_outline is not None:
            arrays.update(b_coords=z.band_outline.coords, b_ring=z.band_outline.ring, b_owner=z.band_outline.owner)
        _index_cache.save(k, arrays)

    # ------------------------------------------------------------------ the band
    def _zone_of(self, territory: Territory | None) -> _Zone | None:
        if territory is None:
            return None
        return next((z for z in self.zones if z.territory.key == territory.key), None)

    def _band_polygons(self, zone: _Zone) -> np.ndarray:
        """Each quartier of the zone buffered by the band distance on the ground (projected metres
        = ground metres × the scale factor at the quartier), or None for classes without a band.
        Computed once per zone."""
        if zone.band_polygons is None:
            polys = np.full(len(zone.geoms), None, dtype=object)
            pos = np.flatnonzero(zone.band_mask)
            if pos.size:
                c = shapely.centroid(zone.geoms[pos])
                lon, lat = zone.to_wgs84.transform(shapely.get_x(c), shapely.get_y(c))
                k = scale_factor(zone.territory.crs, lon, lat)
                polys[pos] = shapely.buffer(zone.geoms[pos], self.rule.band_m * k, quad_segs=32)
            zone.band_polygons = polys
        return zone.band_polygons

    def band_geometry(self, codes=None) -> gpd.GeoDataFrame:
        """The band around the quartiers of the band classes (``codes``: only these quartiers), one
        row per territory, in WGS84, with the quartiers themselves left in. This is what maps draw;
        answers are measured exactly on the ground, not on this polygon."""
        wanted = None if codes is None else set(codes)
        parts = []
        for z in self.zones:
            polys = self._band_polygons(z)
            keep = z.band_mask.copy()
            if wanted is not None:
                keep &= np.isin(self.codes[z.index], list(wanted))
            if not keep.any():
                continue
            union = shapely.union_all(polys[keep])
            parts.append(gpd.GeoSeries([union], crs=z.territory.crs).to_crs(WGS84).iloc[0])
        label = f"Zone des {self.rule.band_m:g} m"
        return gpd.GeoDataFrame({"nom": [label] * len(parts)}, geometry=parts, crs=WGS84)

    # ------------------------------------------------------------------ points
    def rule_dict(self) -> dict:
        """The rule, the perimeters' vintage and the distance method, reported with each answer."""
        d = self.rule.as_dict()
        d["vintage"] = self.vintage
        d["distance"] = "ground (projected distance / local scale factor)"
        return d

    def check_lonlat(self, lon, lat, *, with_quartiers: bool = True, block: int = 1_000_000) -> PointResults:
        """Classify WGS84 points (arrays of lon, lat). NaN coordinates give ``status`` ''.

        Large arrays are processed in blocks of ``block`` points (same answers, less memory).

        Returns
        -------
        PointResults
            Arrays of length N: ``status`` (see :mod:`qpvgeo.status`), ``code_qp``, ``nom_qp``,
            ``classe`` of the quartier the point is in, in the band of, or nearest to (empty for
            ``not_covered``/``outside_territory``), ``distance_m`` (ground metres, 0 inside, NaN
            without an answer) and ``quartiers`` (per point, the (code, metres) within the band,
            nearest first). ``eligible`` comes from :meth:`Rule.eligible`.
        """
        return self._results(self.codes_lonlat(lon, lat, with_quartiers=with_quartiers, block=block))

    def _results(self, c: _Codes) -> PointResults:
        """The text answers of integer ones (each text array made once, by one lookup: row -1, no
        quartier, takes the '' put first)."""
        at = c.row + 1
        t = self.texts_by_row
        pairs = None if c.pairs is None else (c.pairs[0], self.codes[c.pairs[1]], c.pairs[2])
        return PointResults(_STATUSES[c.status], t["code"][at], t["nom"][at], t["classe"][at],
                            c.dist, pairs, rule=self.rule)

    def codes_lonlat(self, lon, lat, *, with_quartiers: bool = True, block: int = 1_000_000) -> _Codes:
        """:meth:`check_lonlat` as integers, for callers that build their own columns (the batch):
        ``status`` indexes :data:`STATUSES`, ``row`` the perimeter rows (-1: none)."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        if lon.size > 2 * block:
            starts = range(0, lon.size, block)
            parts = [self.codes_lonlat(lon[i:i + block], lat[i:i + block], with_quartiers=with_quartiers,
                                       block=block) for i in starts]
            pairs = None
            if with_quartiers:
                pairs = tuple(np.concatenate([p.pairs[j] + (i if j == 0 else 0) for i, p in zip(starts, parts)])
                              for j in range(3))
            return _Codes(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("status", "row", "dist")),
                          pairs=pairs)
        # near points together: the trees' searches then share their paths (same answers, in order)
        order = _morton_order(lon, lat) if lon.size >= _SORT_FROM else None
        r = self._classify(lon, lat, with_quartiers) if order is None else self._classify(
            lon[order], lat[order], with_quartiers)
        pairs = None
        if r.pairs is not None:  # by point in the caller's order, nearest first
            pp = r.pairs[0] if order is None else order[r.pairs[0]]
            o = np.lexsort((r.pairs[2], pp))
            pairs = (pp[o], r.pairs[1][o], r.pairs[2][o])
        if order is None:
            return _Codes(r.status, r.row, r.dist, pairs)
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return _Codes(r.status[back], r.row[back], r.dist[back], pairs)

    def _classify(self, lon: np.ndarray, lat: np.ndarray, with_quartiers: bool) -> _Codes:
        """:meth:`codes_lonlat` for one block of points, in the order given (its pairs unsorted:
        the caller sorts them once)."""
        n = lon.size
        status = np.full(n, _ST["outside_territory"], dtype=np.int8)
        row = np.full(n, -1, dtype=np.int64)  # row of the reported quartier in self.perimeters
        dist = np.full(n, np.nan)
        quartiers: list | None = [] if with_quartiers else None  # (point, row, metres) arrays per zone
        finite = np.isfinite(lon) & np.isfinite(lat)
        status[~finite] = _ST[""]
        assigned = ~finite
        covered = np.zeros(n, dtype=bool)  # in the area the perimeters cover, where known
        known = np.zeros(n, dtype=bool)
        for t in TERRITORIES:
            in_t = ~assigned & t.contains_lonlat(lon, lat)
            if not in_t.any():
                continue
            assigned |= in_t
            zone = self._zone_of(t)
            pos = np.flatnonzero(in_t)
            if zone is None:
                status[pos] = _ST["not_covered"]
                continue
            if not zone.outline.direct(pos.size):  # many points: those without data are set aside first
                covered[pos] = self._covered(lon[pos], lat[pos])
                known[pos] = True
                far = self._beyond_every_quartier(zone, lon[pos], lat[pos], ~covered[pos])
                status[pos[far]] = _ST["not_covered"]
                pos = pos[~far]
            self._classify_zone(zone, lon[pos], lat[pos], pos, status, row, dist, quartiers)
        # outside the covered area: "no data", unless a quartier answers yes
        maybe = np.flatnonzero((status == _ST["outside"]) & ~known)
        if maybe.size:
            covered[maybe] = self._covered(lon[maybe], lat[maybe])
        status[(status == _ST["outside"]) & ~covered] = _ST["not_covered"]
        # no data: a nearest loaded quartier would not be the nearest quartier
        nodata = np.isin(status, [_ST["not_covered"], _ST["outside_territory"]])
        row[nodata] = -1
        dist[nodata] = np.nan
        pairs = None
        if quartiers is not None:
            if quartiers:
                pp, qq, dd = (np.concatenate([q[j] for q in quartiers]) for j in range(3))
                keep = ~nodata[pp]
                pairs = (pp[keep], qq[keep], dd[keep])
            else:
                pairs = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0))
        return _Codes(status, row, dist, pairs)

    def _covered(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Whether WGS84 points lie in the area the perimeters cover (in slices over the threads;
        many points through a grid of the area, :class:`_AreaGrid`)."""
        if lon.size >= _GRID_FROM:
            if self._coverage_grid is None:
                with _BUILD_LOCK:
                    if self._coverage_grid is None:
                        self._coverage_grid = _AreaGrid(self.coverage)
            return _parallel.chunked(self._coverage_grid.contains_xy, lon, lat)
        return _parallel.chunked(lambda a, b: shapely.contains_xy(self.coverage, a, b), lon, lat)

    def _beyond_every_quartier(self, zone: _Zone, lon, lat, among: np.ndarray) -> np.ndarray:
        """Which of the points ``among`` are too far from every outline of the zone to be inside a
        quartier (farther than the largest inscribed radius) or within its band's reach: outside
        the covered area, their answer is ``not_covered`` whatever the distances, which are then
        not measured. One k-d tree search bounded by that reach, which gives up early."""
        far = np.zeros(lon.size, dtype=bool)
        idx = np.flatnonzero(among)
        if not idx.size:
            return far
        x, y = lon[idx], lat[idx]
        _parallel.chunked(lambda a, b: (zone.to_metric.transform(a, b, inplace=True), _NOTHING)[1], x, y)
        # projected reach: the band on the ground times the largest scale factor, + 2 m; the
        # nearest vertex lies at most half a step farther than the nearest outline
        reach = max(self.rule.band_m * _K_MARGIN + 2.0, zone.inradius_m + 1.0) + zone.outline.step_m / 2
        d, _ = zone.outline.kdtree.query(np.column_stack([x, y]), k=1, distance_upper_bound=reach)
        far[idx[~np.isfinite(d)]] = True
        return far

    def _classify_zone(self, zone, lon, lat, pos, status, row, dist, quartiers):
        x, y = lon.copy(), lat.copy()  # projected in place, in slices over the threads
        _parallel.chunked(lambda a, b: (zone.to_metric.transform(a, b, inplace=True), _NOTHING)[1], x, y)
        k = scale_factor(zone.territory.crs, lon, lat)
        m = x.size
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
            gband = dband / k  # exact within the band's reach (_Outline.exact_within_m)
            in_b = self.rule.in_band(gband)
            st[in_b] = _ST["in_band"]
            best = np.where(in_b, qband, best)
            bestd = np.where(in_b, gband, bestd)
        # inside a quartier: only points closer to an outline than the largest inscribed radius.
        # A point inside a quartier is inside the quartier of its nearest outline, or inside one
        # that meets it (else the point would cross its own outline first; the nearest vertex is
        # within 5 cm of the nearest outline, and quartiers within 1 m meet): the quartier of the
        # nearest outline is tested, and where it meets others, each of its neighbours whose box
        # holds the point.
        cand = np.flatnonzero(dproj <= zone.inradius_m + 1.0)
        meets = zone.touching[nearest[cand]]
        op, oq = _with_neighbours(zone, cand[meets], nearest[cand[meets]])
        in_box = _box_distance(zone.bounds[oq], x[op], y[op]) == 0
        tp = np.concatenate([cand, op[in_box]])
        tq = np.concatenate([nearest[cand], oq[in_box]])
        order = np.lexsort((tp, tq))  # by quartier, then point: a point's hits in the quartiers' order
        tp, tq = tp[order], tq[order]
        # one call over every (point, quartier) pair, each against its prepared quartier
        ins = shapely.intersects_xy(zone.geoms[tq], x[tp], y[tp])  # the outline is inside
        hits_p, hits_q = [tp[ins]], [tq[ins]]
        # a point on an outline (to the reported centimetre) is in that quartier
        on = np.flatnonzero(dproj / k < ON_OUTLINE_M)
        if on.size:
            hits_p.append(on)
            hits_q.append(nearest[on])
        ip = np.concatenate(hits_p) if hits_p else np.empty(0, dtype=np.int64)
        iq = np.concatenate(hits_q) if hits_q else np.empty(0, dtype=np.int64)
        if ip.size:
            # QPV first; a quartier whose class has no band yields to a QPV's band (the better answer)
            rank = np.where(cls_q[iq] == "QPV", 0, np.where(zone.band_mask[iq], 1, 2))
            order = np.lexsort((rank, ip))
            ip, iq, rank = ip[order], iq[order], rank[order]
            first = np.r_[True, ip[1:] != ip[:-1]]
            ip, iq, rank = ip[first], iq[first], rank[first]
            take = (rank < 2) | (st[ip] != _ST["in_band"])
            ip, iq = ip[take], iq[take]
            st[ip] = np.where(cls_q[iq] == "QPV", _ST["in_qpv"],
                              np.where(cls_q[iq] == "QIC", _ST["in_qic"], _ST["in_fragile"])).astype(np.int8)
            best[ip] = iq
            bestd[ip] = 0.0
        status[pos] = st
        row[pos] = zone.index[best]
        dist[pos] = np.round(bestd, 2)
        if quartiers is not None:
            self._quartiers_within(zone, x, y, k, dproj, nearest, st, pos, quartiers)

    def _quartiers_within(self, zone, x, y, k, dproj, nearest, st, pos, quartiers) -> None:
        """Every quartier within the band of each point (exact ground distances, 0 inside), appended
        to ``quartiers`` as arrays (point position, row in the layer, metres)."""
        inside = np.isin(st, [_ST["in_qpv"], _ST["in_qic"], _ST["in_fragile"]])
        g = dproj / k
        reach = np.flatnonzero(self.rule.in_band(g) | inside)
        # a point within the band of two quartiers means they are within twice the band of each
        # other: around a quartier with no such neighbour the nearest one is the only candidate
        alone = zone.alone[nearest[reach]]
        a = reach[alone]
        quartiers.append((pos[a], zone.index[nearest[a]], np.where(inside[a], 0.0, np.round(g[a], 2))))
        crowded = reach[~alone]
        if not crowded.size:
            return
        # candidates: the nearest quartier and its neighbours, each measured on its own outline
        near_q = nearest[crowded]
        other_p, other_q = _with_neighbours(zone, crowded, near_q)
        # a neighbour whose box lies beyond the band is farther still: not measured
        near_box = self.rule.in_band(_box_distance(zone.bounds[other_q], x[other_p], y[other_p]) / k[other_p])
        pp = np.concatenate([crowded, other_p[near_box]])
        qq = np.concatenate([near_q, other_q[near_box]])
        dd = np.concatenate([dproj[crowded], np.full(int(near_box.sum()), np.nan)])
        order = np.argsort(qq, kind="stable")
        cuts = np.flatnonzero(np.r_[True, qq[order][1:] != qq[order][:-1], True])
        for i, j in zip(cuts[:-1], cuts[1:]):
            sel = order[i:j]
            q = int(qq[sel[0]])
            todo = sel[np.isnan(dd[sel])]
            if todo.size:
                dd[todo] = _nearest(zone.outline.part(q), x[pp[todo]], y[pp[todo]])[0]
            # a point this close to the outline may be inside: then 0
            maybe = sel[dd[sel] <= zone.inradius_m + 1.0]
            if maybe.size:
                dd[maybe[shapely.intersects_xy(zone.geoms[q], x[pp[maybe]], y[pp[maybe]])]] = 0.0
        gd = dd / k[pp]
        within = self.rule.in_band(gd)
        quartiers.append((pos[pp[within]], zone.index[qq[within]], np.round(gd[within], 2)))

    def check_point(self, lon: float, lat: float) -> dict:
        """Answer for one WGS84 point (the object of ``qpvgeo check --json`` and ``/api/check``).

        Returns
        -------
        dict
            ``lon``, ``lat`` (rounded to 1e-7°); ``status`` (:mod:`qpvgeo.status`); ``eligible``
            (True, False, or None when undecided or without data); ``code_qp``, ``nom_qp``,
            ``classe`` and ``distance_m`` (ground metres, 0 inside) of the quartier the point is
            in, in the band of, or nearest to (all None for ``not_covered`` and
            ``outside_territory``); ``quartiers``: every quartier within the band, nearest first,
            as objects with ``code_qp``, ``nom_qp``, ``classe``, ``distance_m``; ``rule``: the
            rule, the perimeters' vintage and the distance method.
        """
        r = self.check_lonlat([lon], [lat])
        return self._answer(float(lon), float(lat), r, 0)

    def _answer(self, lon: float, lat: float, r: PointResults, i: int, quartiers=None) -> dict:
        st = str(r.status[i]) or "invalid_coordinates"
        if quartiers is None:
            quartiers = r.quartiers[i] if r.pairs is not None else []
        decided = st in _status.DECIDED
        return {
            "lon": round(lon, 7), "lat": round(lat, 7),
            "status": st, "eligible": self.rule.eligible(st),
            "code_qp": (r.code_qp[i] or None) if decided else None,
            "nom_qp": (r.nom_qp[i] or None) if decided else None,
            "classe": (r.classe[i] or None) if decided else None,
            "distance_m": None if not decided or np.isnan(r.distance_m[i]) else float(r.distance_m[i]),
            "quartiers": [self._quartier(c, d) for c, d in quartiers],
            "rule": self.rule_dict(),
        }

    def row_of(self, code: str) -> int:
        """The row of quartier ``code`` in the perimeters (the order of :attr:`codes`)."""
        return self._row_of_code[code]

    def _quartier(self, code: str, distance_m: float) -> dict:
        j = self.row_of(code)
        return {"code_qp": code, "nom_qp": self.names[j], "classe": self.classes[j], "distance_m": distance_m}

    def check_points(self, lon, lat) -> list[dict]:
        """:meth:`check_point` for many WGS84 points at once (same objects, in order)."""
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        r = self.check_lonlat(lon, lat)
        lists = r.quartiers
        return [self._answer(float(a), float(b), r, i, lists[i]) for i, (a, b) in enumerate(zip(lon, lat))]

    def check_address(self, query: str, *, geocoder=None, citycode: str = "", postcode: str = "") -> dict:
        """Geocode an address with the BAN (:class:`qpvgeo.geocode.BanClient`, cached) and answer
        for the point found: the object of :meth:`check_point`, plus ``address`` and ``geocode``
        (label, type, score). A vague match (street, commune, low score) gives ``geocode_imprecise``
        with ``eligible`` None and the vague point's answer in ``indicative_status``; no match gives
        ``geocode_not_found``. The batch (:func:`qpvgeo.batch.check_table`) grades rows the same way
        (:meth:`qpvgeo.geocode.GeocodeResult.row_status`)."""
        from .geocode import BanClient

        g = (geocoder or BanClient()).search(query, citycode=citycode, postcode=postcode)
        row_status = g.row_status
        if g.lon is None or g.lat is None:
            ans = {"lon": None, "lat": None, "status": row_status or "geocode_not_found", "eligible": None,
                   "code_qp": None, "nom_qp": None, "classe": None, "distance_m": None, "quartiers": [],
                   "rule": self.rule_dict()}
        else:
            ans = self.check_point(g.lon, g.lat)
            if row_status:  # too vague to decide: the answer for the vague point is indicative only
                ans["indicative_status"] = ans["status"]
                ans["indicative_distance_m"] = ans["distance_m"]
                ans.update(status=row_status, eligible=None, code_qp=None, nom_qp=None, classe=None,
                           distance_m=None, quartiers=[])
        return {"address": query, **ans, "geocode": g.as_dict()}

    # ------------------------------------------------------------------ sites
    def check_site(self, site, *, crs=None) -> dict:
        """Answer for a project site (polygon or multipolygon), through the same territory,
        coverage and band tests as a point.

        Parameters
        ----------
        site
            A GeoDataFrame or GeoSeries with a CRS (its features are merged into one site), or a
            shapely polygon together with ``crs``. A bare geometry without ``crs`` is refused.
        crs
            CRS of a bare shapely geometry (e.g. ``"EPSG:4326"``, ``"EPSG:2154"``).

        Returns
        -------
        dict
            ``status``: ``in_qpv`` when any part of the site lies in a QPV, ``in_band`` when any
            part is within the band, ``in_qic``/``in_fragile`` when any part lies in such a
            quartier, ``outside`` when none does and the whole site lies in the area the
            perimeters cover, else ``not_covered`` (or ``outside_territory``); ``eligible``
            (True/False/None); ``area_m2`` (the site's area on the ground); ``in_qpv`` and
            ``in_eligible_zone`` (QPV ∪ band): each ``any_part``, ``centroid``, ``whole`` (bools,
            None without data) and ``area_m2`` inside; ``code_qp``, ``nom_qp``, ``classe``,
            ``distance_m`` of the nearest quartier (None without data); ``centroid``: ``lon``,
            ``lat`` and the point answer's ``status``; ``quartiers`` within the band, nearest first
            (same objects as for a point); ``rule``.
        """
        geom_wgs = _site_geometry(site, crs)
        c = geom_wgs.centroid
        centroid = self.check_point(c.x, c.y)
        out = {"status": None, "eligible": None, "area_m2": None,
               "in_qpv": dict.fromkeys(("any_part", "centroid", "whole", "area_m2")),
               "in_eligible_zone": dict.fromkeys(("any_part", "centroid", "whole", "area_m2")),
               "code_qp": None, "nom_qp": None, "classe": None, "distance_m": None,
               "centroid": {"lon": round(c.x, 7), "lat": round(c.y, 7), "status": centroid["status"]},
               "quartiers": [], "rule": self.rule_dict()}
        territory = territory_of_lonlat(c.x, c.y)
        if territory is None:
            from pyproj import Geod

            area, _ = Geod(ellps="GRS80").geometry_area_perimeter(shapely.geometry.polygon.orient(geom_wgs)
                                                                  if geom_wgs.geom_type == "Polygon" else geom_wgs)
            out.update(status="outside_territory", area_m2=round(abs(area), 1))
            return out
        to_metric = pyproj.Transformer.from_crs(WGS84, territory.crs, always_xy=True)
        site_m = shapely.transform(geom_wgs, lambda xy: np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1])))
        k = float(scale_factor(territory.crs, c.x, c.y)[0])
        out["area_m2"] = round(site_m.area / k**2, 1)
        zone = self._zone_of(territory)
        if zone is None:
            out["status"] = "not_covered"
            return out
        cls = self.classes[zone.index]
        reach = zone.tree.query(site_m, predicate="dwithin", distance=self.rule.band_m * _K_MARGIN + 1)
        d = shapely.distance(site_m, zone.geoms[reach]) / k
        d = np.where(d < ON_OUTLINE_M, 0.0, d)
        touches = shapely.intersects(site_m, zone.geoms[reach]) | (d == 0)
        in_band = zone.band_mask[reach] & self.rule.in_band(d)
        qpv = reach[cls[reach] == "QPV"]
        qpv_union = shapely.union_all(zone.geoms[qpv]) if qpv.size else shapely.Polygon()
        polys = self._band_polygons(zone)
        eligible_parts = list(zone.geoms[qpv]) + [p for p in polys[reach[zone.band_mask[reach]]]]
        zone_union = shapely.union_all(eligible_parts) if eligible_parts else shapely.Polygon()
        # the order of a point's answer: QPV, a quartier with a band, the band, any other quartier
        touched_band_class = touches & zone.band_mask[reach]
        if touches[cls[reach] == "QPV"].any():
            st = "in_qpv"
        elif touched_band_class.any():
            st = _status.INSIDE_OF_CLASS[cls[reach][touched_band_class][0]]
        elif in_band.any():
            st = "in_band"
        elif touches.any():
            st = _status.INSIDE_OF_CLASS[cls[reach][touches][0]]
        elif shapely.covers(self.coverage, geom_wgs):
            st = "outside"
        else:
            st = "not_covered"
        out.update(status=st, eligible=self.rule.eligible(st))
        if st == "not_covered":
            return out
        any_eligible = bool(touches[cls[reach] == "QPV"].any() or in_band.any())
        out["in_qpv"] = {"any_part": bool(touches[cls[reach] == "QPV"].any()),
                         "centroid": centroid["status"] == "in_qpv",
                         "whole": bool(qpv_union.covers(site_m)),
                         "area_m2": round(qpv_union.intersection(site_m).area / k**2, 1)}
        out["in_eligible_zone"] = {"any_part": any_eligible, "centroid": bool(centroid["eligible"]),
                                   "whole": bool(zone_union.covers(site_m)),
                                   "area_m2": round(zone_union.intersection(site_m).area / k**2, 1)}
        near_i, near_d = zone.tree.query_nearest(site_m, return_distance=True)
        j = int(near_i[0])
        dn = float(near_d[0]) / k
        row = zone.index[j]
        out.update(code_qp=self.codes[row], nom_qp=self.names[row], classe=self.classes[row],
                   distance_m=0.0 if dn < ON_OUTLINE_M else round(dn, 2))
        within = np.flatnonzero(self.rule.in_band(d) | touches)
        order = within[np.argsort(d[within], kind="stable")]
        out["quartiers"] = [self._quartier(self.codes[zone.index[reach[i]]], round(float(d[i]), 2)) for i in order]
        return out


class _AreaGrid:
    """An area (a prepared shapely geometry) cut into a grid of ``cells`` × ``cells`` boxes over
    its extent, each known to lie inside it, outside it, or across its edge: a point's answer
    is its cell's, and only points in cells across the edge are tested against the area itself,
    with the same answers as :func:`shapely.contains_xy` (a cell is inside or outside only when
    the cell grown by ``margin`` is: a point's cell found a rounding off is still right)."""

    INSIDE, OUTSIDE, EDGE = 1, 0, 2

    def __init__(self, area, *, cells: int = 128, margin: float = 1e-9):
        self.area = area
        x0, y0, x1, y1 = area.bounds if not area.is_empty else (0.0, 0.0, 0.0, 0.0)
        self.x0, self.y0 = x0, y0
        self.w = max((x1 - x0) / cells, 1e-12)
        self.h = max((y1 - y0) / cells, 1e-12)
        self.n = cells
        i, j = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        ax, ay = x0 + i.ravel() * self.w, y0 + j.ravel() * self.h
        boxes = shapely.box(ax - margin, ay - margin, ax + self.w + margin, ay + self.h + margin)
        kind = np.full(boxes.size, self.EDGE, dtype=np.int8)
        if not area.is_empty:
            kind[shapely.contains_properly(area, boxes)] = self.INSIDE
            kind[~shapely.intersects(area, boxes)] = self.OUTSIDE
        else:
            kind[:] = self.OUTSIDE
        self.kind = kind.reshape(cells, cells)

    def contains_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        fi = np.floor((x - self.x0) / self.w)
        fj = np.floor((y - self.y0) / self.h)
        within = (fi >= 0) & (fi < self.n) & (fj >= 0) & (fj < self.n)  # NaN: False
        kind = np.full(x.size, self.OUTSIDE, dtype=np.int8)
        kind[within] = self.kind[fi[within].astype(np.intp), fj[within].astype(np.intp)]
        # just beyond the grid (the extent's own edge, a rounding off): tested
        kind[~within & (fi >= -1) & (fi <= self.n) & (fj >= -1) & (fj <= self.n)] = self.EDGE
        out = kind == self.INSIDE
        edge = np.flatnonzero(kind == self.EDGE)
        if edge.size:
            out[edge] = shapely.contains_xy(self.area, x[edge], y[edge])
        return out


def _with_neighbours(zone: _Zone, points: np.ndarray, quartiers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point, quartier) pairs of each point with every neighbour of its quartier (the quartiers
    within twice the band of it, :attr:`_Zone.neighbours`), grouped by point."""
    start, nb = zone.neighbours
    cnt = start[quartiers + 1] - start[quartiers]
    offset = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return np.repeat(points, cnt), nb[np.repeat(start[quartiers], cnt) + offset]


def _box_distance(bounds: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance of each point to its box (xmin, ymin, xmax, ymax): 0 inside or on it, and never
    more than the distance to anything in the box."""
    return np.hypot(np.maximum(np.maximum(bounds[:, 0] - x, x - bounds[:, 2]), 0.0),
                    np.maximum(np.maximum(bounds[:, 1] - y, y - bounds[:, 3]), 0.0))


def _prepare_for_threads(geoms: np.ndarray, *, probe: float) -> None:
    """Prepare geometries and build now, in one thread, the indexes GEOS builds on their first
    use (the point locator and its interval tree, the segment intersection finder, the facet
    distance index): chunks, server requests and slices of arrays then use them from several
    threads at once, read-only. ``probe``: the half-side of a small box across each outline, in
    the geometries' units."""
    geoms = geoms[~shapely.is_empty(geoms)]
    if not geoms.size:
        return
    shapely.prepare(geoms)
    inner = shapely.get_coordinates(shapely.point_on_surface(geoms))
    for g, (px, py) in zip(geoms, inner):  # past the envelope test: the point locator's index
        shapely.intersects_xy(g, px, py)
    first = shapely.get_coordinates(geoms, return_index=True)
    corner = first[0][np.searchsorted(first[1], np.arange(geoms.size))]
    boxes = shapely.box(corner[:, 0] - probe, corner[:, 1] - probe, corner[:, 0] + probe, corner[:, 1] + probe)
    shapely.intersects(geoms, boxes)
    shapely.covers(geoms, boxes)
    shapely.dwithin(geoms, shapely.points(corner + 3 * probe), probe)


def _site_geometry(site, crs):
    """One valid (multi)polygon in WGS84 from a frame with a CRS, or a shapely geometry and ``crs``."""
    if isinstance(site, gpd.GeoDataFrame | gpd.GeoSeries):
        if site.crs is None:
            raise InputError("the site has no CRS: set one (e.g. gdf.set_crs('EPSG:2154'))")
        if len(site) == 0:
            raise InputError("the site holds no feature")
        geom_wgs = shapely.union_all(site.to_crs(WGS84).geometry.values)
    elif isinstance(site, shapely.Geometry):
        if crs is None:
            raise InputError("a bare geometry has no CRS: pass crs= (e.g. crs='EPSG:4326' for degrees, "
                             "'EPSG:2154' for Lambert-93), or a GeoDataFrame with its CRS")
        from .crs import parse_crs

        geom_wgs = gpd.GeoSeries([site], crs=parse_crs(crs)).to_crs(WGS84).iloc[0]
    else:
        raise InputError(f"a site must be a GeoDataFrame, a GeoSeries or a shapely polygon, got {type(site).__name__}")
    if geom_wgs is None or geom_wgs.is_empty:
        raise InputError("the site geometry is empty", fr="la géométrie du site est vide")
    if geom_wgs.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"a site must be a polygon or multipolygon, got a {geom_wgs.geom_type}; "
                         "for a point check its coordinates instead",
                         fr=f"un site est un polygone, pas un objet {geom_wgs.geom_type} : pour un point, "
                            "vérifiez ses coordonnées")
    if not np.isfinite(shapely.get_coordinates(geom_wgs)).all():
        raise InputError("the site's coordinates could not be converted to degrees: check its CRS",
                         fr="les coordonnées du site ne se convertissent pas en degrés : vérifiez son système")
    x0, y0, x1, y1 = geom_wgs.bounds
    if min(x0, x1) < -180 or max(x0, x1) > 180 or min(y0, y1) < -90 or max(y0, y1) > 90:
        raise InputError(f"the site's coordinates ({x0:.0f}, {y0:.0f}) are not degrees: projected "
                         "coordinates (e.g. Lambert-93) need their CRS (crs='EPSG:2154', --crs EPSG:2154)")
    if not geom_wgs.is_valid:
        geom_wgs = shapely.make_valid(geom_wgs)
        polys = [g for g in shapely.get_parts(geom_wgs) if g.geom_type in ("Polygon", "MultiPolygon")]
        geom_wgs = shapely.union_all(polys) if polys else geom_wgs
    return geom_wgs


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
