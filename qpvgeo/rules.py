"""The rules qpvgeo applies, as frozen parameter objects (docs/rules.md).

Each rule has its defaults from the policy documents and is reported with every answer. This
module is light (no geopandas), so that the command line can build rules before loading data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import status as _status
from .errors import InputError

COMPARISONS = ("<", "<=")
FRAGILITY_COMPARISONS = (">=", ">")
CONTACTS = ("edge", "corner")
BAND_CLASSES = ("QPV", "QIC", "fragile")


@dataclass(frozen=True)
class Rule:
    """The eligibility rule. Every value is reported with each answer.

    Parameters
    ----------
    band_m
        Band distance on the ground, in metres (300: fonds de concours "Politique de la Ville").
    comparison
        ``"<"`` ("à moins de 300 m", the default) or ``"<="``.
    band_classes
        Classes of quartier that get a band (default QPV only; add ``"QIC"`` on request).
    """

    band_m: float = 300.0
    comparison: str = "<"
    band_classes: tuple[str, ...] = ("QPV",)

    def __post_init__(self):
        classes = self.band_classes
        if isinstance(classes, str):  # "QPV, QIC" as typed on a command line
            classes = classes.split(",")
        object.__setattr__(self, "band_classes", tuple(c.strip() for c in classes if c and c.strip()))
        if not (isinstance(self.band_m, (int, float)) and math.isfinite(self.band_m) and self.band_m >= 0):
            raise InputError(f"band distance must be a number of metres >= 0, got {self.band_m!r}")
        if self.comparison not in COMPARISONS:
            raise InputError(f"comparison must be '<' or '<=', got {self.comparison!r}")
        bad = set(self.band_classes) - set(BAND_CLASSES)
        if bad:
            raise InputError(f"unknown class(es) {sorted(bad)} for the band; use QPV, QIC, fragile")

    def in_band(self, distance_m):
        """Whether ground distances (metres) are within the band under this rule's comparison."""
        import numpy as np  # imported here: building a rule (the command line) needs no numpy

        d = np.asarray(distance_m, dtype=float)
        return d < self.band_m if self.comparison == "<" else d <= self.band_m

    def eligible(self, status):
        """Eligibility of statuses under this rule: True (in a QPV, in the band, or inside a
        quartier whose class gets a band), False (other decided statuses), None (undecided or no
        data). Works on one status or an array of them (an object array comes back).

        >>> rule = Rule()
        >>> rule.eligible("in_band"), rule.eligible("in_qic"), rule.eligible("not_covered")
        (True, False, None)
        >>> Rule(band_classes="QPV, QIC").eligible("in_qic")
        True
        """
        yes = ("in_qpv", "in_band") + tuple(_status.INSIDE_OF_CLASS[c] for c in self.band_classes
                                            if c in _status.INSIDE_OF_CLASS)
        import numpy as np

        st = np.asarray(status, dtype=object)
        out = np.where(np.isin(st, yes), True, np.where(np.isin(st, _status.DECIDED), False, None))
        return out.item() if out.ndim == 0 else out

    def as_dict(self) -> dict:
        """The rule's values, for reports (JSON-friendly)."""
        return {"band_m": self.band_m, "comparison": self.comparison, "band_classes": list(self.band_classes)}


@dataclass(frozen=True)
class FragilityRule:
    """Parameters of the flag (defaults: CAPSO "Quartiers 2030", 004:895-899)."""

    factor: float = 2.0
    comparison: str = ">="
    min_households: float = 50.0
    min_individuals: float = 100.0
    contact: str = "edge"

    def __post_init__(self):
        if not self.factor > 0:
            raise InputError(f"factor must be > 0, got {self.factor!r}")
        if self.comparison not in FRAGILITY_COMPARISONS:
            raise InputError(f"comparison must be '>=' or '>', got {self.comparison!r}")
        if self.min_households < 0 or self.min_individuals < 0:
            raise InputError("minimum households and individuals must be >= 0")
        if self.contact not in CONTACTS:
            raise InputError(f"contact must be 'edge' or 'corner', got {self.contact!r}")


