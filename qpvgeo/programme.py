"""A programme of actions (the annual call for projects) checked fund by fund, with the rapport's
totals per commune, per fund and per pillar, and the table's own totals recomputed.

Each action's place goes through the one decider (:func:`qpvgeo.batch.check_table`: coordinates
or an address), then each fund's rule of :mod:`qpvgeo.funding` says whether the action may get
it and how much at most (docs/rules.md §3, §11). One output row per input row; a row that states a
total is kept, marked, and its total recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import funding
from . import status as _status
from .columns import _find
from .errors import InputError
from .present import reason

# fund -> (column names recognised for the amount asked, description)
FUNDS = {
    "fdc": (("fdc", "fdc_pv", "fonds_de_concours", "fdcpolitiquedelaville"), "FDC « Politique de la Ville »"),
    "fcs": (("fcs", "fonds_cohesion_sociale", "fondsdecohesionsociale"), "Fonds de Cohésion Sociale"),
    "anct": (("anct", "etat", "credits_anct", "bop147"), "ANCT (crédits politique de la ville)"),
    "region_operating": (("region_fonctionnement", "regionfonctionnement", "region_fct"), "Région, fonctionnement"),
    "region_investment": (("region_investissement", "regioninvestissement", "region_inv"), "Région, investissement"),
}
OTHER = {
    "label": ("action", "intitule", "projet", "libelle", "nom"),
    "promoter": ("porteur", "promoteur", "operateur", "structure", "association"),
    "commune": ("commune", "ville", "nomcommune"),
    "pillar": ("pilier", "axe", "thematique"),
    "expenses": ("depenses", "depenses_eligibles", "depenseseligibles", "cout", "budget", "montant_total"),
    "commune_share": ("part_commune", "partcommune", "participation_commune", "participationcommunale"),
    "beneficiary": ("type_porteur", "typeporteur", "beneficiaire"),
    "year": ("annee", "annee_financement", "anneedefinancement"),
    "anct_first_year": ("anct_annee1", "anctannee1", "anct_premiere_annee"),
}


@dataclass
class Programme:
    """``rows``: the input rows with the place's status and, per fund, the verdict, the most it
    may give and why; ``by_commune``, ``by_fund``, ``by_pillar``: the rapport's totals;
    ``totals``: every total the table states, recomputed (:func:`qpvgeo.funding.check_totals`)."""

    rows: pd.DataFrame
    by_commune: pd.DataFrame
    by_fund: pd.DataFrame
    by_pillar: pd.DataFrame
    totals: list


def _money(value) -> float | None:
    amount = funding.parse_amount(value)
    return None if amount is None else float(amount)


def programme(table: pd.DataFrame, checker, *, columns: dict | None = None, locations: dict | None = None,
              geocoder=None, lang: str = "en") -> Programme:
    """Check a programming table (one row per action).

    ``columns`` names the table's columns (keys of ``FUNDS`` for the amounts asked, and
    ``label``, ``promoter``, ``commune``, ``pillar``, ``expenses``, ``commune_share``,
    ``beneficiary``, ``year``, ``anct_first_year``); those not given are recognised by name.
    ``locations`` are the location options of :func:`qpvgeo.batch.check_table` (recognised when
    not given). ``lang``: the language of the reasons (``"fr"`` for the rapport's tables).
    """
    from .batch import check_table
    from .columns import find_locations

    cols = {k: v for k, v in (columns or {}).items() if v}
    for key, names in OTHER.items():
        cols.setdefault(key, _find(table.columns, names))
    for key, (names, _) in FUNDS.items():
        cols.setdefault(key, _find(table.columns, names))
    missing = [c for c in cols.values() if c and c not in table.columns]
    if missing:
        raise InputError(f"column(s) {missing} are not in the table; its columns: {list(table.columns)}")
    funds = [k for k in FUNDS if cols.get(k)]
    if not funds:
        raise InputError(f"no column of amounts asked was found ({', '.join(FUNDS)}); "
                         f"its columns: {list(table.columns)}")
    label_col = cols.get("label") or table.columns[0]
    is_total = table[label_col].astype(str).str.contains("total", case=False, regex=False).to_numpy()
    loc = dict(locations or {})
    if not (loc.get("lon_col") or loc.get("address_cols")):
        found = find_locations(table.columns, table)
        found.pop("how")
        loc.update({k: v for k, v in found.items() if v is not None})
    checked = check_table(table.astype(str).where(table.notna(), ""), checker, geocoder=geocoder, **loc)
    statuses = checked["qpv_status"].to_numpy(dtype=object)
    out = checked.copy()
    for fund in funds:
        verdicts, maxima, reasons = [], [], []
        for i in range(len(table)):
            if is_total[i]:
                verdicts.append("total_row")
                maxima.append(None)
                reasons.append(reason("total_row", lang))
                continue
            v, m, r = _verdict(fund, table.iloc[i], cols, statuses[i], lang)
            verdicts.append(v)
            maxima.append(m)
            reasons.append(r)
        out[f"{fund}_asked_eur"] = [None if is_total[i] else _money(table.iloc[i][cols[fund]])
                                    for i in range(len(table))]
        out[f"{fund}_verdict"] = verdicts
        out[f"{fund}_max_eur"] = maxima
        out[f"{fund}_reason"] = reasons
    out.loc[is_total, "qpv_status"] = "total_row"
    for k in funds:  # what the rules allow of what was asked: the asked amount within the cap
        asked = out[f"{k}_asked_eur"].astype(float)
        cap = pd.to_numeric(out[f"{k}_max_eur"], errors="coerce")
        verdict = out[f"{k}_verdict"]
        allowed = asked.where(cap.isna(), asked.clip(upper=cap))
        out[f"{k}_allowed_eur"] = allowed.where(verdict.isin(["eligible", "over_the_limit"]),
                                                 0.0).where(~verdict.isin(["undecided", "total_row", "not_asked"]))
    details = out[~is_total]
    by_fund = pd.DataFrame([{
        "fund": k, "fund_name": FUNDS[k][1], "actions": int(details[f"{k}_asked_eur"].notna().sum()),
        "asked_eur": float(details[f"{k}_asked_eur"].fillna(0).sum()),
        "allowed_eur": float(details[f"{k}_allowed_eur"].fillna(0).sum()),
        "undecided_actions": int((details[f"{k}_verdict"] == "undecided").sum()),
    } for k in funds])

    def per(key):
        col = cols.get(key)
        if not col:
            return pd.DataFrame()
        rows = []
        for value, group in details.groupby(details[col].astype(str)):
            row = {col: value, "actions": len(group)}
            for k in funds:
                row[f"{k}_asked_eur"] = float(group[f"{k}_asked_eur"].fillna(0).sum())
            rows.append(row)
        return pd.DataFrame(rows)

    totals = []
    for k in funds:
        for t in funding.check_totals(table, amount=cols[k], label=label_col):
            totals.append({"fund": k, **t})
    return Programme(out, per("commune"), by_fund, per("pillar"), totals)


def _verdict(fund: str, row, cols: dict, status: str, lang: str = "en"):
    """(verdict, most the fund may give, reason in ``lang``) for one action and one fund."""
    asked = _money(row[cols[fund]])
    if asked is None:
        return "not_asked", None, None

    def why(key, **fields):
        return reason(key, lang, **fields)

    decided = status in _status.DECIDED
    expenses = _money(row[cols["expenses"]]) if cols.get("expenses") else None
    if fund == "fdc":
        if not decided:
            return "undecided", None, why("place_undecided", status=status)
        if status not in ("in_qpv", "in_band"):
            return "not_eligible", 0, why("fdc_not_eligible", status=status)
        if expenses is None:
            return "undecided", None, why("fdc_no_expenses")
        cap = funding.fdc_politique_ville(expenses)
        return _against(asked, cap, why("fdc_cap", expenses=expenses), lang)
    if fund == "fcs":
        share = _money(row[cols["commune_share"]]) if cols.get("commune_share") else None
        kind = str(row[cols["beneficiary"]]).strip().lower().replace(" ", "_") if cols.get("beneficiary") else ""
        beneficiary = "conseil_citoyen" if "conseil" in kind else "association"
        if share is None:
            return "undecided", None, why("fcs_no_share")
        r = funding.fonds_cohesion_sociale(share, beneficiary=beneficiary, status=status)
        said = why(r["reason_key"], **r["reason_fields"])
        if r["eligible"] is None:
            return "undecided", None, said
        if not r["eligible"]:
            return "not_eligible", 0, said
        return _against(asked, r["amount_eur"], said, lang)
    if fund == "anct":
        conseil = cols.get("beneficiary") and "conseil" in str(row[cols["beneficiary"]]).lower()
        if expenses is not None and not funding.anct_receivable(expenses, conseil_citoyen=bool(conseil)):
            return "not_eligible", 0, why("anct_floor")
        if not decided:
            return "undecided", None, why("place_undecided", status=status)
        if status not in ("in_qpv", "in_band"):
            return "not_eligible", 0, why("anct_not_qpv", status=status)
        year = int(_money(row[cols["year"]]) or 1) if cols.get("year") else 1
        first = _money(row[cols["anct_first_year"]]) if cols.get("anct_first_year") else None
        if year >= 2 and first is not None:
            cap = funding.anct_degressive_cap(first, min(year, 3))
            return _against(asked, cap, why("anct_degressive", year=year, share=funding.ANCT_DEGRESSIVITY[min(year, 3)],
                                            first=first), lang)
        return "eligible", None, why("anct_first_year")
    kind = "operating" if fund == "region_operating" else "investment"
    r = funding.region_subsidy(asked, kind)
    said = why(r["reason_key"], **r["reason_fields"]) if r["reason"] else why(f"region_{kind}")
    return ("eligible" if r["within_limits"] else "over_the_limit"), r["allowed_eur"], said


def _against(asked: float, cap: float, why: str, lang: str = "en"):
    if asked <= cap + 1e-9:
        return "eligible", cap, why
    return "over_the_limit", cap, reason("over_the_limit", lang, asked=asked, cap=cap, why=why)
