"""``qpvgeo perimeters``: list and export the quartiers."""

from __future__ import annotations

from pathlib import Path

import click

from . import echo_json, main
from .options import overwrite_option, perimeter_options, selection_options


@main.command("perimeters")
@perimeter_options
@selection_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Export the quartiers with their outlines (.geojson, .gpkg or .shp).")
@overwrite_option
def perimeters_cmd(perimeters, departement, epci, commune, codes, fmt, output, overwrite):
    """List quartiers (QPV, QIC) with their code, name, communes and EPCI.

    Example: qpvgeo perimeters --epci 200069037 --format json
    """
    from .. import _io
    from ..perimeters import SCHEMA, flatten_lists, select, to_records

    gdf = select(perimeters.load(), departement=departement, epci=epci, commune=commune,
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
    from ..territory import commune_names

    names = commune_names()
    table = flatten_lists(gdf)[SCHEMA[:-1]]
    table.insert(3, "noms_communes", gdf["communes"].map(lambda cs: ", ".join(names.get(c, c) for c in cs)).values)
    click.echo(table.to_string(index=False, max_colwidth=40))
    click.echo(f"\n{len(gdf)} quartier(s); source: {gdf['source'].iloc[0]}")
