"""Options shared by several commands, declared once (as rasterio does in ``rio/options.py``).

Each decorator adds a group of options and hands the command one object built from them: a
:class:`~qpvgeo.rules.Rule`, a :class:`~qpvgeo.rules.FragilityRule`, the perimeters to load, the
carreaux to load, where the locations of a file are. A rule option is therefore parsed the same
way on every command that builds that rule. Nothing here imports geopandas.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import click

from ..rules import COMPARISONS, CONTACTS, FRAGILITY_COMPARISONS, FragilityRule, Rule


def _wrap(f, build, names):
    """Decorator plumbing: pop ``names`` from the command's kwargs, pass ``build(**them)``."""

    @functools.wraps(f)
    def inner(*args, **kwargs):
        values = {n: kwargs.pop(n) for n in names}
        return f(*args, **build(**values), **kwargs)

    return inner


# ---------------------------------------------------------------------------- eligibility rule
def rule_options(f):
    """--band-m, --comparison, --band-classes → ``rule`` (a :class:`Rule`)."""
    f = _wrap(f, lambda band_m, comparison, band_classes: {
        "rule": Rule(band_m=band_m, comparison=comparison, band_classes=band_classes)},
        ("band_m", "comparison", "band_classes"))
    f = click.option("--band-classes", default="QPV", show_default=True,
                     help="Classes that get a band, comma-separated (e.g. QPV,QIC).")(f)
    f = click.option("--comparison", type=click.Choice(list(COMPARISONS)), default="<", show_default=True,
                     help="'<' for 'à moins de' (default) or '<='.")(f)
    f = click.option("--band-m", type=click.FloatRange(min=0), default=300.0, show_default=True,
                     help="Band distance on the ground, metres.")(f)
    return f


# ---------------------------------------------------------------------------- perimeters
@dataclass(frozen=True)
class PerimeterChoice:
    """Which perimeters a command loads (``--source``, ``--vintage``, ``--layer``, ``--qic``)."""

    source: str | None = None
    vintage: int | None = None
    layer: str | None = None
    qic: str | None = None

    def load(self):
        from .. import config
        from ..perimeters import load_layers

        return load_layers(self.source, vintage=self.vintage, layer=self.layer, qic=self.qic,
                           settings=config.get_settings())


def perimeter_options(f):
    """--source, --vintage, --layer, --qic → ``perimeters`` (a :class:`PerimeterChoice`)."""
    f = _wrap(f, lambda source, vintage, layer, qic_source: {
        "perimeters": PerimeterChoice(source, vintage, layer, qic_source)},
        ("source", "vintage", "layer", "qic_source"))
    f = click.option("--qic", "qic_source", default=None, metavar="FILE",
                     help="A local layer of quartiers d'intérêt communautaire (class QIC).")(f)
    f = click.option("--layer", default=None, help="Layer or archive member of the perimeters to read (substring).")(f)
    f = click.option("--vintage", type=int, default=None,
                     help="Geography vintage (2024 default; 2015 downloads the official file).")(f)
    f = click.option("--source", default=None, metavar="FILE_OR_URL",
                     help="Perimeters: 'embedded' (default), 'official', a ZIP/GeoJSON/GPKG/SHP path or a URL.")(f)
    return f


def selection_options(f):
    """--departement, --epci, --commune, --code: what a command shows or lists."""
    f = click.option("--code", "codes", multiple=True, help="Quartier code (repeatable).")(f)
    f = click.option("--commune", default=None, help="Commune: INSEE code or name (e.g. Béthune).")(f)
    f = click.option("--epci", default=None, help="EPCI SIREN (CAPSO: 200069037).")(f)
    f = click.option("--departement", default=None, help="Département code (62, 2A, 974).")(f)
    return f


# ---------------------------------------------------------------------------- locations in a file
@dataclass(frozen=True)
class Locations:
    """Where the locations of a table are: coordinates columns (in ``crs``) or address columns."""

    lon_col: str | None = None
    lat_col: str | None = None
    crs: str | None = None
    address_cols: list[str] | None = None
    citycode_col: str | None = None
    postcode_col: str | None = None
    layer: str | None = None
    sheet: str | None = None
    geometry_col: str | None = None

    def batch_options(self) -> dict:
        """Keyword arguments of :func:`qpvgeo.batch.check_file` / ``check_rows``."""
        return {"lon_col": self.lon_col, "lat_col": self.lat_col, "crs": self.crs,
                "address_cols": self.address_cols, "citycode_col": self.citycode_col,
                "postcode_col": self.postcode_col, "layer": self.layer, "sheet": self.sheet,
                **({"geometry_col": self.geometry_col} if self.geometry_col else {})}


