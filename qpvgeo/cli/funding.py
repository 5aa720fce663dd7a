from __future__ import annotations

import click

from .. import funding
from . import echo_json, main, quiet_progress
from .check import make_checker
from .options import excel_option, json_option, location_options, overwrite_option, perimeter_options, rule_options


def _eur(v) -> str:
    from ..present import euros

    return euros(v)


@main.command("fdc")
@click.option("--expenses", "expenses", multiple=True, required=True,
              help="Eligible expenses in euros (repeat for several projects).")
@click.option("--rate", type=float, default=funding.FDC_RATE, show_default=True, help="Rate (0.40 = 40 %).")
@click.option("--cap", type=float, default=funding.FDC_CAP_EUR, show_default=True, help="Cap in euros.")
@json_option
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
@click.argument("input_file")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the row-level results (kept by you; the command prints aggregates only).")
@location_options
@click.option("--threshold", type=click.FloatRange(0, 1), default=funding.PUBLIC_SHARE, show_default=True)
@excel_option
@overwrite_option
@json_option
@rule_options
@perimeter_options
def public_share_cmd(input_file, output, locations, threshold, excel, overwrite, as_json, rule, perimeters):
    """The "60 %" rule: share of the participants' addresses that lie in a QPV (aggregates only)."""
    from ..batch import check_file

    summary = check_file(input_file, output, make_checker(perimeters, rule), overwrite=overwrite,
                         progress=not quiet_progress(), excel=excel, **locations.batch_options())
    res = funding.public_share(summary["statuses"], threshold=threshold)
    if as_json:
        echo_json(res)
        return
    share = "n/a" if res["share_in_qpv"] is None else f"{res['share_in_qpv']:.1%}"
    click.echo(f"{res['people']} people, {res['decided']} located: {res['in_qpv']} in a QPV ({share}), "
               f"{res['in_qic']} in a QIC, {res['elsewhere']} elsewhere, {res['undecided']} undecided")
    verdict = "undecided (no address could be located)" if res["meets_threshold"] is None else (
        "met" if res["meets_threshold"] else "not met")
    click.echo(f"threshold {threshold:.0%}: {verdict}")
