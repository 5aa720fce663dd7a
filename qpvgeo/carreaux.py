"""INSEE Filosofi 200 m carreaux ("données carroyées"), as published, into one frame.

Reads the CSV files (2017/2019 capitalised columns, 2021 lower-case; latin-1 or UTF-8; ``;`` or
``,``), GeoPackage and parquet files, and the official ZIP archives (with the ``.7z`` inside where
INSEE ships one). When a file has no geometry, each 200 m square is built from ``idcar_200m``
(``CRS3035RES200mN3098200E3776800`` = EPSG:3035, 200 m, lower-left corner y=3098200, x=3776800).

Only the territory asked for is kept, at read time: a bounding box in the grid's CRS (spatial
filter for GeoPackage, a filter on the parsed ids for CSV and parquet, read in chunks) and/or a
list of commune codes matched against ``lcog_geo``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from . import _archive, _data
from ._tables import sniff_csv
from .config import Settings, get_settings
from .errors import DataError, InputError
from .sources import filosofi_source, resolve

log = logging.getLogger(__name__)

REQUIRED = ("idcar_200m", "ind", "men", "men_pauv")
NUMERIC = ("i_est_200", "ind", "men", "men_pauv", "men_1ind", "men_5ind", "men_prop", "men_fmp",
           "ind_snv", "men_surf", "men_coll", "men_mais")
_ID_COLS = ("idcar_200m", "idinspire", "id_carr200", "idcar200")


def parse_ids(ids: pd.Series) -> pd.DataFrame:
    """Split INSEE carreau ids into ``epsg``, ``cell_m``, ``y_ll``, ``x_ll`` (NaN where invalid)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(ids.astype(str).to_numpy(dtype=object) if ids.dtype == object else ids.astype(str), type=pa.string())
    parts = pc.extract_regex(pc.utf8_trim_whitespace(arr),
                             r"^CRS(?P<epsg>\d+)RES(?P<cell>\d+)mN(?P<y>\d+)E(?P<x>\d+)$")
    out = {}
    for name, field in (("epsg", "epsg"), ("cell_m", "cell"), ("y_ll", "y"), ("x_ll", "x")):
        col = pc.struct_field(parts, field).cast(pa.float64()).to_numpy(zero_copy_only=False)
        out[name] = col
    return pd.DataFrame(out, index=ids.index)


def squares(x_ll: np.ndarray, y_ll: np.ndarray, cell_m: float = 200.0) -> np.ndarray:
    """200 m square polygons from lower-left corners (vectorised)."""
    from . import _parallel

    x, y = np.asarray(x_ll, dtype=float), np.asarray(y_ll, dtype=float)
    c = np.broadcast_to(np.asarray(cell_m, dtype=float), x.shape)
    return _parallel.chunked(lambda a, b, w: shapely.box(a, b, a + w, b + w), x, y, c)


def grid_crs(carreaux: pd.DataFrame):
    """The CRS of a table of carreaux: its geometry's, or the one its ids name (``attrs["crs"]``)
    when it was read without squares (``load_carreaux(geometry=False)``)."""
    crs = getattr(carreaux, "crs", None) if isinstance(carreaux, gpd.GeoDataFrame) else None
    return crs if crs is not None else carreaux.attrs.get("crs")


def has_square(carreaux: pd.DataFrame) -> np.ndarray:
    """True for each carreau whose id names a square (every ``id_status`` but ``invalid_id``)."""
    return (carreaux["id_status"] != "invalid_id").to_numpy()


def square_bounds(carreaux: pd.DataFrame) -> list[float]:
    """xmin, ymin, xmax, ymax of the carreaux' squares (an empty list when none has one)."""
    ok = has_square(carreaux)
    if not ok.any():
        return []
    x, y, c = (carreaux[k].to_numpy(dtype=float)[ok] for k in ("x_ll", "y_ll", "cell_m"))
    return [float(x.min()), float(y.min()), float((x + c).max()), float((y + c).max())]


