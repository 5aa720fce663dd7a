"""Load quartier perimeters (QPV, QIC, quartiers fragiles) of any vintage into one schema.

Schema of the returned GeoDataFrame (one row per quartier):

==============  ============================================================================
column          meaning
==============  ============================================================================
``code_qp``     quartier code (``QN06236M`` for 2024, ``QP062012`` for 2015, yours for QIC)
``nom_qp``      its name
``communes``    list of the INSEE codes of its communes
``departement`` département code (``"62"``, ``"974"``)
``epci``        list of the SIREN of its EPCI (empty when unknown; two when it spans two)
``classe``      ``QPV``, ``QIC`` or ``fragile``
``vintage``     geography vintage (2015, 2024, ...)
``source``      file or URL read, with its date when known
geometry        (Multi)Polygon, in the CRS of the file (check ``.crs``)
==============  ============================================================================
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from . import _archive, _data, _tables
from .config import Settings, get_settings
from .crs import departement_of_commune
from .errors import DataError, InputError, NotFoundError
from .sources import qpv_source, resolve
from .territory import load_membership

log = logging.getLogger(__name__)

CLASSES = ("QPV", "QIC", "fragile")
SCHEMA = ["code_qp", "nom_qp", "communes", "departement", "epci", "classe", "vintage", "source"]
_LAYER_EXT = (".gpkg", ".geojson", ".json", ".shp")
_SHP_SIDECARS = (".shx", ".dbf", ".prj", ".cpg")

_CODE_COLS = ("code_qp", "code_quartier", "code_qpv", "code")
_NAME_COLS = ("lib_qp", "nom_qp", "nom_quartier", "lib_quartier", "nom", "name", "libelle")
_COMMUNE_COLS = ("insee_com", "code_commune", "code_insee", "insee", "codgeo", "depcom")
_DEP_COLS = ("insee_dep", "code_departement", "departement", "dep", "code_dep")
_EPCI_COLS = ("siren_epci", "epci", "code_epci")


def load_perimeters(
    source: str | Path | None = None,
    *,
    vintage: int | None = None,
    classe: str = "QPV",
    layer: str | None = None,
    settings: Settings | None = None,
    membership: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Read quartier perimeters into the qpvgeo schema (see the module docstring).

    Parameters
    ----------
    source
        ``None`` or ``"embedded"``: the embedded QPV 2024 extract of Pas-de-Calais (64 quartiers).
        ``"official"``: the official ANCT file of ``vintage``, downloaded into the cache.
        A path or URL: an ANCT ZIP (2024 or 2015 style), or a GeoJSON / GeoPackage / shapefile.
    vintage
        Geography vintage (2015, 2024...). Default: read from the codes (``QN`` 2024, ``QP`` 2015).
        With no ``source``, 2024 uses the embedded extract and any other the official file.
    classe
        ``QPV`` (State), ``QIC`` (communautaire) or ``fragile``: the class of every quartier read.
    layer
        For an archive or a multi-layer file: the member or layer name (a substring is enough).
    membership
        Commune → EPCI table (see :func:`qpvgeo.territory.load_membership`) used to fill ``epci``
        when the file has no ``siren_epci``; default: the embedded 2026 table of Pas-de-Calais.
    """
    if classe not in CLASSES:
        raise InputError(f"classe must be one of {CLASSES}, got {classe!r}")
    s = settings or get_settings()
    path, label, vintage = resolve(
        source, vintage=vintage, settings=s, official=qpv_source,
        embedded=(_data.QPV_2024_62, 2024, "embedded: ANCT QPV 2024, Pas-de-Calais extract"),
        what="perimeter (give a path to a ZIP, GeoJSON, GPKG or SHP)")
    return _read(path, label=label, vintage=vintage, classe=classe, layer=layer, settings=s,
                 membership=membership)


