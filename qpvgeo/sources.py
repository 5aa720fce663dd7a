"""Registry of the official files qpvgeo knows how to download (one place for every URL).

Each entry can be overridden with ``--source URL_OR_FILE`` on the command line, or by passing a
path or URL to the loaders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def resolve(
    source: str | Path | None,
    *,
    vintage: int | None,
    embedded: tuple[str, int, str],
    official: Callable[[int], Source],
    what: str,
    settings,
) -> tuple[Path, str, int | None]:
    """The local file behind a ``source`` argument, with a label for provenance and the vintage.

    ``None``/``"embedded"``: the embedded file ``embedded = (relpath, vintage, label)`` (another
    vintage falls through to the official file); ``"official"``: the registry's file for the
    vintage, downloaded into the cache; a URL: downloaded; else a local path that must exist.
    """
    from . import _data, _http

    rel, emb_vintage, emb_label = embedded
    src = None if source is None else str(source)
    if src in (None, "embedded"):
        if vintage in (None, emb_vintage):
            path = _data.embedded(rel)
            return path, f"{emb_label} ({path.name})", emb_vintage
        src = "official"
    if src == "official":
        vintage = vintage or emb_vintage
        entry = official(vintage)
        path = _http.download(entry.url, name=entry.filename, settings=settings)
        return path, _label_with_date(entry.url, path), vintage
    if re.match(r"^https?://", src):
        path = _http.download(src, settings=settings)
        return path, _label_with_date(src, path), vintage
    path = Path(src).expanduser()
    if not path.exists():
        raise InputError(f"{what} file {src!r} does not exist")
    return path, str(path), vintage


def _label_with_date(url: str, path: Path) -> str:
    meta = path.with_name(path.name + ".json")
    if meta.exists():
        return f"{url} (downloaded {json.loads(meta.read_text()).get('downloaded')})"
    return url
