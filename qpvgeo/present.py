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
    "site_area_m2": "surface_site_m2", "site_qpv_any_part": "site_en_qpv_une_partie",
    "site_qpv_centroid": "site_en_qpv_centroide", "site_qpv_whole": "site_en_qpv_entier",
    "site_qpv_area_m2": "surface_en_qpv_m2", "site_zone_any_part": "site_en_zone_eligible_une_partie",
    "site_zone_centroid": "site_en_zone_eligible_centroide", "site_zone_whole": "site_en_zone_eligible_entier",
    "site_zone_area_m2": "surface_en_zone_eligible_m2",
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


def method_fr(method: str | None) -> str:
    """The method of a population estimate (:mod:`qpvgeo.inhabitants`) in French."""
    if not method:
        return ""
    if method == "area-weighted":
        return "pondération par la surface (les habitants d'un carreau répartis sur ses 4 ha)"
    text = method.replace("dasymetric:", "pondération par le bâti :")
    return text.replace("carreau(x) without weight fell back to area", "carreau(x) sans bâti pondéré(s) par la "
                        "surface")


def oui_non(value) -> str:
    """A yes/no cell of a French CSV: ``oui``, ``non``, or '' where it is undecided (None, NA, NaN)."""
    import pandas as pd

    return "" if value is None or value is pd.NA or value != value else ("oui" if value else "non")


def for_people(frame, *, lang: str = "en", excel: bool = False, band_m: float = 300, cells: bool = False):
    """A copy of a result frame for people: with ``lang="fr"`` French column names, status words
    and ``oui``/``non``; with ``excel`` or French, decimal commas in the result's numbers (not
    for spreadsheet ``cells``, which hold real numbers and booleans)."""
    import pandas as pd

    out = frame.copy()
    # the result's yes/no and number columns (the input's own columns are left as they are)
    ours = [c for c in out.columns if c in COLUMNS_FR]
    flags = [c for c in ours if pd.api.types.is_bool_dtype(out[c].dtype)]
    numbers = [c for c in ours if pd.api.types.is_float_dtype(out[c].dtype)]
    if lang == "fr":
        if "qpv_status" in out:
            out["qpv_status"] = out["qpv_status"].map(lambda s: status_fr(s, band_m) if s else "")
        if not cells:
            for c in flags:
                out[c] = out[c].map(oui_non).astype(object)
    if (excel or lang == "fr") and not cells:
        for c in numbers:
            out[c] = out[c].map(lambda v: "" if v is None or v is pd.NA or v != v else decimal_comma(float(v)))
        if lang != "fr":
            for c in flags:
                out[c] = out[c].map(lambda v: "" if v is None or v is pd.NA else ("VRAI" if v else "FAUX")
                                    ).astype(object)
    if lang == "fr":
        out = out.rename(columns={k: v for k, v in COLUMNS_FR.items() if k in out.columns})
    return out


