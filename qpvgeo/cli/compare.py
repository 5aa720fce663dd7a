"""``qpvgeo compare OLD NEW``: what a new geography changed."""

from __future__ import annotations

import click

from . import echo_json, main
from .options import carreaux_options, json_option, overwrite_option


@main.command("compare")
@click.argument("old")
@click.argument("new")
@click.option("--old-vintage", type=int, default=None, help="Vintage of OLD (e.g. 2015 with OLD = official).")
@click.option("--new-vintage", type=int, default=None, help="Vintage of NEW.")
@click.option("-o", "--output", "outdir", default=None, type=click.Path(file_okay=False),
              help="Folder for comparaison.csv (or .xlsx with --xlsx), comparaison.gpkg (added and removed parts) "
                   "and comparaison.html (a map).")
@click.option("--xlsx", "as_xlsx", is_flag=True, help="Write the table as .xlsx instead of CSV.")
@click.option("--min-overlap", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Share of the smaller outline two quartiers must share to be matched.")
@overwrite_option
@json_option
@carreaux_options
def compare_cmd(old, new, old_vintage, new_vintage, outdir, as_xlsx, min_overlap, overwrite, as_json, grid):
    """Compare two perimeter layers (paths, URLs, 'embedded' or 'official'): quartiers matched by
    overlap, areas added and removed (ha, on the ground), people and households in those parts.

    \b
    Example:
      qpvgeo compare official embedded --old-vintage 2015 -o out/qpv-2015-2024
    """
    from .. import config
    from ..compare import compare
    from ..outputs import write_comparison
    from ..perimeters import load_perimeters

    s = config.get_settings()
    a = load_perimeters(old, vintage=old_vintage, settings=s)
    b = load_perimeters(new, vintage=new_vintage, settings=s)
    from ..carreaux import load_carreaux

    carreaux = load_carreaux(grid.source, vintage=grid.vintage, around=b, settings=s)
    res = compare(a, b, carreaux=carreaux, min_overlap=min_overlap)
    files = write_comparison(res, outdir, old=a, new=b, lang=s.lang, xlsx=as_xlsx, overwrite=overwrite) if outdir \
        else {}
    if as_json:
        echo_json(res.table.astype(object).where(res.table.notna(), None).to_dict("records"))
        return
    shown = res.table[["old_code", "new_code", "change", "old_ha", "new_ha", "added_ha", "removed_ha",
                       "added_people", "removed_people"]]
    if s.lang == "fr":  # French words and numbers, "n/c" where no carreau reaches
        from ..outputs import comparison_in
        from ..present import grouped

        shown = shown.astype(object).copy()
        for c in ("old_ha", "new_ha", "added_ha", "removed_ha"):
            shown[c] = shown[c].map(lambda v: grouped(v, digits=2) or "n/c")
        for c in ("added_people", "removed_people"):
            shown[c] = shown[c].map(lambda v: grouped(v) or "n/c")
        click.echo(comparison_in(shown, "fr").to_string(index=False))
    else:
        click.echo(shown.astype(object).where(shown.notna(), "n/a").to_string(index=False))
    for p in files.values():
        click.echo(f"wrote {p}")
