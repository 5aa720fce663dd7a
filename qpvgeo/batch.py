"""Eligibility of a whole file: CSV (any delimiter, UTF-8 or latin-1, with or without BOM),
GeoJSON, GeoPackage, shapefile or FlatGeobuf in (a path or an http(s) URL); the same rows out, in
the same order, with the result columns added.

Every input row gives exactly one output row. A row that cannot be decided says why in
``qpv_status`` (the vocabulary of :mod:`qpvgeo.status`) and ``qpv_note``. Files are read and
written in chunks, so memory does not grow with the file; results do not depend on the chunk
size. Table reading and writing live in :mod:`qpvgeo._tables`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj

from . import _io, _tables, columns
from . import status as _status
from .crs import TERRITORIES, WGS84, parse_crs
from .eligibility import STATUSES, Checker, quartiers_text
from .errors import InputError
from .present import note as _note
from .present import note_key, number, status_fr

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["qpv_status", "qpv_eligible", "qpv_code", "qpv_nom", "qpv_classe",
                  "qpv_distance_m", "qpv_quartiers", "qpv_note"]
GEOCODE_COLUMNS = ["geo_lon", "geo_lat", "geo_label", "geo_score", "geo_type"]
SITE_COLUMNS = ["site_area_m2", "site_qpv_any_part", "site_qpv_centroid", "site_qpv_whole", "site_qpv_area_m2",
                "site_zone_any_part", "site_zone_centroid", "site_zone_whole", "site_zone_area_m2"]
"""The columns of a file whose rows may be polygons (project sites), each checked as
``qpvgeo check --site`` does (:meth:`Checker.check_site`): its area on the ground, whether any
part, its centroid and the whole of it lie in a QPV and in the eligible zone (QPV + band), and
the area inside each; empty for the rows that are points."""
_SITE_KEYS = {"site_qpv": "in_qpv", "site_zone": "in_eligible_zone"}
VOCABULARY = ("",) + _status.ALL
"""Every status a row can get, by integer code (0: none yet); the core's codes come first."""
assert VOCABULARY[:len(STATUSES)] == tuple(STATUSES)
_V = {name: np.int8(i) for i, name in enumerate(VOCABULARY)}
_DECIDED = np.isin(np.asarray(VOCABULARY, dtype=object), _status.DECIDED)
_PLACED = np.isin(np.asarray(VOCABULARY, dtype=object), _status.PLACED)
_VOCAB_ARROW = pa.array(VOCABULARY, type=pa.large_string())


# ---------------------------------------------------------------------------- one chunk
def check_table(
    table: pd.DataFrame,
    checker: Checker,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    crs: str | None = None,
    address_cols: list[str] | None = None,
    citycode_col: str | None = None,
    postcode_col: str | None = None,
    geocoder=None,
    lonlat: tuple[np.ndarray, np.ndarray] | None = None,
    geometries: np.ndarray | None = None,
    geometry_col: str | None = None,
    geometry_lat_first: bool = False,
    geometry_sites: bool | None = None,
    lang: str = "en",
) -> pd.DataFrame:
    """The rows of ``table`` with the result columns added (a new frame; same order, same length).

    Coordinates come from ``geometries`` (shapely, WGS84: points, MultiPoints of one point, and
    polygons checked as sites, with the :data:`SITE_COLUMNS`), from ``lonlat`` (WGS84 arrays),
    from ``lon_col``/``lat_col`` (WGS84, or x/y in ``crs``), from ``geometry_col``, a column of
    places written in one cell (WKT, GeoJSON, or pairs of numbers, ``lat, lon`` with
    ``geometry_lat_first``; in WGS84 or ``crs``; its polygons are sites, with the site columns
    when ``geometry_sites``, None: when a row is a site; see
    :func:`qpvgeo.columns.read_geometry_column`), or from ``address_cols`` geocoded
    with the BAN (``geocoder``: a :class:`qpvgeo.geocode.BanClient`). ``lang``: the language of
    the notes (``"fr"`` for a table for French readers; the statuses stay codes, see
    :func:`qpvgeo.present.for_people`).

    Returns
    -------
    DataFrame
        The input columns, then ``qpv_status`` (:mod:`qpvgeo.status`), ``qpv_eligible`` (nullable
        boolean: empty when undecided), ``qpv_code``, ``qpv_nom``, ``qpv_classe``,
        ``qpv_distance_m`` (ground metres), ``qpv_quartiers`` (``CODE:metres;…`` within the band,
        nearest first) and ``qpv_note``; with addresses, also ``geo_lon``, ``geo_lat``,
        ``geo_label``, ``geo_score``, ``geo_type``.
    """
    return check_table_points(table, checker, lon_col=lon_col, lat_col=lat_col, crs=crs, address_cols=address_cols,
                              citycode_col=citycode_col, postcode_col=postcode_col, geocoder=geocoder,
                              lonlat=lonlat, geometries=geometries, geometry_col=geometry_col,
                              geometry_lat_first=geometry_lat_first, geometry_sites=geometry_sites, lang=lang)[0]


