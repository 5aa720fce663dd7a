"""The Python API for notebooks: one call per question, on GeoDataFrames or arrays, returning
frames aligned with the input. Everything goes through the same decider as the command line.

>>> import qpvgeo
>>> qpvgeo.check(lon=[2.26006, 2.05], lat=[50.75359, 50.60])["qpv_status"].tolist()
['in_qpv', 'outside']
"""

from __future__ import annotations

import functools

from .rules import Rule


@functools.lru_cache(maxsize=4)
def _default_checker(rule: Rule):
    from .eligibility import Checker
    from .perimeters import load_perimeters

    return Checker(load_perimeters(), rule=rule)


def _checker(perimeters, rule: Rule | None):
    from .eligibility import Checker

    rule = rule or Rule()
    if perimeters is None:
        return _default_checker(rule)
    if isinstance(perimeters, Checker):
        return perimeters
    return Checker(perimeters, rule=rule)


def check(points=None, *, lon=None, lat=None, crs=None, perimeters=None, rule: Rule | None = None):
    """Eligibility of points: a GeoDataFrame (any CRS; its point geometries, and its polygons
    checked as project sites) or ``lon``/``lat`` (degrees, or x/y in ``crs``).

    Parameters
    ----------
    points
        A GeoDataFrame or GeoSeries with a CRS: points (a MultiPoint of one point is a point),
        and polygons or multipolygons, each checked as :func:`check_site` checks one, with the
        site columns of ``qpvgeo check-file`` (:data:`qpvgeo.batch.SITE_COLUMNS`).
    lon, lat
        Instead of ``points``: one pair, or sequences of coordinates (WGS84 degrees, or x/y in
        ``crs``; numbers or text read as a file's columns are: a missing value is
        ``no_coordinates``, a word ``invalid_coordinates`` with a note).
    perimeters
        A frame of :func:`qpvgeo.load_perimeters`, or a :class:`qpvgeo.eligibility.Checker`;
        default: the embedded QPV 2024 of Pas-de-Calais.
    rule
        A :class:`qpvgeo.rules.Rule` (band distance in metres on the ground, comparison, classes).

    Returns
    -------
    GeoDataFrame
        Aligned with the input (same index, same order): the input's columns and geometry (in its
        CRS; WGS84 points for arrays), then ``qpv_status`` (:mod:`qpvgeo.status`), ``qpv_eligible``
        (nullable boolean), ``qpv_code``, ``qpv_nom``, ``qpv_classe``, ``qpv_distance_m`` (ground
        metres), ``qpv_quartiers`` (``CODE:metres;…``) and ``qpv_note`` — the columns of
        ``qpvgeo check-file`` — and, when some rows are polygons, the site columns.
    """
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from .batch import check_table, check_table_points
    from .crs import WGS84
    from .errors import InputError

    checker = _checker(perimeters, rule)
    if points is not None:
        if isinstance(points, gpd.GeoSeries):
            points = gpd.GeoDataFrame(geometry=points)
        if not isinstance(points, gpd.GeoDataFrame):
            raise InputError("points must be a GeoDataFrame or GeoSeries (or give lon= and lat=)")
        if points.crs is None:
            raise InputError("the points have no CRS: set it (e.g. gdf.set_crs('EPSG:2154'))")
        attrs = pd.DataFrame(points.drop(columns=points.geometry.name))
        res = check_table(attrs, checker, geometries=np.asarray(points.geometry.to_crs(WGS84).values))
        return gpd.GeoDataFrame(res, geometry=points.geometry.values, crs=points.crs, index=points.index)
    if lon is None or lat is None:
        raise InputError("give points (a GeoDataFrame) or lon= and lat=")
    index = lon.index if isinstance(lon, pd.Series) else None
    # one place or many; numbers or text (read as a file's columns are: decimal commas, a missing
    # value is no_coordinates, a word is invalid_coordinates with a note), degrees or x/y in crs
    x, y = (np.atleast_1d(np.asarray(v, dtype=object)).ravel() for v in (lon, lat))
    if x.shape != y.shape:
        raise InputError(f"lon and lat differ in length ({x.size} and {y.size})")
    frame = pd.DataFrame(index=index if index is not None else pd.RangeIndex(x.size))
    table = pd.DataFrame({"lon": x, "lat": y}, index=frame.index)
    table = table.astype(str).where(table.notna(), "")
    res, wlon, wlat = check_table_points(table, checker, lon_col="lon", lat_col="lat", crs=crs)
    res = res.drop(columns=["lon", "lat"])
    placed = np.isfinite(wlon) & np.isfinite(wlat)
    points = np.asarray(gpd.points_from_xy(np.where(placed, wlon, 0.0), np.where(placed, wlat, 0.0)), dtype=object)
    points[~placed] = None  # a row with no location has no geometry
    return gpd.GeoDataFrame(res, geometry=list(points), crs=WGS84, index=frame.index)


