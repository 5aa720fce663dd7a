"""qpvgeo: the French politique de la ville, computed openly and offline.

Eligibility of addresses and project sites (QPV and the 300 m band), quartiers fragiles from the
INSEE 200 m poverty grid, and maps for the screen and the annual rapport.

In a notebook::

    import qpvgeo
    qpvgeo.check(gdf)                 # a GeoDataFrame of points, any CRS -> the same rows, with the answers
    qpvgeo.check_site(parcel_gdf)     # a site -> any part / centroid / whole, areas on the ground
    qpvgeo.fragility("200069037")     # the candidate zones of an EPCI
    qpvgeo.population(codes=["QN06237M"])
"""

__version__ = "0.1.0"

_API = ("check", "check_site", "load_perimeters", "fragility", "population")
__all__ = list(_API) + ["__version__"]


def __getattr__(name):
    """The notebook API (:mod:`qpvgeo.api`), imported on first use so that ``import qpvgeo`` (and
    the command line) stays light."""
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'qpvgeo' has no attribute {name!r}")