def check_table_points(table: pd.DataFrame, checker: Checker, *, lonlat=None, geometries=None,
                       **options) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """:func:`check_table`, and the WGS84 lon/lat each row was checked at (NaN where none)."""
    chunk = (_tables.located(table, geometries) if geometries is not None
             else _tables.Chunk(table, *(lonlat if lonlat is not None else (None, None))))
    frame, lon, lat, _, _ = _check_chunk(chunk, checker, **options)
    return frame, lon, lat


def _check_chunk(chunk: _tables.Chunk, checker: Checker, *, lon_col=None, lat_col=None, crs=None,
                 address_cols=None, citycode_col=None, postcode_col=None, geocoder=None, geometry_col=None,
                 geometry_lat_first=False, geometry_sites=None, lang="en"):
    """(result frame, lon, lat, counts, sites) of one chunk: the decision for every row, in order,
    where it was checked (WGS84; a site's centroid), the rows per status and per quartier (placed
    rows) of the summary, and the sites' polygons (None, or None for the rows that are not sites). Statuses are integers
    (:data:`VOCABULARY`) until the columns are made; the result columns are Arrow text, written
    as they are. Notes are in ``lang`` (:data:`qpvgeo.present.NOTES`)."""
    table = chunk.frame
    if geometry_col is not None and chunk.lon is None:
        chunk = _located_by_text(chunk, geometry_col, crs, geometry_lat_first, geometry_sites)
    _tables.check_columns_free(table.columns, RESULT_COLUMNS + (SITE_COLUMNS if chunk.site_columns else []),
                               path_name="the input")
    n = len(table)
    status = np.zeros(n, dtype=np.int8)  # VOCABULARY codes; 0: not decided yet
    note = np.full(n, "", dtype=object)
    out = table.copy()
    bad = chunk.bad_line if chunk.bad_line is not None else np.zeros(n, dtype=np.int64)
    unreadable = bad > 0
    site = np.zeros(n, dtype=bool)  # rows that are polygons: checked as sites
    if chunk.lon is not None:
        lon, lat = chunk.lon.copy(), chunk.lat.copy()
        shape = chunk.shape if chunk.shape is not None else np.zeros(n, dtype=np.int8)
        site = shape == _tables.SHAPE_SITE
        unread = shape == _tables.SHAPE_UNREADABLE
        missing = (np.isnan(lon) | np.isnan(lat)) & ~site & ~unread
        status[missing] = _V["no_coordinates"]
        for code, key in _NO_POINT.items():
            note[missing & (shape == code)] = _note(key, lang)
        if unread.any():
            status[unread] = _V["invalid_coordinates"]
            quote = "« {} »" if lang == "fr" else "{!r}"
            note[unread] = [_note("not_a_place_text", lang, value=quote.format(v[:80]))
                            for v in table[geometry_col].astype(str).to_numpy()[unread]]
        _check_range(lon, lat, status, note, lang)
    elif lon_col and lat_col:
        for c in (lon_col, lat_col):
            if c not in table.columns:
                raise InputError(f"column {c!r} is not in the file; its columns are {list(table.columns)}",
                                 fr=f"la colonne « {c} » n'est pas dans le fichier ; ses colonnes sont "
                                    f"{', '.join(map(str, table.columns))}")
        lon, lat = _parse_xy(table[lon_col], table[lat_col], crs, status, note, lang)
    elif address_cols:
        missing_cols = [c for c in address_cols + [citycode_col, postcode_col] if c and c not in table.columns]
        if missing_cols:
            raise InputError(f"column(s) {missing_cols} are not in the file; its columns are {list(table.columns)}")
        lon, lat = _geocode(table, address_cols, citycode_col, postcode_col, geocoder, status, note, out,
                            skip=unreadable, lang=lang)
    else:
        raise InputError("say where the locations are: coordinate columns (lon_col/lat_col, --lon-col/--lat-col) "
                         "or address columns (address_cols, --address-cols)")
    status[unreadable] = _V["unreadable_row"]
    if unreadable.any():
        fields = chunk.bad_fields if chunk.bad_fields is not None else np.zeros(n, dtype=np.int64)
        note[unreadable] = [_note("too_many_fields", lang, line=line, fields=f, header=len(table.columns)) if f
                            else _note("unreadable_row", lang) for line, f in zip(bad[unreadable], fields[unreadable])]
    lon = np.where(unreadable, np.nan, lon)
    lat = np.where(unreadable, np.nan, lat)
    if chunk.recoded is not None and chunk.recoded.any():
        r = chunk.recoded
        note[r] = [_and(x, _note("recoded", lang), lang) for x in note[r]]

    idx = np.flatnonzero((status == 0) & np.isfinite(lon) & np.isfinite(lat))
    res = checker.codes_lonlat(lon[idx], lat[idx])
    status[idx] = res.status  # the core's integer statuses are the first of VOCABULARY
    # swapped latitude/longitude: outside every territory as given, inside one when swapped
    outside = idx[res.status == _V["outside_territory"]]
    if outside.size:
        swapped = np.zeros(outside.size, dtype=bool)
        for t in TERRITORIES:
            swapped |= t.contains_lonlat(lat[outside], lon[outside])
        status[outside[swapped]] = _V["swapped_coordinates"]
        note[outside[swapped]] = _note("swapped", lang)
    decided = _DECIDED[status]
    row = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    row[idx], dist[idx] = res.row, res.dist
    row[~decided] = -1
    dist[~decided] = np.nan
    pp, pq, pm = res.pairs
    keep = decided[idx[pp]]
    pairs = (idx[pp[keep]], checker.codes[pq[keep]], pm[keep])
    sites = None
    if chunk.site_columns or site.any():
        sites, site_pairs = _check_sites(chunk.sites, np.flatnonzero(site), checker, status, row, dist, lon, lat)
        pairs = tuple(np.concatenate([a, b]) for a, b in zip(pairs, site_pairs))
        by_row = np.argsort(pairs[0], kind="stable")  # grouped by row, each one's nearest first
        pairs = tuple(a[by_row] for a in pairs)
    quart = quartiers_text(pairs, n)
    imp = np.flatnonzero((status == _V["geocode_imprecise"]) & np.isfinite(lon) & np.isfinite(lat))
    if imp.size:
        # the vague point is reported for a person to judge, but the row is not decided
        r = checker.check_lonlat(lon[imp], lat[imp], with_quartiers=False)
        for i, st, c, d in zip(imp, r.status, r.code_qp, r.distance_m):
            words = status_fr(st, checker.rule.band_m) if lang == "fr" else st
            hint = (_note("would_be", lang, status=words, code=c, distance=number(d, lang)) if c
                    else _note("would_be_alone", lang, status=words))
            note[i] = _and(note[i], hint, lang)

    yes = checker.rule.eligible(np.asarray(VOCABULARY, dtype=object))
    out["qpv_status"] = _text(_VOCAB_ARROW.take(pa.array(status)))
    out["qpv_eligible"] = pd.arrays.BooleanArray(np.asarray(yes == True)[status],  # noqa: E712 (an object array)
                                                 np.asarray([v is None for v in yes])[status])
    at = pa.array(row + 1)
    for name in ("code", "nom", "classe"):
        column = pa.array(checker.texts_by_row[name], type=pa.large_string())
        out[f"qpv_{name}"] = _text(column.take(at))
    out["qpv_distance_m"] = dist
    out["qpv_quartiers"] = _text(quart)
    out["qpv_note"] = _text(_sparse_text(note))
    if chunk.site_columns:
        for name, values in sites.items():
            out[name] = values
    per_status = np.bincount(status, minlength=len(VOCABULARY))
    placed = row[_PLACED[status]]
    per_row = np.bincount(placed, minlength=len(checker.codes)) if placed.size else np.zeros(0, dtype=np.int64)
    counts = ({VOCABULARY[i]: int(per_status[i]) for i in np.flatnonzero(per_status)},
              {checker.codes[i]: int(per_row[i]) for i in np.flatnonzero(per_row)})
    sites = chunk.sites if chunk.sites is not None or not chunk.site_columns else np.full(n, None, dtype=object)
    return out, lon, lat, counts, sites