def check_site(site, *, crs=None, perimeters=None, rule: Rule | None = None) -> dict:
    """Eligibility of a project site (a polygon GeoDataFrame/GeoSeries with a CRS, or a shapely
    polygon with ``crs``): the object of ``qpvgeo check --site --json``
    (:meth:`qpvgeo.eligibility.Checker.check_site`; areas in m² on the ground).

    >>> import shapely, qpvgeo
    >>> qpvgeo.check_site(shapely.box(2.2600, 50.7535, 2.2602, 50.7537), crs="EPSG:4326")["status"]
    'in_qpv'
    """
    return _checker(perimeters, rule).check_site(site, crs=crs)


def load_perimeters(source=None, **kwargs):
    """The quartiers in the qpvgeo schema (:func:`qpvgeo.perimeters.load_perimeters`): CRS of the
    file, ``code_qp``, ``nom_qp``, ``communes``, ``departement``, ``epci``, ``classe``,
    ``vintage``, ``source``.

    >>> import qpvgeo
    >>> len(qpvgeo.load_perimeters())
    64
    """
    from .perimeters import load_perimeters as load

    return load(source, **kwargs)


def fragility(epci=None, *, carreaux=None, perimeters=None, rule=None, **kwargs):
    """Quartiers fragiles of an EPCI (SIREN), several, or every EPCI of the grid: a
    :class:`qpvgeo.fragility.FragilityResult` with ``carreaux`` and ``zones`` (GeoDataFrames in the
    grid's CRS, EPSG:3035 for mainland France) and ``summary``. Default carreaux: the embedded
    Filosofi 2021 extract of the CAPSO; default perimeters: the embedded QPV.

    >>> import qpvgeo
    >>> qpvgeo.fragility("200069037").summary["zones_count"]
    22
    """
    from .fragility import fragility as run
    from .fragility import load_grid

    membership = kwargs.pop("membership", None)
    communes = kwargs.pop("communes", None)
    if carreaux is None:
        carreaux, membership, communes = load_grid(None, epci=epci if isinstance(epci, str) else None)
    per = load_perimeters() if perimeters is None else perimeters
    return run(carreaux, epci=epci, perimeters=per, rule=rule, membership=membership, communes=communes, **kwargs)


def population(perimeters=None, *, codes=None, carreaux=None, **kwargs):
    """People, households and poor households of quartiers from the carreaux, with the method, the
    coverage and the bracket of each (:func:`qpvgeo.inhabitants.population`; ``weights=`` for a
    dasymetric estimate, ``official=`` for official figures beside it): a DataFrame, one row per
    quartier. ``codes`` selects quartiers of the embedded layer.

    >>> import qpvgeo
    >>> p = qpvgeo.population(codes=["QN06237M"]).iloc[0]
    >>> round(p["low"]), round(p["estimate"]), round(p["high"])
    (1502, 1668, 3432)
    """
    from .inhabitants import population as run
    from .perimeters import select

    per = load_perimeters() if perimeters is None else perimeters
    if codes is not None:
        per = select(per, code=list(codes))
    return run(per, carreaux, **kwargs)
