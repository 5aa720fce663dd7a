"""``qpvgeo fiche``: fiches quartier for the rapport, and their index."""

from __future__ import annotations

import click

from ..errors import InputError
from . import main
from .check import make_checker
from .options import (
    carreaux_options,
    overwrite_option,
    page_option,
    people_options,
    perimeter_options,
    rule_options,
)


@main.command("fiche")
@click.argument("codes", nargs=-1)
@click.option("--epci", default=None, help="Every quartier of this EPCI (SIREN; CAPSO: 200069037).")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Folder for one fiche per quartier (<code>.html or .pdf) and index.html.")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True,
              help="html: self-contained, opens offline and prints on A4; pdf: A4 pages, TrueType fonts.")
@page_option
@click.option("--points", "point_files", multiple=True, metavar="[NAME=]FILE",
              help="A point layer to count in each quartier and its band: schools, a GTFS stops.txt, services "
                   "(CSV with coordinates, GeoJSON, GPKG…); repeatable.")
@click.option("--old", "old_source", default=None, metavar="FILE_OR_URL",
              help="Perimeters of another geography (e.g. 'official' with --old-vintage 2015): each fiche shows "
                   "its quartier's change.")
@click.option("--old-vintage", type=int, default=None, help="Vintage of --old.")
@people_options
@overwrite_option
@rule_options
@carreaux_options
@perimeter_options
def fiche_cmd(codes, epci, outdir, fmt, page, point_files, old_source, old_vintage, people, overwrite,
              rule, grid, perimeters):
    """Fiches quartier in French (identity, map, people with their bracket, poverty against the
    EPCI, candidate fragile zones nearby, point layers, change), one per quartier, and an index.
    Fragility follows the contract's rule (docs/rules.md §2); change it with qpvgeo fragility.

    \b
    Example:
      qpvgeo fiche --epci 200069037 -o out/fiches
    """
    from .. import config
    from .. import fiche as fiches
    from ..perimeters import load_perimeters, select
    from ..present import grouped

    if bool(codes) == bool(epci):
        raise InputError("give quartier codes (qpvgeo fiche QN06236M …) or --epci SIREN, not both")
    s = config.get_settings()
    checker = make_checker(perimeters, rule)
    chosen = select(checker.perimeters, code=list(codes)) if codes else select(checker.perimeters, epci=epci)
    if chosen.empty:
        what = f"is in EPCI {epci}" if epci else f"has the code(s) {', '.join(codes)}"
        raise InputError(f"no quartier of the loaded layer {what}: check it with qpvgeo perimeters")
    layers = []
    for item in point_files:
        name, _, path = item.rpartition("=") if "=" in item and not item.startswith(("http:", "https:")) \
            else ("", "", item)
        layers.append(fiches.load_point_layer(path, checker, name=name or None))
    old = load_perimeters(old_source, vintage=old_vintage, settings=s) if old_source else None
    built = fiches.build(chosen, checker, source=grid.source, vintage=grid.vintage, membership=grid.membership,
                         communes=grid.communes, official=people.official, weights=people.weights_around(chosen),
                         point_layers=layers, old=old, settings=s)
    with click.progressbar(length=len(built), label="writing the fiches", file=click.get_text_stream("stderr"),
                           show_eta=False) as bar:
        written = fiches.write(built, outdir, fmt=fmt, overwrite=overwrite, page=page,
                               on_progress=lambda _f: bar.update(1))
    for f in built:
        people_n, kind = f.people
        click.echo(f"{f.code}  {f.nom}: " + (fiches.PEOPLE_EN[kind].format(n=grouped(people_n))
                                              if people_n is not None else "people: no data (not zero)")
                   + (f", {len(f.zones)} candidate zone(s) near" if f.reference is not None
                      else ", candidate zones: no data (the grid does not cover the EPCI)"))
    for p in written:
        click.echo(f"wrote {p}")
