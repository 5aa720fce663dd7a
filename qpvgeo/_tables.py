"""Reading and writing the user's tables and vector files: plumbing, apart from what they mean.

Reading: CSV (any delimiter; UTF-8 with or without BOM, cp1252/latin-1, or UTF-8 with stray
cp1252 bytes decoded field by field), GeoJSON and GeoPackage points, in chunks. A CSV row that
does not parse does not lose the file: the file is read again row by row and that row comes
back marked with its line number. Writing: CSV (pyarrow's writer, values that a spreadsheet
would run as formulas neutralised), GeoJSON and GeoPackage, with every input column kept.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

log = logging.getLogger(__name__)

CSV_EXT = (".csv", ".txt", ".tsv")
SHEET_EXT = (".xlsx", ".xlsm", ".ods", ".xls")
VECTOR_EXT = (".geojson", ".json", ".gpkg", ".shp", ".fgb", ".parquet")
TABLE_EXT = CSV_EXT + SHEET_EXT
OUTPUT_EXT = (".csv", ".geojson", ".json", ".gpkg", ".xlsx", ".parquet")
_SURROGATES = re.compile("[\udc80-\udcff]")
# a spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


# ---------------------------------------------------------------------------- where the input is
def local_input(path_or_url, *, settings=None, what: str = "input file") -> Path:
    """The local file behind a path or an http(s) URL (downloaded once into the cache)."""
    text = str(path_or_url)
    if re.match(r"^https?://", text):
        from . import _http

        return _http.download(text, settings=settings)
    p = Path(text).expanduser()
    if not p.exists():
        raise InputError(f"{what} {text!r} does not exist: check the path (or give an http(s) URL)")
    if p.is_dir():
        raise InputError(f"{what} {text!r} is a folder: give a file")
    return p


# ---------------------------------------------------------------------------- CSV
@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: its encoding, delimiter and header."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    mixed: bool = False  # UTF-8 with stray single-byte (cp1252) characters, decoded field by field


def sniff_csv(path: Path) -> CsvFormat:
    """Encoding, delimiter and header of a CSV file.

    UTF-8 (BOM or not) when the whole file decodes; UTF-8 with field-by-field fallback when it
    holds both UTF-8 and stray cp1252 bytes; else cp1252 (latin-1 for bytes cp1252 leaves
    undefined). Duplicate column names are refused (they would be renamed silently).
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    mixed = False
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # "Unicode text" as Excel saves it
    else:
        encoding = "utf-8"
        invalid = not _strict_utf8(path)
        valid_multibyte = False
        if invalid:  # stray bytes: are there also real UTF-8 characters (a mixed file)?
            dec = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    if re.search("[\u0080-\udc7f\ue000-\U0010ffff]", dec.decode(block)):
                        valid_multibyte = True
                        break
        if invalid:
            if valid_multibyte:
                mixed = True
            else:
                encoding = "cp1252"
                try:
                    with open(path, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 22), b""):
                            block.decode("cp1252")
                except UnicodeDecodeError:
                    encoding = "latin-1"
    errors = "surrogateescape" if mixed else "strict"
    try:
        with open(path, encoding=encoding, errors=errors, newline="") as fh:
            sample = fh.read(64 * 1024)
    except UnicodeError as exc:
        raise InputError(f"{path.name} cannot be decoded as {encoding} ({exc}); save it as UTF-8 CSV") from None
    if not sample.strip():
        raise InputError(f"{path} is empty: give a file with a header line and rows")
    if "\x00" in sample:
        raise InputError(f"{path.name} holds binary data (NUL bytes): it is not a CSV text file")
    first = sample.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(first + "\n", delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    try:
        header = next(csv.reader(io.StringIO(sample), delimiter=delimiter))
    except csv.Error as exc:
        raise InputError(f"{path.name} cannot be read as CSV ({exc}): is it a CSV text file?") from None
    header = tuple(_fix_text(h) for h in header)
    if header and header[0].startswith("\ufeff"):
        header = (header[0][1:],) + header[1:]
    _refuse_duplicates(header, path.name)
    return CsvFormat(encoding, delimiter, header, mixed)


_UTF8_BLOCK = 1 << 25  # bytes of a file validated at a time (32 MiB: memory flat in the file's size)


def _strict_utf8(path: Path, *, block: int = _UTF8_BLOCK) -> bool:
    """Whether the whole file decodes as UTF-8 (most files do): Arrow validates it block by block
    as text, several times faster than Python's codec, in one buffer of ``block`` bytes reused
    (a character cut by a block's end is carried over to the next)."""
    import pyarrow as pa

    buf = bytearray(block + 3)
    view = memoryview(buf)
    carry = 0  # bytes of an unfinished character, moved to the buffer's start
    with open(path, "rb") as fh:
        while True:
            got = fh.readinto(view[carry:carry + block])
            n = carry + got
            if not got:
                return n == 0 or _utf8_valid(pa, view[:n])  # an unfinished character at the end fails
            cut = _last_whole_character_end(buf, n)
            if not _utf8_valid(pa, view[:cut]):
                return False
            carry = n - cut
            buf[:carry] = buf[cut:n]


def _last_whole_character_end(buf: bytearray, n: int) -> int:
    """The end of the last whole UTF-8 character in ``buf[:n]``: ``n``, or the start of a lead
    byte whose character the block cuts (left for validation when the bytes are not UTF-8)."""
    for i in range(n - 1, max(n - 4, 0) - 1, -1):
        b = buf[i]
        if b < 0x80 or b >= 0xC0:  # not a continuation byte: a character starts here
            need = 1 if b < 0x80 else 2 if b < 0xE0 else 3 if b < 0xF0 else 4 if b < 0xF8 else 1
            return i if i + need > n else n
    return n


def _utf8_valid(pa, data) -> bool:
    if not len(data):
        return True
    raw = pa.py_buffer(data)
    whole = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), 1, [None, pa.py_buffer(np.array([0, raw.size], dtype=np.int64)), raw])
    try:
        whole.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _fix_text(value: str) -> str:
    """A field read as UTF-8 with surrogate escapes: its stray bytes decoded as cp1252."""
    if not _SURROGATES.search(value):
        return value
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass
class Chunk:
    """Part of an input file: its rows as text, and what the reader knows of each row."""

    frame: pd.DataFrame
    lon: np.ndarray | None = None  # WGS84 of point geometries (vector files); None for CSV
    lat: np.ndarray | None = None
    bad_line: np.ndarray | None = None  # per row: line number of an unreadable row, 0 when read
    bad_fields: np.ndarray | None = None  # per row: fields of a row with too many, 0 otherwise
    recoded: np.ndarray | None = None  # per row: True when stray cp1252 bytes were decoded
    shape: np.ndarray | None = None  # per row: SHAPE_* of its geometry (vector files)
    sites: np.ndarray | None = None  # per row: its polygon in WGS84 when it is a site, else None
    site_columns: bool = False  # the file's rows may be sites: the site columns are written