_NO_POINT = {_tables.SHAPE_NONE: "no_geometry", _tables.SHAPE_POINTS: "several_points",
             _tables.SHAPE_LINE: "not_a_place", _tables.SHAPE_OTHER: "not_a_place"}
"""The note of a row whose geometry gives no point, by its shape (:data:`qpvgeo._tables.SHAPE_SITE`
rows are sites)."""


def _located_by_text(chunk: _tables.Chunk, name: str, crs, lat_first: bool, sites) -> _tables.Chunk:
    """``chunk`` with the places of its column ``name`` (WKT, GeoJSON or pairs, in ``crs`` or
    WGS84): points, sites, and the cells that are no place (:data:`qpvgeo._tables.SHAPE_UNREADABLE`)."""
    import dataclasses

    if name not in chunk.frame.columns:
        raise InputError(f"column {name!r} is not in the file; its columns are {list(chunk.frame.columns)}",
                         fr=f"la colonne « {name} » n'est pas dans le fichier ; ses colonnes sont "
                            f"{', '.join(map(str, chunk.frame.columns))}")
    geoms, written = _tables.geometries_of_text(chunk.frame[name], lat_first=lat_first)
    to_wgs84 = pyproj.Transformer.from_crs(parse_crs(crs), WGS84, always_xy=True) if crs else None
    got = _tables.located(chunk.frame, geoms, to_wgs84, site_columns=sites)
    got.shape[written & np.equal(geoms, None)] = _tables.SHAPE_UNREADABLE
    return dataclasses.replace(chunk, lon=got.lon, lat=got.lat, shape=got.shape, sites=got.sites,
                               site_columns=got.site_columns)


