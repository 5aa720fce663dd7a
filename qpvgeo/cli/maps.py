from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from .. import maps
from ..batch import check_table, iter_chunks
from ..eligibility import Checker, Rule
from ..fragility import FragilityRule, fragility
from ..perimeters import select
from ..territory import load_communes
from . import main
from ._common import load_from_options, perimeter_options
from .fragility import _load_grid, carreaux_options


def output_options(f):
    f = click.option("--overwrite", is_flag=True, help="Replace existing files.")(f)
    f = click.option("--tiles", default="OpenStreetMap", show_default=True,
                     help="Base tiles of the HTML map, or 'none' (vector layers only, fully offline).")(f)
    f = click.option("--format", "fmt", type=click.Choice(["html", "png", "pdf"]), default="html", show_default=True,
                     help="html: interactive, self-contained; png/pdf: print at A4 width, 300 dpi.")(f)
    f = click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
                     help="Output file (default: maps/<name>.<format>).")(f)
    return f


def _write(spec, output, default_name, fmt, tiles, overwrite):
    path = Path(output) if output else Path("maps") / f"{default_name}.{fmt}"
    for p in maps.save(spec, path, fmt=fmt, tiles=tiles, overwrite=overwrite):
        click.echo(f"wrote {p}")


@main.group("map")
def map_group():
    """Maps: interactive HTML (opens offline) or PNG/PDF for the rapport."""


@map_group.command("eligibility")
@click.option("--points", default=None, metavar="FILE", help="Points to check and show (CSV, GeoJSON, GPKG).")
@click.option("--lon-col", default=None)
@click.option("--lat-col", default=None)
@click.option("--address-cols", default=None, help="Address columns to geocode, comma-separated.")
@click.option("--site", default=None, metavar="FILE", help="A project site to show.")
@click.option("--epci", default=None, help="Only the quartiers of this EPCI.")
@click.option("--departement", default=None)
@click.option("--band-m", type=float, default=300.0, show_default=True)
@click.option("--band-classes", default="QPV", show_default=True)
@output_options
@perimeter_options
def map_eligibility(points, lon_col, lat_col, address_cols, site, epci, departement, band_m, band_classes, output,
                    fmt, tiles, overwrite, source, vintage, layer, qic_source):
    """Quartiers, the band, and checked points or a site, coloured by status.

    Example: qpvgeo map eligibility --points sites.csv --lon-col lon --lat-col lat --epci 200069037
    """
    import geopandas as gpd

    per = select(load_from_options(source, vintage, layer, qic_source), epci=epci, departement=departement)
    checker = Checker(per, rule=Rule(band_m=band_m, band_classes=tuple(band_classes.split(","))))
    frame = None
    if points:
        parts = []
        for attrs, lon, lat in iter_chunks(points):
            part = check_table(attrs, checker, lonlat=(lon, lat) if lon is not None else None, lon_col=lon_col,
                               lat_col=lat_col,
                               address_cols=address_cols.split(",") if address_cols else None)
            plon, plat = part.attrs.pop("lonlat")
            part["lon"], part["lat"] = plon, plat
            parts.append(part)
        frame = pd.concat(parts, ignore_index=True)
    site_gdf = gpd.read_file(site, engine="pyogrio") if site else None
    spec = maps.eligibility_spec(checker, points=frame, site=site_gdf)
    _write(spec, output, "eligibilite" + (f"-{epci}" if epci else ""), fmt, tiles, overwrite)


@map_group.command("fragility")
@click.option("--epci", required=True)
@click.option("--variable", type=click.Choice(["rate", "ratio"]), default="rate", show_default=True,
              help="Colour the carreaux by poverty rate or by ratio to the reference.")
@click.option("--factor", type=float, default=2.0, show_default=True)
@click.option("--min-households", type=float, default=50, show_default=True)
@click.option("--min-individuals", type=float, default=100, show_default=True)
@click.option("--contact", type=click.Choice(["edge", "corner"]), default="edge", show_default=True)
@click.option("--reference-rate", type=float, default=None)
@output_options
@carreaux_options
def map_fragility(epci, variable, factor, min_households, min_individuals, contact, reference_rate, output, fmt, tiles,
                  overwrite, carreaux_source, carreaux_vintage, membership, communes_file, source, vintage, layer,
                  qic_source):
    """Carreaux by poverty rate, fragile carreaux, candidate zones and QPV.

    Example: qpvgeo map fragility --epci 200069037
    """
    grid, table = _load_grid(carreaux_source, carreaux_vintage, epci, membership, communes_file)
    per = load_from_options(source, vintage, layer, qic_source)
    res = fragility(grid, epci=epci, perimeters=per, reference=reference_rate, membership=table,
                    rule=FragilityRule(factor=factor, min_households=min_households,
                                       min_individuals=min_individuals, contact=contact),
                    communes=load_communes(communes_file) if communes_file else None)
    spec = maps.fragility_spec(res, per, variable=variable)
    _write(spec, output, f"fragilite-{epci}", fmt, tiles, overwrite)


@map_group.command("qpv")
@click.option("--epci", default=None)
@click.option("--departement", default=None)
@click.option("--code", "codes", multiple=True)
@output_options
@perimeter_options
def map_qpv(epci, departement, codes, output, fmt, tiles, overwrite, source, vintage, layer, qic_source):
    """The quartiers (QPV, and QIC with --qic) of an EPCI or a département.

    Example: qpvgeo map qpv --epci 200069037 --format pdf
    """
    per = select(load_from_options(source, vintage, layer, qic_source), epci=epci, departement=departement,
                 code=list(codes) or None)
    spec = maps.qpv_spec(per)
    _write(spec, output, "qpv" + (f"-{epci}" if epci else ""), fmt, tiles, overwrite)