def with_squares(carreaux: pd.DataFrame, rows=None) -> gpd.GeoDataFrame:
    """The carreaux (``rows`` of them: a boolean mask or positions, default all) as a
    GeoDataFrame whose geometry is each carreau's square, built from its id (none for an
    ``invalid_id``). A frame that already has its squares is returned as it is (or sliced)."""
    frame = carreaux if rows is None else carreaux.iloc[np.flatnonzero(rows) if np.asarray(rows).dtype == bool
                                                          else np.asarray(rows)]
    if isinstance(frame, gpd.GeoDataFrame) and getattr(frame, "_geometry_column_name", None) in frame.columns:
        return frame
    ok = has_square(frame)
    geom = np.full(len(frame), None, dtype=object)
    if ok.any():
        geom[ok] = squares(frame["x_ll"].to_numpy()[ok], frame["y_ll"].to_numpy()[ok], frame["cell_m"].to_numpy()[ok])
    out = gpd.GeoDataFrame(frame, geometry=geom, crs=grid_crs(carreaux))
    out.attrs = dict(carreaux.attrs)
    out.attrs.pop("crs", None)
    return out


_WKB_SQUARE = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xy", "<f8", (10,))])


def square_wkb(carreaux: pd.DataFrame):
    """Each carreau's square as ISO WKB (a pyarrow binary array, null for an ``invalid_id``),
    written from the corner coordinates with numpy: byte for byte what ``shapely.to_wkb`` gives
    for ``shapely.box`` (tested), without making 2.3 million shapely objects first."""
    import pyarrow as pa

    ok = has_square(carreaux)
    x = carreaux["x_ll"].to_numpy(dtype=float)[ok]
    y = carreaux["y_ll"].to_numpy(dtype=float)[ok]
    c = carreaux["cell_m"].to_numpy(dtype=float)[ok]
    rec = np.empty(len(x), dtype=_WKB_SQUARE)
    rec["order"], rec["type"], rec["rings"], rec["points"] = 1, 3, 1, 5  # little endian, Polygon, 1 ring, 5 points
    xy = rec["xy"]
    # shapely.box's ring: (x1, y0), (x1, y1), (x0, y1), (x0, y0), back to (x1, y0)
    xy[:, 0], xy[:, 1], xy[:, 2], xy[:, 3] = x + c, y, x + c, y + c
    xy[:, 4], xy[:, 5], xy[:, 6], xy[:, 7] = x, y + c, x, y
    xy[:, 8], xy[:, 9] = x + c, y
    size = _WKB_SQUARE.itemsize
    lengths = np.where(ok, size, 0)
    offsets = np.zeros(len(ok) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    validity = None if ok.all() else pa.array(ok).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(ok), [validity, pa.py_buffer(offsets),
                                                               pa.py_buffer(rec.view(np.uint8))],
                                 null_count=int((~ok).sum()))


class _Extent:
    """A filter box: given in the grid's CRS (``bbox``), or built from a layer in any CRS
    (``around``, plus ``margin_m``) once the grid's own CRS is known (from its ids or its layer)."""

    def __init__(self, bbox=None, around=None, margin_m: float = 400.0):
        if around is not None and getattr(around, "crs", None) is None:
            raise InputError("the layer to load carreaux around has no CRS")
        self.bbox, self.around, self.margin_m = bbox, around, margin_m
        self._cache: dict[int, tuple] = {}

    def __bool__(self) -> bool:
        return self.bbox is not None or self.around is not None

    def in_crs(self, epsg) -> tuple | None:
        if self.around is None:
            return self.bbox
        key = int(epsg)
        if key not in self._cache:
            b = self.around.to_crs(epsg=key).total_bounds
            m = self.margin_m
            self._cache[key] = (b[0] - m, b[1] - m, b[2] + m, b[3] + m)
        return self._cache[key]


