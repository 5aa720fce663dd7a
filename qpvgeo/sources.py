"""Registry of the official files qpvgeo knows how to download (one place for every URL).

Each entry can be overridden with ``--source URL_OR_FILE`` on the command line, or by passing a
path or URL to the loaders.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class Source:
    key: str
    url: str
    description: str
    filename: str
    sha256: str | None = None


QPV = {
    2024: Source(
        "qpv-2024",
        "https://www.data.gouv.fr/fr/datasets/r/942d4ee8-8142-4556-8ea1-335537ce1119",
        "ANCT, QPV 2024 ('Quartiers 2030'), ZIP with SHP/, GPKG/ and GEOJSON/ folders",
        "qpv-2024.zip",
    ),
    2015: Source(
        "qpv-2015",
        "http://www.ville.gouv.fr/squelettes/carto/assets/qp-politiquedelaville-shp.zip",
        "CGET/ANCT, QPV 2015, shapefile ZIP (QP_METROPOLE_LB93, QP_METROPOLEOUTREMER_WGS84_EPSG4326)",
        "qpv-2015.zip",
    ),
}

FILOSOFI = {
    2021: Source(
        "filosofi-2021",
        "https://www.insee.fr/fr/statistiques/fichier/8735162/Filosofi2021_carreaux_200m_gpkg.zip",
        "INSEE Filosofi 2021, 200 m carreaux, GeoPackage ZIP",
        "Filosofi2021_carreaux_200m_gpkg.zip",
    ),
    2019: Source(
        "filosofi-2019",
        "https://www.insee.fr/fr/statistiques/fichier/7655475/Filosofi2019_carreaux_200m_gpkg.zip",
        "INSEE Filosofi 2019, 200 m carreaux, GeoPackage ZIP (a .7z inside)",
        "Filosofi2019_carreaux_200m_gpkg.zip",
    ),
    2017: Source(
        "filosofi-2017",
        "https://www.insee.fr/fr/statistiques/fichier/6215138/Filosofi2017_carreaux_200m_gpkg.zip",
        "INSEE Filosofi 2017, 200 m carreaux, GeoPackage ZIP (a .7z inside)",
        "Filosofi2017_carreaux_200m_gpkg.zip",
    ),
}


def qpv_source(vintage: int) -> Source:
    try:
        return QPV[int(vintage)]
    except (KeyError, ValueError):
        raise InputError(f"no official QPV file for vintage {vintage!r}; known: {sorted(QPV)}") from None


def filosofi_source(vintage: int) -> Source:
    try:
        return FILOSOFI[int(vintage)]
    except (KeyError, ValueError):
        raise InputError(
            f"no official Filosofi file for vintage {vintage!r}; known: {sorted(FILOSOFI)}"
        ) from None
