from __future__ import annotations

import re
from pathlib import Path

import click

from .. import config
from ..batch import check_file
from ..eligibility import Checker, Rule
from ..errors import InputError
from ..geocode import BanClient
from . import echo_json, main, quiet_progress
from ._common import load_from_options, perimeter_options

_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*[,; ]\s*(-?\d+(?:\.\d+)?)\s*$")


def rule_options(f):
    f = click.option("--band-classes", default="QPV", show_default=True,
                     help="Classes that get a band, comma-separated (e.g. QPV,QIC).")(f)
    f = click.option("--comparison", type=click.Choice(["<", "<="]), default="<", show_default=True,
                     help="'<' for 'à moins de' (default) or '<='.")(f)
    f = click.option("--band-m", type=float, default=300.0, show_default=True,
                     help="Band distance on the ground, metres.")(f)
    return perimeter_options(f)


def make_checker(source, vintage, layer, qic_source, band_m, comparison, band_classes) -> Checker:
    rule = Rule(band_m=band_m, comparison=comparison,
                band_classes=tuple(c.strip() for c in band_classes.split(",") if c.strip()))
    return Checker(load_from_options(source, vintage, layer, qic_source), rule=rule)


_LABELS = {
    "in_qpv": "IN A QPV", "in_band": "IN THE BAND", "in_qic": "IN A QIC", "in_fragile": "IN A QUARTIER FRAGILE",
    "outside": "OUTSIDE", "not_covered": "NOT COVERED by the loaded perimeters (no data is not a no)",
    "outside_territory": "OUTSIDE every French territory", "geocode_imprecise": "UNDECIDED: address too vague",
    "geocode_not_found": "UNDECIDED: address not found",
}


def _print_answer(ans: dict) -> None:
    where = ans.get("address") or f"{ans.get('lon')}, {ans.get('lat')}"
    click.echo(f"{where}")
    if ans.get("geocode"):
        g = ans["geocode"]
        click.echo(f"  geocoded: {g['label']} (type {g['type']}, score {g['score']})")
    click.echo(f"  status: {_LABELS.get(ans['status'], ans['status'])}  [{ans['status']}]")
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
@click.option("--site", default=None, metavar="FILE_OR_WKT",
              help="A project site: GeoJSON/GPKG/SHP file, or a WKT polygon.")
@click.option("--feature", type=int, default=None, help="With --site: which feature (0-based).")
@click.option("--crs", default="EPSG:4326", show_default=True, help="CRS of a WKT site or of X,Y.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option("--expenses", type=float, default=None,
              help="Eligible expenses (€): add the FDC amount, the +5 % majoration flag and the ANCT floor.")
@rule_options
def check_cmd(where, site, feature, crs, as_json, expenses, source, vintage, layer, qic_source, band_m, comparison,
              band_classes):
    """Is a place eligible? WHERE is "LON,LAT" (WGS84) or an address (geocoded with the BAN).

    \b
    Examples:
      qpvgeo check 2.26006,50.75359 --json
      qpvgeo check "1 rue de Dunkerque, Saint-Omer"
      qpvgeo check --site parcel.geojson
    """
    checker = make_checker(source, vintage, layer, qic_source, band_m, comparison, band_classes)
    if site:
        ans = checker.check_site(_read_site(site, feature, crs))
        _add_funding(ans, expenses)
        if as_json:
            echo_json(ans)
        else:
            _print_site(ans)
            _print_funding(ans)
        return
    if not where:
        raise InputError("give LON,LAT, an address, or --site FILE")
    m = _LONLAT.match(where)
    if m:
        x, y = float(m.group(1)), float(m.group(2))
        if crs.upper() not in ("EPSG:4326", "WGS84", "CRS84"):
            import pyproj

            x, y = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
        if abs(x) > 180 or abs(y) > 90:
            raise InputError(f"{where!r} is not LON,LAT in degrees; for projected X,Y add --crs EPSG:2154")
        ans = checker.check_point(x, y)
    else:
        g = BanClient(config.get_settings()).search(where)
        if g.status == "not_found":
            ans = {"address": where, "status": "geocode_not_found", "code_qp": None, "nom_qp": None,
                   "distance_m": None, "quartiers": [], "rule": checker.rule_dict(), "geocode": g.as_dict()}
        else:
            ans = checker.check_point(g.lon, g.lat)
            ans["address"] = where
            ans["geocode"] = g.as_dict()
            if g.status == "imprecise":
                ans["indicative_status"] = ans["status"]
                ans["status"] = "geocode_imprecise"
                ans["eligible"] = None
    _add_funding(ans, expenses)
    if as_json:
        echo_json(ans)
    else:
        _print_answer(ans)
        _print_funding(ans)