# ---------------------------------------------------------------------------- words of a batch
# What a batch says of a row it could not decide (``qpv_note``), and how a place typed by a
# person was read: each once, in English (machine formats and English outputs) and in French
# (CSV and xlsx with ``lang="fr"``, the browser desk). Templates take ``str.format`` fields.
NOTES = {
    "no_geometry": ("no point geometry", "pas de géométrie ponctuelle"),
    "several_points": ("a MultiPoint of several points: give one point per row",
                       "un MultiPoint de plusieurs points : un point par ligne"),
    "not_a_place_text": ("not a place: {value} (give WKT, GeoJSON or a pair of numbers such as 2.26, 50.75)",
                         "pas un lieu : {value} (donnez du WKT, du GeoJSON ou une paire de nombres comme 2.26, 50.75)"),
    "not_a_place": ("a line or a geometry collection is not a place: give a point, or a polygon for a site",
                    "une ligne ou une collection n'est pas un lieu : donnez un point, ou un polygone pour un site"),
    "unreadable_row": ("unreadable row", "ligne illisible"),
    "too_many_fields": ("line {line}: {fields} fields where the header has {header}",
                        "ligne {line} : {fields} champs alors que l'en-tête en a {header}"),
    "recoded": ("stray cp1252 bytes in this row, decoded as cp1252",
                "octets cp1252 isolés dans cette ligne, lus en cp1252"),
    "swapped": ("longitude and latitude look swapped; fix the columns or the values",
                "longitude et latitude semblent inversées : corrigez les colonnes ou les valeurs"),
    "out_of_range": ("longitude must be within ±180 and latitude within ±90 (WGS84 degrees); for projected x/y "
                     "(e.g. Lambert-93) give their CRS (--crs EPSG:2154, crs='EPSG:2154')",
                     "la longitude doit être comprise entre -180 et 180 et la latitude entre -90 et 90 (degrés "
                     "WGS84) ; pour des x/y projetés (Lambert-93 par exemple), donnez leur système "
                     "(--crs EPSG:2154)"),
    "not_a_number": ("not a number: {values}", "pas un nombre : {values}"),
    "not_convertible": ("these x/y cannot be converted from {crs}: check the CRS",
                        "ces x/y ne se convertissent pas depuis {crs} : vérifiez le système de coordonnées"),
    "geocode_failed": ("{reason}; run again to finish (answers already received are cached)",
                       "géocodage en échec ({reason}) ; relancez pour terminer (les réponses déjà reçues sont "
                       "gardées en cache)"),
    "geocode_no_answer": ("the address service did not answer for this row",
                          "le service d'adresses n'a pas répondu pour cette ligne"),
    "geocode_left_out": ("the address service left this row out of its answers",
                         "le service d'adresses a omis cette ligne dans ses réponses"),
    "geocode_offline": ("offline mode is on and this address is not in the geocoding cache",
                        "mode hors ligne, et cette adresse n'est pas dans le cache de géocodage"),
    "geocode_vague": ("match of type {type!r}, score {score}: too vague to decide",
                      "correspondance de type « {type} », score {score} : trop imprécise pour décider"),
    "would_be": ("approximate point would be {status} {code} at {distance} m",
                 "le point approché serait {status} {code} à {distance} m"),
    "would_be_alone": ("approximate point would be {status}", "le point approché serait {status}"),
    # why a funding answer (qpvgeo.funding.for_answer) gives no amount
    "funding_undecided": ("undecided ({status}): the place could not be decided, so the location rules are not "
                          "applied; check the location and ask again",
                          "non décidé ({status}) : le lieu n'a pas pu être décidé, les règles de lieu ne "
                          "s'appliquent donc pas ; vérifiez le lieu et redemandez"),
    "funding_not_eligible": ("{status}: the place is decided and is neither in a QPV nor in the band",
                             "{status} : le lieu est décidé, et n'est ni dans un QPV ni dans la bande"),
    # why a fund gives what it gives to an action of a programme (qpvgeo.programme, qpvgeo.funding)
    "total_row": ("a total of the table: recomputed, not checked as an action",
                  "un total du tableau : recalculé, pas vérifié comme une action"),
    "place_undecided": ("the place is undecided ({status}): no verdict",
                        "le lieu n'est pas décidé ({status}) : pas d'avis"),
    "fdc_not_eligible": ("{status}: neither in a QPV nor within its 300 m band",
                         "{status} : ni dans un QPV ni dans sa bande des 300 m"),
    "fdc_no_expenses": ("no eligible expenses given: the 40 % cannot be computed",
                        "pas de dépenses éligibles : les 40 % ne peuvent pas être calculés"),
    "fdc_cap": ("40 % of {expenses} € of expenses, at most 70 000 €",
                "40 % de {expenses} € de dépenses, au plus 70 000 €"),
    "fcs_no_share": ("no commune's share given: the fund equals it", "pas de part communale : le fonds lui est égal"),
    "fcs_undecided": ("undecided place ({status})", "lieu non décidé ({status})"),
    "fcs_not_eligible": ("{status}: not in a QPV or a QIC", "{status} : ni dans un QPV ni dans un QIC"),
    "fcs_capped": ("capped at 2 000 €", "plafonné à 2 000 €"),
    "fcs_equal": ("equal to the commune's share", "égal à la part communale"),
    "anct_floor": ("expenses below the ANCT floor of 2 500 € (000:126)",
                   "dépenses sous le seuil ANCT de 2 500 € (000:126)"),
    "anct_not_qpv": ("{status}: ANCT credits are for the QPV (not the QIC, 000:52)",
                     "{status} : les crédits ANCT vont aux QPV (pas aux QIC, 000:52)"),
    "anct_degressive": ("year {year}: at most {share} of the first year's {first} €",
                        "année {year} : au plus {share} des {first} € de la première année"),
    "anct_first_year": ("no cap set by the documents for a first year",
                        "pas de plafond fixé par les documents pour une première année"),
    "region_operating": ("at most 30 000 €", "au plus 30 000 €"),
    "region_investment": ("between 5 000 € and 100 000 €", "entre 5 000 € et 100 000 €"),
    "region_over": ("{asked} € asked: the Région gives {limits} ({kind})",
                    "{asked} € demandés : la Région donne {limits} ({kind})"),
    "over_the_limit": ("{asked} € asked, at most {cap} € ({why})", "{asked} € demandés, au plus {cap} € ({why})"),
}

