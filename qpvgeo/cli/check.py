"""``qpvgeo check`` (one place) and ``qpvgeo check-file`` (a whole file)."""

from __future__ import annotations

import click

from ..errors import InputError
from ..status import LABELS_EN
from . import echo_json, main, quiet_progress
from .options import (
    excel_option,
    json_option,
    location_options,
    overwrite_option,
    perimeter_options,
    rule_options,
    site_options,
)


def make_checker(perimeters, rule):
    """The one decider, on the whole layer the options name."""
    from ..eligibility import Checker

    return Checker(perimeters.load(), rule=rule)


def _lang() -> str:
    from .. import config

    return config.get_settings().lang


def _print_answer_fr(ans: dict) -> None:
    from ..present import decimal_comma, rule_fr, status_fr

    r = ans["rule"]
    click.echo(ans.get("address") or f"{decimal_comma(ans.get('lon'))} ; {decimal_comma(ans.get('lat'))}")
    if ans.get("read_as_fr"):
        click.echo(f"  lu comme : {ans['read_as_fr']}")
    click.echo(f"  statut : {status_fr(ans['status'], r['band_m'])}  [{ans['status']}]")
    if ans.get("code_qp"):
        click.echo(f"  quartier : {ans['code_qp']} « {ans['nom_qp']} » ({ans['classe']}), distance au sol "
                   f"{decimal_comma(ans['distance_m'])} m")
    near = ", ".join(f"{q['code_qp']} ({decimal_comma(q['distance_m'])} m)" for q in ans.get("quartiers", []))
    click.echo(f"  à {r['comparison']} {r['band_m']:g} m : {near or 'aucun'}")
    click.echo(f"  règle : {rule_fr(r)} ; réponse indicative")


def _print_answer(ans: dict) -> None:
    if _lang() == "fr":
        _print_answer_fr(ans)
        return
    where = ans.get("address") or f"{ans.get('lon')}, {ans.get('lat')}"
    click.echo(f"{where}")
    if ans.get("read_as"):
        click.echo(f"  read as: {ans['read_as']}")
    if ans.get("geocode"):
        g = ans["geocode"]
        click.echo(f"  geocoded: {g['label'] or '(no match)'} (type {g['type'] or '-'}, score {g['score']})")
    click.echo(f"  status: {LABELS_EN.get(ans['status'], ans['status'])}  [{ans['status']}]")
    if ans.get("indicative_status"):
        click.echo(f"  indicative only: the vague point would be {ans['indicative_status']}")
    if ans.get("code_qp"):
        click.echo(f"  quartier: {ans['code_qp']} « {ans['nom_qp']} » ({ans['classe']}), "
                   f"distance {ans['distance_m']:g} m")
    r = ans["rule"]
    near = ", ".join(f"{q['code_qp']} ({q['distance_m']:g} m)" for q in ans.get("quartiers", []))
    click.echo(f"  within {r['comparison']} {r['band_m']:g} m: {near or 'none'}")
    click.echo(f"  rule: band {r['comparison']} {r['band_m']:g} m around {', '.join(r['band_classes'])}; "
               f"perimeters {r['vintage']}; distances on the ground")


@main.command("check")
@click.argument("where", required=False)
@site_options
@click.option("--crs", default=None, help="CRS of X,Y or of a WKT site (default: degrees, EPSG:4326).")
@json_option
@click.option("--expenses", type=float, default=None,
              help="Eligible expenses (€): add the FDC amount, the +5 % majoration flag and the ANCT floor.")
@click.option("--population", "with_population", is_flag=True,
              help="With --site: the people living on the site, from the carreaux, with the method and bracket.")
