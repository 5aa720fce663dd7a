"""Options shared by several commands."""

from __future__ import annotations

import click

from .. import config
from ..perimeters import load_perimeters


def perimeter_options(f):
    """--source, --vintage, --layer, --qic: which perimeters to load."""
    f = click.option("--qic", "qic_source", default=None, metavar="FILE",
                     help="A local layer of quartiers d'intérêt communautaire (class QIC).")(f)
    f = click.option("--layer", default=None, help="Layer or archive member to read (substring).")(f)
    f = click.option("--vintage", type=int, default=None,
                     help="Geography vintage (2024 default; 2015 downloads the official file).")(f)
    f = click.option("--source", default=None, metavar="FILE_OR_URL",
                     help="Perimeters: 'embedded' (default), 'official', a ZIP/GeoJSON/GPKG/SHP path or a URL.")(f)
    return f


def load_from_options(source, vintage, layer, qic_source=None):
    import pandas as pd

    s = config.get_settings()
    gdf = load_perimeters(source, vintage=vintage, layer=layer, settings=s)
    if qic_source:
        qic = load_perimeters(qic_source, classe="QIC", settings=s).to_crs(gdf.crs)
        gdf = pd.concat([gdf, qic], ignore_index=True)
    return gdf
