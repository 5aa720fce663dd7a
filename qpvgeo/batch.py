"""Eligibility of a whole file: CSV (any delimiter, UTF-8 or latin-1, with or without BOM),
GeoJSON or GeoPackage in; the same rows out, in the same order, with the result columns added.

Every input row gives exactly one output row. A row that cannot be decided says why in
``qpv_status``: ``no_coordinates``, ``invalid_coordinates``, ``swapped_coordinates``,
``no_address``, ``geocode_not_found``, ``geocode_imprecise``, ``geocode_failed``, ``not_covered``,
``outside_territory``. CSV and GeoPackage are read and written in chunks, so memory does not
grow with the file; results do not depend on the chunk size.
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj

from . import _io
from .crs import TERRITORIES, WGS84
from .eligibility import Checker
from .errors import InputError
from .geocode import BanClient

log = logging.getLogger(__name__)

RESULT_COLUMNS = ["qpv_status", "qpv_eligible", "qpv_code", "qpv_nom", "qpv_classe",
                  "qpv_distance_m", "qpv_quartiers", "qpv_note"]
GEOCODE_COLUMNS = ["geo_lon", "geo_lat", "geo_label", "geo_score", "geo_type"]
UNDECIDED = ("no_coordinates", "invalid_coordinates", "swapped_coordinates", "no_address",
             "geocode_not_found", "geocode_imprecise", "geocode_failed")


# ---------------------------------------------------------------------------- reading
def sniff_csv(path: Path) -> tuple[str, str]:
    """(encoding, delimiter) of a CSV file: UTF-8 (BOM or not), else cp1252/latin-1."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        encoding = "utf-8"
        dec = codecs.getincrementaldecoder("utf-8")()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    dec.decode(block)
                dec.decode(b"", final=True)
        except UnicodeDecodeError:
            encoding = "cp1252"
            try:
                with open(path, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        block.decode("cp1252")
            except UnicodeDecodeError:
                encoding = "latin-1"
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(64 * 1024)
    if not sample.strip():
        raise InputError(f"{path} is empty")
    try:
        delimiter = csv.Sniffer().sniff(sample.split("\n", 20)[0] + "\n", delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return encoding, delimiter


def iter_chunks(path: str | Path, *, chunk_rows: int = 100_000, layer: str | None = None,
                csv_format: tuple[str, str] | None = None
                ) -> Iterator[tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]]:
    """Yield (attributes, lon, lat) chunks of an input file, streaming.

    CSV: every column as text, lon/lat None (``csv_format`` = (encoding, delimiter) when already
    sniffed). GeoJSON, GPKG: the attributes, and lon/lat of point geometries in WGS84 (NaN for a
    missing or non-point geometry).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input file {str(path)!r} does not exist")
    ext = p.suffix.lower()
    if ext in (".csv", ".txt", ".tsv"):
        encoding, delimiter = csv_format or sniff_csv(p)
        with pd.read_csv(p, sep=delimiter, encoding=encoding, dtype=str, keep_default_na=False,
                         chunksize=chunk_rows) as reader:
            for chunk in reader:
                yield chunk, None, None
        return
    if ext not in (".geojson", ".json", ".gpkg"):
        raise InputError(f"cannot read {p.name}: give a .csv, .geojson or .gpkg file")
    import shapely

    try:
        source = pyogrio.open_arrow(p, layer=layer, batch_size=chunk_rows, use_pyarrow=True)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"cannot read {p.name}: {exc}") from exc
    with source as (meta, reader):
        if not meta.get("crs"):
            raise InputError(f"{p.name} has no CRS: set one (e.g. with ogr2ogr -a_srs EPSG:2154)")
        to_wgs84 = pyproj.Transformer.from_crs(meta["crs"], WGS84, always_xy=True)
        geom_col = meta.get("geometry_name") or "wkb_geometry"
        for batch in reader:
            names = batch.schema.names
            geoms = shapely.from_wkb(batch.column(names.index(geom_col)).to_numpy(zero_copy_only=False))
            attrs = batch.drop_columns([geom_col]).to_pandas() if hasattr(batch, "drop_columns") else \
                batch.to_pandas().drop(columns=[geom_col])
            attrs = attrs.astype(object).where(attrs.notna(), "").astype(str)
            is_point = shapely.get_type_id(geoms) == 0
            x = np.where(is_point, shapely.get_x(geoms), np.nan)
            y = np.where(is_point, shapely.get_y(geoms), np.nan)
            lon, lat = to_wgs84.transform(x, y)
            yield attrs, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, empty mask); decimal commas accepted; text gives NaN."""
    try:  # fast path: a clean column of numbers
        out = values.to_numpy(dtype=object).astype(float)
        return out, np.zeros(len(out), dtype=bool)
    except (TypeError, ValueError):
        pass
    s = values.astype(str).str.strip()
    empty = (s == "") | s.str.lower().isin(["nan", "none", "null", "na"])
    s = s.where(~(s.str.count(",") == 1) | s.str.contains(r"\.", regex=True), s.str.replace(",", ".", regex=False))
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), empty.to_numpy()


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
    geocoder: BanClient | None = None,
    lonlat: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The rows of ``table`` with the result columns added (a new frame; same order, same length).

    Coordinates come from ``lonlat`` (geometries), from ``lon_col``/``lat_col`` (WGS84, or x/y in
    ``crs``), or from ``address_cols`` geocoded with the BAN.
    """
    n = len(table)
    status = np.full(n, "", dtype=object)
    note = np.full(n, "", dtype=object)
    out = table.copy()
    if lonlat is not None:
        lon, lat = lonlat
        status[np.isnan(lon)] = "no_coordinates"
        note[np.isnan(lon)] = "no point geometry"
    elif lon_col and lat_col:
        for c in (lon_col, lat_col):
            if c not in table.columns:
                raise InputError(f"column {c!r} is not in the file; its columns are {list(table.columns)}")
        lon, lat = _parse_xy(table[lon_col], table[lat_col], crs, status, note)
    elif address_cols:
        missing = [c for c in address_cols + [citycode_col, postcode_col] if c and c not in table.columns]
        if missing:
            raise InputError(f"column(s) {missing} are not in the file; its columns are {list(table.columns)}")
        lon, lat = _geocode(table, address_cols, citycode_col, postcode_col, geocoder, status, note, out)
    else:
        raise InputError("say where the locations are: --lon-col/--lat-col, or --address-cols")

    todo = (status == "") & np.isfinite(lon) & np.isfinite(lat)
    res = checker.check_lonlat(lon[todo], lat[todo])
    idx = np.flatnonzero(todo)
    status[idx] = res.status
    # swapped latitude/longitude: outside every territory as given, inside one when swapped
    outside = idx[res.status == "outside_territory"]
    if outside.size:
        swapped = np.zeros(outside.size, dtype=bool)
        for t in TERRITORIES:
            swapped |= t.contains_lonlat(lat[outside], lon[outside])
        status[outside[swapped]] = "swapped_coordinates"
        note[outside[swapped]] = "longitude and latitude look swapped; fix the columns or the values"
    decided = np.isin(status, ["in_qpv", "in_band", "in_qic", "in_fragile", "outside"])
    code = np.full(n, "", dtype=object)
    name = np.full(n, "", dtype=object)
    classe = np.full(n, "", dtype=object)
    dist = np.full(n, np.nan)
    quart = np.full(n, "", dtype=object)
    code[idx], name[idx], classe[idx], dist[idx] = res.code_qp, res.nom_qp, res.classe, res.distance_m
    for i, q in zip(idx, res.quartiers):
        if q:
            quart[i] = ";".join(f"{c}:{d:g}" for c, d in q)
    keep = decided
    for arr in (code, name, classe, quart):
        arr[~keep] = ""
    dist[~keep] = np.nan
    imp = np.flatnonzero((status == "geocode_imprecise") & np.isfinite(lon) & np.isfinite(lat))
    if imp.size:
        # the vague point is reported for a person to judge, but the row is not decided
        r = checker.check_lonlat(lon[imp], lat[imp], with_quartiers=False)
        for i, st, c, d in zip(imp, r.status, r.code_qp, r.distance_m):
            note[i] = (note[i] + "; " if note[i] else "") + f"approximate point would be {st} {c} at {d:g} m"
    def text(values):  # object columns: no conversion cost here, pyarrow converts on writing
        return pd.Series(values, index=out.index, dtype=object)

    out["qpv_status"] = text(status)
    out["qpv_eligible"] = pd.array(np.where(decided, np.isin(status, ["in_qpv", "in_band"]), None),
                                   dtype="boolean")
    out["qpv_code"] = text(code)
    out["qpv_nom"] = text(name)
    out["qpv_classe"] = text(classe)
    out["qpv_distance_m"] = dist
    out["qpv_quartiers"] = text(quart)
    out["qpv_note"] = text(note)
    out.attrs["lonlat"] = (lon, lat)
    return out


def _write_csv_chunk(frame: pd.DataFrame, path: Path, delimiter: str, writer):
    """Append a chunk to a CSV with pyarrow's (multi-threaded) writer; returns the writer."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type)
                                  for f in table.schema]))
    if writer is None:
        writer = (pacsv.CSVWriter(str(path), table.schema, write_options=pacsv.WriteOptions(
            delimiter=delimiter, quoting_style="needed")), table.schema)
    elif table.schema != writer[1]:
        table = table.cast(writer[1])
    writer[0].write_table(table)
    return writer