def location_options(f):
    """--lon-col, --lat-col, --geometry-col, --crs, --address-cols, --citycode-col, --postcode-col,
    --input-layer, --sheet → ``locations`` (a :class:`Locations`). Without them, the columns are
    recognised."""
    def build(lon_col, lat_col, geometry_col, crs, address_cols, citycode_col, postcode_col, input_layer, sheet):
        cols = [c.strip() for c in address_cols.split(",") if c.strip()] if address_cols else None
        return {"locations": Locations(lon_col, lat_col, crs, cols, citycode_col, postcode_col, input_layer,
                                       sheet, geometry_col)}

    f = _wrap(f, build, ("lon_col", "lat_col", "geometry_col", "crs", "address_cols", "citycode_col",
                         "postcode_col", "input_layer", "sheet"))
    f = click.option("--sheet", default=None,
                     help="Sheet of a spreadsheet (name, or number from 1; default the first).")(f)
    f = click.option("--input-layer", default=None, help="Layer of a multi-layer input file (GPKG).")(f)
    f = click.option("--postcode-col", default=None, help="Column of postcodes (helps the geocoder).")(f)
    f = click.option("--citycode-col", default=None, help="Column of INSEE commune codes (helps the geocoder).")(f)
    f = click.option("--address-cols", default=None,
                     help="Columns joined into the address to geocode, comma-separated.")(f)
    f = click.option("--crs", default=None,
                     help="CRS of --lon-col/--lat-col or of --geometry-col's WKT when not WGS84 (e.g. EPSG:2154).")(f)
    f = click.option("--geometry-col", default=None,
                     help="Column holding each place in one cell: WKT (a QGIS CSV export; polygons are sites), "
                          "GeoJSON, or a pair such as '50.75, 2.26' (the order found from the values); "
                          "default: recognised (WKT, geometry, Geo Point, Geo Shape, …).")(f)
    f = click.option("--lat-col", default=None, help="Column of latitudes (or Y with --crs); default: recognised.")(f)
    f = click.option("--lon-col", default=None, help="Column of longitudes (or X with --crs); default: recognised "
                     "(lon, longitude, x, …; the CRS from the values).")(f)
    return f


def site_options(f):
    """--site, --feature, --site-layer: a project site (file or WKT)."""
    f = click.option("--site-layer", default=None, help="Layer of a multi-layer site file (GPKG).")(f)
    f = click.option("--feature", type=click.IntRange(min=0), default=None,
                     help="With --site: which feature of the file (0-based).")(f)
    f = click.option("--site", default=None, metavar="FILE_OR_WKT",
                     help="A project site: GeoJSON/GPKG/SHP file, or a WKT polygon (in --crs).")(f)
    return f


# ---------------------------------------------------------------------------- fragility
def fragility_rule_options(f):
    """--factor, --comparison, --min-households, --min-individuals, --contact → ``frule``."""
    f = _wrap(f, lambda factor, comparison, min_households, min_individuals, contact: {
        "frule": FragilityRule(factor=factor, comparison=comparison, min_households=min_households,
                               min_individuals=min_individuals, contact=contact)},
        ("factor", "comparison", "min_households", "min_individuals", "contact"))
    f = click.option("--contact", type=click.Choice(list(CONTACTS)), default="edge", show_default=True,
                     help="Carreaux touching by an edge only, or also by a corner, form one zone.")(f)
    f = click.option("--min-individuals", type=click.FloatRange(min=0), default=100, show_default=True,
                     help="Minimum people in a carreau (OR the households minimum).")(f)
    f = click.option("--min-households", type=click.FloatRange(min=0), default=50, show_default=True,
                     help="Minimum households in a carreau (OR the people minimum).")(f)
    f = click.option("--comparison", type=click.Choice(list(FRAGILITY_COMPARISONS)), default=">=",
                     show_default=True, help="Rate compared with factor × reference.")(f)
    f = click.option("--factor", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
                     help="Rate ≥ factor × the EPCI's reference rate.")(f)
    return f


