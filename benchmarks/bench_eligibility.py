#!/usr/bin/env python
"""Eligibility core at national scale, against the straightforward geopandas baseline.

    python benchmarks/bench_eligibility.py                      # 1 M and 10 M points
    python benchmarks/bench_eligibility.py --points 1000000     # quicker

For each layer (the 64 embedded quartiers; a generated layer of ~1 600 quartiers over mainland
France) and each N: qpvgeo's classification (status, nearest quartier, ground distance) and,
up to --baseline-max points, the baseline (buffer by 300 m, sjoin with buffers and quartiers,
sjoin_nearest for distances), with the ratio and the comparison of their classifications.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic as _bench  # noqa: E402
from _common import machine, peak_rss_mb, table, timer  # noqa: E402

from qpvgeo.eligibility import Checker  # noqa: E402
from qpvgeo.perimeters import load_perimeters  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--quartiers", type=int, default=1600)
    ap.add_argument("--baseline-max", type=int, default=1_000_000,
                    help="run the (slow) baseline only up to this many points")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    layers = {"embedded 64 QPV (62)": load_perimeters(),
              f"generated {args.quartiers} quartiers (France)": _bench.national_layer(args.quartiers, seed=args.seed)}
    rows = []
    for lname, layer in layers.items():
        t: dict = {}
        with timer(t, "index"):
            checker = Checker(layer)
        warm_lon, warm_lat = _bench.points(10_000, layer, seed=99)
        checker.check_lonlat(warm_lon, warm_lat, with_quartiers=False)  # first-call costs out of the timing
        for n in args.points:
            lon, lat = _bench.points(n, layer, seed=args.seed + 1)
            with timer(t, "fast"):
                fast = checker.check_lonlat(lon, lat, with_quartiers=False)
            row = {"layer": lname, "points": f"{n:,}", "index s": f"{t['index']:.2f}",
                   "qpvgeo s": f"{t['fast']:.2f}", "points/s": f"{n / t['fast']:,.0f}",
                   "baseline s": "-", "speed-up": "-", "disagree": "-", "near limit": "-"}
            if n <= args.baseline_max:
                with timer(t, "base"):
                    base = _bench.baseline_classify(layer, lon, lat)
                cmp = _bench.compare(fast.status, base)
                row.update({"baseline s": f"{t['base']:.2f}", "speed-up": f"{t['base'] / t['fast']:.1f}x",
                            "disagree": cmp["disagreements"], "near limit": cmp["disagreements_near_limit"]})
                if cmp["disagreements_elsewhere"]:
                    print(f"WARNING: {cmp['disagreements_elsewhere']} disagreements away from the band limit")
            rows.append(row)
            print(f"  {lname}, {n:,} points: qpvgeo {t['fast']:.2f} s", flush=True)
    print()
    print(table(rows))
    print(f"\npeak memory: {peak_rss_mb():,.0f} MB")
    print("disagree = points classified differently by qpvgeo and the baseline; near limit = those within 2 m "
          "of the 300 m limit (Lambert-93 scale error, up to 0.2 %, and the baseline's polygonal buffer); "
          "there qpvgeo's ground distance decides.")


if __name__ == "__main__":
    main()
