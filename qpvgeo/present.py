"""Answers as their readers read them: French words, decimal commas, ``oui``/``non``, CSV that
French Excel opens with accents and numbers intact (docs/rules.md §8 for the statuses).

Only outputs meant for people (CSV, xlsx, terminal text) are presented; JSON, GeoPackage and
GeoParquet keep the stable English codes.
"""

from __future__ import annotations

from .status import LABELS_FR

LANGS = ("en", "fr")

COLUMNS_FR = {
    "qpv_status": "statut", "qpv_eligible": "eligible", "qpv_code": "code_quartier", "qpv_nom": "nom_quartier",
    "qpv_classe": "classe_quartier", "qpv_distance_m": "distance_au_sol_m", "qpv_quartiers": "quartiers_dans_la_bande",
    "qpv_note": "remarque", "geo_lon": "geo_longitude", "geo_lat": "geo_latitude", "geo_label": "geo_adresse_trouvee",
    "geo_score": "geo_score", "geo_type": "geo_precision",
}


def check_lang(lang: str) -> str:
    from .errors import InputError

    if lang not in LANGS:
        raise InputError(f"unknown language {lang!r}: use en or fr")
    return lang


def status_fr(status: str, band_m: float = 300) -> str:
    """French words for a status (``in_band`` says the band distance)."""
    return LABELS_FR.get(status, status).replace("{band}", f"{band_m:g}")


def in_qpv_fr(zone) -> str:
    """Whether a candidate zone lies in a QPV, in words for élus: « entièrement », « en partie
    (60 % des ménages) », « non », or « pas de données » where the perimeters loaded do not speak
    for where it lies (``qpv_coverage`` not_covered: a QPV may be there that was not loaded)."""
    if zone.get("qpv_coverage", "covered") == "not_covered":
        return "pas de données (périmètres non chargés ici)"
    inside = zone.get("inside_qpv")
    share = zone.get("households_in_qpv_share")
    if str(inside) == "True":  # a bool or numpy bool; never pandas' NA (no data)
        return "entièrement"
    return f"en partie ({share * 100:.0f} % des ménages)" if share and share == share and share > 0 else "non"


def decimal_comma(value, digits: int | None = None) -> str:
    """``1085.46`` → ``1085,46``; no thousands separator (a spreadsheet reads it as a number).

    >>> decimal_comma(1085.46), decimal_comma(0.0), decimal_comma(None)
    ('1085,46', '0', '')
    """
    if value is None or value != value:  # None or NaN
        return ""
    text = f"{value:.{digits}f}" if digits is not None else f"{value:.15g}"
    return text.replace(".", ",")


def grouped(value, *, digits: int = 0, sign: bool = False, sep: str = " ") -> str:
    """A number for people: thousands separated (a space by default; ``\u202f`` for print),
    decimal comma; '' for None or NaN.

    >>> grouped(1286.4), grouped(-53, sign=True), grouped(2.345, digits=1), grouped(None)
    ('1 286', '-53', '2,3', '')
    """
    if value is None or value != value:
        return ""
    text = f"{value:{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", sep)


def euros(value, *, sign: bool = False, sep: str = " ") -> str:
    """``191 974 €``; '' for None or NaN."""
    text = grouped(value, sign=sign, sep=sep)
    return text + " €" if text else ""


def percent(share, *, digits: int = 1) -> str:
    """A share as a French percentage: ``0.39`` → ``39,0 %``; '' for None or NaN."""
    text = grouped(None if share is None or share != share else share * 100, digits=digits)
    return text + " %" if text else ""


def for_people(frame, *, lang: str = "en", excel: bool = False, band_m: float = 300, cells: bool = False):
    """A copy of a result frame for people: with ``lang="fr"`` French column names, status words
    and ``oui``/``non``; with ``excel`` or French, decimal commas in the result's numbers (not
    for spreadsheet ``cells``, which hold real numbers and booleans)."""
    import pandas as pd

    out = frame.copy()
    if lang == "fr":
        if "qpv_status" in out:
            out["qpv_status"] = out["qpv_status"].map(lambda s: status_fr(s, band_m) if s else "")
        if "qpv_eligible" in out and not cells:
            out["qpv_eligible"] = out["qpv_eligible"].map(lambda v: "" if v is None or v is pd.NA else
                                                          ("oui" if v else "non")).astype(object)
    if (excel or lang == "fr") and not cells:
        for c in ("qpv_distance_m", "geo_lon", "geo_lat", "geo_score"):
            if c in out:
                out[c] = out[c].map(lambda v: "" if v is None or v is pd.NA else decimal_comma(float(v)))
        if "qpv_eligible" in out and lang != "fr":
            out["qpv_eligible"] = out["qpv_eligible"].map(lambda v: "" if v is None or v is pd.NA else
                                                          ("VRAI" if v else "FAUX")).astype(object)
    if lang == "fr":
        out = out.rename(columns={k: v for k, v in COLUMNS_FR.items() if k in out.columns})
    return out
