"""Communes, EPCI membership and the outlines of the areas a layer covers."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from . import _data, _tables
from .crs import WGS84, departement_of_commune, territory_of_departement
from .errors import DataError, InputError, NotFoundError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=4)
def load_membership(path: str | Path | None = None) -> pd.DataFrame:
    """Commune → EPCI table (DGCL ``epcicom`` format, CSV or the DGCL's own ``.xlsx``; any sheet
    named like ``epcicom``, else the first): columns ``insee``, ``nom_commune``, ``siren_epci``,
    ``nom_epci``, ``pmun`` (municipal population). Default: the embedded 2026 table of
    Pas-de-Calais."""
    p = Path(path) if path else _data.embedded(_data.EPCICOM_62)
    if not p.exists():
        raise InputError(f"the EPCI membership table {str(p)!r} does not exist: check the path")
    try:
        if p.suffix.lower() in _tables.SHEET_EXT:
            names = _tables._sheet_names(p)
            sheet = next((n for n in names if "epcicom" in n.lower()), None)
            raw = pd.concat([c.frame for c in _tables.iter_chunks(p, sheet=sheet)], ignore_index=True)
        else:
            raw = pd.read_csv(p, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the EPCI membership table {p}: {exc}") from exc
    cols = {c.lower(): c for c in raw.columns}
    need = {"siren", "insee"}
    if not need <= set(cols):
        raise DataError(
            f"{p} lacks the column(s) {sorted(need - set(cols))}: expected the DGCL epcicom "
            "columns siren, raison_sociale, insee, nom_membre, pmun_2025"
        )
    pop_col = next((cols[c] for c in cols if c.startswith("pmun")), None)
    out = pd.DataFrame({
        "insee": raw[cols["insee"]].str.strip().str.zfill(5),
        "nom_commune": raw[cols["nom_membre"]] if "nom_membre" in cols else None,
        "siren_epci": raw[cols["siren"]].str.strip(),
        "nom_epci": raw[cols["raison_sociale"]] if "raison_sociale" in cols else None,
        "pmun": pd.to_numeric(raw[pop_col], errors="coerce") if pop_col else float("nan"),
    })
    return out.drop_duplicates("insee").reset_index(drop=True)


def _name_key(name: str) -> str:
    import re
    import unicodedata

    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\bst\b", "saint", re.sub(r"\bste\b", "sainte", re.sub(r"[-'’_.]", " ", text)))
    return " ".join(text.split())


def find_commune(text: str, membership: pd.DataFrame | None = None) -> str:
    """The INSEE code of a commune given by its code or its name (accents, case, hyphens and
    "St"/"Saint" ignored: ``béthune`` → 62119). An ambiguous name is an error that lists the
    communes with their codes; an unknown one suggests the nearest names.

    >>> find_commune("bethune"), find_commune("St-Omer"), find_commune("62765")
    ('62119', '62765', '62765')
    """
    import difflib

    value = str(text).strip()
    if value.isdigit() and len(value) <= 5 or (len(value) == 5 and value[:2].upper() in ("2A", "2B")):
        return value.zfill(5)
    m = load_membership() if membership is None else membership
    keys = m["nom_commune"].fillna("").map(_name_key)
    hits = m[keys == _name_key(value)]
    if len(hits) == 1:
        return str(hits["insee"].iloc[0])
    if len(hits) > 1:
        listed = ", ".join(f"{n} ({c})" for n, c in zip(hits["nom_commune"], hits["insee"]))
        raise InputError(f"several communes are named {value!r}: {listed}; give the INSEE code")
    close = difflib.get_close_matches(_name_key(value), list(keys), n=3, cutoff=0.75)
    names = [m.loc[keys == k, "nom_commune"].iloc[0] for k in close]
    raise NotFoundError(f"no commune named {value!r} in the commune table"
                        + (f"; did you mean {', '.join(names)}?" if names else "; give its INSEE code"))


def commune_names(membership: pd.DataFrame | None = None) -> dict:
    """INSEE code → commune name, from the membership table."""
    m = load_membership() if membership is None else membership
    return dict(zip(m["insee"], m["nom_commune"]))


def epci_name(siren: str, membership: pd.DataFrame | None = None) -> str:
    m = load_membership() if membership is None else membership
    hit = m.loc[m["siren_epci"] == str(siren), "nom_epci"]
    if hit.empty:
        raise NotFoundError(
            f"EPCI {siren!r} is not in the membership table (known: "
            f"{', '.join(sorted(m['siren_epci'].unique())[:8])}…); check the SIREN or give "
            "your own commune → EPCI table (membership=, --membership)"
        )
    return str(hit.iloc[0])


def communes_of_epci(siren: str, membership: pd.DataFrame | None = None) -> list[str]:
    m = load_membership() if membership is None else membership
    epci_name(siren, m)  # raises on an unknown EPCI
    return sorted(m.loc[m["siren_epci"] == str(siren), "insee"])


@functools.lru_cache(maxsize=4)
def load_communes(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """Commune outlines with ``insee``, ``nom``; codes merged since the geometry's vintage are
    dissolved into the current commune (embedded: COG 2018 geometry, 2026 codes)."""
    p = Path(path) if path else _data.embedded(_data.COMMUNES_62)
    gdf = gpd.read_file(p, engine="pyogrio")
    if gdf.crs is None:
        raise DataError(f"{p} has no CRS")
    code_col = next((c for c in ("code", "insee", "insee_com", "INSEE_COM", "codgeo") if c in gdf), None)
    if code_col is None:
        raise DataError(f"{p} has no commune code column (code, insee, insee_com)")
    gdf = gdf.rename(columns={code_col: "insee"})
    if "nom" not in gdf:
        gdf["nom"] = gdf.get("NOM", gdf.get("nom_com", ""))
    if path is None:
        remap = pd.read_csv(_data.embedded(_data.COG_2018_TO_2026), dtype=str)
        gdf["insee"] = gdf["insee"].replace(dict(zip(remap["code_2018"], remap["code_2026"])))
        if gdf["insee"].duplicated().any():
            names = gdf.drop_duplicates("insee", keep="last").set_index("insee")["nom"]
            gdf = gdf.dissolve(by="insee", as_index=False)
            gdf["nom"] = gdf["insee"].map(names)
    return gdf[["insee", "nom", "geometry"]].to_crs(WGS84)


@functools.lru_cache(maxsize=8)
@functools.lru_cache(maxsize=8)
def departement_outline(departement: str):
    """Outline (WGS84 shapely geometry) of a département when qpvgeo ships it, else None (read
    once per process)."""
    if str(departement) == "62":
        return shapely.union_all(gpd.read_file(_data.embedded(_data.DEPARTEMENT_62)).to_crs(WGS84).geometry.values)
    return None


def coverage_of(departements) -> shapely.Geometry:
    """The area (WGS84) covered by a layer holding quartiers of these départements.

    Uses the département outline where qpvgeo ships it; otherwise the extent of the département's
    territory (coarse: a layer of département 13 is then taken to cover all of mainland France).
    """
    parts = []
    for dep in sorted(set(departements)):
        outline = departement_outline(dep)
        if outline is None:
            t = territory_of_departement(dep)
            outline = shapely.box(*t.bbox)
        parts.append(outline)
    if not parts:
        return shapely.Polygon()
    return shapely.union_all(parts)


def coverage_of_perimeters(perimeters: gpd.GeoDataFrame) -> shapely.Geometry:
    """The area (WGS84) a layer of quartiers speaks for: its départements (:func:`coverage_of`),
    narrowed to its selection when it was selected (:func:`coverage_of_selection`). Outside it,
    "no quartier here" is not known: answers there are ``not_covered``. The one decision for
    points, sites, files (:class:`qpvgeo.eligibility.Checker`) and fragility zones."""
    deps = perimeters["departement"].fillna("").astype(str)
    coverage = coverage_of([d for d in deps if d])
    selection = dict(perimeters.attrs.get("qpvgeo_selection") or {})
    if selection:
        coverage = shapely.intersection(coverage, coverage_of_selection(selection, perimeters.to_crs(WGS84)))
    return coverage


def coverage_of_selection(selection: dict, perimeters_wgs84: gpd.GeoDataFrame) -> shapely.Geometry:
    """The area (WGS84) for which a selection of quartiers is complete.

    ``selection`` holds the filters of :func:`qpvgeo.perimeters.select` (``departement``,
    ``epci``, ``commune``, ``code``). Selecting by EPCI or commune covers their communes' outlines
    (where qpvgeo has them); by département, the département; by code, or where no outline is
    known, only the selected quartiers themselves. Answers outside it are ``not_covered``.
    """
    quartiers = shapely.union_all(perimeters_wgs84.geometry.values)
    area = None

    def narrow(geom):
        nonlocal area
        area = geom if area is None else shapely.intersection(area, geom)

    if selection.get("code"):
        narrow(quartiers)
    if selection.get("departement"):
        narrow(coverage_of([selection["departement"]]))
    for key in ("epci", "commune"):
        value = selection.get(key)
        if not value:
            continue
        try:
            codes = communes_of_epci(value) if key == "epci" else [str(value).zfill(5)]
            outlines = load_communes()
            found = outlines[outlines["insee"].isin(codes)]
        except (NotFoundError, DataError):
            found = None
        if found is not None and len(found) == len(set(codes)):
            narrow(shapely.union_all(found.geometry.values))
        else:  # outlines unknown here: only the quartiers themselves are known
            narrow(quartiers)
    return quartiers if area is None else shapely.union_all([area, quartiers])


__all__ = [
    "coverage_of_selection", "coverage_of_perimeters",
    "load_membership", "epci_name", "communes_of_epci", "load_communes", "departement_outline",
    "coverage_of", "departement_of_commune",
]
