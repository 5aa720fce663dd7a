"""qpvgeo: the French politique de la ville, computed openly and offline.

Eligibility of addresses and project sites (QPV and the 300 m band), quartiers fragiles from the
INSEE 200 m poverty grid, and maps for the screen and the annual rapport.
"""

__version__ = "0.1.0"