READINGS = {
    "lon_lat": ("lon, lat", "lon, lat"),
    "lat_lon_swapped": ("lat, lon (as copied from a web map), swapped",
                        "lat, lon (copiés d'une carte web), inversés"),
    "lambert93": ("x/y in Lambert-93 (EPSG:2154), recognised from the values",
                  "x/y en Lambert-93 (EPSG:2154), reconnus d'après les valeurs"),
    "projected": ("x/y in {crs}", "x/y en {crs}"),
}
"""How :func:`qpvgeo.crs.parse_point` read a pair, by its code."""


def _words(table: dict, key: str, lang: str, fields: dict) -> str:
    return table[key][LANGS.index(lang)].format(**fields)


def note(key: str, lang: str = "en", **fields) -> str:
    """The text of a note (:data:`NOTES`) in ``lang``; numbers in ``fields`` are the caller's
    to format (French ones with :func:`decimal_comma`).

    >>> note("not_convertible", "fr", crs="EPSG:2154")
    'ces x/y ne se convertissent pas depuis EPSG:2154 : vérifiez le système de coordonnées'
    """
    return _words(NOTES, key, lang, fields)


def note_key(text: str) -> str | None:
    """The key of a note's fixed English text (a geocoder's reason), or None."""
    return next((k for k, (en, _) in NOTES.items() if en == text and "{" not in en), None)


def reading(code: str, lang: str = "en", **fields) -> str:
    """How a pair was read (:data:`READINGS`), in ``lang``.

    >>> reading("lat_lon_swapped", "fr")
    "lat, lon (copiés d'une carte web), inversés"
    """
    return _words(READINGS, code, lang, fields)


_KINDS_FR = {"operating": "fonctionnement", "investment": "investissement"}
_AMOUNTS = ("expenses", "asked", "cap", "first")  # fields of NOTES that are euros


def reason(key: str, lang: str = "en", **fields) -> str:
    """A note whose fields are data (:data:`NOTES`), put in ``lang``: a ``status`` code in words
    (French), euros (``expenses``, ``asked``, ``cap``, ``first``) in its number format, a ``share``
    as a percentage, ``limits`` (a key of NOTES) in words, a ``kind`` of subsidy in French.

    >>> reason("fdc_cap", "fr", expenses=129935.0), reason("fdc_cap", expenses=129935.0)
    ('40 % de 129 935 € de dépenses, au plus 70 000 €', '40 % of 129 935 € of expenses, at most 70 000 €')
    """
    words = dict(fields)
    for k, v in fields.items():
        if k == "status" and lang == "fr":
            words[k] = status_fr(v)
        elif k in _AMOUNTS:  # whole euros, written as euros() writes them in either language
            words[k] = grouped(float(v))
        elif k == "share":
            words[k] = f"{v:.0%}" if lang == "en" else percent(v, digits=0)
        elif k == "limits":
            words[k] = note(v, lang)
        elif k == "kind" and lang == "fr":
            words[k] = _KINDS_FR.get(v, v)
    return note(key, lang, **words)