def _check_sites(geoms, rows, checker: Checker, status, row, dist, lon, lat):
    """The rows ``rows`` of a chunk checked as sites (``geoms``: their polygons in WGS84), by
    :meth:`Checker.check_site`, the decider of ``qpvgeo check --site``: their status, nearest
    quartier (``row``), distance and centroid (``lon``, ``lat``: where a map draws them) set in
    place. Returns the :data:`SITE_COLUMNS` (empty for the
    other rows) and the (row, code, metres) pairs of the quartiers within the band."""
    n = status.size
    numbers = {c: np.full(n, np.nan) for c in SITE_COLUMNS if c.endswith("_m2")}
    flags = {c: np.zeros(n, dtype=bool) for c in SITE_COLUMNS if not c.endswith("_m2")}
    known = {c: np.zeros(n, dtype=bool) for c in flags}
    pairs: tuple[list, list, list] = ([], [], [])
    for i in rows:
        r = checker.check_site(geoms[i], crs=WGS84)
        status[i] = _V[r["status"]]
        lon[i], lat[i] = r["centroid"]["lon"], r["centroid"]["lat"]
        if r["code_qp"] is not None:
            row[i], dist[i] = checker.row_of(r["code_qp"]), r["distance_m"]
        numbers["site_area_m2"][i] = np.nan if r["area_m2"] is None else r["area_m2"]
        for prefix, key in _SITE_KEYS.items():
            part = r[key]
            numbers[f"{prefix}_area_m2"][i] = np.nan if part["area_m2"] is None else part["area_m2"]
            for what in ("any_part", "centroid", "whole"):
                if part[what] is not None:
                    flags[f"{prefix}_{what}"][i], known[f"{prefix}_{what}"][i] = part[what], True
        for q in r["quartiers"]:
            for into, value in zip(pairs, (i, q["code_qp"], q["distance_m"])):
                into.append(value)
    columns = {c: numbers[c] if c in numbers else pd.arrays.BooleanArray(flags[c], ~known[c]) for c in SITE_COLUMNS}
    return columns, (np.asarray(pairs[0], dtype=np.int64), np.asarray(pairs[1], dtype=object),
                     np.asarray(pairs[2], dtype=float))


