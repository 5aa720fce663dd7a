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


def _money(value, name: str) -> Decimal:
    try:
        d = Decimal(str(value).replace(" ", "").replace("\u202f", "").replace(",", "."))
    except Exception:  # noqa: BLE001 - decimal raises several kinds
        raise InputError(f"{name} must be an amount in euros, got {value!r}") from None
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
    if not decided:
        note = (f"undecided ({st}): the place could not be decided, so the location rules are not applied; "
                "check the location and ask again")
    elif not eligible:
        note = f"{st}: the place is decided and is neither in a QPV nor in the band"
    else:
        note = None
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


def public_share(statuses, *, threshold: float = PUBLIC_SHARE) -> dict:
    """The "60 %" rule: share of the people reached who live in a QPV, from the statuses of
    their addresses (an iterable of statuses, or a mapping status → count such as the
    ``statuses`` of :func:`qpvgeo.batch.check_file`'s summary). QIC residents are counted
    separately (they do not count for the ANCT); undecided addresses and places without data are
    reported and left out of the denominator. Only aggregates are returned.
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
    share = counts["in_qpv"] / decided if decided else None
    return {
        "people": sum(counts.values()), "decided": decided, **counts,
        "share_in_qpv": None if share is None else round(share, 4),
        "share_in_qic": None if not decided else round(counts["in_qic"] / decided, 4),
        "threshold": threshold, "meets_threshold": None if share is None else share >= threshold,
    }