def load_carreaux(
    source: str | Path | None = None,
    *,
    vintage: int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    around=None,
    margin_m: float = 400.0,
    communes: list[str] | None = None,
    layer: str | None = None,
    settings: Settings | None = None,
    chunk_rows: int = 500_000,
    geometry: bool = True,
) -> gpd.GeoDataFrame:
    """Read Filosofi 200 m carreaux.

    Parameters
    ----------
    source
        ``None``/``"embedded"``: the embedded Filosofi 2021 extract of the CA du Pays de Saint-Omer.
        ``"official"``: INSEE's national file of ``vintage`` (downloaded into the cache). A path or URL
        to a CSV, GPKG, parquet or ZIP file.
    bbox
        ``(xmin, ymin, xmax, ymax)`` in the grid CRS (EPSG:3035 for mainland France): keep only the
        carreaux whose square intersects it.
    around
        A GeoDataFrame or GeoSeries in any CRS: keep only the carreaux within ``margin_m`` metres of
        its extent, the box being built in the grid's own CRS (read from the carreau ids or the
        layer), so that overseas and re-projected grids are filtered right.
    communes
        Keep only carreaux whose ``lcog_geo`` names one of these INSEE codes (ignored when the file
        has no ``lcog_geo``; use ``bbox`` then).
    geometry
        False: a plain DataFrame without the squares (its CRS in ``attrs["crs"]``), which is all
        :func:`qpvgeo.fragility.fragility` needs; it builds squares only where a result needs
        them (:func:`with_squares`). Building 2.3 million squares costs seconds and 700 MB.

    Returns
    -------
    GeoDataFrame with lower-case INSEE columns, ``x_ll``/``y_ll`` (lower-left corner, metres),
    ``id_status`` (``ok``; ``invalid_id``; ``duplicate`` for a repeated id, kept but counted once)
    and the square of each carreau in the grid CRS.
    """
    s = settings or get_settings()
    path, label, vintage = resolve(
        source, vintage=vintage, settings=s, official=filosofi_source,
        embedded=(_data.FILOSOFI_2021_CAPSO, 2021, "embedded: INSEE Filosofi 2021, CA du Pays de Saint-Omer"),
        what="carreaux (give a Filosofi CSV, GPKG, parquet or ZIP)")
    table = _read(path, _Extent(bbox, around, margin_m), communes, layer, s, chunk_rows, label=label,
                  vintage=vintage)
    return with_squares(table) if geometry else table


def _read(path: Path, bbox, communes, layer, s, chunk_rows, *, label, vintage) -> pd.DataFrame:
    ext = path.suffix.lower()
    if ext in (".zip", ".7z"):
        path = _extract_grid_file(path, layer, s)
        ext = path.suffix.lower()
    if ext in (".csv", ".txt"):
        gdf = _typed(_read_csv(path, bbox, communes, chunk_rows))
    elif ext == ".gpkg":
        gdf = _read_gpkg(path, bbox, communes, layer)
    elif ext == ".parquet":
        gdf = _typed(_read_parquet(path, bbox, communes))
    else:
        raise InputError(f"cannot read carreaux from {path.name}: give a .csv, .gpkg, .parquet or .zip file")
    gdf.attrs["source"] = label
    gdf.attrs["vintage"] = vintage
    coverage = _declared_coverage(path)
    if coverage is not None:
        gdf.attrs["coverage"] = coverage
    log.info("read %d carreaux from %s", len(gdf), path)
    return gdf


def _declared_coverage(path: Path):
    """The area an extract of the grid covers, when it says so in ``<name>.coverage.csv`` next to
    it (rectangles ``x_min, y_min, x_max, y_max`` in the grid's CRS), as one shapely geometry.

    An extract made of tile bands (the embedded CAPSO file) covers far less than its bounding box:
    without this, a quartier in a gap between bands would be read as covered and get a figure
    that is too low instead of no figure (docs/rules.md §9)."""
    side = path.with_name(path.stem + ".coverage.csv")
    if not side.exists():
        return None
    r = pd.read_csv(side)
    try:
        boxes = [shapely.box(*row) for row in r[["x_min", "y_min", "x_max", "y_max"]].to_numpy(dtype=float)]
    except KeyError as exc:
        raise DataError(f"{side.name} needs the columns x_min, y_min, x_max, y_max") from exc
    return shapely.union_all(boxes)


def _extract_grid_file(archive: Path, layer: str | None, s: Settings) -> Path:
    dest = _archive.extraction_dir(archive, s)
    members = _archive.list_members(archive)
    wanted = [m for m in members if m.lower().endswith((".gpkg", ".csv", ".parquet"))
              and "200" in Path(m).name and (not layer or layer.lower() in m.lower())]
    if not wanted:
        wanted = [m for m in members if m.lower().endswith((".gpkg", ".csv", ".parquet"))
                  and (not layer or layer.lower() in m.lower())]
    if wanted:
        chosen = sorted(wanted, key=lambda m: (not m.lower().endswith(".gpkg"), "met" not in m.lower(), m))[0]
        return _archive.extract(archive, dest, members=[chosen])[0]
    inner = [m for m in members if m.lower().endswith(".7z")]
    if inner:
        path = _archive.extract(archive, dest, members=[inner[0]])[0]
        return _extract_grid_file(path, layer, s)
    raise DataError(f"{archive} holds no carreaux file (.gpkg, .csv, .parquet or .7z); members: {members[:10]}")