def _and(first: str, then: str, lang: str) -> str:
    """Two notes of one row, in one text."""
    return first + (" ; " if lang == "fr" else "; ") + then if first else then


def _sparse_text(values: np.ndarray):
    """An Arrow text array of an object array of mostly empty strings (notes), made from the
    others only."""
    filled = np.flatnonzero(values.astype(bool))
    pos = np.zeros(values.size, dtype=np.int64)
    pos[filled] = np.arange(1, filled.size + 1)
    return pa.array([""] + list(values[filled]), type=pa.large_string()).take(pa.array(pos))


def _text(values):
    """A text column from an Arrow array (pandas' Arrow-backed strings: written without a copy)."""
    return pd.array(values, dtype=_tables._text_dtype())


def _check_range(lon, lat, status, note, lang="en") -> None:
    """Coordinates that cannot be degrees: invalid, with the hint to give the CRS (CSV and
    vector files alike)."""
    finite = np.isfinite(lon) & np.isfinite(lat)
    out_of_range = (status == 0) & finite & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    status[out_of_range] = _V["invalid_coordinates"]
    note[out_of_range] = _note("out_of_range", lang)
    lon[out_of_range] = np.nan
    lat[out_of_range] = np.nan


def _parse_xy(xs: pd.Series, ys: pd.Series, crs, status, note, lang="en") -> tuple[np.ndarray, np.ndarray]:
    x, x_empty = _tables.to_float(xs)
    y, y_empty = _tables.to_float(ys)
    empty = x_empty | y_empty
    status[empty] = _V["no_coordinates"]
    x_bad, y_bad = ~np.isfinite(x), ~np.isfinite(y)
    bad = ~empty & (x_bad | y_bad)
    status[bad] = _V["invalid_coordinates"]
    if bad.any():  # the value(s) that are not numbers, by column
        quote = "« {} »" if lang == "fr" else "{!r}"
        named = [[f"{col} {quote.format(v)}" for col, v, no in ((xs.name, a, ba), (ys.name, b, bb)) if no]
                 for a, b, ba, bb in zip(xs[bad], ys[bad], x_bad[bad], y_bad[bad])]
        note[bad] = [_note("not_a_number", lang, values=", ".join(parts)) for parts in named]
    if crs:
        t = pyproj.Transformer.from_crs(parse_crs(crs), WGS84, always_xy=True)
        lon, lat = t.transform(x, y)
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        lost = (status == 0) & ~(np.isfinite(lon) & np.isfinite(lat))
        status[lost] = _V["invalid_coordinates"]
        note[lost] = _note("not_convertible", lang, crs=crs)
    else:
        lon, lat = x.copy(), y.copy()
        _check_range(lon, lat, status, note, lang)
    lon = np.where(status == 0, lon, np.nan)
    lat = np.where(status == 0, lat, np.nan)
    return lon, lat


