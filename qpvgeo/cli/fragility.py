"""``qpvgeo fragility`` and ``qpvgeo population``."""

from __future__ import annotations

import click

from ..errors import DataError, InputError
from . import echo_json, main
from .options import (
    carreaux_options,
    fragility_rule_options,
    json_option,
    overwrite_option,
    people_options,
    perimeter_options,
    selection_options,
)


def run_fragility(grid, perimeters, frule, *, epci=None, reference_rate=None, known_population=None,
                  allow_partial=False):
    """Load what the options name and run :func:`qpvgeo.fragility.fragility` (shared by the map)."""
    from .. import config
    from ..fragility import fragility, load_grid

    carreaux, table, communes = load_grid(grid.source, epci=epci, vintage=grid.vintage, membership=grid.membership,
                                          communes=grid.communes, settings=config.get_settings())
    return fragility(carreaux, epci=epci, perimeters=perimeters.load(), rule=frule, reference_rate=reference_rate,
                     known_population=known_population, membership=table, communes=communes,
                     allow_partial=allow_partial)


def allow_partial_option(f):
    return click.option("--allow-partial", is_flag=True,
                        help="Accept a grid that covers the EPCI only partly; every output is then marked partial.")(f)


@main.command("fragility")
@click.option("--epci", default=None, help="EPCI SIREN (CAPSO: 200069037).")
@click.option("--all-epci", is_flag=True, help="Every EPCI of the grid in one pass (e.g. the national file).")
@click.option("-o", "--output", "outdir", default=None, type=click.Path(file_okay=False),
              help="Folder for carreaux.parquet and zones.parquet (GeoParquet), fragilite.gpkg, zones.csv, "
                   "fragilite.tif and summary.json.")
@click.option("--gpkg/--no-gpkg", "gpkg", default=None,
              help="Also write the layers as fragilite.gpkg (default: yes for --epci; no for --all-epci, where "
                   "GeoParquet writes 2.3 M squares several times faster).")
