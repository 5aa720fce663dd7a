"""Atomic output: write to a temporary file beside the target, then rename.

Existing files are never replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import geopandas as gpd

from .errors import InputError

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}


def check_target(path: str | Path, *, overwrite: bool) -> Path:
    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise InputError(f"{p} already exists; choose another name or pass --overwrite")
    if p.parent.exists() and not p.parent.is_dir():
        raise InputError(f"{p.parent} is a file, not a folder; choose another output path")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = False):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds."""
    p = check_target(path, overwrite=overwrite)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}-", suffix=p.suffix)
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL) want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_vector(gdf: gpd.GeoDataFrame, path: str | Path, *, layer: str | None = None,
                 overwrite: bool = False) -> Path:
    """Write a GeoDataFrame to GeoJSON, GPKG or shapefile (by extension), atomically."""
    p = Path(path)
    driver = DRIVERS.get(p.suffix.lower())
    if driver is None:
        raise InputError(f"cannot write {p.name}: use a .geojson, .gpkg or .shp name")
    if driver == "ESRI Shapefile":
        check_target(p, overwrite=overwrite)
        gdf.to_file(p, driver=driver, engine="pyogrio")
        return p
    with atomic_path(p, overwrite=overwrite) as tmp:
        gdf.to_file(tmp, driver=driver, layer=layer, engine="pyogrio")
    return p


def write_text(text: str, path: str | Path, *, overwrite: bool = False) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