def _parse_xy(xs: pd.Series, ys: pd.Series, crs, status, note) -> tuple[np.ndarray, np.ndarray]:
    x, x_empty = _to_float(xs)
    y, y_empty = _to_float(ys)
    empty = x_empty | y_empty
    status[empty] = "no_coordinates"
    bad = ~empty & (np.isnan(x) | np.isnan(y) | ~np.isfinite(x) | ~np.isfinite(y))
    status[bad] = "invalid_coordinates"
    note[bad] = [f"not numbers: {a!r}, {b!r}" for a, b in zip(xs[bad], ys[bad])]
    if crs:
        t = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        lon, lat = t.transform(x, y)
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    else:
        lon, lat = x, y
        out_of_range = ~empty & ~bad & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
        status[out_of_range] = "invalid_coordinates"
        note[out_of_range] = "longitude must be within ±180 and latitude within ±90 (WGS84 degrees); " \
                             "for projected x/y give --crs"
    lon = np.where(status == "", lon, np.nan)
    lat = np.where(status == "", lat, np.nan)
    return lon, lat


def _geocode(table, address_cols, citycode_col, postcode_col, geocoder, status, note, out):
    n = len(table)
    parts = [table[c].astype(str).fillna("") for c in address_cols]
    joined = parts[0].str.cat(parts[1:], sep=" ") if len(parts) > 1 else parts[0]
    queries = joined.str.replace(r"\s+", " ", regex=True).str.strip().tolist()
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
            status[i] = "no_address"
        elif r.status == "not_found":
            status[i] = "geocode_not_found"
        elif r.status == "failed":
            status[i] = "geocode_failed"
            note[i] = "the address service did not answer for this row; run again to retry"
        else:
            lon[i], lat[i] = r.lon, r.lat
            if r.status == "imprecise":
                status[i] = "geocode_imprecise"
                note[i] = f"match of type {r.type!r}, score {r.score:.2f}: too vague to decide"
    out["geo_lon"] = lon
    out["geo_lat"] = lat
    out["geo_label"] = labels
    out["geo_score"] = pd.array(scores, dtype="Float64")
    out["geo_type"] = types
    # imprecise points are kept for the note, but not decided
    return lon, lat