def load_layers(
    source: str | Path | None = None,
    *,
    vintage: int | None = None,
    layer: str | None = None,
    qic: str | Path | None = None,
    settings: Settings | None = None,
) -> gpd.GeoDataFrame:
    """The QPV of ``source`` (see :func:`load_perimeters`) and, with ``qic``, a local layer of QIC
    added to them (class ``QIC``), in one frame in the QPV layer's CRS."""
    s = settings or get_settings()
    gdf = load_perimeters(source, vintage=vintage, layer=layer, settings=s)
    if qic:
        q = load_perimeters(qic, classe="QIC", settings=s).to_crs(gdf.crs)
        clash = sorted(set(q["code_qp"]) & set(gdf["code_qp"]))
        if clash:
            raise DataError(f"the QIC layer {qic} reuses quartier codes of the QPV layer: {clash[:5]}")
        gdf = gpd.GeoDataFrame(pd.concat([gdf, q], ignore_index=True), crs=gdf.crs)
    return gdf


def _read(path: Path, *, label, vintage, classe, layer, settings, membership) -> gpd.GeoDataFrame:
    layer_path, layer_name = _resolve_layer(path, layer, settings)
    try:
        raw = gpd.read_file(layer_path, layer=layer_name, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read a perimeter layer from {path}: {reason}") from None
    if raw.crs is None:
        raise DataError(
            f"the layer {layer_path.name} has no CRS: add its .prj (or set one, e.g. "
            "gdf.set_crs('EPSG:2154')) before loading"
        )
    if path != layer_path:
        label = f"{label} [{layer_path.name}]"
    return normalize(raw, label=label, vintage=vintage, classe=classe, membership=membership)


def _resolve_layer(path: Path, layer: str | None, settings: Settings) -> tuple[Path, str | None]:
    """For an archive: extract the perimeter layer safely into the cache and return it."""
    if path.suffix.lower() not in (".zip", ".7z"):
        return path, (_tables.vector_layer(path, layer, what="perimeter file")
                      if path.suffix.lower() == ".gpkg" else None)
    members = _archive.list_members(path)
    candidates = [m for m in members if m.lower().endswith(_LAYER_EXT)
                  and not Path(m).name.startswith(".")]
    if layer:
        candidates = [m for m in candidates if layer.lower() in m.lower()]
    if not candidates:
        raise DataError(
            f"{path} holds no perimeter layer (.gpkg, .geojson or .shp)"
            + (f" matching {layer!r}" if layer else "")
            + f"; its members are: {', '.join(members[:10]) or 'none'}"
        )
    chosen = min(candidates, key=_member_rank)
    wanted = [chosen]
    if chosen.lower().endswith(".shp"):
        stem = chosen[:-4]
        wanted += [m for m in members if m[: len(stem)] == stem and m[len(stem):].lower() in _SHP_SIDECARS]
    _archive.extract(path, _archive.extraction_dir(path, settings), members=wanted)
    log.info("reading layer %s of %s", chosen, path)
    return _archive.extraction_dir(path, settings) / chosen, None


def _member_rank(name: str) -> tuple:
    n = name.lower()
    national = 0 if ("outre" in n and ("hexagon" in n or "metropole" in n)) else (
        1 if ("hexagon" in n or "metropole" in n or "france" in n) else 2)
    fmt = {".gpkg": 0, ".geojson": 1, ".json": 2, ".shp": 3}[Path(n).suffix]
    return (national, fmt, n)


def _find(cols: dict[str, str], options) -> str | None:
    for o in options:
        if o in cols:
            return cols[o]
    return None


def _departement_from_code(code: str) -> str | None:
    m = re.match(r"^Q[NP](\d[\dAB]\d)", code.upper())
    if not m:
        return None
    d = m.group(1)
    return d if d.startswith("97") else d[1:]


def normalize(
    raw: gpd.GeoDataFrame,
    *,
    label: str,
    vintage: int | None = None,
    classe: str = "QPV",
    membership: pd.DataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Turn any perimeter layer (ANCT 2024, 2015, QIC file...) into the qpvgeo schema."""
    if raw.crs is None:
        raise DataError("the perimeter layer has no CRS")
    cols = {c.lower(): c for c in raw.columns if c != raw.geometry.name}
    code_col = _find(cols, _CODE_COLS)
    name_col = _find(cols, _NAME_COLS)
    if code_col is None and classe == "QPV":
        raise DataError(
            f"{label}: missing required column code_qp (or CODE_QP); columns found: "
            f"{sorted(cols.values())}"
        )
    if name_col is None and classe == "QPV":
        raise DataError(
            f"{label}: missing required column lib_qp / nom_qp (or NOM_QP); columns found: "
            f"{sorted(cols.values())}"
        )
    n = len(raw)
    codes = (raw[code_col].astype(str).str.strip() if code_col
             else pd.Series([f"{classe}-{i + 1:03d}" for i in range(n)], index=raw.index))
    names = raw[name_col].astype(str).str.strip() if name_col else codes.copy()
    if codes.duplicated().any():
        dup = sorted(set(codes[codes.duplicated()]))[:5]
        raise DataError(f"{label}: duplicate quartier codes {dup}")

    commune_col = _find(cols, _COMMUNE_COLS)
    if commune_col is not None:
        communes = raw[commune_col].fillna("").astype(str).map(
            lambda v: [c.strip().zfill(5) for c in re.split(r"[,;|\s]+", v) if c.strip()])
    else:
        communes = pd.Series([[] for _ in range(n)], index=raw.index)

    dep_col = _find(cols, _DEP_COLS)
    if dep_col is not None:
        deps = raw[dep_col].astype(str).str.strip()
    else:
        deps = pd.Series([None] * n, index=raw.index, dtype=object)
    for i in raw.index:
        if not deps[i] or deps[i] in ("None", "nan"):
            deps[i] = (departement_of_commune(communes[i][0]) if communes[i]
                       else _departement_from_code(codes[i]))

    gdf = gpd.GeoDataFrame(
        {"code_qp": codes.values, "nom_qp": names.values, "communes": communes.values,
         "departement": deps.values},
        geometry=raw.geometry.values, crs=raw.crs,
    )
    # communes unknown (2015 file: COMMUNE_QP holds names): find them from the commune layer
    missing = gdf["communes"].map(len) == 0
    if missing.any():
        _fill_communes(gdf, missing)

    epci_col = _find(cols, _EPCI_COLS)
    if epci_col is not None:
        gdf["epci"] = raw[epci_col].fillna("").astype(str).map(
            lambda v: [c.strip() for c in re.split(r"[,;|]+", v) if c.strip()]).values
    else:
        table = load_membership() if membership is None else membership
        lookup = dict(zip(table["insee"], table["siren_epci"]))
        gdf["epci"] = gdf["communes"].map(
            lambda cs: sorted({lookup[c] for c in cs if c in lookup}))
    gdf["classe"] = classe
    if vintage is None:
        first = codes.iloc[0].upper() if n else ""
        vintage = 2024 if first.startswith("QN") else 2015 if first.startswith("QP") else None
    gdf["vintage"] = pd.array([vintage] * n, dtype="Int64")
    gdf["source"] = label
    gdf = _repair(gdf)
    return gdf[SCHEMA + ["geometry"]]


def _fill_communes(gdf: gpd.GeoDataFrame, missing) -> None:
    from .territory import load_communes

    communes = load_communes().to_crs(gdf.crs)
    tree = shapely.STRtree(communes.geometry.values)
    for i in gdf.index[missing]:
        geom = gdf.geometry[i]
        if geom is None:
            continue
        hits = tree.query(geom, predicate="intersects")
        codes = []
        for h in hits:
            inter = shapely.intersection(geom, communes.geometry.values[h]).area
            if geom.area and inter / geom.area > 0.01:
                codes.append(communes["insee"].iloc[h])
        gdf.at[i, "communes"] = sorted(codes)
        if codes and not gdf.at[i, "departement"]:
            gdf.at[i, "departement"] = departement_of_commune(codes[0])


def _repair(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = gdf.geometry.values
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        bad = list(gdf.loc[empty, "code_qp"])
        raise DataError(f"quartier(s) {bad} have no geometry")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        fixed = []
        for code, geom in zip(gdf.loc[invalid, "code_qp"], geoms[invalid]):
            reason = shapely.is_valid_reason(geom)
            warnings.warn(f"quartier {code}: invalid geometry ({reason}), repaired with make_valid",
                          stacklevel=3)
            log.warning("quartier %s: invalid geometry (%s), repaired", code, reason)
            good = shapely.make_valid(geom)
            polys = [g for g in shapely.get_parts(good) if g.geom_type in ("Polygon", "MultiPolygon")]
            fixed.append(shapely.union_all(polys) if polys else good)
        gdf = gdf.copy()
        gdf.loc[invalid, "geometry"] = fixed
    return gdf


def select(
    perimeters: gpd.GeoDataFrame,
    *,
    departement: str | None = None,
    epci: str | None = None,
    commune: str | None = None,
    code: str | list[str] | None = None,
) -> gpd.GeoDataFrame:
    """Quartiers matching every filter given. Unknown codes or EPCI raise :class:`NotFoundError`.

    Returns
    -------
    GeoDataFrame
        The matching rows, in the schema of :func:`load_perimeters`. The filters are recorded in
        ``attrs["qpvgeo_selection"]``, so that a :class:`qpvgeo.eligibility.Checker` built on a
        selection knows it covers only what was selected (see
        :func:`qpvgeo.territory.coverage_of_selection`) and never answers ``outside`` for a place
        whose quartier was filtered out. To *show* part of a layer but answer for all of it, build
        the checker on the whole layer.
    """
    if commune is not None:
        from .territory import find_commune

        commune = find_commune(commune)
    filters = {"departement": departement, "epci": epci, "commune": commune,
               "code": [code] if isinstance(code, str) else (list(code) if code else None)}
    filters = {k: v for k, v in filters.items() if v}
    out = perimeters
    if code is not None:
        wanted = [code] if isinstance(code, str) else list(code)
        wanted = [c.strip().upper() for c in wanted]
        unknown = [c for c in wanted if c not in set(out["code_qp"].str.upper())]
        if unknown:
            raise NotFoundError(
                f"unknown quartier code(s) {unknown} in the loaded perimeters "
                f"({len(out)} quartiers, e.g. {', '.join(out['code_qp'].head(3))}); check the code "
                "and the vintage (vintage=, --vintage)"
            )
        out = out[out["code_qp"].str.upper().isin(wanted)]
    if departement is not None:
        dep = str(departement).strip().upper()
        dep = dep.zfill(2) if dep.isdigit() and len(dep) < 2 else dep
        out = out[out["departement"] == dep]
    if epci is not None:
        siren = str(epci).strip()
        if not re.fullmatch(r"\d{9}", siren):
            raise InputError(f"EPCI {epci!r} is not a SIREN (9 digits, e.g. 200069037)")
        mask = out["epci"].map(lambda xs: siren in xs)
        if not mask.any() and not perimeters["epci"].map(lambda xs: siren in xs).any():
            table = load_membership()
            if siren not in set(table["siren_epci"]):
                raise NotFoundError(
                    f"unknown EPCI {siren!r}: no loaded quartier and no known commune belongs to "
                    "it; check the SIREN (CAPSO is 200069037)"
                )
        out = out[mask]
    if commune is not None:
        from .territory import find_commune

        c = find_commune(commune)  # a code, or a name (accents and case ignored)
        out = out[out["communes"].map(lambda xs: c in xs)]
    out = out.copy()
    previous = dict(perimeters.attrs.get("qpvgeo_selection") or {})
    out.attrs = {**perimeters.attrs, "qpvgeo_selection": {**previous, **filters}} if filters or previous else {}
    return out


def to_records(perimeters: gpd.GeoDataFrame) -> list[dict]:
    """The schema's fields of each quartier as plain dicts (no geometry), for JSON output."""
    recs = []
    for row in perimeters[SCHEMA].itertuples(index=False):
        d = row._asdict()
        d["vintage"] = None if pd.isna(d["vintage"]) else int(d["vintage"])
        d["communes"] = list(d["communes"])
        d["epci"] = list(d["epci"])
        recs.append(d)
    return recs


def flatten_lists(perimeters: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with list columns joined by commas (for GPKG, shapefile and CSV writers)."""
    out = perimeters.copy()
    for col in ("communes", "epci"):
        if col in out:
            out[col] = out[col].map(lambda xs: ",".join(xs))
    return out