def _geocode(table, address_cols, citycode_col, postcode_col, geocoder, status, note, out, *, skip=None,
             lang="en"):
    from .geocode import BanClient

    n = len(table)
    parts = [table[c].astype(str).fillna("") for c in address_cols]
    joined = parts[0].str.cat(parts[1:], sep=" ") if len(parts) > 1 else parts[0]
    queries = joined.str.replace(r"\s+", " ", regex=True).str.strip().tolist()
    if skip is not None and skip.any():
        queries = [("" if s else q) for q, s in zip(queries, skip)]
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    geocoder = geocoder or BanClient()
    results = geocoder.search_many(
        queries,
        citycodes=table[citycode_col].tolist() if citycode_col else None,
        postcodes=table[postcode_col].tolist() if postcode_col else None,
    )
    labels, scores, types = [], [], []
    for i, (q, r) in enumerate(zip(queries, results)):
        labels.append(r.label)
        scores.append(r.score)
        types.append(r.type)
        if not q:
            status[i] = _V["no_address"]
            continue
        status[i] = _V[r.row_status]
        if r.status == "failed":
            reason = r.reason or _note("geocode_no_answer")
            key = note_key(reason)  # a reason of qpvgeo's own is put in words; a service's is quoted
            note[i] = _note("geocode_failed", lang, reason=_note(key, lang) if key else reason)
        elif r.status in ("ok", "imprecise"):
            lon[i], lat[i] = r.lon, r.lat
            if r.status == "imprecise":
                note[i] = _note("geocode_vague", lang, type=r.type,
                                score=number(r.score, lang, 2))
    out["geo_lon"] = lon
    out["geo_lat"] = lat
    out["geo_label"] = labels
    out["geo_score"] = pd.array(scores, dtype="Float64")
    out["geo_type"] = types
    # imprecise points are kept for the note, but not decided
    return lon, lat


# ---------------------------------------------------------------------------- whole file
def _prepare(in_path, options: dict, *, layer, sheet=None, settings=None):
    """(local path, CSV format or None) of an input, checked at the door; a geocoder is added to
    ``options`` when addresses are to be geocoded."""
    path = _tables.local_input(in_path, settings=settings)
    ext = path.suffix.lower()
    if ext not in _tables.TABLE_EXT + _tables.VECTOR_EXT:
        raise InputError(f"cannot read {path.name}: give a .csv, .xlsx, .ods, .geojson, .gpkg, .shp, .fgb or "
                         ".parquet file", fr=f"impossible de lire {path.name} : donnez un fichier .csv, .xlsx, .ods, "
                         ".geojson, .gpkg, .shp, .fgb ou .parquet")
    fmt = _tables.sniff_csv(path) if ext in _tables.CSV_EXT else None
    header = fmt.header if fmt is not None else (_tables.sheet_header(path, sheet)[1] if ext in _tables.SHEET_EXT
                                                 else None)
    located = None
    ways = [w for w, keys in (("--lon-col/--lat-col", ("lon_col", "lat_col")), ("--geometry-col", ("geometry_col",)),
                              ("--address-cols", ("address_cols",))) if any(options.get(k) for k in keys)]
    if len(ways) > 1:
        raise InputError(f"say where the locations are in one way: {' or '.join(ways)}, not both",
                         fr=f"indiquez les lieux d'une seule façon : {' ou '.join(ways)}, pas les deux")
    given = options.get("lon_col") or options.get("lat_col") or options.get("address_cols")
    if header is not None and (options.get("geometry_col") or not given):
        try:
            first = next(iter(_tables.iter_chunks(path, chunk_rows=2000, csv_format=fmt, sheet=sheet)))
        except _tables.MalformedCsv:
            first = next(iter(_tables.iter_chunks(path, chunk_rows=2000, csv_format=fmt, robust=True)))
        if options.get("geometry_col"):  # named: how its cells read, from its first rows
            name = options["geometry_col"]
            if name not in header:
                raise InputError(f"column {name!r} is not in the file; its columns are {list(header)}")
            found = columns.read_geometry_column(name, first.frame, crs=options.get("crs"))
            found.pop("polygons")
        else:
            found = columns.find_locations(header, first.frame)
        located = {"how": found.pop("how"), **found}
        options.update({k: v for k, v in found.items() if v is not None})
        log.info("%s: %s", path.name, located["how"])
    if header is not None:
        _tables.check_columns_free(header, RESULT_COLUMNS + (GEOCODE_COLUMNS if options.get("address_cols") else [])
                                   + (SITE_COLUMNS if options.get("geometry_sites") else []), path_name=path.name)
    if options.get("crs"):
        parse_crs(options["crs"])  # an unknown CRS is a one-line error before any work
    if options.get("address_cols") and options.get("geocoder") is None:
        from .geocode import BanClient

        options["geocoder"] = BanClient()
    return path, fmt, located


