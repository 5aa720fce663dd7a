"""Where the locations of a table are, when the user does not say: coordinate columns recognised
by their names (in any case, with or without accents), their CRS recognised from their values,
or address columns (GTFS ``stops.txt`` is read by its ``stop_lon``/``stop_lat``). Never a silent
guess: what was used is said, and an ambiguous table is an error that lists its columns.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError

LON_NAMES = ("lon", "lng", "long", "longitude", "longitudewgs84", "geolon", "x", "coordx", "xcoord", "coordonneex",
             "xl93", "xlambert93", "xlambert", "xwgs84", "stoplon")
LAT_NAMES = ("lat", "latitude", "latitudewgs84", "geolat", "y", "coordy", "ycoord", "coordonneey", "yl93",
             "ylambert93", "ylambert", "ywgs84", "stoplat")
# a column holding each place in one cell: WKT (QGIS's CSV export), GeoJSON, or a pair of numbers
# (Opendatasoft's "Geo Point" is "lat, lon", its "Geo Shape" GeoJSON)
GEOMETRY_NAMES = ("wkt", "geometry", "geometrie", "geom", "thegeom", "geoshape", "geopoint", "geopoint2d",
                  "coordonnees", "coordonneesgps", "coordinates", "latlon", "latlong", "latlng", "lonlat")
ADDRESS_NAMES = ("adresse", "address", "adressecomplete", "adressepostale", "adr", "label", "resultlabel")
NUMBER_NAMES = ("numero", "num", "no", "numvoie", "numerovoie", "housenumber")
STREET_NAMES = ("voie", "rue", "nomvoie", "libellevoie", "street", "nomdelavoie")
POSTCODE_NAMES = ("codepostal", "cp", "postcode", "postalcode")
CITY_NAMES = ("commune", "ville", "city", "nomcommune", "localite", "libellecommune")
CITYCODE_NAMES = ("codeinsee", "insee", "citycode", "codecommune", "depcom", "codgeo", "inseecom")

# the metric CRS of each territory (docs/rules.md §5), tried on values out of the degree range
PROJECTED = (2154, 5490, 2972, 2975, 4471)


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _find(columns, names) -> str | None:
    keys = {}
    for c in columns:
        keys.setdefault(_key(c), c)
    return next((keys[n] for n in names if n in keys), None)


def find_locations(columns, sample) -> dict:
    """Options of :func:`qpvgeo.batch.check_table` for a table whose locations were not given.

    ``columns`` are the table's column names, ``sample`` a DataFrame of its first rows (text).
    Returns ``lon_col``, ``lat_col``, ``crs`` (None for degrees) or ``address_cols``,
    ``citycode_col``, ``postcode_col``, and ``how``: a sentence saying what was assumed.
    """
    lon, lat = _find(columns, LON_NAMES), _find(columns, LAT_NAMES)
    if lon and lat:
        crs, why = _crs_of(sample[lon], sample[lat], lon, lat)
        return {"lon_col": lon, "lat_col": lat, "crs": crs,
                "how": f"coordinates from the columns {lon!r} and {lat!r}, {why}"}
    places = [c for c in columns if _key(c) in GEOMETRY_NAMES]
    readings = [r for r in (read_geometry_column(c, sample, must=False) for c in places) if r is not None]
    if readings:
        # a column of polygons (sites) before one of points (Opendatasoft gives both: the shape
        # and its centre), else the first column that reads
        found = next((r for r in readings if r["geometry_sites"] and r["polygons"]), readings[0])
        found.pop("polygons")
        return found
    address = _find(columns, ADDRESS_NAMES)
    number, street = _find(columns, NUMBER_NAMES), _find(columns, STREET_NAMES)
    postcode, city, citycode = (_find(columns, POSTCODE_NAMES), _find(columns, CITY_NAMES),
                                _find(columns, CITYCODE_NAMES))
    parts = [address] if address else [c for c in (number, street) if c]
    if parts:
        parts += [c for c in (postcode, city) if c and c not in parts]
        return {"address_cols": parts, "citycode_col": citycode, "postcode_col": postcode,
                "how": f"addresses from the columns {', '.join(map(repr, parts))}, geocoded with the BAN"
                       + (f" (commune code from {citycode!r})" if citycode else "")}
    raise InputError(f"cannot tell where the locations are: no coordinate columns (lon/lat, longitude/latitude, "
                     f"x/y) nor address columns (adresse, numero + voie, commune) among the file's columns "
                     f"{list(columns)}; name them with --lon-col/--lat-col or --address-cols",
                     fr="impossible de savoir où sont les lieux : ni colonnes de coordonnées (lon/lat, "
                        "longitude/latitude, x/y) ni colonnes d'adresse (adresse, numero + voie, commune) parmi "
                        f"les colonnes du fichier ({', '.join(map(str, columns))}) ; renommez-les ainsi")


_MOSTLY = 0.9  # share of a sample's pairs that must fit a reading of the coordinates


def read_geometry_column(name: str, sample, *, crs: str | None = None, must: bool = True) -> dict | None:
    """How to read the column ``name`` of places written in one cell (WKT, GeoJSON, a pair of
    numbers; :func:`qpvgeo._tables.geometries_of_text`), from a ``sample`` of its first rows:
    options ``geometry_col``, ``geometry_lat_first`` (pairs written ``lat, lon``, found when only
    that order puts them in a French territory), ``geometry_sites`` (a column of WKT or GeoJSON,
    which may hold polygons: the site columns are written), ``crs`` (GeoJSON is WGS84; EWKT gives
    its SRID; else ``crs``, or recognised from the values as for x/y columns), ``how``; and
    ``polygons`` (the sample holds some). Recognising a column (not ``must``), most of the
    sample's filled cells must read, else None; a column named by the user (``must``) is refused
    only when none of them reads (the others are then rows that say why)."""
    import numpy as np
    import shapely

    from ._tables import geometries_of_text, srid_of_text
    from .crs import TERRITORIES

    values = sample[name]
    geoms, written = geometries_of_text(values)
    read = np.not_equal(geoms, None)
    if not written.any() or read[written].mean() < (1e-9 if must else _MOSTLY):
        if not must:
            return None
        raise InputError(f"the column {name!r} does not hold places (WKT, GeoJSON or pairs of numbers such as "
                         f"2.26, 50.75) in most of its first rows",
                         fr=f"la colonne « {name} » ne contient pas de lieux (WKT, GeoJSON ou paires de nombres "
                            "comme 2.26, 50.75) dans la plupart de ses premières lignes")
    text = values.astype(str).str.strip()
    shapes = (text.str.startswith("{") | text.str.contains(r"^\s*(?:srid|multi|point|line|polygon|geometry)",
                                                           case=False, regex=True)).to_numpy()
    geojson = bool(text[written].str.startswith("{").all())
    lat_first = False
    if crs is None and not geojson:
        srid = srid_of_text(values)
        crs = f"EPSG:{srid}" if srid is not None and srid != 4326 else None
    box = shapely.bounds(geoms[read])
    x, y = (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2
    if crs is None and not geojson:
        pairs = read & ~shapes
        if pairs.any() and not shapes[read].any():
            def inside(lo, la) -> float:
                return float(np.mean(np.any([t.contains_lonlat(lo, la) for t in TERRITORIES], axis=0)))
            lat_first = inside(x, y) < _MOSTLY and inside(y, x) >= _MOSTLY
            if lat_first:
                x, y = y, x
        crs, why = _crs_of_values(x, y, name, name)
    else:
        why = "in WGS84 (GeoJSON)" if geojson else f"in {crs}"
    kinds = "WKT or GeoJSON" if shapes[read].any() else "pairs of numbers" + (", latitude first" if lat_first else "")
    return {"geometry_col": name, "geometry_lat_first": lat_first, "geometry_sites": bool(shapes[read].any()),
            "crs": crs, "polygons": bool(np.isin(shapely.get_type_id(geoms[read]), (3, 6)).any()),
            "how": f"places from the column {name!r} ({kinds}), {why}"}


def _crs_of(xs, ys, lon: str, lat: str) -> tuple[str | None, str]:
    """(CRS or None for degrees, words) from the values of a sample, or an error when ambiguous."""
    from ._tables import to_float

    x, _ = to_float(xs)
    y, _ = to_float(ys)
    return _crs_of_values(x, y, lon, lat)


def _crs_of_values(x, y, lon: str, lat: str) -> tuple[str | None, str]:
    import numpy as np
    import pyproj

    from .crs import TERRITORIES

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    # degrees when nearly all are (a typo in a few rows makes those rows invalid, not the file
    # projected), as a projected CRS needs nearly all of them in its territory
    if not x.size or ((np.abs(x) <= 180) & (np.abs(y) <= 90)).mean() >= _MOSTLY:
        return None, "in degrees (WGS84)"

    def share_inside(lo, la, territory) -> float:
        return float(territory.contains_lonlat(lo, la).mean())

    fits = []
    for epsg in PROJECTED:
        t = next(t for t in TERRITORIES if t.epsg == epsg)
        lo, la = pyproj.Transformer.from_crs(epsg, 4326, always_xy=True).transform(x, y)
        if share_inside(np.asarray(lo), np.asarray(la), t) >= _MOSTLY:
            fits.append(epsg)
    if len(fits) == 1:
        name = {2154: "Lambert-93"}.get(fits[0], f"EPSG:{fits[0]}")
        return f"EPSG:{fits[0]}", f"projected x/y in {name} (EPSG:{fits[0]}), recognised from their values"
    named = repr(lon) if lon == lat else f"{lon!r}/{lat!r}"
    raise InputError(f"the values of {named} are not degrees and match "
                     + ("none" if not fits else "several") + " of the territories' CRS "
                     f"({', '.join(f'EPSG:{e}' for e in (fits or PROJECTED))}): give their CRS with --crs",
                     fr=f"les valeurs de « {lon} »" + (f" et « {lat} »" if lat != lon else "")
                        + " ne sont pas des degrés, et ne correspondent "
                        + ("à aucun" if not fits else "à plusieurs") + " des systèmes des territoires ("
                        + ", ".join(f"EPSG:{e}" for e in (fits or PROJECTED)) + ") : indiquez leur système")