@rule_options
@perimeter_options
def check_cmd(where, site, feature, site_layer, crs, as_json, expenses, with_population, rule, perimeters):
    """Is a place eligible? WHERE is "LON,LAT" (WGS84), "X,Y" with --crs, or an address (geocoded
    with the BAN).

    \b
    Examples:
      qpvgeo check 2.26006,50.75359 --json
      qpvgeo check "1 rue du Quai du Commerce, Saint-Omer"
      qpvgeo check --site parcel.geojson
    """
    from .. import _tables, funding
    from ..present import read_as

    if site and where:
        raise InputError("give a place or --site, not both")
    if not site and not where:
        raise InputError("give LON,LAT, an address, or --site FILE_OR_WKT")
    if site:
        geom = _tables.read_site(site, crs=crs, feature=feature, layer=site_layer)
        ans = make_checker(perimeters, rule).check_site(geom)
        if with_population:
            from ..inhabitants import site_population

            ans["population"] = site_population(geom)
    else:
        place = _tables.read_place(where, crs=crs)
        checker = make_checker(perimeters, rule)
        if place is None:  # an address
            ans = checker.check_address(where)
        else:
            lon, lat, how = place
            ans = {**checker.check_point(lon, lat), **read_as(how, crs)}
    if expenses is not None:
        ans["funding"] = funding.for_answer(ans, expenses)
    if as_json:
        echo_json(ans)
        return
    if site:
        _print_site(ans)
    else:
        _print_answer(ans)
    _print_funding(ans)


# the terminal's words for a site and its funding, by language (the statuses: qpvgeo.status)
_WORDS = {
    "en": {"sep": "; ", "colon": ":", "yes": "yes", "no": "no", "na": "n/a", "site": "site of",
           "status": "status", "in_qpv": "in a QPV", "in_eligible_zone": "in the eligible zone (QPV + band)",
           "parts": ("any part", "centroid", "whole"), "inside": "inside", "nearest": "nearest quartier",
           "unknown": "unknown (no perimeters loaded here)", "people": "people on the site",
           "no_people": "n/a (no carreau reaches it)", "funding": "funding", "fdc": "FDC « Politique de la Ville »",
           "plus5": "classic FDC +5 %", "anct": "ANCT floor (2 500 €)", "met": ("met", "not met")},
    "fr": {"sep": " ; ", "colon": " :", "yes": "oui", "no": "non", "na": "n/c", "site": "site de",
           "status": "statut", "in_qpv": "dans un QPV", "in_eligible_zone": "en zone éligible (QPV + bande)",
           "parts": ("une partie", "le centre", "en entier"), "inside": "dedans", "nearest": "quartier le plus proche",
           "unknown": "inconnu (pas de périmètres chargés ici)", "people": "habitants du site",
           "no_people": "n/c (aucun carreau ne l'atteint)", "funding": "financement",
           "fdc": "FDC « Politique de la Ville »", "plus5": "FDC classique +5 %", "anct": "seuil ANCT (2 500 €)",
           "met": ("atteint", "non atteint")},
}


def _num(value, lang: str) -> str:
    """A measure in the terminal: ``14129.7`` in English, ``14 129,7`` in French."""
    from ..present import grouped

    return f"{value:g}" if lang == "en" else grouped(value, digits=len(f"{value:g}".partition(".")[2]))


def _yes(v, w: dict) -> str:
    return w["na"] if v is None else (w["yes"] if v else w["no"])


def _status_words(ans: dict, lang: str) -> str:
    from ..present import status_fr

    return status_fr(ans["status"], ans["rule"]["band_m"]) if lang == "fr" else LABELS_EN.get(ans["status"],
                                                                                           ans["status"])


def _print_funding(ans: dict) -> None:
    from ..present import euros, note

    f = ans.get("funding")
    if not f:
        return
    lang = _lang()
    w = _WORDS[lang]
    status = _status_words(ans, lang) if lang == "fr" else ans["status"]
    if not f["decided"]:
        click.echo(f"  {w['funding']}{w['colon']} {note('funding_undecided', lang, status=status)}")
        return
    click.echo(f"  {w['fdc']}{w['colon']} {euros(f['fdc_politique_ville_eur'])}{w['sep']}{w['plus5']}{w['colon']} "
               f"{_yes(f['fdc_majoration_5pct'], w)}{w['sep']}{w['anct']}{w['colon']} "
               f"{w['met'][0] if f['anct_receivable'] else w['met'][1]}")
    if f["note"] and lang == "fr":
        click.echo(f"  ({note('funding_not_eligible', lang, status=status)})")


