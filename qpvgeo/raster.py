"""GeoTIFF rasters of the 200 m grid, aligned to the INSEE grid in its own CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin

from . import _io, config
from .carreaux import grid_crs
from .errors import InputError

NODATA = -9999.0
BANDS = (("rate", "taux de pauvreté des ménages (men_pauv / men)"),
         ("ratio", "ratio au taux de référence de l'EPCI"),
         ("flagged", "carreau fragile (1) ou non (0)"))


def grid_transform(carreaux: gpd.GeoDataFrame) -> tuple:
    """(transform, width, height, cell_m) of the smallest INSEE-aligned grid holding the carreaux."""
    ok = carreaux["id_status"] == "ok"
    if not ok.any():
        raise InputError("no carreau with a valid id to rasterise")
    cells = carreaux.loc[ok, "cell_m"].unique()
    if len(cells) != 1:
        raise InputError(f"carreaux of several sizes {sorted(cells)}: rasterise one grid at a time")
    cell = float(cells[0])
    x0, y0 = carreaux.loc[ok, "x_ll"].min(), carreaux.loc[ok, "y_ll"].min()
    x1, y1 = carreaux.loc[ok, "x_ll"].max() + cell, carreaux.loc[ok, "y_ll"].max() + cell
    width, height = int(round((x1 - x0) / cell)), int(round((y1 - y0) / cell))
    return from_origin(x0, y1, cell, cell), width, height, cell


def write_geotiff(carreaux: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False,
                  tags: dict | None = None) -> Path:
    """Write bands rate, ratio and flagged (float32, nodata -9999) with their descriptions."""
    transform, width, height, cell = grid_transform(carreaux)
    ok = (carreaux["id_status"] == "ok").to_numpy()
    col = np.round((carreaux["x_ll"].to_numpy()[ok] - transform.c) / cell).astype(int)
    row = np.round((transform.f - carreaux["y_ll"].to_numpy()[ok] - cell) / cell).astype(int)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": len(BANDS), "dtype": "float32",
               "crs": grid_crs(carreaux), "transform": transform, "nodata": NODATA, "compress": "deflate",
               "tiled": width >= 256 and height >= 256, "num_threads": str(config.threads())}
    with _io.atomic_path(path, overwrite=overwrite) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for b, (name, desc) in enumerate(BANDS, start=1):
                arr = np.full((height, width), NODATA, dtype="float32")
                values = carreaux[name].to_numpy()[ok].astype("float32")
                values[~np.isfinite(values)] = NODATA
                arr[row, col] = values
                dst.write(arr, b)
                dst.set_band_description(b, name)
                dst.update_tags(b, description=desc)
            dst.update_tags(**{k: str(v) for k, v in (tags or {}).items()})
    return Path(path)
