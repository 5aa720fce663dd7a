"""Amounts and thresholds that depend on where a project is (docs/rules.md §3).

All amounts are in euros. Rounding is to the nearest euro, halves up, as in the CABBALR
reports (129 935 € of expenses → 51 974 €).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from . import status as _status
from .errors import InputError

FDC_RATE = 0.40
FDC_CAP_EUR = 70_000
ANCT_FLOOR_EUR = 2_500
PUBLIC_SHARE = 0.60
FCS_CAP_EUR = 2_000  # Fonds de Cohésion Sociale (CABBALR), 002:914-930
ANCT_DEGRESSIVITY = {2: 0.50, 3: 0.30}  # share of the first year's amount, at most (000:130)
REGION_OPERATING_MAX_EUR = 30_000  # 000:206
REGION_INVESTMENT_MIN_EUR, REGION_INVESTMENT_MAX_EUR = 5_000, 100_000  # 000:207
CAF_QPV_BONUS = 0.10  # investment co-financing rate, in the QPV (000:263)
EMPLOIS_FRANCS = {"cdi": (15_000, 3), "cdd": (5_000, 2)}  # euros over years (002:1239-1240)
CDD_MIN_MONTHS = 6


def _euros(d: Decimal) -> int:
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_amount(value, name: str = "amount") -> Decimal | None:
    """An amount as written in a table or typed by a person (``391 934 €``, ``1 500,50``,
    ``129935``): a Decimal, None when empty, or an :class:`InputError` that names the value.

    >>> parse_amount("391 934 €"), parse_amount("1\u202f500,5"), parse_amount("")
    (Decimal('391934'), Decimal('1500.5'), None)
    """
    import re

    text = re.sub(r"[€\s\u00a0\u202f]", "", str(value)).replace(",", ".")
    if text in ("", "nan", "None", "NaN", "-"):
        return None
    try:
        return Decimal(text)
    except Exception:  # noqa: BLE001 - decimal raises several kinds
        raise InputError(f"{name} must be an amount in euros, got {value!r}") from None


def _money(value, name: str) -> Decimal:
    d = parse_amount(value, name)
    if d is None:
        raise InputError(f"{name} must be an amount in euros, got {value!r}")
    if not d.is_finite() or d < 0:
        raise InputError(f"{name} must be a positive amount in euros, got {value!r}")
    return d


def fdc_politique_ville(expenses_eur, *, rate: float = FDC_RATE, cap_eur: float = FDC_CAP_EUR) -> int:
    """Fonds de concours "Politique de la Ville" (CABBALR): ``min(rate × expenses, cap)``,
    rounded to the euro. The site must be in a quartier or in its band (see ``eligibility``).

    >>> fdc_politique_ville(129_935)
    51974
    """
    e = _money(expenses_eur, "eligible expenses")
    r = _money(rate, "rate")
    if r > 1:
        raise InputError(f"rate is a fraction (0.40 for 40 %), got {rate!r}")
    amount = min(e * r, _money(cap_eur, "cap"))
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fdc_total(expenses: Iterable, **kwargs) -> int:
    return sum(fdc_politique_ville(e, **kwargs) for e in expenses)


def fdc_break_even_eur(*, rate: float = FDC_RATE, cap_eur: float = FDC_CAP_EUR) -> int:
    """Expenses above which the cap applies (175 000 € with the defaults)."""
    return int((_money(cap_eur, "cap") / _money(rate, "rate")).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def classic_fdc_majoration(status: str) -> bool | None:
    """Whether a classic FDC gets the "+5 %" majoration: the site is in a QPV or in the band
    (base rate and cap of the classic FDC are not published: apply them yourself). None when the
    place is undecided or without data: no data is not a no."""
    if status not in _status.DECIDED:
        return None
    return status in ("in_qpv", "in_band")


def for_answer(answer: dict, expenses_eur, *, rate: float = FDC_RATE, cap_eur: float = FDC_CAP_EUR) -> dict:
    """The location-dependent funding rules (docs/rules.md §3) for an eligibility answer (of a
    point, an address or a site).

    Returns
    -------
    dict
        ``expenses_eur``; ``fdc_politique_ville_eur`` (the amount when the place is eligible, 0
        when it is decided and not eligible, None when undecided); ``fdc_majoration_5pct``
        (True/False/None); ``anct_receivable`` (the 2 500 € floor, which does not depend on the
        place); ``decided``; ``note`` (why an amount is 0 or None).
    """
    st = answer["status"]
    decided = st in _status.DECIDED
    eligible = answer.get("eligible") if decided else None
    amount = fdc_politique_ville(expenses_eur, rate=rate, cap_eur=cap_eur)
    from .present import note as words

    note = words("funding_undecided", status=st) if not decided else (
        words("funding_not_eligible", status=st) if not eligible else None)
    return {
        "expenses_eur": float(_money(expenses_eur, "expenses")),
        "decided": decided,
        "fdc_politique_ville_eur": amount if eligible else (0 if decided else None),
        "fdc_majoration_5pct": classic_fdc_majoration(st),
        "anct_receivable": anct_receivable(expenses_eur),
        "note": note,
    }


def anct_receivable(expenses_eur, *, floor_eur: float = ANCT_FLOOR_EUR, conseil_citoyen: bool = False) -> bool:
    """Whether an ANCT subsidy request is receivable: expenses ≥ 2 500 € (conseils citoyens exempt)."""
    return conseil_citoyen or _money(expenses_eur, "expenses") >= _money(floor_eur, "floor")


def public_share(statuses, *, threshold: float = PUBLIC_SHARE, count_qic: bool = False) -> dict:
    """The "60 %" rule: share of the people reached who live in a QPV, from the statuses of
    their addresses (an iterable of statuses, or a mapping status → count such as the
    ``statuses`` of :func:`qpvgeo.batch.check_file`'s summary). QIC residents are counted
    separately (they do not count for the ANCT); undecided addresses and places without data are
    reported and left out of the denominator. With ``count_qic`` (for a fund open to QIC, such as
    the CABBALR's Fonds de Cohésion Sociale, 000:52) QIC residents count with QPV residents.
    Only aggregates are returned.
    """
    counts = {"in_qpv": 0, "in_qic": 0, "elsewhere": 0, "undecided": 0}
    if isinstance(statuses, dict):
        statuses = [s for s, n in statuses.items() for _ in range(int(n))]
    for s in statuses:
        if s == "in_qpv":
            counts["in_qpv"] += 1
        elif s == "in_qic":
            counts["in_qic"] += 1
        elif s in _status.DECIDED:
            counts["elsewhere"] += 1
        else:
            counts["undecided"] += 1
    decided = counts["in_qpv"] + counts["in_qic"] + counts["elsewhere"]
    reached = counts["in_qpv"] + (counts["in_qic"] if count_qic else 0)
    share = reached / decided if decided else None
    return {
        "people": sum(counts.values()), "decided": decided, **counts,
        "share_in_qpv": None if share is None else round(share, 4),
        "share_in_qic": None if not decided else round(counts["in_qic"] / decided, 4),
        "counts_qic": count_qic,
        "threshold": threshold, "meets_threshold": None if share is None else share >= threshold,
    }


def fonds_cohesion_sociale(commune_share_eur, *, cap_eur: float = FCS_CAP_EUR, beneficiary: str = "association",
                           status: str | None = None) -> dict:
    """Fonds de Cohésion Sociale (CABBALR, 002:914-930): equal to the commune's share, at most
    2 000 €, for the actions of conseils citoyens and of local associations working in the
    quartiers, QPV or QIC (the fund is open to QIC, 000:52).

    >>> fonds_cohesion_sociale(1500)["amount_eur"], fonds_cohesion_sociale(3000)["amount_eur"]
    (1500, 2000)
    """
    share = _money(commune_share_eur, "commune's share")
    if beneficiary not in ("conseil_citoyen", "association"):
        raise InputError(f"beneficiary must be conseil_citoyen or association, got {beneficiary!r}")
    if status is not None and status not in _status.DECIDED:
        return _why({"eligible": None, "amount_eur": None}, "fcs_undecided", status=status)
    if status is not None and status not in ("in_qpv", "in_qic", "in_band"):
        return _why({"eligible": False, "amount_eur": 0}, "fcs_not_eligible", status=status)
    cap = _money(cap_eur, "cap")
    amount = min(share, cap)
    return _why({"eligible": True, "amount_eur": _euros(amount)}, "fcs_capped" if share > cap else "fcs_equal")


def _why(answer: dict, key: str, **fields) -> dict:
    """``answer`` with its ``reason`` (English) and ``reason_key`` and ``reason_fields``, from which
    :func:`qpvgeo.present.reason` says it in French (:data:`qpvgeo.present.NOTES`)."""
    from .present import reason

    return {**answer, "reason": reason(key, **fields), "reason_key": key, "reason_fields": fields}


def anct_degressive_cap(first_year_eur, year: int) -> int:
    """The most the ANCT credits of the politique de la ville may give an action in its ``year``-th
    year: the first year's amount, then at most 50 % of it the 2nd year and 30 % the 3rd, toward
    the common law (000:130). The documents say nothing beyond the 3rd year.

    >>> anct_degressive_cap(10_000, 1), anct_degressive_cap(10_000, 2), anct_degressive_cap(10_000, 3)
    (10000, 5000, 3000)
    """
    first = _money(first_year_eur, "first year's amount")
    if year == 1:
        return _euros(first)
    if year not in ANCT_DEGRESSIVITY:
        raise InputError(f"the degressivity is set for years 2 and 3 only (000:130), got year {year!r}")
    return _euros(first * Decimal(str(ANCT_DEGRESSIVITY[year])))


def region_subsidy(asked_eur, kind: str) -> dict:
    """Région (000:204-207): an operating subsidy is at most 30 000 €; an investment subsidy is
    between 5 000 € and 100 000 €. Returns whether the amount asked is within the limits and why.

    >>> region_subsidy(30_000, "operating")["within_limits"], region_subsidy(4_999, "investment")["within_limits"]
    (True, False)
    """
    from .present import note

    a = _money(asked_eur, "amount asked")
    if kind == "operating":
        ok = a <= REGION_OPERATING_MAX_EUR
        allowed = min(a, Decimal(REGION_OPERATING_MAX_EUR))
    elif kind == "investment":
        ok = REGION_INVESTMENT_MIN_EUR <= a <= REGION_INVESTMENT_MAX_EUR
        allowed = min(a, Decimal(REGION_INVESTMENT_MAX_EUR)) if a >= REGION_INVESTMENT_MIN_EUR else Decimal(0)
    else:
        raise InputError(f"kind must be operating or investment, got {kind!r}")
    answer = {"within_limits": bool(ok), "allowed_eur": _euros(allowed), "limits": note(f"region_{kind}")}
    if ok:
        return {**answer, "reason": None}
    return _why(answer, "region_over", asked=float(a), limits=f"region_{kind}", kind=kind)


def caf_investment_rate(base_rate: float, status: str) -> float | None:
    """CAF investment co-financing rate: raised by 10 points in the QPV (000:263). None when the
    place is undecided.

    >>> caf_investment_rate(0.40, "in_qpv"), caf_investment_rate(0.40, "in_band")
    (0.5, 0.4)
    """
    if not 0 <= base_rate <= 1:
        raise InputError(f"base_rate is a fraction (0.40 for 40 %), got {base_rate!r}")
    if status not in _status.DECIDED:
        return None
    return round(min(base_rate + CAF_QPV_BONUS, 1.0), 4) if status == "in_qpv" else base_rate


def emplois_francs(contract: str, *, months: int | None = None, resident_status: str = "in_qpv") -> dict:
    """Emplois francs (002:1239-1240), for hiring a job seeker living in a QPV, full time: 15 000 €
    over 3 years for a CDI, 5 000 € over 2 years for a CDD of at least 6 months.

    >>> emplois_francs("cdi")["amount_eur"], emplois_francs("cdd", months=6)["amount_eur"]
    (15000, 5000)
    """
    c = contract.lower()
    if c not in EMPLOIS_FRANCS:
        raise InputError(f"contract must be cdi or cdd, got {contract!r}")
    if resident_status not in _status.DECIDED:
        return {"eligible": None, "amount_eur": None, "years": None,
                "reason": f"the resident's address is undecided ({resident_status})"}
    if resident_status != "in_qpv":
        return {"eligible": False, "amount_eur": 0, "years": None, "reason": "the person hired does not live in a QPV"}
    if c == "cdd" and (months is None or months < CDD_MIN_MONTHS):
        return {"eligible": False, "amount_eur": 0, "years": None,
                "reason": f"a CDD must last at least {CDD_MIN_MONTHS} months"}
    amount, years = EMPLOIS_FRANCS[c]
    return {"eligible": True, "amount_eur": amount, "years": years, "per_year_eur": round(amount / years, 2),
            "reason": None}


def dsc_part_qpv(amount_eur, inhabitants_in_qpv: dict, *, method: str = "given") -> dict:
    """DSC « part QPV » (CAPSO, 004:242-245): half of the amount shared equally between the
    communes with a QPV, half by their QPV inhabitants. Shares are rounded to the cent and sum to
    the amount exactly (largest remainders).

    Returns ``{"shares": {commune: euros}, "equal_part_eur", "by_inhabitants_part_eur",
    "inhabitants": …, "population_method": method}``.
    """
    total = _money(amount_eur, "amount")
    if not inhabitants_in_qpv:
        raise InputError("give the QPV inhabitants of each commune with a QPV")
    people = {str(k): _money(v, f"inhabitants of {k}") for k, v in inhabitants_in_qpv.items()}
    all_people = sum(people.values())
    if all_people <= 0:
        raise InputError("the communes have no QPV inhabitant: the part shared by inhabitants cannot be computed")
    half = total / 2
    raw = {c: half / len(people) + half * p / all_people for c, p in people.items()}
    cents = {c: (v * 100).to_integral_value(rounding="ROUND_FLOOR") for c, v in raw.items()}
    left = int(total * 100 - sum(cents.values()))
    for c in sorted(raw, key=lambda c: raw[c] * 100 - cents[c], reverse=True)[:left]:
        cents[c] += 1
    return {"shares": {c: float(v / 100) for c, v in cents.items()}, "equal_part_eur": float(half),
            "by_inhabitants_part_eur": float(half), "inhabitants": {c: float(p) for c, p in people.items()},
            "population_method": method}


def check_totals(rows, *, amount: str, label: str) -> list[dict]:
    """Recompute the totals and subtotals a table states, and report every difference.

    ``rows`` is a DataFrame (or a list of dicts) in its order; a row whose ``label`` column holds
    "total" (``TOTAL``, ``Sous-total``, ``Total 4``…) states the sum of the detail rows since the
    previous subtotal; a row labelled ``Total`` (or ``TOTAL`` followed by nothing) after subtotals
    states the sum of every detail row. Amounts may be written the French way (``391 934 €``).

    Returns
    -------
    list of dict
        One per stated total: ``row`` (position), ``label``, ``stated_eur``, ``computed_eur``,
        ``difference_eur`` (stated − computed), ``rows`` (positions summed), ``ok``.

    >>> check_totals([{"l": "a", "m": "100 €"}, {"l": "b", "m": "50"}, {"l": "TOTAL", "m": "149 €"}],
    ...              amount="m", label="l")[0]["difference_eur"]
    -1.0
    """
    import re

    import pandas as pd

    frame = pd.DataFrame(rows)
    if amount not in frame.columns or label not in frame.columns:
        raise InputError(f"columns {amount!r} and {label!r} must be in the table; its columns: {list(frame.columns)}")
    out, block, every = [], [], []
    for pos, (lab, value) in enumerate(zip(frame[label].astype(str), frame[amount])):
        try:
            money = parse_amount(value)
        except InputError:  # not a number: neither a detail nor a total
            money = None
        is_total = re.search(r"total", lab, re.I) is not None
        if not is_total:
            if money is not None:
                block.append((pos, money))
                every.append((pos, money))
            continue
        if money is None:
            continue
        whole = re.fullmatch(r"\s*(grand\s+)?total\s*(g[ée]n[ée]ral)?\s*", lab, re.I) is not None and not block
        summed = every if whole else block
        computed = sum((m for _, m in summed), Decimal(0))
        out.append({"row": pos, "label": lab, "stated_eur": float(money), "computed_eur": float(computed),
                    "difference_eur": float(money - computed), "rows": [p for p, _ in summed],
                    "ok": money == computed})
        block = []
    return out