def _print_site(ans: dict) -> None:
    lang = _lang()
    w = _WORDS[lang]
    c = w["colon"]

    def m2(v):
        return w["na"] if v is None else f"{_num(v, lang)} m²"

    click.echo(f"{w['site']} {m2(ans['area_m2'])}{c} {w['status']} {_status_words(ans, lang)}  [{ans['status']}]")
    for key in ("in_qpv", "in_eligible_zone"):
        a = ans[key]
        parts = ", ".join(f"{label} {_yes(a[k], w)}" for label, k in zip(w["parts"], ("any_part", "centroid", "whole")))
        click.echo(f"  {w[key]}{c} {parts}{w['sep']}{m2(a['area_m2'])} {w['inside']}")
    if ans.get("code_qp"):
        click.echo(f"  {w['nearest']}{c} {ans['code_qp']} « {ans['nom_qp']} », {_num(ans['distance_m'], lang)} m")
    else:
        click.echo(f"  {w['nearest']}{c} {w['unknown']}")
    p = ans.get("population")
    if p:
        from ..present import grouped, method_fr

        method = method_fr(p["method"]) if lang == "fr" else p["method"]
        click.echo(f"  {w['people']}{c} " + (w["no_people"] if p["estimate"] is None else
                   f"{grouped(p['estimate'])} [{grouped(p['low'])} – {grouped(p['high'])}], {method}"))


@main.command("check-file")
@click.argument("input_file")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output file: .csv, .xlsx (a sheet of results and one of the summary), .geojson, .gpkg, "
                   ".parquet (GeoParquet), or - for CSV on standard output.")
@location_options
@click.option("--chunk-rows", type=click.IntRange(min=1), default=100_000, show_default=True, help="Rows per chunk.")
@excel_option
@overwrite_option
@json_option
@rule_options
@perimeter_options
def check_file_cmd(input_file, output, locations, chunk_rows, excel, overwrite, as_json, rule, perimeters):
    """Check every row of a CSV, xlsx/ods, GeoJSON, GPKG, SHP, FlatGeobuf or GeoParquet file (a path,
    an http(s) URL, or - for a CSV on standard input); one output row per input row, in the same
    order. Without --lon-col/--lat-col/--address-cols the columns are recognised, and said.
    -o - writes CSV to standard output (the summary then goes to standard error).

    \b
    Example:
      qpvgeo check-file sites.csv -o sites-checked.csv --lon-col lon --lat-col lat
    """
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    from ..batch import check_file

    with tempfile.TemporaryDirectory(prefix="qpvgeo-") as tmp:
        if input_file == "-":
            input_file = Path(tmp) / "stdin.csv"
            with open(input_file, "wb") as fh:
                shutil.copyfileobj(sys.stdin.buffer, fh)
        to_stdout = output == "-"
        target = Path(tmp) / "stdout.csv" if to_stdout else output
        summary = check_file(input_file, target, make_checker(perimeters, rule), chunk_rows=chunk_rows,
                             overwrite=overwrite, progress=not quiet_progress() and not to_stdout, excel=excel,
                             **locations.batch_options())
        if to_stdout:
            with open(target, "rb") as fh:
                shutil.copyfileobj(fh, sys.stdout.buffer)
            sys.stdout.flush()
            summary["output"] = "-"
    if as_json:
        if to_stdout:
            import json

            click.echo(json.dumps(summary, ensure_ascii=False), err=True)
        else:
            echo_json(summary)
        return
    say = (lambda text: click.echo(text, err=True)) if to_stdout else click.echo
    if _lang() == "fr":
        from ..present import grouped, located_fr, status_fr

        if summary.get("located_by"):
            say(f"localisation : {located_fr(summary['located_by'])}")
        say(f"{grouped(summary['rows'])} lignes vérifiées -> {summary['output']}")
        words = {k: status_fr(k, summary["rule"]["band_m"]) for k in summary["statuses"]}
        width = max(map(len, words.values()), default=0)
        for k, v in summary["statuses"].items():
            say(f"  {words[k]:<{width}} {grouped(v):>9}  [{k}]")
        heading, counts = "par quartier (dedans ou dans sa bande) :", grouped
    else:
        if summary.get("located_by"):
            say(f"located by {summary['located_by']['how']}")
        say(f"{summary['rows']} rows checked -> {summary['output']}")
        for k, v in summary["statuses"].items():
            say(f"  {k:<22} {v:>9}")
        heading, counts = "by quartier (in it or in its band):", str
    if summary["quartiers"]:
        say(heading)
        for k, v in list(summary["quartiers"].items())[:20]:
            say(f"  {k:<22} {counts(v):>9}")