# what a row's geometry is (Chunk.shape): a point (or a MultiPoint of one), or why it gives none
SHAPE_POINT, SHAPE_NONE, SHAPE_POINTS, SHAPE_LINE, SHAPE_SITE, SHAPE_OTHER, SHAPE_UNREADABLE = range(7)
# a file that may hold sites (a few ms each) is read in chunks of at most this many rows: the
# progress bar moves, and the chunk workers share the sites
SITE_CHUNK_ROWS = 500
# the layer geometry types (GDAL's names, GeoParquet's) whose rows may be polygons: sites
_SITE_LAYER_TYPES = ("polygon", "multipolygon", "unknown", "geometry", "geometrycollection")


def may_hold_sites(geometry_types) -> bool:
    """Whether a layer declared with these geometry types (pyogrio's "Polygon", "MultiPolygon Z",
    "Unknown", …; GeoParquet's list, empty when any type) may hold polygons, whose rows are then
    checked as sites."""
    if geometry_types is None:  # no geometry column
        return False
    names = [geometry_types] if isinstance(geometry_types, str) else list(geometry_types)
    return not names or any(str(n).split(" ")[0].lower() in _SITE_LAYER_TYPES for n in names)


def located(frame: pd.DataFrame, geoms: np.ndarray, to_wgs84=None, *, site_columns: bool | None = None) -> Chunk:
    """The chunk of rows ``frame`` whose geometries are ``geoms`` (shapely; in the CRS that
    ``to_wgs84``, a pyproj transformer, takes to WGS84; None: already WGS84): a point, or a
    MultiPoint of one point (as QGIS layers often are), gives its lon/lat; a polygon or
    multipolygon is a site (its outline in WGS84); any other geometry, none or an empty one
    gives no point, and :attr:`Chunk.shape` says why. ``site_columns``: whether the site columns
    are written (a file's layer decides it, the same for every chunk; None: when a row is a site)."""
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    kind = shapely.get_type_id(geoms)
    single = (kind == 4) & (shapely.get_num_geometries(geoms) == 1)
    points = geoms.copy()
    if single.any():
        points[single] = shapely.get_geometry(geoms[single], 0)
    is_point = (shapely.get_type_id(points) == 0) & ~shapely.is_empty(points)
    empty = (kind < 0) | shapely.is_empty(geoms)
    site = np.isin(kind, (3, 6)) & ~empty
    shape = np.select([is_point, empty, kind == 4, np.isin(kind, (1, 2, 5)), site],
                      [SHAPE_POINT, SHAPE_NONE, SHAPE_POINTS, SHAPE_LINE, SHAPE_SITE], SHAPE_OTHER).astype(np.int8)
    x, y = np.full(geoms.size, np.nan), np.full(geoms.size, np.nan)
    x[is_point], y[is_point] = shapely.get_x(points[is_point]), shapely.get_y(points[is_point])
    sites = None
    if site.any():
        sites = np.full(geoms.size, None, dtype=object)
        sites[site] = geoms[site] if to_wgs84 is None else shapely.transform(
            geoms[site], lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    if to_wgs84 is not None and is_point.any():
        x[is_point], y[is_point] = to_wgs84.transform(x[is_point], y[is_point])
    return Chunk(frame, x, y, shape=shape, sites=sites,
                 site_columns=sites is not None if site_columns is None else site_columns)


# a place written in one cell: WKT or EWKT, GeoJSON, or a pair of numbers (the pairs of crs.parse_point)
_WKT_START = r"^\s*(?:srid\s*=\s*\d+\s*;\s*)?(?:multi)?(?:point|linestring|polygon)\b|^\s*geometrycollection\b"
_SRID = r"^\s*srid\s*=\s*(\d+)\s*;\s*"


def geometries_of_text(values: pd.Series, *, lat_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(shapely geometries, written) of a column of places written as text: WKT or EWKT
    (``POINT (2.26 50.75)``, ``SRID=2154;POLYGON ((…))``), GeoJSON, or a pair of numbers as
    :func:`qpvgeo.crs.parse_point` reads one (``2.26, 50.75``; with ``lat_first``, ``50.75, 2.26``,
    as Opendatasoft's ``geo_point_2d``). A geometry is None where a cell is empty (``written``
    False) or is none of these (``written`` True)."""
    import shapely

    from .crs import _NUM, _PAIR_SEPARATORS

    text = values.astype(str).str.strip()
    written = (text != "").to_numpy()
    geoms = np.full(len(text), None, dtype=object)
    geojson = text.str.startswith("{").to_numpy()
    wkt = text.str.contains(_WKT_START, case=False, regex=True).to_numpy()
    if geojson.any():
        geoms[geojson] = shapely.from_geojson(text[geojson].to_numpy(dtype=object), on_invalid="ignore")
    if wkt.any():
        plain = text[wkt].str.replace(_SRID, "", case=False, regex=True)
        geoms[wkt] = shapely.from_wkt(plain.to_numpy(dtype=object), on_invalid="ignore")
    rest = written & ~geojson & ~wkt
    for sep in _PAIR_SEPARATORS:
        if not rest.any():
            break
        num = r"[-+]?\d+(?:\.\d+)?" if sep == "," else _NUM  # as crs.parse_point: "1,2,3" is no pair
        got = text[rest].str.extract(rf"^({num})\s*{re.escape(sep)}\s*({num})$")
        ok = got[0].notna().to_numpy()
        if ok.any():
            a = got[0][ok].str.replace(",", ".").astype(float).to_numpy()
            b = got[1][ok].str.replace(",", ".").astype(float).to_numpy()
            at = np.flatnonzero(rest)[ok]
            geoms[at] = shapely.points(*((b, a) if lat_first else (a, b)))
            rest[at] = False
    return geoms, written


def srid_of_text(values: pd.Series) -> int | None:
    """The SRID of EWKT cells (``SRID=2154;POINT (…)``) when they all give the same, else None."""
    found = values.astype(str).str.extract(_SRID, flags=re.IGNORECASE)[0].dropna().unique()
    return int(found[0]) if len(found) == 1 else None


class MalformedCsv(Exception):
    """Internal: the fast reader met a row it cannot parse; read the file row by row instead."""


def iter_chunks(path: str | Path, *, chunk_rows: int = 100_000, layer: str | None = None,
                csv_format: CsvFormat | None = None, robust: bool = False, sheet=None) -> Iterator[Chunk]:
    """Yield the rows of an input file in chunks of at most ``chunk_rows``, streaming.

    CSV: every column as text (``csv_format`` when already sniffed). ``robust`` reads row by row
    with the csv module, marking rows with more fields than the header (``bad_line``); the fast
    reader raises :class:`MalformedCsv` on such a row. GeoJSON, GPKG, SHP, FlatGeobuf: the
    attributes as text, and lon/lat of point geometries in WGS84 (NaN for a missing or non-point
    geometry). At least one (possibly empty) chunk is always yielded, with the file's columns.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext in CSV_EXT:
        fmt = csv_format or sniff_csv(p)
        yield from (_csv_rows_robust(p, fmt, chunk_rows) if robust else _csv_rows_fast(p, fmt, chunk_rows))
        return
    if ext in SHEET_EXT:
        yield from _sheet_rows(p, sheet, chunk_rows)
        return
    if ext not in VECTOR_EXT:
        raise InputError(f"cannot read {p.name}: give a .csv, .xlsx, .ods, .geojson, .gpkg, .shp or .fgb file")
    yield from _vector_rows(p, layer, chunk_rows)


# ---------------------------------------------------------------------------- spreadsheets
def _cell_text(v) -> str:
    """A spreadsheet cell as the text a CSV would hold (2.26006, not 2.2600600000000001)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _sheet_names(path: Path) -> list[str]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    import python_calamine

    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        return list(wb.sheet_names)
    finally:
        wb.close()


def pick_sheet(path: Path, sheet: str | int | None) -> str:
    """The sheet to read: ``sheet`` (a name, or a number from 1); by default the first one."""
    try:
        names = _sheet_names(path)
    except Exception as exc:  # noqa: BLE001 - the readers raise many kinds for a damaged file
        raise InputError(f"cannot open the spreadsheet {path.name}: {str(exc).splitlines()[0][:120]}") from None
    if not names:
        raise InputError(f"{path.name} has no sheet")
    if sheet is None or sheet == "":
        if len(names) > 1:
            log.warning("%s has %d sheets; reading the first, %r (choose another with the sheet option)",
                        path.name, len(names), names[0])
        return names[0]
    if str(sheet).isdigit() and str(sheet) not in names:
        i = int(sheet)
        if not 1 <= i <= len(names):
            raise InputError(f"{path.name} has {len(names)} sheets, not {i}: {', '.join(names)}")
        return names[i - 1]
    if str(sheet) not in names:
        raise InputError(f"{path.name} has no sheet {sheet!r}; its sheets: {', '.join(names)}")
    return str(sheet)


def _sheet_iter(path: Path, name: str):
    """Rows of a sheet as lists of cell values: streamed for .xlsx (openpyxl, read-only mode, in
    bounded memory); .ods and .xls through python-calamine, which reads a sheet at once."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            yield from wb[name].iter_rows(values_only=True)
        finally:
            wb.close()
        return
    import python_calamine

    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        yield from wb.get_sheet_by_name(name).iter_rows()
    finally:
        wb.close()


def sheet_header(path: Path, sheet=None) -> tuple[str, tuple[str, ...]]:
    """(sheet name, header) of a spreadsheet; duplicate column names are refused."""
    name = pick_sheet(path, sheet)
    first = next(iter(_sheet_iter(path, name)), None)
    if not first or not any(c not in (None, "") for c in first):
        raise InputError(f"{path.name}, sheet {name!r}: the first row is empty; it must hold the column names")
    header = tuple(_cell_text(c).strip() or f"colonne_{i + 1}" for i, c in enumerate(first))
    while header and header[-1].startswith("colonne_"):
        header = header[:-1]  # trailing empty cells of the header row
    _refuse_duplicates(header, path.name)
    return name, header


def _sheet_rows(path: Path, sheet, chunk_rows: int) -> Iterator[Chunk]:
    name, header = sheet_header(path, sheet)
    n = len(header)
    rows: list[list[str]] = []
    it = iter(_sheet_iter(path, name))
    next(it, None)
    got = False
    for row in it:
        cells = [_cell_text(v) for v in (row or ())[:n]]
        if not any(cells):
            continue  # an empty line, as pandas skips blank CSV lines
        rows.append(cells + [""] * (n - len(cells)))
        if len(rows) == chunk_rows:
            got = True
            yield Chunk(pd.DataFrame(rows, columns=list(header), dtype=object))
            rows = []
    if rows or not got:
        yield Chunk(pd.DataFrame(rows, columns=list(header), dtype=object) if rows else
                    pd.DataFrame({h: pd.Series(dtype=object) for h in header}))


def _refuse_duplicates(header, name: str) -> None:
    seen, dup = set(), []
    for h in header:
        if h in seen:
            dup.append(h)
        seen.add(h)
    if dup:
        raise InputError(f"{name}: the column name(s) {sorted(set(dup))} appear more than once in the "
                         "header; rename them so that every column keeps its own name")


def _recode(frame: pd.DataFrame) -> np.ndarray:
    """Decode stray cp1252 bytes field by field (in place); True for each row that had some."""
    touched = np.zeros(len(frame), dtype=bool)
    for c in frame.columns:
        col = frame[c]
        hit = col.str.contains(_SURROGATES, regex=True, na=False).to_numpy()
        if hit.any():
            frame.loc[hit, c] = col[hit].map(_fix_text)
            touched |= hit
    return touched


def _csv_rows_fast(p: Path, fmt: CsvFormat, chunk_rows: int) -> Iterator[Chunk]:
    """pyarrow's reader; pandas' for files with stray cp1252 bytes (decoded field by field)."""
    yield from (_csv_rows_pandas if fmt.mixed else _csv_rows_arrow)(p, fmt, chunk_rows)


def _csv_rows_pandas(p: Path, fmt: CsvFormat, chunk_rows: int) -> Iterator[Chunk]:
    import warnings

    got = False
    try:
        # stray bytes are kept as surrogates until decoded: only Python strings can hold them
        with pd.read_csv(p, sep=fmt.delimiter, encoding=fmt.encoding, dtype=object if fmt.mixed else str,
                         keep_default_na=False,
                         chunksize=chunk_rows, encoding_errors="surrogateescape" if fmt.mixed else "strict",
                         names=list(fmt.header), header=0, index_col=False) as reader:
            rows = iter(reader)
            while True:
                # pandas only warns when the first row has extra fields (and drops them): refuse that too
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    frame = next(rows, None)
                if frame is None:
                    break
                got = True
                yield Chunk(frame, recoded=_recode(frame) if fmt.mixed else None)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise MalformedCsv(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{p.name}: cannot decode the file as {fmt.encoding} ({exc.reason} at byte "
                         f"{exc.start}); save it as UTF-8") from None
    if not got:
        yield Chunk(pd.DataFrame({h: pd.Series(dtype=object) for h in fmt.header}))


_TEXT = None


def _text_dtype():
    """The dtype pandas gives text read with ``dtype=str`` (Arrow-backed strings, NaN as missing)."""
    global _TEXT
    if _TEXT is None:
        _TEXT = pd.read_csv(io.StringIO("a\nx\n"), dtype=str)["a"].dtype
    return _TEXT


def _csv_rows_arrow(p: Path, fmt: CsvFormat, chunk_rows: int) -> Iterator[Chunk]:
    """Every field as text, read by pyarrow's multithreaded CSV reader, streamed in blocks and
    cut into chunks of ``chunk_rows``: the same frames as pandas' reader (``dtype=str``, empty
    fields as ''), several times faster. A row with too many or too few fields raises
    :class:`MalformedCsv` (the file is then read row by row)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from .config import threads

    pa.set_cpu_count(threads())
    size = p.stat().st_size
    with open(p, "rb") as fh:
        sample = fh.read(1 << 16)
    per_row = max(16, len(sample) // max(1, sample.count(b"\n")))
    block = int(min(max(per_row * chunk_rows, 1 << 20), 1 << 28, max(size, 1 << 20)))
    read = pcsv.ReadOptions(column_names=list(fmt.header), skip_rows=1, encoding=fmt.encoding, block_size=block)
    parse = pcsv.ParseOptions(delimiter=fmt.delimiter, newlines_in_values=True)
    convert = pcsv.ConvertOptions(column_types={h: pa.string() for h in fmt.header}, strings_can_be_null=False,
                                  quoted_strings_can_be_null=False)
    text = _text_dtype()

    def frame(table) -> pd.DataFrame:
        return table.to_pandas(types_mapper=lambda t: text if t in (pa.string(), pa.large_string()) else None,
                               split_blocks=True)

    got = False
    pending, held = [], 0
    try:
        with pcsv.open_csv(p, read_options=read, parse_options=parse, convert_options=convert) as reader:
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= chunk_rows:
                    table = pa.Table.from_batches(pending)
                    yield Chunk(frame(table.slice(0, chunk_rows)))
                    got = True
                    rest = table.slice(chunk_rows)
                    pending, held = rest.to_batches(), rest.num_rows
        if held or not got:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            if table.num_rows or not got:
                yield Chunk(frame(table))
    except pa.ArrowInvalid as exc:
        if "CSV parse error" in str(exc) or "columns" in str(exc):
            raise MalformedCsv(str(exc).splitlines()[0]) from exc
        raise InputError(f"{p.name}: cannot read the file as {fmt.encoding} CSV ({str(exc).splitlines()[0]}); "
                         "save it as UTF-8") from None


def _csv_rows_robust(p: Path, fmt: CsvFormat, chunk_rows: int) -> Iterator[Chunk]:
    """Row by row with the csv module: rows with too many fields are kept as unreadable (their
    fields kept, those beyond the header joined by the delimiter in the last column: nothing of
    the row is lost, and nothing of it is decided)."""
    n_cols = len(fmt.header)
    errors = "surrogateescape" if fmt.mixed else "strict"
    with open(p, encoding=fmt.encoding, errors=errors, newline="") as fh:
        reader = csv.reader(fh, delimiter=fmt.delimiter)
        next(reader, None)  # the header
        rows, bad, fields = [], [], []
        last_line = reader.line_num
        for rec in _records(reader, p.name):
            line, last_line = last_line + 1, reader.line_num
            if not rec:
                continue  # blank line (pandas skips them too)
            if len(rec) > n_cols:  # kept, the fields beyond the header joined in the last column
                rows.append(rec[:n_cols - 1] + [fmt.delimiter.join(rec[n_cols - 1:])])
                bad.append(line)
                fields.append(len(rec))
            else:
                rows.append(rec + [""] * (n_cols - len(rec)))
                bad.append(0)
                fields.append(0)
            if len(rows) == chunk_rows:
                yield _robust_chunk(rows, bad, fields, fmt)
                rows, bad, fields = [], [], []
        if rows or not bad:
            yield _robust_chunk(rows, bad, fields, fmt)


def _records(reader, name: str):
    try:
        yield from reader
    except csv.Error as exc:
        raise InputError(f"{name}, line {reader.line_num}: {exc}; is it a CSV text file?") from None


def _robust_chunk(rows, bad, fields, fmt: CsvFormat) -> Chunk:
    frame = pd.DataFrame(rows, columns=list(fmt.header), dtype=object) if rows else pd.DataFrame(
        {h: pd.Series(dtype=object) for h in fmt.header})
    return Chunk(frame, bad_line=np.asarray(bad, dtype=np.int64), bad_fields=np.asarray(fields, dtype=np.int64),
                 recoded=_recode(frame) if fmt.mixed else None)


# ---------------------------------------------------------------------------- vector files
def vector_layer(path: Path, layer: str | None, *, what: str = "file") -> str | None:
    """The layer to read from ``path``: ``layer`` (a name or a substring of one); the only layer;
    else an error that lists the layers (a multi-layer file is never read by guess)."""
    import pyogrio

    try:
        names = [str(r[0]) for r in pyogrio.list_layers(path)]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InputError(f"cannot open {what} {path.name}: {_gdal_reason(exc)}") from None
    if layer:
        hits = [n for n in names if n == layer] or [n for n in names if layer.lower() in n.lower()]
        if not hits:
            raise InputError(f"{path.name} has no layer {layer!r}; its layers: {', '.join(names)}")
        return hits[0]
    if len(names) > 1:
        raise InputError(f"{path.name} has {len(names)} layers ({', '.join(names)}): choose one with the "
                         "layer option")
    return names[0] if names else None


def _gdal_reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_vector(path: str | Path, *, layer: str | None = None, what: str = "file"):
    """Read a vector file (GeoJSON, GPKG, SHP, FlatGeobuf) with its CRS, as a GeoDataFrame."""
    import geopandas as gpd
    import pyogrio

    p = Path(path)
    if p.suffix.lower() not in VECTOR_EXT:
        raise InputError(f"cannot read {what} {p.name}: give a .geojson, .gpkg, .shp, .fgb or .parquet file")
    if p.suffix.lower() == ".parquet":
        try:
            gdf = gpd.read_parquet(p)
        except Exception as exc:  # noqa: BLE001 - not GeoParquet, or damaged
            raise InputError(f"cannot read {what} {p.name} as GeoParquet: {str(exc).splitlines()[0][:150]}") from None
        if gdf.crs is None:
            raise InputError(f"{p.name} has no CRS in its GeoParquet metadata")
        return gdf
    name = vector_layer(p, layer, what=what)
    try:
        gdf = gpd.read_file(p, layer=name, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(f"cannot read {what} {p.name}: {_gdal_reason(exc)}") from None
    if gdf.crs is None:
        raise InputError(f"{p.name} has no CRS: set one (e.g. ogr2ogr -a_srs EPSG:2154) before using it")
    return gdf


_WKT = re.compile(r"^\s*(?:(?:MULTI)?(?:POINT|LINESTRING|POLYGON)|GEOMETRYCOLLECTION)\s*(?:ZM|Z|M)?\s*(?:\(|EMPTY\b)",
                  re.IGNORECASE)


def is_wkt(text: str) -> bool:
    """Whether a text is a WKT geometry (``POLYGON ((…))``, ``point z (…)``…), not a file name or
    an address such as ``Mairie (annexe)``."""
    return bool(_WKT.match(str(text)))


def read_place(text: str, *, crs=None) -> tuple[float, float, str] | None:
    """A place typed by a person (the command line's WHERE, the page's search box): ``(lon, lat,
    how)`` of :func:`qpvgeo.crs.parse_point` for a pair or a WKT point (as QGIS copies one), or
    None for an address (text with letters that is neither). Any other WKT geometry is a site: an
    error that says where sites go."""
    from .crs import parse_point

    pair = _typed_place(text)
    try:
        return parse_point(pair, crs=crs)
    except InputError:
        if any(ch.isalpha() for ch in pair):
            return None
        raise


def _typed_place(text: str) -> str:
    """``text``, or the ``x,y`` of a WKT point; any other WKT geometry is refused."""
    if not is_wkt(text):
        return text
    import shapely

    try:
        geom = shapely.from_wkt(str(text).strip())
    except shapely.errors.GEOSException:
        raise InputError(f"{str(text)[:60]!r} is not valid WKT",
                         fr=f"« {str(text)[:60]} » n'est pas une géométrie WKT valide") from None
    if geom.is_empty:
        raise InputError(f"{str(text)[:60]!r} is an empty geometry: give a point or a site",
                         fr=f"« {str(text)[:60]} » est une géométrie vide : donnez un point ou un site")
    if geom.geom_type == "Point":
        return f"{geom.x!r},{geom.y!r}"
    raise InputError(f"a {geom.geom_type} is a site, not a place: check it as a site (--site WKT_OR_FILE, "
                     "POST /api/site, or draw it on the map)",
                     fr=f"une géométrie {geom.geom_type} est un site, pas un lieu : vérifiez-la comme un site "
                        "(« Vérifier un site » : dessinez-le sur la carte ou donnez son fichier)")


def read_site(site: str, *, crs=None, feature: int | None = None, layer: str | None = None):
    """A project site from a vector file (one feature, or ``feature``) or from WKT in ``crs``
    (degrees by default), as a one-row GeoDataFrame with its CRS."""
    import geopandas as gpd
    import shapely

    from .crs import WGS84, parse_crs

    text = str(site).strip()
    if not is_wkt(text):  # a file
        p = local_input(text, what="site file")
        gdf = read_vector(p, layer=layer, what="site file")
        if len(gdf) == 0:
            raise InputError(f"{p.name} holds no feature", fr=f"{p.name} ne contient aucun objet")
        if feature is not None:
            if not 0 <= feature < len(gdf):
                raise InputError(f"feature {feature} is out of range: {p.name} has {len(gdf)} features (0-based)")
            gdf = gdf.iloc[[feature]]
        elif len(gdf) > 1:
            raise InputError(f"{p.name} has {len(gdf)} features: choose one with the feature option (0-based)",
                             fr=f"{p.name} contient {len(gdf)} objets : donnez un fichier d'un seul site")
        return gdf
    try:
        geom = shapely.from_wkt(text)
    except shapely.errors.GEOSException:
        raise InputError(f"site {text[:60]!r} is not valid WKT (e.g. POLYGON ((2.26 50.75, 2.261 50.75, "
                         "2.261 50.751, 2.26 50.75)))") from None
    return gpd.GeoDataFrame(geometry=[geom], crs=parse_crs(crs) if crs is not None else WGS84)


def _parquet_rows(p: Path, chunk_rows: int) -> Iterator[Chunk]:
    """A GeoParquet file in batches: its attributes as text and its points in WGS84."""
    import json as _json

    import pyarrow.parquet as pq
    import pyproj
    import shapely

    from .crs import WGS84

    try:
        pf = pq.ParquetFile(p)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise InputError(f"cannot read {p.name}: {str(exc).splitlines()[0][:150]}") from None
    meta = _json.loads((pf.schema_arrow.metadata or {}).get(b"geo", b"{}") or b"{}")
    geom_col = meta.get("primary_column")
    if not geom_col:
        raise InputError(f"{p.name} is not GeoParquet (no 'geo' metadata): give a CSV for a plain table")
    crs = meta.get("columns", {}).get(geom_col, {}).get("crs", "OGC:CRS84")
    to_wgs84 = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), WGS84, always_xy=True)
    sites = may_hold_sites(meta.get("columns", {}).get(geom_col, {}).get("geometry_types"))
    got = False
    for batch in pf.iter_batches(batch_size=min(chunk_rows, SITE_CHUNK_ROWS) if sites else chunk_rows):
        got = True
        frame = batch.to_pandas()
        geoms = shapely.from_wkb(frame.pop(geom_col).to_numpy())
        attrs = frame.astype(object).where(frame.notna(), "").astype(str)
        yield located(attrs, geoms, to_wgs84, site_columns=sites)
    if not got:
        names = [n for n in pf.schema_arrow.names if n != geom_col]
        yield Chunk(pd.DataFrame({n: pd.Series(dtype=object) for n in names}), np.empty(0), np.empty(0),
                    site_columns=sites)


def _vector_rows(p: Path, layer: str | None, chunk_rows: int) -> Iterator[Chunk]:
    import pyogrio
    import pyproj
    import shapely

    from .crs import WGS84

    if p.suffix.lower() == ".parquet":
        yield from _parquet_rows(p, chunk_rows)
        return

    name = vector_layer(p, layer, what="input file")
    try:
        source = pyogrio.open_arrow(p, layer=name, batch_size=chunk_rows, use_pyarrow=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InputError(f"cannot read {p.name}: {_gdal_reason(exc)}") from None
    with source as (meta, reader):
        if not meta.get("crs"):
            raise InputError(f"{p.name} has no CRS: set one (e.g. with ogr2ogr -a_srs EPSG:2154)")
        to_wgs84 = pyproj.Transformer.from_crs(meta["crs"], WGS84, always_xy=True)
        geom_col = meta.get("geometry_name") or "wkb_geometry"
        sites = may_hold_sites(meta.get("geometry_type"))
        got = False
        for whole in reader:
            step = min(chunk_rows, SITE_CHUNK_ROWS) if sites else max(1, whole.num_rows)
            for start in range(0, whole.num_rows, step):
                batch = whole.slice(start, step)
                got = True
                names = batch.schema.names
                geoms = shapely.from_wkb(batch.column(names.index(geom_col)).to_numpy(zero_copy_only=False))
                attrs = batch.drop_columns([geom_col]).to_pandas()
                attrs = attrs.astype(object).where(attrs.notna(), "").astype(str)
                yield located(attrs, geoms, to_wgs84, site_columns=sites)
        if not got:
            fields = [str(f) for f in meta.get("fields", [])]
            yield Chunk(pd.DataFrame({f: pd.Series(dtype=object) for f in fields}), np.empty(0), np.empty(0),
                        site_columns=sites)


# ---------------------------------------------------------------------------- values
def to_float(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(numbers, empty mask) of a text column; decimal commas accepted; other text gives NaN."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:  # fast path: a clean column of numbers, parsed by Arrow
        arr = pa.array(values, type=pa.large_string(), from_pandas=True)
        if arr.null_count == 0:
            out = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
            return out, np.zeros(len(out), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    try:  # numbers Arrow does not read (" 1.5", "1_000"): Python's float
        out = values.to_numpy(dtype=object).astype(float)
        return out, np.zeros(len(out), dtype=bool)
    except (TypeError, ValueError):
        pass
    s = values.astype(str).str.strip()
    empty = (s == "") | s.str.lower().isin(["nan", "none", "null", "na"])
    # thousands separated by spaces, no-break spaces or narrow no-break spaces: 650 100,5
    s = s.str.replace(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(?:\D|$))", "", regex=True)
    s = s.where(~(s.str.count(",") == 1) | s.str.contains(r"\.", regex=True), s.str.replace(",", ".", regex=False))
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float), empty.to_numpy()


def neutralise_formulas(frame: pd.DataFrame, *, safe=()) -> pd.DataFrame:
    """A copy where text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return, and not a plain number) is prefixed with ``'``, the
    OWASP rule against CSV injection. Numbers such as ``-0.57`` are left as they are. The frame
    is copied only when a value has to change (this runs on every chunk of a batch). ``safe``
    columns hold only qpvgeo's own codes and numbers and are not scanned."""
    import pyarrow as pa

    out = frame
    for c in frame.columns:
        col = frame[c]
        if c in safe or not (col.dtype == object or pd.api.types.is_string_dtype(col.dtype)):
            continue
        try:  # in Arrow (Arrow-backed text: no copy)
            arr = pa.array(col, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: the slow way
            arr = pa.array(col.map(lambda v: v if isinstance(v, str) else None), type=pa.large_string())
        starts = _formula_start(arr)
        if not starts.any():
            continue
        risky = starts.copy()
        at = np.flatnonzero(starts)
        risky[at] = ~col.iloc[at].str.match(_PLAIN_NUMBER, na=False).to_numpy(dtype=bool)
        if risky.any():
            values = col.to_numpy(dtype=object).copy()
            values[risky] = ["'" + v for v in values[risky]]
            if out is frame:
                out = frame.copy()
            out[c] = values
    return out


_FORMULA_BYTES = np.frombuffer("".join(_FORMULA_START).encode("ascii"), dtype=np.uint8)


def _formula_start(arr) -> np.ndarray:
    """Whether each cell of an Arrow large-string array starts with a formula character (all of
    them ASCII: the first byte says), read from the array's buffers in one numpy pass."""
    import pyarrow as pa

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    if n == 0 or data_buf is None:
        return np.zeros(n, dtype=bool)
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8)
    filled = offsets[1:] > offsets[:-1]  # empty and missing cells start with nothing
    if arr.null_count:
        filled &= arr.is_valid().to_numpy(zero_copy_only=False)
    first = np.zeros(n, dtype=np.uint8)
    first[filled] = data[offsets[:-1][filled]]
    return np.isin(first, _FORMULA_BYTES)


# ---------------------------------------------------------------------------- writing
# result columns that hold only qpvgeo's codes and numbers (an input column may not bear these
# names, see check_columns_free; French headers are scanned like any column)
_OWN_COLUMNS = frozenset({"qpv_status", "qpv_eligible", "qpv_code", "qpv_classe", "qpv_distance_m", "qpv_quartiers"})


class TableWriter:
    """Writes the chunks of a result, in order, to CSV, GeoJSON or GeoPackage.

    Every input column is kept, whatever its name (``geometry`` and ``fid`` included); an empty
    result gives an empty file of the right format. CSV text that a spreadsheet would run as a
    formula is neutralised (:func:`neutralise_formulas`).
    """

    def __init__(self, path: Path, ext: str, *, delimiter: str = ",", layer: str = "eligibilite",
                 number_columns=(), present=None, bom: bool = False, lang: str = "en"):
        if ext not in OUTPUT_EXT:
            raise InputError(f"cannot write {path.name}: use a .csv, .xlsx, .geojson, .gpkg or .parquet name")
        self.path, self.ext, self.delimiter, self.layer = path, ext, delimiter, layer
        self.present = present  # frame -> frame for people (CSV, xlsx); machine formats keep the codes
        self.bom = bom
        self.lang = lang  # of the xlsx summary sheet
        self.number_columns = {c for c in number_columns if c}
        self._csv = None
        self._xlsx = None
        self._geo_parts: list = []
        self._gpkg_started = False
        self._empty = None

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None:
            self.abort()
        return False

    def abort(self) -> None:
        """Close what is open after a failure (a full disk...): no handle left on the partial file."""
        if self._csv is not None:
            for closable in (self._csv[0], self._csv[2]):
                try:
                    closable.close()
                except Exception:  # noqa: BLE001 - already failing: closing is best effort
                    pass
            self._csv = None
        self._xlsx = None

    def write(self, frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, sites=None) -> None:
        """One chunk of the result: its rows, their points (``lon``, ``lat``) and, in a file of
        sites, the polygons of the rows that are sites (``sites``: None elsewhere), which the
        GeoJSON, GeoPackage and GeoParquet outputs keep as their geometry."""
        if len(frame) == 0:
            self._empty = frame
            return
        if self.ext == ".csv":
            self._write_csv(neutralise_formulas(self.present(frame, cells=False) if self.present else frame,
                                                safe=_OWN_COLUMNS))
            return
        if self.ext == ".xlsx":
            self._write_xlsx(self.present(frame, cells=True) if self.present else frame)
            return
        gdf = self._geoframe(frame, lon, lat, sites)
        if self.ext == ".gpkg":
            # a file of sites may mix polygons, multipolygons and points: a layer of any geometry
            self._write_gpkg(gdf, any_geometry=sites is not None)
        else:  # GeoJSON and GeoParquet are assembled in memory
            self._geo_parts.append(gdf)

    def close(self, summary: dict | None = None) -> None:
        if self.ext == ".xlsx":
            if self._xlsx is None:
                empty = self._empty if self._empty is not None else pd.DataFrame()
                self._write_xlsx(self.present(empty, cells=True) if self.present else empty)
            wb, _ = self._xlsx
            ws = wb.create_sheet("resume")
            from .present import summary_rows

            for key, value in summary_rows(summary or {}, self.lang):
                ws.append([key, value])
            wb.save(self.path)
            return
        if self.ext == ".csv":
            if self._csv is None:
                empty = self._empty if self._empty is not None else pd.DataFrame()
                self._write_csv(self.present(empty, cells=False) if self.present else empty)
            self._csv[0].close()
            self._csv[2].close()
            return
        if self.ext == ".gpkg":
            if not self._gpkg_started:
                self._write_gpkg(self._geoframe(self._empty, np.empty(0), np.empty(0)))
            return
        import geopandas as gpd

        parts = self._geo_parts or [self._geoframe(self._empty, np.empty(0), np.empty(0))]
        whole = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        gdf = gpd.GeoDataFrame(whole, geometry=whole.geometry.name, crs="EPSG:4326")
        if self.ext == ".parquet":
            gdf.to_parquet(self.path, index=False)  # GeoParquet (WKB, with its "geo" metadata)
        else:
            gdf.to_file(self.path, driver="GeoJSON", engine="pyogrio", use_arrow=True)

    def _geoframe(self, frame, lon, lat, sites=None):
        import geopandas as gpd

        frame = frame if frame is not None else pd.DataFrame()
        geom_col = "geometry" if "geometry" not in frame.columns else "_qpvgeo_geometry"
        ok = np.isfinite(lon) & np.isfinite(lat)
        pts = np.asarray(gpd.points_from_xy(np.where(ok, lon, 0.0), np.where(ok, lat, 0.0)), dtype=object)
        pts[~ok] = None
        if sites is not None:
            polygon = np.not_equal(sites, None)
            pts[polygon] = sites[polygon]
        out = frame.copy()  # written through Arrow: nullable booleans stay BOOLEAN fields, with NULLs
        out[geom_col] = pts
        return gpd.GeoDataFrame(out, geometry=geom_col, crs="EPSG:4326")

    def _write_gpkg(self, gdf, *, any_geometry: bool = False) -> None:
        gdf.to_file(self.path, driver="GPKG", layer=self.layer, engine="pyogrio", append=self._gpkg_started,
                    use_arrow=True, **({"geometry_type": "Unknown"} if any_geometry else {}),
                    layer_options=None if self._gpkg_started else {"FID": "qpvgeo_fid", "GEOMETRY_NAME": "geom"})
        self._gpkg_started = True

    def _write_xlsx(self, frame: pd.DataFrame) -> None:
        """Rows as real cells: numbers as numbers, booleans as booleans, text as text (never a
        formula: a text cell that starts with '=' is written as text)."""
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        if self._xlsx is None:
            wb = Workbook(write_only=True)
            ws = wb.create_sheet("resultats")
            ws.append([str(c) for c in frame.columns])
            self._xlsx = (wb, ws)
        ws = self._xlsx[1]
        kinds = [_xlsx_kind(frame[c], c in self.number_columns) for c in frame.columns]
        for row in frame.itertuples(index=False, name=None):
            cells = []
            for v, kind in zip(row, kinds):
                v = _xlsx_value(v, kind)
                if isinstance(v, str) and v[:1] in _FORMULA_START:
                    cell = WriteOnlyCell(ws, value=v)
                    cell.data_type = "s"
                    v = cell
                cells.append(v)
            ws.append(cells)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type)
                                      for f in table.schema]))
        if self._csv is None:
            sink = pa.OSFile(str(self.path), "wb")
            if self.bom:
                sink.write(b"\xef\xbb\xbf")  # UTF-8 with BOM: French Excel then reads the accents right
            self._csv = (pacsv.CSVWriter(sink, table.schema, write_options=pacsv.WriteOptions(
                delimiter=self.delimiter, quoting_style="needed")), table.schema, sink)
        elif table.schema != self._csv[1]:
            table = table.cast(self._csv[1])
        self._csv[0].write_table(table)