def _add_funding(ans: dict, expenses: float | None) -> None:
    """The location-dependent funding rules for this answer (rules.md §3)."""
    if expenses is None:
        return
    from .. import funding

    eligible = ans["status"] in ("in_qpv", "in_band")
    ans["funding"] = {
        "expenses_eur": expenses,
        "fdc_politique_ville_eur": funding.fdc_politique_ville(expenses) if eligible else 0,
        "fdc_majoration_5pct": funding.classic_fdc_majoration(ans["status"]),
        "anct_receivable": funding.anct_receivable(expenses),
        "note": None if eligible else f"status {ans['status']}: the site is not in a QPV nor in the band",
    }


def _print_funding(ans: dict) -> None:
    f = ans.get("funding")
    if not f:
        return
    amount = f"{f['fdc_politique_ville_eur']:,.0f}".replace(",", " ")
    click.echo(f"  FDC « Politique de la Ville »: {amount} €; classic FDC +5 %: "
               f"{'yes' if f['fdc_majoration_5pct'] else 'no'}; ANCT floor (2 500 €): "
               f"{'met' if f['anct_receivable'] else 'not met'}")


def _read_site(site: str, feature: int | None, crs: str):
    import geopandas as gpd
    import shapely

    if Path(site).exists():
        gdf = gpd.read_file(site, engine="pyogrio")
        if len(gdf) == 0:
            raise InputError(f"{site} holds no feature")
        if feature is not None:
            if not 0 <= feature < len(gdf):
                raise InputError(f"--feature {feature} is out of range: {site} has {len(gdf)} features")
            gdf = gdf.iloc[[feature]]
        elif len(gdf) > 1:
            raise InputError(f"{site} has {len(gdf)} features: choose one with --feature N (0-based)")
        return gdf
    try:
        geom = shapely.from_wkt(site)
    except shapely.errors.GEOSException:
        raise InputError(f"--site {site[:60]!r} is neither an existing file nor WKT") from None
    return gpd.GeoDataFrame(geometry=[geom], crs=crs)


def _print_site(ans: dict) -> None:
    click.echo(f"site of {ans['area_m2']:g} m²: status {ans['status']}")
    for key, label in (("in_qpv", "in a QPV"), ("in_eligible_zone", "in the eligible zone (QPV + band)")):
        a = ans[key]
        click.echo(f"  {label}: any part {'yes' if a['any_part'] else 'no'}, centroid "
                   f"{'yes' if a['centroid'] else 'no'}, whole {'yes' if a['whole'] else 'no'}; "
                   f"{a['area_m2']:g} m² inside")
    click.echo(f"  nearest quartier: {ans['code_qp']} « {ans['nom_qp']} », {ans['distance_m']:g} m")


@main.command("check-file")
@click.argument("input_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output file: .csv, .geojson or .gpkg.")
@click.option("--lon-col", default=None, help="Column of longitudes (or X with --crs).")
@click.option("--lat-col", default=None, help="Column of latitudes (or Y with --crs).")
@click.option("--crs", default=None, help="CRS of --lon-col/--lat-col when not WGS84 (e.g. EPSG:2154).")
@click.option("--address-cols", default=None, help="Columns joined into the address to geocode, comma-separated.")
@click.option("--citycode-col", default=None, help="Column of INSEE commune codes (helps the geocoder).")
@click.option("--postcode-col", default=None, help="Column of postcodes (helps the geocoder).")
@click.option("--chunk-rows", type=int, default=100_000, show_default=True, help="Rows per chunk.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@rule_options
def check_file_cmd(input_file, output, lon_col, lat_col, crs, address_cols, citycode_col, postcode_col,
                   chunk_rows, overwrite, as_json, source, vintage, layer, qic_source, band_m, comparison,
                   band_classes):
    """Check every row of a CSV, GeoJSON or GPKG file; one output row per input row.

    \b
    Example:
      qpvgeo check-file sites.csv -o sites-checked.csv --lon-col lon --lat-col lat
    """
    checker = make_checker(source, vintage, layer, qic_source, band_m, comparison, band_classes)
    summary = check_file(
        input_file, output, checker, chunk_rows=chunk_rows, overwrite=overwrite,
        progress=not quiet_progress(), lon_col=lon_col, lat_col=lat_col, crs=crs,
        address_cols=[c.strip() for c in address_cols.split(",")] if address_cols else None,
        citycode_col=citycode_col, postcode_col=postcode_col,
    )
    if as_json:
        echo_json(summary)
        return
    click.echo(f"{summary['rows']} rows checked -> {summary['output']}")
    for k, v in summary["statuses"].items():
        click.echo(f"  {k:<22} {v:>9}")
    if summary["quartiers"]:
        click.echo("by quartier (in it or in its band):")
        for k, v in list(summary["quartiers"].items())[:20]:
            click.echo(f"  {k:<22} {v:>9}")
