from __future__ import annotations

import click

from .. import funding
from ..batch import check_file
from . import echo_json, main, quiet_progress
from .check import make_checker, rule_options


def _eur(v) -> str:
    return f"{v:,.0f}".replace(",", " ") + " €"


@main.command("fdc")
@click.option("--expenses", "expenses", multiple=True, required=True,
              help="Eligible expenses in euros (repeat for several projects).")
@click.option("--rate", type=float, default=funding.FDC_RATE, show_default=True, help="Rate (0.40 = 40 %).")
@click.option("--cap", type=float, default=funding.FDC_CAP_EUR, show_default=True, help="Cap in euros.")
@click.option("--json", "as_json", is_flag=True)
def fdc_cmd(expenses, rate, cap, as_json):
    """Fonds de concours "Politique de la Ville": min(rate × expenses, cap), to the euro.

    Example: qpvgeo fdc --expenses 129935   ->   51 974 €
    """
    amounts = [funding.fdc_politique_ville(e, rate=rate, cap_eur=cap) for e in expenses]
    if as_json:
        echo_json({"expenses": list(expenses), "amounts_eur": amounts, "total_eur": sum(amounts),
                   "rate": rate, "cap_eur": cap,
                   "anct_receivable": [funding.anct_receivable(e) for e in expenses]})
        return
    for e, a in zip(expenses, amounts):
        click.echo(_eur(a) if len(amounts) == 1 else f"{e} -> {_eur(a)}")
    if len(amounts) > 1:
        click.echo(f"total: {_eur(sum(amounts))}")


@main.command("public-share")
@click.argument("input_file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the row-level results (kept by you; the command prints aggregates only).")
@click.option("--lon-col", default=None)
@click.option("--lat-col", default=None)
@click.option("--address-cols", default=None, help="Columns of the address, comma-separated.")
@click.option("--threshold", type=float, default=funding.PUBLIC_SHARE, show_default=True)
@click.option("--overwrite", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@rule_options
def public_share_cmd(input_file, output, lon_col, lat_col, address_cols, threshold, overwrite, as_json,
                     source, vintage, layer, qic_source, band_m, comparison, band_classes):
    """The "60 %" rule: share of the participants' addresses that lie in a QPV (aggregates only)."""
    import pandas as pd

    checker = make_checker(source, vintage, layer, qic_source, band_m, comparison, band_classes)
    check_file(input_file, output, checker, overwrite=overwrite, progress=not quiet_progress(),
               lon_col=lon_col, lat_col=lat_col,
               address_cols=[c.strip() for c in address_cols.split(",")] if address_cols else None)
    statuses = pd.read_csv(output, dtype=str, keep_default_na=False, usecols=["qpv_status"])["qpv_status"] \
        if output.endswith(".csv") else __import__("geopandas").read_file(output)["qpv_status"]
    res = funding.public_share(statuses, threshold=threshold)
    if as_json:
        echo_json(res)
        return
    share = "n/a" if res["share_in_qpv"] is None else f"{res['share_in_qpv']:.1%}"
    click.echo(f"{res['people']} people, {res['decided']} located: {res['in_qpv']} in a QPV ({share}), "
               f"{res['in_qic']} in a QIC, {res['elsewhere']} elsewhere, {res['undecided']} undecided")
    click.echo(f"threshold {threshold:.0%}: {'met' if res['meets_threshold'] else 'not met'}")