def _normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    ren = {c: c.lower() for c in df.columns if c != getattr(df, "_geometry_column_name", None)}
    df = df.rename(columns=ren)
    if "idcar_200m" not in df.columns:
        alt = next((c for c in _ID_COLS if c in df.columns), None)
        if alt:
            df = df.rename(columns={alt: "idcar_200m"})
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"the carreaux file lacks the column(s) {missing}; expected INSEE Filosofi columns "
            f"{list(REQUIRED)} (found: {list(df.columns)[:15]})"
        )
    return df


def _filter(df: pd.DataFrame, bbox, communes) -> pd.DataFrame:
    keep = np.ones(len(df), dtype=bool)
    if communes is not None and "lcog_geo" in df.columns:
        codes = set(communes)
        keep &= df["lcog_geo"].astype(str).map(
            lambda v: any(v[i:i + 5] in codes for i in range(0, len(v), 5))).to_numpy()
    elif bbox:
        ids = parse_ids(df["idcar_200m"])
        x, y, cell = ids["x_ll"].to_numpy(), ids["y_ll"].to_numpy(), ids["cell_m"].fillna(200).to_numpy()
        inside = np.zeros(len(df), dtype=bool)
        for epsg in pd.unique(ids["epsg"].dropna()):
            b = bbox.in_crs(epsg) if isinstance(bbox, _Extent) else bbox
            this = ids["epsg"].to_numpy() == epsg
            inside |= this & (x + cell > b[0]) & (x < b[2]) & (y + cell > b[1]) & (y < b[3])
        keep &= inside | np.isnan(x)  # unparseable ids are kept, to be reported
    return df[keep]


def _read_csv(path: Path, bbox, communes, chunk_rows) -> pd.DataFrame:
    fmt = sniff_csv(path)
    encoding, delimiter = fmt.encoding, fmt.delimiter
    parts = []
    from tqdm.auto import tqdm

    with pd.read_csv(path, sep=delimiter, encoding=encoding, dtype=str, keep_default_na=False,
                     chunksize=chunk_rows) as reader, tqdm(unit=" carreaux", desc=path.name, disable=None,
                                                           leave=False) as bar:
        for chunk in reader:
            chunk = _normalise_columns(chunk)
            parts.append(_filter(chunk, bbox, communes))
            bar.update(len(chunk))
    if not parts:
        raise DataError(f"{path} holds no carreau")
    return pd.concat(parts, ignore_index=True)


def _read_parquet(path: Path, bbox, communes) -> pd.DataFrame:
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    pf = pq.ParquetFile(path)
    # the squares are rebuilt from the ids: a geometry column is not even decoded
    columns = [c for c in pf.schema_arrow.names if c.lower() not in ("geometry", "geom")]
    if not bbox and communes is None:  # the whole file: one multithreaded read
        return _normalise_columns(pq.read_table(path, columns=columns).to_pandas())
    parts = []
    with tqdm(total=pf.metadata.num_rows, unit=" carreaux", desc=path.name, disable=None, leave=False) as bar:
        for batch in pf.iter_batches(batch_size=500_000, columns=columns):
            parts.append(_filter(_normalise_columns(batch.to_pandas()), bbox, communes))
            bar.update(batch.num_rows)
    return pd.concat(parts, ignore_index=True)