@dataclass(frozen=True)
class GridChoice:
    """Which carreaux a command loads, and the commune tables that place them in EPCI."""

    source: str | None = None
    vintage: int | None = None
    membership: str | None = None
    communes: str | None = None


def carreaux_options(f):
    """--carreaux, --carreaux-vintage, --membership, --communes → ``grid`` (a :class:`GridChoice`)."""
    f = _wrap(f, lambda carreaux_source, carreaux_vintage, membership, communes_file: {
        "grid": GridChoice(carreaux_source, carreaux_vintage, membership, communes_file)},
        ("carreaux_source", "carreaux_vintage", "membership", "communes_file"))
    f = click.option("--membership", default=None, metavar="CSV",
                     help="Commune → EPCI table (DGCL epcicom format); default: embedded, Pas-de-Calais 2026.")(f)
    f = click.option("--communes", "communes_file", default=None, metavar="FILE",
                     help="Commune outlines (for grids without lcog_geo); default: embedded, Pas-de-Calais.")(f)
    f = click.option("--carreaux-vintage", type=int, default=None, help="Filosofi vintage (2021 default).")(f)
    f = click.option("--carreaux", "carreaux_source", default=None, metavar="FILE_OR_URL",
                     help="Filosofi 200 m file (CSV, GPKG, parquet, ZIP), 'official' or 'embedded' (default).")(f)
    return f


@dataclass(frozen=True)
class PeopleChoice:
    """How people are counted (``--weights``, ``--weights-layer``, ``--weights-col``, ``--official``)."""

    weights: str | None = None
    weights_layer: str | None = None
    weights_col: str | None = None
    official: str | None = None

    def weights_around(self, perimeters):
        """The weight layer read around ``perimeters``, or None for area weighting."""
        if not self.weights:
            return None
        from ..inhabitants import load_weights

        return load_weights(self.weights, around=perimeters, layer=self.weights_layer, column=self.weights_col)


def people_options(f):
    """--weights, --weights-layer, --weights-col, --official → ``people`` (a :class:`PeopleChoice`)."""
    f = _wrap(f, lambda weights, weights_layer, weights_col, official: {
        "people": PeopleChoice(weights, weights_layer, weights_col, official)},
        ("weights", "weights_layer", "weights_col", "official"))
    f = click.option("--official", default=None, metavar="FILE",
                     help="Official figures (CSV/xlsx: code_qp, population, year, source) shown beside the "
                          "estimate.")(f)
    f = click.option("--weights-col", default=None,
                     help="Column of the weights (default: nombre_de_logements if present).")(f)
    f = click.option("--weights-layer", default=None, help="Layer of the weights file.")(f)
    f = click.option("--weights", default=None, metavar="FILE",
                     help="Dasymetric weighting: buildings (with nombre_de_logements, as BD TOPO's BATIMENT), "
                          "building footprints, or address points; read only around the quartiers.")(f)
    return f


# ---------------------------------------------------------------------------- outputs
def overwrite_option(f):
    return click.option("--overwrite", is_flag=True, help="Replace existing output files.")(f)


def excel_option(f):
    return click.option("--excel", is_flag=True,
                        help="CSV for French Excel: UTF-8 with BOM, ';', decimal commas (with --lang fr: French "
                             "headers, words and oui/non).")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of text.")(f)


def page_option(f):
    from ..printmap import PAGES

    return click.option("--page", type=click.Choice(list(PAGES)), default="a4-portrait", show_default=True,
                        help="Paper of the print formats (png, pdf, svg).")(f)


def map_output_options(f):
    """-o, --format, --page, --tiles, --overwrite of the map commands."""
    from ..printmap import FORMATS

    f = overwrite_option(f)
    f = page_option(f)
    f = click.option("--tiles", default="OpenStreetMap", show_default=True,
                     help="Base tiles of the HTML map, or 'none' (vector layers only, fully offline).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["html", *FORMATS]), default="html", show_default=True,
                     help="html: interactive, self-contained; png (300 dpi), pdf (TrueType fonts), svg (text kept "
                          "as text, for layout software): print on --page.")(f)
    f = click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
                     help="Output file (default: maps/<name>.<format>).")(f)
    return f
