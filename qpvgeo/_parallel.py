"""Vectorised work split over threads: shapely's, numpy's and pyproj's vectorised functions
release the GIL, so slices of the same arrays run on every core (the ``threads`` setting).

The threads live as long as the process (one pool per use and size): a thread keeps the pyproj
objects it made (:func:`qpvgeo.crs.transformer`) and the OpenMP team of its k-d tree queries,
instead of making and destroying them for every call."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_SLICE = 25_000  # below this a thread costs more than it saves

_POOLS: dict = {}
_LOCK = threading.Lock()


def pool(use: str, size: int, initializer=None) -> ThreadPoolExecutor:
    """The process's pool of ``size`` threads for ``use`` ("slices", "chunks", "writers"): separate uses get
    separate pools, so that a task of one may wait on tasks of the other. ``initializer`` runs
    once in each thread of the pool when it starts."""
    with _LOCK:
        p = _POOLS.get((use, size))
        if p is None:
            p = _POOLS[(use, size)] = ThreadPoolExecutor(size, thread_name_prefix=f"qpvgeo-{use}",
                                                        initializer=initializer)
        return p


def chunked(fn, *arrays, threads: int | None = None):
    """``fn(*arrays)`` computed on slices in threads and concatenated (``fn`` must be
    element-wise along the first axis, returning one array)."""
    from .config import threads as configured

    n = len(arrays[0])
    t = min(threads or configured(), max(1, n // MIN_SLICE))
    if t <= 1:
        return fn(*arrays)
    cuts = np.linspace(0, n, t + 1).astype(np.int64)
    parts = list(pool("slices", t).map(lambda ab: fn(*(a[ab[0]:ab[1]] for a in arrays)), zip(cuts[:-1], cuts[1:])))
    return np.concatenate(parts)