def number(value, lang: str, digits: int | None = None) -> str:
    """A number in a sentence: ``403.18`` in English, ``403,18`` in French."""
    if lang == "fr":
        return decimal_comma(value, digits)
    return "" if value is None or value != value else (f"{value:.{digits}f}" if digits is not None else f"{value:g}")


def rule_fr(rule: dict) -> str:
    """The rule of an answer in French (the terminal, the summary sheet): band, perimeters, method."""
    return (f"bande {rule['comparison']} {rule['band_m']:g} m autour des {', '.join(rule['band_classes'])} ; "
            f"périmètres {rule['vintage']} ; distances au sol")


def located_fr(located: dict) -> str:
    """:func:`qpvgeo.columns.find_locations`' sentence in French, from its columns and CRS."""
    crs = located.get("crs")
    how = "en degrés (WGS84)" if not crs else (
        f"x/y projetés en {'Lambert-93 ' if crs == 'EPSG:2154' else ''}({crs}), reconnus d'après leurs valeurs")
    if located.get("lon_col"):
        return f"coordonnées des colonnes « {located['lon_col']} » et « {located['lat_col']} », {how}"
    if located.get("geometry_col"):
        kind = "WKT ou GeoJSON" if located.get("geometry_sites") else (
            "paires de nombres" + (", latitude d'abord" if located.get("geometry_lat_first") else ""))
        where = "en degrés (WGS84)" if not crs else f"en {'Lambert-93 ' if crs == 'EPSG:2154' else ''}({crs})"
        return f"lieux de la colonne « {located['geometry_col']} » ({kind}), {where}"
    cols = ", ".join(f"« {c} »" for c in located.get("address_cols") or [])
    city = located.get("citycode_col")
    return f"adresses des colonnes {cols}, géocodées avec la BAN" + (f" (code commune de « {city} »)" if city else "")


def summary_rows(summary: dict, lang: str = "en"):
    """A batch's summary (:func:`qpvgeo.batch.check_file`) as (label, value) rows for people: the
    summary sheet of an xlsx, the terminal. Statuses in words in French, their codes in English."""
    fr = lang == "fr"
    for key, label in (("input", "fichier d'entrée"), ("output", "fichier de résultats"), ("rows", "lignes")):
        if key in summary:
            yield (label if fr else key), summary[key]
    band = (summary.get("rule") or {}).get("band_m", 300)
    for status, n in summary.get("statuses", {}).items():
        yield (f"statut : {status_fr(status, band)}" if fr else f"status: {status}"), n
    for code, n in summary.get("quartiers", {}).items():
        yield (f"quartier : {code}" if fr else f"quartier: {code}"), n
    located = summary.get("located_by") or {}
    if fr and located:
        yield "localisation", located_fr(located)
    elif located:
        for key, value in located.items():
            if value is not None:
                yield f"located by: {key}", ", ".join(value) if isinstance(value, list) else str(value)
    rule = summary.get("rule") or {}
    if fr and rule:
        yield "règle", rule_fr(rule)
    else:
        for key, value in rule.items():
            yield f"rule: {key}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def read_as(how: str, crs=None) -> dict:
    """What an answer says of how its pair was read (:func:`qpvgeo.crs.parse_point`'s ``how``):
    nothing for a plain ``lon, lat``; else ``read_as`` (English), ``read_as_fr`` and the code
    ``read_as_code``. The command line and the server both use it."""
    if how == "lon_lat":
        return {}
    return {"read_as": reading(how, "en", crs=crs), "read_as_fr": reading(how, "fr", crs=crs), "read_as_code": how}
