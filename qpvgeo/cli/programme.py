"""``qpvgeo programme FILE -o OUT``: a programme of actions checked fund by fund."""

from __future__ import annotations

import click

from . import echo_json, main
from .check import make_checker
from .options import json_option, location_options, overwrite_option, perimeter_options, rule_options


@main.command("programme")
@click.argument("input_file")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The checked actions: .xlsx (with sheets of totals per commune, fund and pillar, and the "
                   "table's totals recomputed) or .csv (the totals beside it, in …-totaux.csv files).")
@click.option("--column", "column_names", multiple=True, metavar="KEY=COLUMN",
              help="Name a column of the table (repeatable): the amounts asked (fdc, fcs, anct, region_operating, "
                   "region_investment) or label, promoter, commune, pillar, expenses, commune_share, beneficiary, "
                   "year, anct_first_year. Default: recognised by name.")
@location_options
@overwrite_option
@json_option
@rule_options
@perimeter_options
def programme_cmd(input_file, output, column_names, locations, overwrite, as_json, rule, perimeters):
    """Check a programming table (CSV or xlsx, one row per action): where each action is, which
    funds it may get and within which limits, the totals per commune, fund and pillar, and every
    total the table states, recomputed.

    \b
    Example:
      qpvgeo programme data/examples/programme-capso.csv -o out/programme.xlsx
    """
    from .. import _tables, config
    from ..outputs import write_programme
    from ..programme import programme

    path = _tables.local_input(input_file)
    frames = [c.frame for c in _tables.iter_chunks(path, sheet=locations.sheet)]
    import pandas as pd

    table = pd.concat(frames, ignore_index=True)
    from ..errors import InputError
    from ..programme import FUNDS, OTHER

    columns = {}
    for item in column_names:
        key, sep, name = item.partition("=")
        if not sep or key.strip() not in {*FUNDS, *OTHER}:
            raise InputError(f"--column {item!r}: give KEY=COLUMN with KEY one of {', '.join([*FUNDS, *OTHER])}")
        columns[key.strip()] = name.strip()
    opts = {k: v for k, v in locations.batch_options().items() if k not in ("layer", "sheet") and v}
    lang = config.get_settings().lang
    res = programme(table, make_checker(perimeters, rule), columns=columns, locations=opts, lang=lang)
    files = write_programme(res, output, lang=lang, overwrite=overwrite)
    if as_json:
        echo_json({"by_fund": res.by_fund.to_dict("records"), "totals": res.totals, "files": files})
        return
    from ..outputs import programme_column_fr, totals_for_people
    from ..present import euros as eur

    by_fund = res.by_fund[["fund_name", "actions", "asked_eur", "allowed_eur", "undecided_actions"]]
    if lang == "fr":
        click.echo(f"{len(res.rows)} lignes vérifiées -> {files['actions']}")
        shown = by_fund.assign(**{c: by_fund[c].map(eur) for c in ("asked_eur", "allowed_eur")})
        click.echo(shown.rename(columns=programme_column_fr).to_string(index=False))
    else:
        click.echo(f"{len(res.rows)} rows checked -> {files['actions']}")
        click.echo(by_fund.to_string(index=False))
    for t in totals_for_people(res.totals).to_dict("records"):
        if lang == "fr":
            mark = "juste" if t["ok"] else f"FAUX, écart de {eur(t['difference_eur'], sign=True)}"
            click.echo(f"total indiqué de {t['fund']} (ligne {t['line']} du fichier) : {eur(t['stated_eur'])} ; "
                       f"recalculé à partir des lignes {t['lines']} : {eur(t['computed_eur'])} : {mark}")
        else:
            mark = "ok" if t["ok"] else f"WRONG by {eur(t['difference_eur'], sign=True)}"
            click.echo(f"stated total of {t['fund']} (line {t['line']} of the file): {eur(t['stated_eur'])}; "
                       f"recomputed from lines {t['lines']}: {eur(t['computed_eur'])}: {mark}")
