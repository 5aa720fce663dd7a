"""Outputs for the annual rapport, in French, for people who are not technicians.

The zones sheet for élus: one line per candidate fragile zone, named by its communes and nearest
QPV (names, not codes), households and people as whole numbers, the poverty rate in percent, its
ratio to the EPCI's rate in words, whether it lies in a QPV, the distance to the nearest QPV.
"""

from __future__ import annotations

import html
from datetime import date

import pandas as pd

from .present import grouped, percent


def _int(x) -> str:
    return grouped(x, sep="\u202f")  # thin no-break spaces: the print sheet


def zones_for_people(result) -> pd.DataFrame:
    """The candidate zones of a fragility result as a French table, largest first.

    >>> from qpvgeo.api import fragility
    >>> t = zones_for_people(fragility("200069037"))
    >>> t.iloc[0]["Rapport au taux de l'EPCI"]
    '2,3 × le taux de la CA du Pays de Saint-Omer'
    """
    s = result.summary
    epci_names = {e["epci"]: e["nom_epci"] for e in s["epci"]}
    z = pd.DataFrame(result.zones.drop(columns="geometry")).sort_values(["households", "zone_id"],
                                                                        ascending=[False, True])
    rows = []
    for _, r in z.iterrows():
        share = r.get("households_in_qpv_share")
        inside = ("entièrement" if bool(r.get("inside_qpv")) else
                  f"en partie ({share * 100:.0f} % des ménages)" if share and share > 0 else "non")
        nearest = r.get("nearest_qpv_nom") or r.get("nearest_qpv") or ""
        rows.append({
            "Zone": r["zone_id"],
            "Communes": r["noms_communes"],
            "QPV le plus proche": nearest,
            "Ménages": round(r["households"]),
            "Habitants": round(r["individuals"]),
            "Taux de pauvreté des ménages": percent(r["rate"]),
            "Rapport au taux de l'EPCI": f"{r['ratio']:.1f}".replace(".", ",")
                                         + f" × le taux de la {epci_names.get(r['epci'], r['epci'])}",
            "Dans un QPV": inside,
            "Distance au QPV le plus proche (m)": None if r["distance_qpv_m"] != r["distance_qpv_m"]
            else round(r["distance_qpv_m"]),
            "Seuil de 1 000 habitants": "atteint" if bool(r.get("meets_qpv_size")) else "non atteint",
        })
    return pd.DataFrame(rows)


def zones_sheet_html(result, perimeters=None) -> str:
    """A one-page sheet (A4, French) of the candidate zones, with a map page."""
    import base64
    import io

    s = result.summary
    e = s["epci"][0] if len(s["epci"]) == 1 else None
    table = zones_for_people(result)
    title = f"Quartiers fragiles candidats : {e['nom_epci']}" if e else "Quartiers fragiles candidats"
    rule = s["rule"]
    ref = percent(e["reference_rate"]) if e else "celui de chaque EPCI"
    intro = (f"Carreaux de 200 m dont le taux de pauvreté des ménages atteint {rule['factor']:g} fois {ref} "
             f"(taux de référence de l'EPCI) et qui comptent au moins {rule['min_households']:g} ménages ou "
             f"{rule['min_individuals']:g} habitants ; les carreaux contigus forment une zone. Propositions à "
             "valider par les élus (contrat « Quartiers 2030 »).")
    figure = ""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from . import maps

        fig = maps.to_figure(maps.fragility_spec(result, perimeters))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        figure = (f'<section class="page"><h2>Carte</h2><img alt="Carte des zones candidates" '
                  f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"></section>')
    except Exception:  # noqa: BLE001 - the sheet is still right without its map
        figure = ""
    style = ("body{font:10pt sans-serif;margin:10mm}table{border-collapse:collapse;width:100%}"
             "th,td{border-bottom:1px solid #bbb;padding:3px 5px;text-align:left}th{background:#eee}"
             "img{width:100%}.page{page-break-before:always}@page{size:A4 landscape;margin:10mm}")
    partial = "<p><b>Couverture partielle des données : résultats à confirmer.</b></p>" if s.get("partial") else ""
    return ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>{partial}"
            + table.to_html(index=False, escape=True, border=0, formatters={
                c: _int for c in ("Ménages", "Habitants", "Distance au QPV le plus proche (m)")})
            + f"<p>Source : INSEE, Filosofi {s.get('vintage')} carroyé 200 m ; ANCT, périmètres des QPV. "
              f"Établi le {date.today():%d/%m/%Y} avec qpvgeo.</p>{figure}</body></html>")
