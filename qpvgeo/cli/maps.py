"""``qpvgeo map eligibility / fragility / qpv``."""

from __future__ import annotations

from pathlib import Path

import click

from . import main
from .check import make_checker
from .fragility import allow_partial_option, run_fragility
from .options import (
    carreaux_options,
    fragility_rule_options,
    location_options,
    map_output_options,
    perimeter_options,
    rule_options,
    selection_options,
    site_options,
)


def _write(spec, output, default_name, fmt, tiles, overwrite, page):
    from .. import maps

    path = Path(output) if output else Path("maps") / f"{default_name}.{fmt}"
    for p in maps.save(spec, path, fmt=fmt, tiles=tiles, overwrite=overwrite, page=page):
        click.echo(f"wrote {p}")


@main.group("map")
def map_group():
    """Maps: interactive HTML (opens offline) or PNG/PDF for the rapport."""


@map_group.command("eligibility")
@click.option("--points", default=None, metavar="FILE", help="Points to check and show (CSV, GeoJSON, GPKG).")
@location_options
@site_options
@selection_options
@map_output_options
@rule_options
@perimeter_options
def map_eligibility(points, locations, site, feature, site_layer, departement, epci, commune, codes, output, fmt,
                    page, tiles, overwrite, rule, perimeters):
    """Quartiers, the band, and checked points or a site, coloured by status. Answers are given
    against every loaded quartier; --epci/--departement/--commune/--code only choose what is drawn.

    Example: qpvgeo map eligibility --points sites.csv --lon-col lon --lat-col lat --epci 200069037
    """
    from .. import _tables, maps
    from ..batch import check_rows
    from ..perimeters import select

    checker = make_checker(perimeters, rule)
    filters = {"departement": departement, "epci": epci, "commune": commune, "code": list(codes) or None}
    shown = select(checker.perimeters, **filters) if any(filters.values()) else None
    frame = check_rows(points, checker, lang="fr", **locations.batch_options()) if points else None  # French maps
    site_gdf = _tables.read_site(site, crs=locations.crs, feature=feature, layer=site_layer) if site else None
    spec = maps.eligibility_spec(checker, shown=shown, points=frame, site=site_gdf)
    _write(spec, output, "eligibilite" + (f"-{epci}" if epci else ""), fmt, tiles, overwrite, page)


@map_group.command("fragility")
@click.option("--epci", required=True, help="EPCI SIREN (CAPSO: 200069037).")
@click.option("--variable", type=click.Choice(["rate", "ratio"]), default="rate", show_default=True,
              help="Colour the carreaux by poverty rate or by ratio to the reference.")
@fragility_rule_options
@click.option("--reference-rate", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Give the reference rate (fraction, e.g. 0.1724).")
@allow_partial_option
@map_output_options
@carreaux_options
@perimeter_options
def map_fragility(epci, variable, frule, reference_rate, allow_partial, output, fmt, page, tiles, overwrite, grid,
                  perimeters):
    """Carreaux by poverty rate, fragile carreaux, candidate zones and QPV.

    Example: qpvgeo map fragility --epci 200069037
    """
    from .. import maps

    res = run_fragility(grid, perimeters, frule, epci=epci, reference_rate=reference_rate,
                        allow_partial=allow_partial)
    spec = maps.fragility_spec(res, perimeters.load(), variable=variable)
    _write(spec, output, f"fragilite-{epci}", fmt, tiles, overwrite, page)


@map_group.command("qpv")
@selection_options
@map_output_options
@perimeter_options
def map_qpv(departement, epci, commune, codes, output, fmt, page, tiles, overwrite, perimeters):
    """The quartiers (QPV, and QIC with --qic) of an EPCI or a département.

    Example: qpvgeo map qpv --epci 200069037 --format pdf
    """
    from .. import maps
    from ..perimeters import select

    per = select(perimeters.load(), epci=epci, departement=departement, commune=commune, code=list(codes) or None)
    if per.empty:
        from ..errors import InputError

        raise InputError("no quartier matches these filters: check them against qpvgeo perimeters")
    spec = maps.qpv_spec(per)
    _write(spec, output, "qpv" + (f"-{epci}" if epci else ""), fmt, tiles, overwrite, page)
