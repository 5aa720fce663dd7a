"""Coordinate reference systems of the French territories, and distances on the ground.

Distances and areas are computed in the metric CRS of the territory (Lambert-93 for mainland
France and Corsica, the UTM zones overseas; docs/rules.md §5). A projection stretches lengths by its
local scale factor ``k`` (1.00185 for Lambert-93 at Saint-Omer): qpvgeo divides projected
lengths by ``k`` at the place measured, which brings them within a few millimetres per kilometre
of the geodesic distance (``pyproj.Geod``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyproj

from .errors import InputError

WGS84 = "EPSG:4326"


@dataclass(frozen=True)
class Territory:
    """A French territory with its own metric CRS."""

    key: str
    name: str
    epsg: int
    departements: tuple[str, ...]
    bbox: tuple[float, float, float, float]  # lon_min, lat_min, lon_max, lat_max (WGS84)

    @property
    def crs(self) -> pyproj.CRS:
        return pyproj.CRS.from_epsg(self.epsg)

    def contains_lonlat(self, lon, lat) -> np.ndarray:
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        x0, y0, x1, y1 = self.bbox
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


_MAINLAND = tuple(f"{i:02d}" for i in range(1, 96) if i != 20) + ("2A", "2B")

TERRITORIES: tuple[Territory, ...] = (
    Territory("metropole", "France métropolitaine", 2154, _MAINLAND, (-5.5, 41.2, 9.9, 51.3)),
    Territory("antilles", "Guadeloupe, Martinique, Saint-Martin", 5490, ("971", "972", "977", "978"),
              (-63.3, 14.3, -60.7, 18.2)),
    Territory("guyane", "Guyane", 2972, ("973",), (-54.7, 2.0, -51.5, 6.0)),
    Territory("reunion", "La Réunion", 2975, ("974",), (55.1, -21.5, 55.9, -20.8)),
    Territory("mayotte", "Mayotte", 4471, ("976",), (44.9, -13.1, 45.4, -12.5)),
)


def parse_crs(value) -> pyproj.CRS:
    """A CRS from what a user typed (``EPSG:2154``, ``2154``, a WKT or PROJ string), or an
    :class:`InputError` that names the value and the fix."""
    if isinstance(value, pyproj.CRS):
        return value
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown CRS {value!r}: give an EPSG code such as EPSG:2154 (Lambert-93) or "
                         "EPSG:4326 (degrees)") from None


_NUM = r"[-+]?\d+(?:[.,]\d+)?"
_PAIR_SEPARATORS = (";", ",", " ", "\t")


def parse_point(text: str, *, crs=None) -> tuple[float, float, str]:
    """``(lon, lat, how)`` in WGS84 from a pair typed by a person, or an :class:`InputError` when
    ``text`` is not a pair of numbers. ``how`` is a code of :data:`qpvgeo.present.READINGS`
    (``lon_lat``, ``lat_lon_swapped``, ``lambert93``, ``projected``), put in words in either
    language by :func:`qpvgeo.present.reading`.

    Accepts ``2.26006,50.75359``, the French way ``2,628901;50,517951``, spaces as separators,
    and, when ``crs`` is given, projected ``X,Y`` (e.g. Lambert-93). Without ``crs``, a pair that
    is only in a French territory when read as ``lat, lon`` (as copied from a web map) is swapped,
    and ``how`` says so; a pair in the range of Lambert-93 (x 50 000-1 300 000, y 6 000 000-7 200 000,
    which no pair of degrees can be) is read as Lambert-93 and said; any other pair out of the
    degree range asks for the CRS.

    >>> parse_point("2,628901;50,517951")
    (2.628901, 50.517951, 'lon_lat')
    >>> parse_point("50.75359, 2.26006")[:2]
    (2.26006, 50.75359)
    """
    import re

    t = str(text).strip()
    m = None
    for sep in _PAIR_SEPARATORS:
        # with a comma between the numbers, a decimal comma would make "1,2,3" ambiguous: points only
        num = r"[-+]?\d+(?:\.\d+)?" if sep == "," else _NUM
        m = re.fullmatch(rf"\s*({num})\s*{re.escape(sep)}\s*({num})\s*", t)
        if m:
            break
    if m is None:
        raise InputError(f"{text!r} is not a pair of numbers (e.g. 2.26006,50.75359)",
                         fr=f"« {text} » n'est pas une paire de nombres (par exemple 2.26006, 50.75359)")
    a, b = (float(v.replace(",", ".")) for v in m.groups())
    if crs is not None and parse_crs(crs).is_projected:
        tr = pyproj.Transformer.from_crs(parse_crs(crs), WGS84, always_xy=True)
        lon, lat = tr.transform(a, b)
        if not (np.isfinite(lon) and np.isfinite(lat)):
            raise InputError(f"{text!r} cannot be converted from {crs} to degrees: check the CRS",
                             fr=f"« {text} » ne se convertit pas de {crs} en degrés : vérifiez le système")
        return float(lon), float(lat), "projected"
    if abs(a) > 180 or abs(b) > 90:
        if 50_000 <= a <= 1_300_000 and 6_000_000 <= b <= 7_200_000:  # only Lambert-93 gives such pairs
            lon, lat = pyproj.Transformer.from_crs(2154, WGS84, always_xy=True).transform(a, b)
            return float(lon), float(lat), "lambert93"
        raise InputError(f"{text!r} is not LON,LAT in degrees; for projected X,Y give the CRS "
                         "(crs='EPSG:2154', --crs EPSG:2154 for Lambert-93)",
                         fr=f"« {text} » n'est pas LON, LAT en degrés, ni X, Y en Lambert-93 : donnez une "
                            "longitude et une latitude, ou une adresse")
    if territory_of_lonlat(a, b) is None and territory_of_lonlat(b, a) is not None:
        return b, a, "lat_lon_swapped"
    return a, b, "lon_lat"


def territory_of_departement(departement: str) -> Territory:
    """The territory of a département code (``"62"``, ``"2A"``, ``"974"``)."""
    code = str(departement).strip().upper()
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    for t in TERRITORIES:
        if code in t.departements:
            return t
    raise InputError(
        f"unknown département code {departement!r}: expected 01-95, 2A, 2B or 971-978"
    )


def departement_of_commune(insee: str) -> str:
    """Département code of a commune INSEE code (``"62765"`` → ``"62"``, ``"97411"`` → ``"974"``)."""
    code = str(insee).strip().upper()
    return code[:3] if code.startswith("97") else code[:2]


def territory_of_lonlat(lon, lat) -> Territory | None:
    """The territory whose extent holds a WGS84 point, or None."""
    for t in TERRITORIES:
        if bool(t.contains_lonlat(lon, lat)):
            return t
    return None


def metric_crs(*, departement: str | None = None, lonlat: tuple[float, float] | None = None,
               geodataframe=None) -> pyproj.CRS:
    """The metric CRS of a territory, from a département code, a WGS84 point or a layer.

    For a layer, the centre of its extent (in WGS84) decides. Raises :class:`InputError` when
    the place is in no French territory.
    """
    if departement is not None:
        return territory_of_departement(departement).crs
    if geodataframe is not None:
        if geodataframe.crs is None:
            raise InputError("the layer has no CRS: set it (e.g. gdf.set_crs('EPSG:2154'))")
        x0, y0, x1, y1 = geodataframe.to_crs(WGS84).total_bounds
        lonlat = ((x0 + x1) / 2, (y0 + y1) / 2)
    if lonlat is None:
        raise InputError("metric_crs needs a département, a point or a layer")
    t = territory_of_lonlat(*lonlat)
    if t is None:
        raise InputError(
            f"the point lon={lonlat[0]:.5f}, lat={lonlat[1]:.5f} is in no French territory "
            "known to qpvgeo (mainland, Antilles, Guyane, La Réunion, Mayotte)"
        )
    return t.crs


_local = threading.local()  # pyproj objects must not be shared between threads: one set per thread


def _thread_cache() -> dict:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    return cache


def transformer(src, dst) -> pyproj.Transformer:
    """A ``pyproj.Transformer`` (x/y order) for this thread, made once per thread and CRS pair."""
    key = ("t", str(src), str(dst))
    cache = _thread_cache()
    t = cache.get(key)
    if t is None:
        t = cache[key] = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    return t


def scale_factor(crs, lon, lat) -> np.ndarray:
    """Point scale factor ``k`` of the (conformal) projection ``crs`` at WGS84 points.

    A length measured in ``crs`` near the point is ``k`` times the length on the ellipsoid.
    """
    crs = pyproj.CRS.from_user_input(crs)
    key = ("p", crs.to_wkt())
    cache = _thread_cache()
    proj = cache.get(key)
    if proj is None:
        proj = cache[key] = pyproj.Proj(crs)
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    # k varies smoothly: evaluated on a fixed fine lattice and interpolated, for one point as for a
    # million (a point gets the same k whatever else is asked with it: results do not depend on
    # how a file is cut into chunks)
    if "lambert conic conformal" in (crs.coordinate_operation.method_name.lower()
                                     if crs.coordinate_operation else ""):
        return _interp_factor_lat(proj, lon, lat, cache.setdefault(("lat", key), {}))  # of latitude alone
    return _interp_factor(proj, lon, lat)


def _interp_factor_lat(proj: pyproj.Proj, lon: np.ndarray, lat: np.ndarray, lattice: dict | None = None) -> np.ndarray:
    """k of a Lambert conic conformal projection, by latitude, on a 0.001° lattice (error < 1e-10).

    The lattice's nodes (multiples of 0.001°, at a fixed longitude) are kept in ``lattice`` (one
    per thread and CRS), grown to the latitudes asked: a point gets the same k whatever the other
    points of the call, so results do not depend on how a file is cut. Each point's node is found
    by arithmetic on the regular lattice and k interpolated as :func:`numpy.interp` does (the
    same numbers, bit for bit, tested), without its binary search."""
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.full(lat.shape, np.nan)
    if not ok.any():
        return out
    lattice = {} if lattice is None else lattice
    y = lat[ok]
    lo, hi = int(np.floor(y.min() * 1000)) - 1, int(np.ceil(y.max() * 1000)) + 2
    if not lattice or lo < lattice["lo"] or hi > lattice["hi"]:
        if lattice:
            lo, hi = min(lo, lattice["lo"]), max(hi, lattice["hi"])
        grid = np.arange(lo, hi) / 1000
        k = np.asarray(proj.get_factors(np.zeros(grid.size), grid).meridional_scale)
        lattice.update(lo=lo, hi=hi, grid=grid, k=k, slope=(k[1:] - k[:-1]) / (grid[1:] - grid[:-1]))
    grid, k, slope = lattice["grid"], lattice["k"], lattice["slope"]
    # the node at or below each latitude (as numpy.interp's search finds it)
    j = np.clip(np.floor(y * 1000).astype(np.int64) - lattice["lo"], 0, grid.size - 2)
    j -= grid[j] > y
    j += grid[j + 1] <= y
    out[ok] = slope[j] * (y - grid[j]) + k[j]  # numpy.interp's formula
    return out


def _interp_factor(proj: pyproj.Proj, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of k on a lattice of 0.01° or more (k is smooth: error < 1e-7)."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.full(lon.shape, np.nan)
    if not ok.any():
        return out
    span = max(lon[ok].max() - lon[ok].min(), 0.01) * max(lat[ok].max() - lat[ok].min(), 0.01)
    step = max(0.01, float(np.sqrt(span / 100_000)))  # at most ~100 000 evaluations
    # nodes on a fixed lattice, multiples of the step (see _interp_factor_lat)
    i0, j0 = np.floor(lon[ok].min() / step) - 1, np.floor(lat[ok].min() / step) - 1
    nx = int(np.ceil(lon[ok].max() / step) - i0) + 2
    ny = int(np.ceil(lat[ok].max() / step) - j0) + 2
    glon = (i0 + np.arange(nx)) * step
    glat = (j0 + np.arange(ny)) * step
    LON, LAT = np.meshgrid(glon, glat, indexing="ij")
    k = np.asarray(proj.get_factors(LON.ravel(), LAT.ravel()).meridional_scale).reshape(nx, ny)
    fx = lon[ok] / step - i0
    fy = lat[ok] / step - j0
    i = np.clip(np.floor(fx).astype(int), 0, nx - 2)
    j = np.clip(np.floor(fy).astype(int), 0, ny - 2)
    tx, ty = fx - i, fy - j
    out[ok] = (k[i, j] * (1 - tx) * (1 - ty) + k[i + 1, j] * tx * (1 - ty)
               + k[i, j + 1] * (1 - tx) * ty + k[i + 1, j + 1] * tx * ty)
    return out