def _read_gpkg(path: Path, bbox, communes, layer) -> gpd.GeoDataFrame:
    layers = [str(r[0]) for r in pyogrio.list_layers(path)]
    name = next((n for n in layers if layer and layer.lower() in n.lower()), None) or (
        next((n for n in layers if "200" in n and "met" in n.lower()), None) or layers[0])
    where = None
    if communes is not None:
        info = pyogrio.read_info(path, layer=name)
        if "lcog_geo" in [f.lower() for f in info["fields"]]:
            col = next(f for f in info["fields"] if f.lower() == "lcog_geo")
            where = " OR ".join(f"{col} LIKE '%{c}%'" for c in sorted(set(communes)) if c.isalnum())
    box = None
    if bbox and where is None:
        crs = pyogrio.read_info(path, layer=name).get("crs")
        if crs is None:
            raise DataError(f"{path} layer {name} has no CRS")
        import pyproj

        box = tuple(bbox.in_crs(pyproj.CRS.from_user_input(crs).to_epsg()))
    gdf = gpd.read_file(path, layer=name, bbox=box, where=where, engine="pyogrio")
    if gdf.crs is None:
        raise DataError(f"{path} layer {name} has no CRS")
    crs = gdf.crs
    df = _normalise_columns(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)))
    if where is not None:  # LIKE may match across two concatenated codes: filter exactly
        df = _filter(df, None, communes)
    return _typed(df, crs_hint=crs)


ID_STATUSES = ("ok", "invalid_id", "duplicate")


def _with_geometry(df: pd.DataFrame, crs_hint=None) -> gpd.GeoDataFrame:
    """Typed columns, parsed ids and squares; unparseable ids get ``id_status`` invalid_id."""
    return with_squares(_typed(df, crs_hint))


def _typed(df: pd.DataFrame, crs_hint=None) -> pd.DataFrame:
    """Typed columns and parsed ids, ``id_status``, the CRS in ``attrs["crs"]``; no squares."""
    df = df.reset_index(drop=True).copy()
    for c in NUMERIC:
        if c in df.columns and not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = pd.to_numeric(df[c].astype(str).str.replace(",", ".", regex=False).replace("", None),
                                  errors="coerce")
    if "i_est_200" not in df.columns:
        df["i_est_200"] = 0
    if "lcog_geo" in df.columns:
        df["lcog_geo"] = df["lcog_geo"].astype(str)
    ids = parse_ids(df["idcar_200m"])
    ok = ids[["epsg", "x_ll", "y_ll"]].notna().all(axis=1)
    epsgs = ids.loc[ok, "epsg"].unique()
    if len(epsgs) > 1:
        raise DataError(f"carreaux of several grids in one file (EPSG {sorted(int(e) for e in epsgs)}): "
                        "load each territory's file on its own")
    if not ok.all():
        bad = df.loc[~ok, "idcar_200m"].head(3).tolist()
        log.warning("%d carreau id(s) do not parse (e.g. %s): kept with id_status=invalid_id", (~ok).sum(), bad)
    dup = ok.to_numpy() & _repeated(ids, df["idcar_200m"])
    if dup.any():
        log.warning("%d carreau(x) appear more than once (e.g. %s): counted once, the copies kept with "
                    "id_status=duplicate", dup.sum(), df.loc[dup, "idcar_200m"].head(3).tolist())
    epsg = int(epsgs[0]) if len(epsgs) else (crs_hint.to_epsg() if crs_hint is not None else 3035)
    df["x_ll"] = ids["x_ll"]
    df["y_ll"] = ids["y_ll"]
    df["cell_m"] = ids["cell_m"]
    codes = np.where(ok.to_numpy(), np.where(dup, 2, 0), 1).astype(np.int8)
    df["id_status"] = pd.Categorical.from_codes(codes, categories=list(ID_STATUSES))
    df.attrs = {"crs": f"EPSG:{epsg}"}
    return df


def _repeated(ids: pd.DataFrame, raw: pd.Series) -> np.ndarray:
    """True for the second and later carreaux of the same square (same grid, size and corner),
    however its id is spelled: on one integer per square where the corner fits (every INSEE
    grid), else on the trimmed id."""
    x, y, cell, epsg = (ids[k].to_numpy() for k in ("x_ll", "y_ll", "cell_m", "epsg"))
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(cell))
    if not ok.any():
        return np.zeros(len(ids), dtype=bool)
    small = (x[ok] >= 0).all() and (y[ok] >= 0).all() and (x[ok] < 2 ** 26).all() and (y[ok] < 2 ** 26).all()
    one_grid = len(np.unique(epsg[ok])) == 1 and len(np.unique(cell[ok])) == 1
    if not (small and one_grid):
        return raw.astype(str).str.strip().duplicated().to_numpy()
    key = np.full(len(ids), -1, dtype=np.int64)
    key[ok] = (x[ok].astype(np.int64) << 26) | y[ok].astype(np.int64)
    dup = pd.Series(key).duplicated().to_numpy()
    return dup & ok