def _chunks(path, fmt, *, chunk_rows, layer, sheet=None):
    """The chunks of an input; a CSV row the fast reader cannot parse restarts the reading row by row."""
    try:
        yield from _tables.iter_chunks(path, chunk_rows=chunk_rows, layer=layer, csv_format=fmt, sheet=sheet)
    except _tables.MalformedCsv as exc:
        raise _Restart(str(exc)) from None


class _Restart(Exception):
    pass


def check_rows(in_path: str | Path, checker: Checker, *, layer: str | None = None, sheet=None, **options):
    """Check every row of a (small) file and return ``(frame, lon, lat)`` without writing
    anything: the frame of :func:`check_table` and the WGS84 location of each row (NaN where
    unknown). Maps use it to draw what :func:`check_file` would write."""
    path, fmt, _ = _prepare(in_path, options, layer=layer, sheet=sheet)
    for robust in (False, True):
        try:
            parts = [_check_chunk(c, checker, **options) for c in (
                _tables.iter_chunks(path, layer=layer, csv_format=fmt, robust=True, sheet=sheet) if robust
                else _chunks(path, fmt, chunk_rows=100_000, layer=layer, sheet=sheet))]
            break
        except _Restart as exc:
            log.warning("%s: %s; reading it again row by row", path.name, exc)
    frame = pd.concat([p[0] for p in parts], ignore_index=True) if len(parts) > 1 else parts[0][0]
    return frame, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def check_file(
    in_path: str | Path,
    out_path: str | Path,
    checker: Checker,
    *,
    chunk_rows: int = 100_000,
    overwrite: bool = False,
    progress: bool = True,
    layer: str | None = None,
    sheet: str | int | None = None,
    max_rows: int | None = None,
    on_progress=None,
    lang: str | None = None,
    excel: bool = False,
    names: tuple[str, str] | None = None,
    **options,
) -> dict:
    """Check every row of ``in_path`` and write ``out_path`` (CSV, xlsx, GeoJSON or GPKG, atomically).

    ``in_path`` is a path or an http(s) URL (downloaded into the cache): CSV, xlsx/ods/xls, GeoJSON,
    GPKG, SHP, FlatGeobuf. ``options`` are those of :func:`check_table`; without them the location
    columns are recognised (:func:`qpvgeo.columns.find_locations`). ``layer`` picks the layer of a
    multi-layer input, ``sheet`` the sheet of a spreadsheet (a name or a number from 1; default the
    first). ``lang="fr"`` writes French column names, status words and ``oui``/``non`` in CSV and
    xlsx (default: the ``lang`` setting); ``excel`` writes CSV for French Excel (UTF-8 with BOM,
    ``;``, decimal commas); GeoJSON and GeoPackage keep the English codes. ``max_rows`` refuses a
    larger file (nothing is written); ``on_progress(rows_done)`` is called after each chunk.
    ``names``: the (input, output) the summary names instead of the paths (a server's upload and
    download names: its own folders are not told).

    Returns
    -------
    dict
        ``input``, ``output``, ``rows`` (= input rows), ``located_by`` (when the locations were not
        given: the columns and CRS recognised, and ``how`` in words; else None), ``statuses``
        (count per status, largest first), ``quartiers`` (count per quartier of the rows in it or in
        its band), ``rule``.
    """
    if chunk_rows < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk_rows}")
    out_path = Path(out_path)
    ext = out_path.suffix.lower()
    if ext not in _tables.OUTPUT_EXT:
        raise InputError(f"cannot write {out_path.name}: use a .csv, .xlsx, .geojson, .gpkg or .parquet name")
    from . import config, present

    lang = present.check_lang(lang or config.get_settings().lang)
    path, fmt, located = _prepare(in_path, options, layer=layer, sheet=sheet)
    # notes for people in their language (CSV, xlsx); machine formats keep English throughout
    options = {**options, "lang": lang if ext in (".csv", ".xlsx") else "en"}
    people = None
    if lang == "fr" or excel:
        def people(frame, cells):
            return present.for_people(frame, lang=lang, excel=excel, band_m=checker.rule.band_m, cells=cells)
    if path.resolve() == out_path.expanduser().resolve():
        raise InputError("the output file must differ from the input file")
    _io.check_target(out_path, overwrite=overwrite)
    from tqdm.auto import tqdm

    try:
        for robust in (False, True):
            statuses: Counter = Counter()
            quartiers: Counter = Counter()
            rows = 0
            bar = tqdm(unit=" rows", desc="checking", disable=None if progress else True, leave=False)
            try:
                with _io.atomic_path(out_path, overwrite=overwrite) as tmp:
                    delimiter = ";" if excel else (fmt.delimiter if fmt else ",")
                    writer = _tables.TableWriter(tmp, ext, delimiter=delimiter,
                                                 number_columns=(options.get("lon_col"), options.get("lat_col")),
                                                 present=people, bom=excel, lang=lang)
                    chunks = (_tables.iter_chunks(path, chunk_rows=chunk_rows, layer=layer, csv_format=fmt,
                                                  robust=True, sheet=sheet) if robust
                              else _chunks(path, fmt, chunk_rows=chunk_rows, layer=layer, sheet=sheet))
                    with writer:  # on any failure its handles are closed before the partial file goes
                        for res, lon, lat, (per_status, per_quartier), sites in _in_order(
                                _limited(chunks, max_rows, path.name), checker, options):
                            rows += len(res)
                            statuses.update(per_status)
                            quartiers.update(per_quartier)
                            writer.write(res, lon, lat, sites)
                            bar.update(len(res))
                            if on_progress is not None:
                                on_progress(rows)
                        writer.close(_summary(*(names or (in_path, out_path)), rows, statuses, quartiers, checker,
                                              located))
                break
            except _Restart as exc:
                log.warning("%s: %s; reading it again row by row", path.name, exc)
            finally:
                bar.close()
    finally:
        geocoder = options.get("geocoder")
        if geocoder is not None:
            geocoder.close()
    return _summary(*(names or (in_path, out_path)), rows, statuses, quartiers, checker, located)


