"""The benchmark's fast path and baseline agree except at the band limit (small case).

The synthetic data and baselines live in ``benchmarks/`` (outside the installed package)."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synthetic as _bench  # noqa: E402

from qpvgeo.eligibility import Checker  # noqa: E402
from qpvgeo.fragility import group  # noqa: E402


def test_fast_path_equals_baseline_except_at_the_limit():
    layer = _bench.national_layer(40, seed=3)
    lon, lat = _bench.points(20_000, layer, seed=4, share_near=0.9, spread_m=400)
    fast = Checker(layer).check_lonlat(lon, lat, with_quartiers=False)
    base = _bench.baseline_classify(layer, lon, lat)
    cmp = _bench.compare(fast.status, base)
    assert cmp["disagreements_elsewhere"] == 0, cmp
    assert cmp["max_gap_to_limit_m"] < 2.0
    # the two paths found the same nearest quartier wherever the distance is not a tie
    same = fast.code_qp == base["code_qp"].to_numpy()
    assert same.mean() > 0.999
    # and the ground distance differs from the Lambert-93 one by the scale factor only
    outside = fast.status == "outside"
    rel = fast.distance_m[outside] / base["distance_m"].to_numpy()[outside]
    assert np.nanmax(np.abs(rel - 1)) < 0.004


def test_grid_index_grouping_equals_geometric_grouping():
    grid, _ = _bench.national_grid(20_000, seed=5)
    from qpvgeo.carreaux import _with_geometry

    g = _with_geometry(grid.astype(str)).iloc[:3000]
    for contact in ("edge", "corner"):
        a = group(g, contact=contact)
        b = _bench.group_by_geometry(g, contact=contact)
        # same partition: labels map one-to-one
        pairs = set(zip(a, b))
        assert len(pairs) == len(set(a)) == len(set(b))
