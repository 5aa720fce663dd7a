"""Outputs for the annual rapport, in French, for people who are not technicians.

The zones sheet for élus: one line per candidate fragile zone, named by its communes and nearest
QPV (names, not codes), households and people as whole numbers, the poverty rate in percent, its
ratio to the EPCI's rate in words, whether it lies in a QPV, the distance to the nearest QPV.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from .present import grouped, in_qpv_fr, percent


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
        inside = in_qpv_fr(r)
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


def zones_document(result, perimeters=None):
    """The zones sheet as a document (:mod:`qpvgeo._document`): the table on one landscape page,
    then a map page."""
    from . import _document as doc
    from . import maps

    s = result.summary
    e = s["epci"][0] if len(s["epci"]) == 1 else None
    table = zones_for_people(result)
    title = f"Quartiers fragiles candidats : {e['nom_epci']}" if e else "Quartiers fragiles candidats"
    rule = s["rule"]
    ref = percent(e["reference_rate"]) if e else "celui de chaque EPCI"
    intro = (f"Carreaux de 200 m dont le taux de pauvreté des ménages atteint {grouped(rule['factor'], digits=1)} "
             f"fois {ref} (taux de référence de l'EPCI) et qui comptent au moins {grouped(rule['min_households'])} "
             f"ménages ou {grouped(rule['min_individuals'])} habitants ; les carreaux contigus forment une zone. "
             "Propositions à valider par les élus (contrat « Quartiers 2030 »).")
    if s.get("partial"):
        intro += " Couverture partielle des données : résultats à confirmer."
    ints = ("Ménages", "Habitants", "Distance au QPV le plus proche (m)")
    rows = [[_int(v) if c in ints else ("" if v is None or v != v else str(v)) for c, v in r.items()]
            for r in table.to_dict("records")]
    widths = [0.45, 1.7, 1.9, 0.7, 0.7, 0.8, 2.8, 1.8, 0.9, 0.9]
    sections = [doc.Section("Zones candidates, les plus grandes d'abord", table=doc.Table(
        list(table.columns), rows, widths=widths[:len(table.columns)], size=6.3 if len(rows) > 16 else 7.5))]
    try:
        spec = [maps.fragility_spec(result, perimeters)]
    except Exception:  # noqa: BLE001 - the sheet is still right without its map
        spec = []
    return doc.Document(title=title, subtitle=intro, sections=sections, maps=spec,
                        footer=f"Source : INSEE, Filosofi {s.get('vintage')} carroyé 200 m ; ANCT, périmètres des "
                               f"QPV. Établi le {date.today():%d/%m/%Y} avec qpvgeo.")


def zones_sheet_html(result, perimeters=None) -> str:
    """The zones sheet (French, A4 landscape) as one self-contained page, with its map."""
    import base64
    import io

    from . import _document as doc

    d = zones_document(result, perimeters)
    images = []
    for spec in d.maps:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .printmap import figure

        fig = figure(spec, page_name="a4-landscape")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        images.append(f'<img alt="Carte des zones candidates" style="width:100%" '
                      f'src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')
    return doc.to_html(d, map_html=images, style="body{max-width:none}@page{size:A4 landscape;margin:10mm}")


def zones_sheet_pdf(result, path, perimeters=None, *, overwrite: bool = False):
    """The zones sheet as a PDF: the table on an A4 landscape page, then its map page."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    from . import _document as doc
    from . import _io
    from .printmap import RC

    d = zones_document(result, perimeters)
    with _io.atomic_path(path, overwrite=overwrite) as tmp, matplotlib.rc_context(RC):
        with PdfPages(tmp, metadata={"Title": d.title, "Creator": "qpvgeo"}) as pdf:
            doc.to_pdf(d, pdf, page_name="a4-landscape", maps_last=True)
    return path