@fragility_rule_options
@click.option("--reference-rate", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Give the reference rate (fraction, e.g. 0.1724).")
@click.option("--population", "known_population", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Known population of the EPCI, to report the grid's coverage.")
@allow_partial_option
@overwrite_option
@json_option
@carreaux_options
@perimeter_options
def fragility_cmd(epci, all_epci, outdir, gpkg, frule, reference_rate, known_population, allow_partial, overwrite,
                  as_json, grid, perimeters):
    """Flag fragile carreaux (rate ≥ 2 × the EPCI's, ≥ 50 households or ≥ 100 people) and
    group them into candidate zones.

    \b
    Example:
      qpvgeo fragility --epci 200069037 -o out/capso
    """
    if bool(epci) == bool(all_epci):
        raise InputError("give --epci SIREN, or --all-epci for every EPCI of the grid")
    if all_epci and reference_rate is not None:
        raise InputError("--reference-rate applies to one EPCI; with --all-epci each EPCI has its own")
    res = run_fragility(grid, perimeters, frule, epci=epci, reference_rate=reference_rate,
                        known_population=known_population, allow_partial=allow_partial)
    files = {}
    if outdir:
        from .. import config
        from ..outputs import write_fragility

        files = write_fragility(res, outdir, overwrite=overwrite, lang=config.get_settings().lang,
                                perimeters=perimeters.load(), gpkg=not all_epci if gpkg is None else gpkg)
    s = res.summary
    if as_json:
        echo_json({**s, "files": files})
        return
    if _french():
        _print_all_fr(s) if all_epci else _print_one_fr(res)
    elif all_epci:
        _print_all(s)
    else:
        _print_one(s)
    for path in files.values():
        click.echo(f"wrote {path}")


def _french() -> bool:
    from .. import config

    return config.get_settings().lang == "fr"


def _print_all_fr(s: dict) -> None:
    import pandas as pd

    from ..present import grouped, percent

    partial = "  [PARTIEL : des EPCI en partie couverts seulement]" if s["partial"] else ""
    click.echo(f"{len(s['epci'])} EPCI, {grouped(s['carreaux'])} carreaux ({grouped(s['carreaux_without_epci'])} "
               f"dans aucun EPCI connu){partial}")
    click.echo(f"repérés : {grouped(s['flagged_carreaux'])} carreaux ({grouped(s['flagged_imputed'])} imputés), "
               f"{grouped(s['zones_count'])} zones candidates")
    if s["epci"]:
        top = pd.DataFrame(s["epci"]).sort_values("flagged_carreaux", ascending=False).head(20)
        click.echo(pd.DataFrame({
            "EPCI": top["epci"], "taux de référence": top["reference_rate"].map(percent),
            "carreaux": top["carreaux"].map(grouped), "carreaux repérés": top["flagged_carreaux"].map(grouped),
            "zones": top["zones"].map(grouped), "partiel": top["partial"].map(lambda v: "oui" if v else "non"),
        }).to_string(index=False))


def _print_one_fr(res) -> None:
    from ..present import grouped, percent
    from ..rapport import zones_for_people

    s = res.summary
    e = s["epci"][0]
    click.echo(f"{e['nom_epci']} ({e['epci']}), Filosofi {s['vintage']}")
    how = "donné" if e["reference_method"] == "given" else "calculé : Σ ménages pauvres / Σ ménages"
    click.echo(f"taux de référence : {percent(e['reference_rate'], digits=2)} ({how})")
    pop = (f" = {percent(e['individuals_share_of_population'])} des {grouped(e['population'])} habitants"
           if e.get("individuals_share_of_population") else "")
    click.echo(f"couverture : {grouped(e['carreaux'])} carreaux, {grouped(e['households'])} ménages, "
               f"{grouped(e['individuals'])} individus{pop}" + ("  [PARTIEL]" if e["partial"] else ""))
    click.echo(f"repérés : {grouped(s['flagged_carreaux'])} carreaux ({grouped(s['flagged_imputed'])} imputés), "
               f"{len(s['zones'])} zones candidates")
    if s["zones"]:
        click.echo(zones_for_people(res).to_string(index=False, max_colwidth=30))


def _print_all(s: dict) -> None:
    import pandas as pd

    click.echo(f"{len(s['epci'])} EPCI, {s['carreaux']} carreaux ({s['carreaux_without_epci']} in no known EPCI)"
               + ("  [PARTIAL: some EPCI only partly covered]" if s["partial"] else ""))
    click.echo(f"flagged: {s['flagged_carreaux']} carreaux ({s['flagged_imputed']} imputed), "
               f"{s['zones_count']} candidate zones")
    if s["epci"]:
        top = pd.DataFrame(s["epci"]).sort_values("flagged_carreaux", ascending=False).head(20)
        click.echo(top[["epci", "reference_rate", "carreaux", "flagged_carreaux", "zones", "partial"]]
                   .to_string(index=False))


def _print_one(s: dict) -> None:
    import pandas as pd

    e = s["epci"][0]
    click.echo(f"{e['nom_epci']} ({e['epci']}), Filosofi {s['vintage']}")
    click.echo(f"reference rate: {e['reference_rate']:.2%} ({e['reference_method']})")
    pop = f" = {e['individuals_share_of_population']:.1%} of {e['population']:,.0f} inhabitants" \
        if e.get("individuals_share_of_population") else ""
    click.echo(f"coverage: {e['carreaux']} carreaux, {e['households']:,.0f} households, "
               f"{e['individuals']:,.0f} individuals{pop}" + ("  [PARTIAL]" if e["partial"] else ""))
    click.echo(f"flagged: {s['flagged_carreaux']} carreaux ({s['flagged_imputed']} imputed), "
               f"{len(s['zones'])} candidate zones")
    if s["zones"]:
        z = pd.DataFrame(s["zones"])[["zone_id", "carreaux", "households", "individuals", "rate", "ratio",
                                      "noms_communes", "households_in_qpv_share", "inside_qpv", "nearest_qpv",
                                      "distance_qpv_m"]]
        click.echo(z.to_string(index=False, max_colwidth=30))


@main.command("population")
@selection_options
@people_options
@json_option
@carreaux_options
@perimeter_options
def population_cmd(departement, epci, commune, codes, people, as_json, grid, perimeters):
    """People and households of quartiers from the carreaux, with the method, the coverage and the
    bracket (carreaux whose centre is inside … every carreau that overlaps).

    Example: qpvgeo population --epci 200069037
    """
    from .. import config
    from ..inhabitants import population
    from ..perimeters import select

    if not (codes or epci or commune or departement):
        raise InputError("give --code CODE, --epci SIREN, --commune or --departement")
    per = select(perimeters.load(), departement=departement, epci=epci, commune=commune, code=list(codes) or None)
    if per.empty:
        raise InputError("no quartier matches these filters")
    table = population(per, source=grid.source, vintage=grid.vintage, settings=config.get_settings(),
                       weights=people.weights_around(per), official=people.official)
    uncovered = table.loc[table["coverage"] == "not_covered", "code_qp"].tolist()
    if len(uncovered) == len(table):
        raise DataError(f"no carreau of the loaded grid ({table['source'].iloc[0]}) reaches the quartier(s) "
                        f"{', '.join(uncovered[:8])}: load the Filosofi file that covers them (--carreaux FILE, "
                        "or --carreaux official)")
    if as_json:
        echo_json(table.astype(object).where(table.notna(), None).to_dict("records"))
        return
    fr = _french()
    _print_population(table, fr)
    if uncovered:
        click.echo(f"\nnon couverts par la grille chargée (pas de données, pas zéro) : {', '.join(uncovered)}" if fr
                   else f"\nnot covered by the loaded grid (no data, not zero): {', '.join(uncovered)}")
    if fr:
        from ..present import method_fr

        click.echo(f"\nméthode : {method_fr(table['method'].iloc[0])} ; fourchette : carreaux dont le centre est dans "
                   f"le quartier … tous les carreaux qui le touchent\nsource : {table['source'].iloc[0]}")
    else:
        click.echo(f"\nmethod: {table['method'].iloc[0]}; bracket: carreaux whose centre is inside … every carreau "
                   f"that overlaps\nsource: {table['source'].iloc[0]}")


_POPULATION_HEADERS = {  # the columns of the terminal's population table, by language
    False: ("code_qp", "nom_qp", "people [bracket]", "households [bracket]", "coverage", "official", "gap", "n/a"),
    True: ("code", "quartier", "habitants [fourchette]", "ménages [fourchette]", "couverture", "officiel", "écart",
           "n/c"),
}
_COVERAGE_FR = {"covered": "couvert", "partial": "partiel", "not_covered": "non couvert (pas de données)"}


def _print_population(table, fr: bool = False) -> None:
    import pandas as pd

    from ..present import grouped

    code, name, people, households, coverage, official, gap, na = _POPULATION_HEADERS[fr]

    def bracket(r, pre=""):
        if pd.isna(r[f"{pre}estimate"]):
            return na
        return f"{grouped(r[pre + 'estimate'])} [{grouped(r[pre + 'low'])} – {grouped(r[pre + 'high'])}]"

    rows = []
    for _, r in table.iterrows():
        row = {code: r["code_qp"], name: r["nom_qp"], people: bracket(r), households: bracket(r, "households_"),
               coverage: _COVERAGE_FR.get(r["coverage"], r["coverage"]) if fr else r["coverage"]}
        if "official" in table.columns:
            row[official] = grouped(r["official"]) or na
            row[gap] = grouped(r["gap"], sign=True) or na
        rows.append(row)
    click.echo(pd.DataFrame(rows).to_string(index=False))
