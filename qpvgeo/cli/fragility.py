from __future__ import annotations

import click
import pandas as pd

from .. import config
from ..carreaux import load_carreaux
from ..fragility import FragilityRule, fragility, fragility_all, population
from ..outputs import write_fragility
from ..perimeters import select
from ..territory import load_communes, load_membership
from . import echo_json, main
from ._common import load_from_options, perimeter_options


def carreaux_options(f):
    f = click.option("--membership", default=None, metavar="CSV",
                     help="Commune → EPCI table (DGCL epcicom format); default: embedded, Pas-de-Calais 2026.")(f)
    f = click.option("--communes", "communes_file", default=None, metavar="FILE",
                     help="Commune outlines (for grids without lcog_geo); default: embedded, Pas-de-Calais.")(f)
    f = click.option("--carreaux-vintage", type=int, default=None, help="Filosofi vintage (2021 default).")(f)
    f = click.option("--carreaux", "carreaux_source", default=None, metavar="FILE_OR_URL",
                     help="Filosofi 200 m file (CSV, GPKG, parquet, ZIP), 'official' or 'embedded' (default).")(f)
    return perimeter_options(f)


def _load_grid(carreaux_source, carreaux_vintage, epci, membership, communes_file):
    table = load_membership(membership)
    bbox = None
    communes = None
    if epci:
        from ..territory import communes_of_epci

        communes = communes_of_epci(epci, table)
        outline = load_communes(communes_file)
        outline = outline[outline["insee"].isin(communes)]
        if not outline.empty:
            b = outline.to_crs(3035).total_bounds
            bbox = (b[0] - 400, b[1] - 400, b[2] + 400, b[3] + 400)
    grid = load_carreaux(carreaux_source, vintage=carreaux_vintage, bbox=bbox, communes=communes,
                         settings=config.get_settings())
    return grid, table


@main.command("fragility")
@click.option("--epci", default=None, help="EPCI SIREN (CAPSO: 200069037).")
@click.option("--all-epci", is_flag=True, help="Every EPCI of the grid in one pass (e.g. the national file).")
@click.option("-o", "--output", "outdir", default=None, type=click.Path(file_okay=False),
              help="Folder for fragilite.gpkg, zones.csv, fragilite.tif and summary.json.")
@click.option("--factor", type=float, default=2.0, show_default=True, help="Rate ≥ factor × reference.")
@click.option("--comparison", type=click.Choice([">=", ">"]), default=">=", show_default=True)
@click.option("--min-households", type=float, default=50, show_default=True)
@click.option("--min-individuals", type=float, default=100, show_default=True)
@click.option("--contact", type=click.Choice(["edge", "corner"]), default="edge", show_default=True,
              help="Carreaux touching by an edge only, or also by a corner, form one zone.")
@click.option("--reference-rate", type=float, default=None, help="Give the reference rate (fraction, e.g. 0.1724).")
@click.option("--population", "known_population", type=float, default=None,
              help="Known population of the EPCI, to report the grid's coverage.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@carreaux_options
def fragility_cmd(epci, all_epci, outdir, factor, comparison, min_households, min_individuals, contact, reference_rate,
                  known_population, overwrite, as_json, carreaux_source, carreaux_vintage, membership,
                  communes_file, source, vintage, layer, qic_source):
    """Flag fragile carreaux (rate ≥ 2 × the EPCI's, ≥ 50 households or ≥ 100 people) and
    group them into candidate zones.

    \b
    Example:
      qpvgeo fragility --epci 200069037 -o out/capso
    """
    from ..errors import InputError

    if bool(epci) == bool(all_epci):
        raise InputError("give --epci SIREN, or --all-epci for every EPCI of the grid")
    grid, table = _load_grid(carreaux_source, carreaux_vintage, epci, membership, communes_file)
    perimeters = load_from_options(source, vintage, layer, qic_source)
    rule = FragilityRule(factor=factor, comparison=comparison, min_households=min_households,
                         min_individuals=min_individuals, contact=contact)
    communes = load_communes(communes_file) if communes_file else None
    if all_epci:
        if reference_rate is not None:
            raise InputError("--reference-rate applies to one EPCI; with --all-epci each EPCI has its own")
        res = fragility_all(grid, perimeters=perimeters, rule=rule, membership=table, communes=communes)
    else:
        res = fragility(grid, epci=epci, perimeters=perimeters, rule=rule, reference=reference_rate,
                        known_population=known_population, membership=table, communes=communes)
    files = write_fragility(res, outdir, overwrite=overwrite) if outdir else {}
    s = res.summary
    if as_json:
        echo_json({**s, "files": files})
        return
    if all_epci:
        click.echo(f"{s['epci_count']} EPCI, {s['carreaux']} carreaux ({s['carreaux_without_epci']} in no known EPCI)")
        click.echo(f"flagged: {s['flagged_carreaux']} carreaux ({s['flagged_imputed']} imputed), "
                   f"{s['zones_count']} candidate zones")
        top = pd.DataFrame(s["epci"]).sort_values("flagged_carreaux", ascending=False).head(20)
        click.echo(top[["epci", "reference_rate", "carreaux", "flagged_carreaux", "zones"]].to_string(index=False))
    else:
        _print_one(s)
    for path in files.values():
        click.echo(f"wrote {path}")


def _print_one(s: dict) -> None:
    click.echo(f"{s['nom_epci']} ({s['epci']}), Filosofi {s['vintage']}")
    click.echo(f"reference rate: {s['reference_rate']:.2%} ({s['reference_method']})")
    pop = f" = {s['individuals_share_of_population']:.1%} of {s['population']:,.0f} inhabitants" \
        if s.get("individuals_share_of_population") else ""
    click.echo(f"coverage: {s['carreaux']} carreaux, {s['households']:,.0f} households, "
               f"{s['individuals']:,.0f} individuals{pop}" + ("  [PARTIAL]" if s["partial"] else ""))
    click.echo(f"flagged: {s['flagged_carreaux']} carreaux ({s['flagged_imputed']} imputed), "
               f"{len(s['zones'])} candidate zones")
    if s["zones"]:
        z = pd.DataFrame(s["zones"])[["zone_id", "carreaux", "households", "individuals", "rate", "ratio",
                                      "noms_communes", "households_in_qpv_share", "inside_qpv", "nearest_qpv",
                                      "distance_qpv_m"]]
        click.echo(z.to_string(index=False, max_colwidth=30))


@main.command("population")
@click.option("--code", "codes", multiple=True, help="Quartier code (repeatable).")
@click.option("--epci", default=None, help="Every quartier of this EPCI.")
@click.option("--json", "as_json", is_flag=True)
@carreaux_options
def population_cmd(codes, epci, as_json, carreaux_source, carreaux_vintage, membership, communes_file, source,
                   vintage, layer, qic_source):
    """Population of quartiers from the carreaux, weighted by area.

    Example: qpvgeo population --code QN06236M
    """
    from ..errors import InputError

    if not codes and not epci:
        raise InputError("give --code CODE or --epci SIREN")
    per = select(load_from_options(source, vintage, layer, qic_source), epci=epci, code=list(codes) or None)
    b = per.to_crs(3035).total_bounds
    grid = load_carreaux(carreaux_source, vintage=carreaux_vintage, bbox=(b[0] - 400, b[1] - 400, b[2] + 400,
                                                                          b[3] + 400),
                         settings=config.get_settings())
    table = population(per, grid)
    if as_json:
        echo_json(table.to_dict("records"))
        return
    click.echo(table.to_string(index=False))
    click.echo(f"\nsource: {grid.attrs.get('source')} (area-weighted)")
