"""The status vocabulary of every eligibility answer, defined once (docs/rules.md §2).

Every answer qpvgeo gives about a place (a point, a site, an address, a row of a file, a point
on a map, an API call) carries one of these codes. The groups below are the only place where
"decided", "inside" and "no data" are defined; :meth:`qpvgeo.eligibility.Rule.eligible` says
which decided statuses are eligible under a rule.

==========================  =================================================================
status                      meaning
==========================  =================================================================
``in_qpv``                  inside (or on the outline of) a quartier of class QPV; distance 0
``in_band``                 outside, at a ground distance below the band distance from a
                            quartier whose class gets a band (QPV by default)
``in_qic``                  inside a QIC, and not in a QPV's band
``in_fragile``              inside a quartier fragile, and not in a QPV's band
``outside``                 none of the above, inside the area the loaded perimeters cover
``not_covered``             outside the area the loaded perimeters cover: no data is not a no
``outside_territory``       in no French territory (mainland, Antilles, Guyane, Réunion, Mayotte)
``no_coordinates``          the row has no location
``invalid_coordinates``     the location is not a pair of numbers in range (see the note)
``swapped_coordinates``     longitude and latitude look swapped
``no_address``              the address columns are empty
``geocode_not_found``       the geocoder found no match
``geocode_imprecise``       the match is a street or a commune, or its score is low: a 300 m
                            question is not decided on it (the note gives the indicative answer)
``geocode_failed``          the geocoder could not be reached for this row (the note says why);
                            a second run finishes the job from the cache
``unreadable_row``          the row of the input file could not be parsed (the note gives its
                            line number)
==========================  =================================================================
"""

from __future__ import annotations

INSIDE = ("in_qpv", "in_qic", "in_fragile")
"""Inside a quartier of some class (distance 0)."""

PLACED = INSIDE + ("in_band",)
"""Inside a quartier or in the band of one: the answer names that quartier."""

DECIDED = PLACED + ("outside",)
"""A yes or a no was given: the answer names the nearest quartier and its ground distance."""

NO_DATA = ("not_covered", "outside_territory")
"""The loaded perimeters cannot answer here: neither yes nor no."""

UNDECIDED = ("no_coordinates", "invalid_coordinates", "swapped_coordinates", "no_address",
             "geocode_not_found", "geocode_imprecise", "geocode_failed", "unreadable_row")
"""The row could not be located well enough to ask the question."""

ALL = DECIDED + NO_DATA + UNDECIDED

CLASS_OF_INSIDE = {"in_qpv": "QPV", "in_qic": "QIC", "in_fragile": "fragile"}
INSIDE_OF_CLASS = {v: k for k, v in CLASS_OF_INSIDE.items()}

LABELS_EN = {
    "in_qpv": "IN A QPV", "in_band": "IN THE BAND", "in_qic": "IN A QIC",
    "in_fragile": "IN A QUARTIER FRAGILE", "outside": "OUTSIDE",
    "not_covered": "NOT COVERED by the loaded perimeters (no data is not a no)",
    "outside_territory": "OUTSIDE every French territory",
    "no_coordinates": "UNDECIDED: no coordinates", "invalid_coordinates": "UNDECIDED: invalid coordinates",
    "swapped_coordinates": "UNDECIDED: longitude and latitude look swapped",
    "no_address": "UNDECIDED: no address", "geocode_not_found": "UNDECIDED: address not found",
    "geocode_imprecise": "UNDECIDED: address too vague", "geocode_failed": "UNDECIDED: geocoding failed",
    "unreadable_row": "UNDECIDED: unreadable row",
}
"""Words for a person reading a terminal."""

LABELS_FR = {
    "in_qpv": "dans un QPV", "in_band": "dans la bande des {band} m", "in_qic": "dans un QIC",
    "in_fragile": "dans un quartier fragile", "outside": "hors zone",
    "not_covered": "non couvert par les périmètres chargés (pas de réponse)",
    "outside_territory": "hors du territoire français",
    "no_coordinates": "non décidé : pas de coordonnées", "invalid_coordinates": "non décidé : coordonnées invalides",
    "swapped_coordinates": "non décidé : longitude et latitude inversées",
    "no_address": "non décidé : pas d'adresse", "geocode_not_found": "non décidé : adresse introuvable",
    "geocode_imprecise": "non décidé : adresse trop imprécise", "geocode_failed": "non décidé : géocodage en échec",
    "unreadable_row": "non décidé : ligne illisible",
}
"""Words for maps and French outputs (``{band}`` is the band distance in metres)."""


def is_decided(status: str) -> bool:
    """Whether a yes or a no was given for this status.

    >>> is_decided("outside"), is_decided("not_covered")
    (True, False)
    """
    return status in DECIDED