# ---------------------------------------------------------------------------- whole file
def check_file(
    in_path: str | Path,
    out_path: str | Path,
    checker: Checker,
    *,
    chunk_rows: int = 100_000,
    overwrite: bool = False,
    progress: bool = True,
    layer: str | None = None,
    **options,
) -> dict:
    """Check every row of ``in_path`` and write ``out_path`` (CSV, GeoJSON or GPKG, atomically).

    ``options`` are those of :func:`check_table`. Returns a summary: rows, counts per status and
    per quartier, and the rule used.
    """
    if chunk_rows < 1:
        raise InputError(f"chunk size must be >= 1, got {chunk_rows}")
    out_path = Path(out_path)
    ext = out_path.suffix.lower()
    if ext not in (".csv", ".geojson", ".json", ".gpkg"):
        raise InputError(f"cannot write {out_path.name}: use a .csv, .geojson or .gpkg name")
    if Path(in_path).resolve() == out_path.resolve():
        raise InputError("the output file must differ from the input file")
    if options.get("address_cols") and options.get("geocoder") is None:
        options["geocoder"] = BanClient()
    statuses: Counter = Counter()
    quartiers: Counter = Counter()
    rows = 0
    delimiter, csv_format = ",", None
    if Path(in_path).suffix.lower() in (".csv", ".txt", ".tsv"):
        csv_format = sniff_csv(Path(in_path))
        delimiter = csv_format[1]
    from tqdm.auto import tqdm

    bar = tqdm(unit=" rows", desc="checking", disable=None if progress else True, leave=False)
    geo_parts = []
    writer = None
    with _io.atomic_path(out_path, overwrite=overwrite) as tmp:
        first = True
        for attrs, lon, lat in iter_chunks(in_path, chunk_rows=chunk_rows, layer=layer, csv_format=csv_format):
            lonlat = (lon, lat) if lon is not None else None
            res = check_table(attrs, checker, lonlat=lonlat, **options)
            rows += len(res)
            statuses.update(res["qpv_status"].value_counts().to_dict())
            placed = res["qpv_status"].isin(["in_qpv", "in_band", "in_qic", "in_fragile"])
            quartiers.update(res.loc[placed, "qpv_code"].value_counts().to_dict())
            if ext == ".csv":
                res.attrs.pop("lonlat", None)
                writer = _write_csv_chunk(res, tmp, delimiter, writer)
            else:
                plon, plat = res.attrs.pop("lonlat")
                gdf = gpd.GeoDataFrame(res, geometry=gpd.points_from_xy(plon, plat), crs=WGS84)
                gdf.loc[~np.isfinite(plon) | ~np.isfinite(plat), "geometry"] = None
                gdf["qpv_eligible"] = gdf["qpv_eligible"].astype(object).where(gdf["qpv_eligible"].notna(), None)
                if ext == ".gpkg":
                    gdf.to_file(tmp, driver="GPKG", layer="eligibilite", engine="pyogrio", append=not first)
                else:
                    geo_parts.append(gdf)
            first = False
            bar.update(len(res))
        if ext in (".geojson", ".json"):
            whole = pd.concat(geo_parts, ignore_index=True) if geo_parts else gpd.GeoDataFrame(geometry=[])
            gpd.GeoDataFrame(whole, crs=WGS84).to_file(tmp, driver="GeoJSON", engine="pyogrio")
        if writer is not None:
            writer[0].close()
        if first:  # no row at all: still write a file with the header
            pd.DataFrame(columns=RESULT_COLUMNS).to_csv(tmp, index=False)
    bar.close()
    geocoder = options.get("geocoder")
    if geocoder is not None:
        geocoder.close()
    return {
        "input": os.fspath(in_path), "output": os.fspath(out_path), "rows": rows,
        "statuses": dict(sorted(statuses.items(), key=lambda kv: -kv[1])),
        "quartiers": dict(sorted(quartiers.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rule": checker.rule_dict(),
    }
