"""The eligibility index of a layer, kept on disk: the outlines densified for the k-d tree, the
largest inscribed radius, which quartiers touch or stand alone. Keyed by the content (the
projected geometries, the classes that get a band, the band distance) and qpvgeo's version, so a
changed layer or rule never reuses a stale index; a missing or unwritable cache only means the
index is built again (docs/rules.md §8 is unchanged by it)."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import shapely

log = logging.getLogger(__name__)

FORMAT = 2  # 2: neighbour lists, exact distances within the band


def key(territory: str, geoms: np.ndarray, band_mask: np.ndarray, band_m: float) -> str:
    from . import __version__

    h = hashlib.sha256(f"{FORMAT}|{__version__}|{territory}|{band_m!r}|".encode())
    h.update(np.ascontiguousarray(band_mask, dtype=np.uint8).tobytes())
    for wkb in shapely.to_wkb(geoms, output_dimension=2, include_srid=False):
        h.update(len(wkb).to_bytes(8, "little"))
        h.update(wkb)
    return h.hexdigest()[:32]


def _folder() -> Path | None:
    from .config import get_settings

    try:
        return get_settings().cache_dir / "index"
    except Exception:  # noqa: BLE001 - no cache: build in memory
        return None


def load(k: str) -> dict | None:
    folder = _folder()
    p = folder / f"{k}.npz" if folder else None
    if p is None or not p.exists():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except (OSError, ValueError) as exc:  # a damaged file: build again
        log.debug("index cache %s unreadable (%s); building again", p, exc)
        return None


def save(k: str, arrays: dict) -> None:
    folder = _folder()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{k}.{os.getpid()}.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / f"{k}.npz")
    except OSError as exc:  # read-only or full disk: the index still works, in memory
        log.debug("index cache not written (%s)", exc)
        try:
            tmp.unlink(missing_ok=True)
        except (OSError, UnboundLocalError):
            pass