_DECIMAL_CELL = re.compile(r"^-?(0|[1-9]\d{0,14})\.\d+$")
_NUMBER_CELL = re.compile(r"^-?(0|[1-9]\d{0,14})([.,]\d+)?$")


def _xlsx_kind(col: pd.Series, coordinates: bool = False) -> str:
    """How a column is written: booleans, numbers, text; input text becomes numbers in the
    coordinate columns, cell by cell (a cell that is not a number, such as the fields of an
    unreadable row, stays text there), and in columns of decimal numbers only (codes such as
    62765 stay text)."""
    if pd.api.types.is_bool_dtype(col.dtype) or isinstance(col.dtype, pd.BooleanDtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(col.dtype):
        return "number"
    if coordinates:
        return "coordinate"
    values = col[col.astype(str) != ""].astype(str)
    if len(values) and values.str.match(_DECIMAL_CELL).all():
        return "number"
    return "text"


def _xlsx_value(v, kind: str):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
        return None
    if kind == "bool":
        return bool(v)
    if kind == "number" or (kind == "coordinate" and _NUMBER_CELL.match(str(v))):
        f = float(str(v).replace(",", "."))
        return int(f) if f.is_integer() and abs(f) < 1e15 else f
    return str(v)


def check_columns_free(columns, reserved, *, path_name: str) -> None:
    """Refuse an input whose columns clash with the result columns (they would be overwritten)."""
    clash = [c for c in columns if c in set(reserved)]
    if clash:
        raise InputError(f"{path_name} already has the column(s) {clash}, which qpvgeo writes (is it an output "
                         "of qpvgeo?): rename or drop them first")


__all__ = ["CsvFormat", "Chunk", "TableWriter", "sniff_csv", "iter_chunks", "read_vector", "read_site",
           "local_input", "to_float", "neutralise_formulas"]
