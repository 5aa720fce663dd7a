from __future__ import annotations

from pathlib import Path

import click

from .. import _io
from ..perimeters import SCHEMA, flatten_lists, select, to_records
from . import echo_json, main
from ._common import load_from_options, perimeter_options


@main.command("perimeters")
@perimeter_options
@click.option("--departement", default=None, help="Département code (62, 2A, 974).")
@click.option("--epci", default=None, help="EPCI SIREN (CAPSO: 200069037).")
@click.option("--commune", default=None, help="Commune INSEE code.")
@click.option("--code", "codes", multiple=True, help="Quartier code (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Export the quartiers with their outlines (.geojson, .gpkg or .shp).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def perimeters_cmd(source, vintage, layer, qic_source, departement, epci, commune, codes, fmt,
                   output, overwrite):
    """List quartiers (QPV, QIC) with their code, name, communes and EPCI.

    Example: qpvgeo perimeters --epci 200069037 --format json
    """
    gdf = load_from_options(source, vintage, layer, qic_source)
    gdf = select(gdf, departement=departement, epci=epci, commune=commune,
                 code=list(codes) or None)
    if output:
        _io.write_vector(flatten_lists(gdf), output, layer="perimetres", overwrite=overwrite)
        click.echo(f"wrote {len(gdf)} quartiers to {Path(output)}", err=True)
    if fmt == "json":
        echo_json(to_records(gdf))
        return
    if gdf.empty:
        click.echo("no quartier matches these filters")
        return
    table = flatten_lists(gdf)[SCHEMA[:-1]]
    click.echo(table.to_string(index=False, max_colwidth=40))
    click.echo(f"\n{len(gdf)} quartier(s); source: {gdf['source'].iloc[0]}")
