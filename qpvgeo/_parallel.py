"""Vectorised work split over threads: shapely's, numpy's and scipy's vectorised functions
release the GIL, so slices of the same arrays run on every core (the ``threads`` setting)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_SLICE = 25_000  # below this a thread costs more than it saves


def chunked(fn, *arrays, threads: int | None = None):
    """``fn(*arrays)`` computed on slices in threads and concatenated (``fn`` must be
    element-wise along the first axis, returning one array)."""
    from .config import threads as configured

    n = len(arrays[0])
    t = min(threads or configured(), max(1, n // MIN_SLICE))
    if t <= 1:
        return fn(*arrays)
    cuts = np.linspace(0, n, t + 1).astype(np.int64)
    with ThreadPoolExecutor(t) as pool:
        parts = list(pool.map(lambda ab: fn(*(a[ab[0]:ab[1]] for a in arrays)), zip(cuts[:-1], cuts[1:])))
    return np.concatenate(parts)