def _limited(chunks, max_rows, name):
    seen = 0
    for chunk in chunks:
        seen += len(chunk.frame)
        if max_rows is not None and seen > max_rows:
            raise InputError(f"{name} has more than {max_rows} rows, the limit here; split the file",
                             fr=f"{name} a plus de {max_rows:,} lignes, la limite ici ; découpez-le".replace(",", " "))
        yield chunk


def _in_order(chunks, checker, options):
    """``_check_chunk`` over the chunks, the next ones classified while the current one is
    written (the ``threads`` setting; geocoded files one chunk at a time, the geocoder paces
    itself): results come back in the input's order, with at most ``threads`` + 1 chunks held."""
    import itertools

    from . import config

    ahead = config.threads() if options.get("geocoder") is None else 1
    chunks = iter(chunks)
    first = list(itertools.islice(chunks, 2))
    if ahead <= 1 or len(first) < 2:  # one chunk (a small file): classified here, on every core
        for chunk in itertools.chain(first, chunks):
            yield _check_chunk(chunk, checker, **options)
        return
    chunks = itertools.chain(first, chunks)
    from collections import deque

    from ._parallel import pool
    from .eligibility import one_openmp_thread

    workers = pool("chunks", ahead, initializer=one_openmp_thread)  # the chunks share the cores
    queue: deque = deque()
    try:
        for chunk in chunks:
            queue.append(workers.submit(_check_chunk, chunk, checker, **options))
            if len(queue) > ahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()
    finally:
        for f in queue:
            f.cancel()
        for f in queue:  # nothing of this file runs on once it is closed
            if not f.cancelled():
                f.exception()


def _summary(in_path, out_path, rows, statuses, quartiers, checker, located=None) -> dict:
    return {
        "input": os.fspath(in_path), "output": os.fspath(out_path), "rows": rows,
        "located_by": located,
        "statuses": dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        "quartiers": dict(sorted(quartiers.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rule": checker.rule_dict(),
    }
