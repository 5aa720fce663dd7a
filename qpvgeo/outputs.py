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
