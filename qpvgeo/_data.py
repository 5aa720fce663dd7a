"""Where the embedded data lives: ``qpvgeo/data`` in an installed wheel, ``data/`` in a checkout."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError


def data_dir() -> Path:
    env = os.environ.get("QPVGEO_DATA_DIR")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here / "data", here.parent / "data"]
    for c in candidates:
        if (c / "qpv").is_dir():
            return c
    raise DataError(
        "the embedded data folder was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); reinstall qpvgeo or set QPVGEO_DATA_DIR"
    )


def embedded(relpath: str) -> Path:
    """Path of an embedded file, e.g. ``embedded("qpv/qpv-2024_pas-de-calais.geojson")``."""
    p = data_dir() / relpath
    if not p.exists():
        raise DataError(f"embedded file {relpath} is missing from {data_dir()}")
    return p


QPV_2024_62 = "qpv/qpv-2024_pas-de-calais.geojson"
FILOSOFI_2021_CAPSO = "filosofi/filosofi2021_200m_capso-full_epsg3035.csv"
COMMUNES_62 = "communes/communes-62-pas-de-calais.geojson"
DEPARTEMENT_62 = "communes/departement-62-pas-de-calais.geojson"
EPCICOM_62 = "communes/epcicom2026_pas-de-calais.csv"
COG_2018_TO_2026 = "communes/cog2018_to_2026.csv"
