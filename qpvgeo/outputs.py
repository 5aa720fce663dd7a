"""Writing the fragility results: GeoPackage, CSV of zones, GeoTIFF and a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import _io
from .fragility import FragilityResult
from .raster import write_geotiff

FILES = {"gpkg": "fragilite.gpkg", "csv": "zones.csv", "tif": "fragilite.tif", "json": "summary.json",
         "parquet_carreaux": "carreaux.parquet", "parquet_zones": "zones.parquet"}


def write_fragility(result: FragilityResult, outdir: str | Path, *, overwrite: bool = False) -> dict:
    """Write ``fragilite.gpkg`` (layers ``carreaux`` and ``zones``), the same two layers as
    GeoParquet (``carreaux.parquet``, ``zones.parquet``), ``zones.csv``, ``fragilite.tif`` and
    ``summary.json`` into ``outdir``; return their paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in FILES.items()}
    for p in paths.values():
        _io.check_target(p, overwrite=overwrite)
    car = result.carreaux.copy()
    keep = [c for c in ("idcar_200m", "i_est_200", "ind", "men", "men_pauv", "insee", "epci", "status",
                        "reference_rate", "rate", "ratio", "flagged", "zone_id", "qpv_share", "partial")
            if c in car.columns]
    car = car[keep + ["geometry"]]
    zones = result.zones.copy()
    zones["communes"] = zones["communes"].map(lambda xs: ",".join(xs))
    with _io.atomic_path(paths["gpkg"], overwrite=overwrite) as tmp:
        car.to_file(tmp, layer="carreaux", driver="GPKG", engine="pyogrio", use_arrow=True)
        zones.to_file(tmp, layer="zones", driver="GPKG", engine="pyogrio", append=True)
    for key, frame in (("parquet_carreaux", car), ("parquet_zones", zones)):
        with _io.atomic_path(paths[key], overwrite=overwrite) as tmp:
            frame.to_parquet(tmp, index=False)
    with _io.atomic_path(paths["csv"], overwrite=overwrite) as tmp:
        pd.DataFrame(zones.drop(columns="geometry")).to_csv(tmp, index=False)
    s = result.summary
    one = s["epci"][0] if len(s["epci"]) == 1 else None
    write_geotiff(result.carreaux, paths["tif"], overwrite=overwrite,
                  tags={"reference_rate": one["reference_rate"] if one else "per EPCI",
                        "epci": one["epci"] if one else ",".join(e["epci"] for e in s["epci"]),
                        "partial": str(bool(s.get("partial"))).lower(),
                        "source": s.get("source"), "vintage": s.get("vintage")})
    _io.write_text(json.dumps(s, ensure_ascii=False, indent=2, default=str), paths["json"], overwrite=overwrite)
    return {k: str(v) for k, v in paths.items()}


COMPARE_COLUMNS_FR = {
    "old_code": "ancien_code", "new_code": "nouveau_code", "change": "changement", "old_ha": "ancienne_surface_ha",
    "new_ha": "nouvelle_surface_ha", "kept_ha": "surface_conservee_ha", "added_ha": "surface_ajoutee_ha",
    "removed_ha": "surface_retiree_ha", "added_people": "habitants_ajoutes", "removed_people": "habitants_retires",
    "added_people_low": "habitants_ajoutes_bas", "added_people_high": "habitants_ajoutes_haut",
    "removed_people_low": "habitants_retires_bas", "removed_people_high": "habitants_retires_haut",
    "added_households": "menages_ajoutes", "removed_households": "menages_retires", "people_method": "methode",
}
CHANGES_FR = {"unchanged": "inchangé", "modified": "modifié", "split": "scindé", "merged": "fusionné",
              "regrouped": "regroupé", "entered": "entré", "left": "sorti"}


def write_comparison(res, outdir, *, old, new, lang: str = "en", xlsx: bool = False, overwrite: bool = False) -> dict:
    """Write ``comparaison.csv`` (or ``.xlsx``; French with ``lang="fr"``), ``comparaison.gpkg``
    (layers ``ajouts`` and ``retraits``, the parts added and removed) and ``comparaison.html``."""
    from . import maps
    from .crs import WGS84

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / ("comparaison.xlsx" if xlsx else "comparaison.csv"), "gpkg": out / "comparaison.gpkg",
             "html": out / "comparaison.html"}
    for p in paths.values():
        _io.check_target(p, overwrite=overwrite)
    table = res.table.copy()
    if lang == "fr":
        table["change"] = table["change"].map(CHANGES_FR)
        table = table.rename(columns=COMPARE_COLUMNS_FR)
    with _io.atomic_path(paths["table"], overwrite=overwrite) as tmp:
        if xlsx:
            table.to_excel(tmp, index=False, sheet_name="comparaison")
        elif lang == "fr":
            pd.DataFrame(table).to_csv(tmp, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        else:
            pd.DataFrame(table).to_csv(tmp, index=False)
    with _io.atomic_path(paths["gpkg"], overwrite=overwrite) as tmp:
        for kind, layer in (("added", "ajouts"), ("removed", "retraits")):
            part = res.parts[res.parts["kind"] == kind]
            part.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", append=Path(tmp).exists())
    spec = maps.comparison_spec(res, old.to_crs(WGS84), new.to_crs(WGS84))
    written = maps.save(spec, paths["html"], fmt="html", tiles="none", overwrite=overwrite)
    paths["embed"] = written[-1]
    return {k: str(v) for k, v in paths.items()}
