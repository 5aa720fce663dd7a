"""Atomic output: write to a temporary file beside the target, then rename.

Existing files are never replaced unless ``overwrite=True``. The temporary file is named
``.<name>.qpvgeo-<pid>-<random>``; one left behind by a process that was killed is removed by the
next run that writes the same target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from pathlib import Path

from .errors import InputError

log = logging.getLogger(__name__)

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}


def check_target(path: str | Path, *, overwrite: bool) -> Path:
    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise InputError(f"{p} already exists; choose another name, or allow replacing it (--overwrite, "
                         "overwrite=True)")
    if p.parent.exists() and not p.parent.is_dir():
        raise InputError(f"{p.parent} is a file, not a folder; choose another output path")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = False):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds."""
    p = check_target(path, overwrite=overwrite)
    _remove_stale(p)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.qpvgeo-{os.getpid()}-", suffix=p.suffix)
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL) want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_stale(p: Path) -> None:
    """Remove the temporary files of ``p`` left by processes that no longer run (killed)."""
    pattern = re.compile(rf"^\.{re.escape(p.name)}\.qpvgeo-(\d+)-")
    try:
        with os.scandir(p.parent) as it:
            entries = list(it)
    except OSError:
        return
    for e in entries:
        m = pattern.match(e.name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # still running: not ours to remove
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            os.unlink(e.path)
            log.info("removed %s, left by an interrupted run", e.path)
        except OSError:
            pass


def write_vector(gdf, path: str | Path, *, layer: str | None = None,
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
