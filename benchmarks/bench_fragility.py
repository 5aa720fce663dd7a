#!/usr/bin/env python
"""Quartiers fragiles end to end on a generated national-size grid (2.3 million carreaux).

    python benchmarks/bench_fragility.py
    python benchmarks/bench_fragility.py --carreaux 500000

The grid is generated once (INSEE parquet form, with lcog_geo, and its commune → EPCI table),
then a fresh process times what `qpvgeo fragility --all-epci -o` does: reading it (without
squares, as the command does), the reference rate of every EPCI, the flags, the zones (grid
indices; squares for the flagged carreaux only), and writing carreaux.parquet and zones.parquet
(GeoParquet), zones.csv, fragilite.tif and summary.json; then, apart, the same with
fragilite.gpkg (--gpkg). It reports its peak memory.
The baseline groups the same flagged carreaux by pairwise geometry tests (sjoin "touches").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, run_child, table  # noqa: E402

CHILD = r"""
from _common import peak_rss_mb
import json, sys, time, warnings
warnings.simplefilter("ignore")
import synthetic as _bench
from qpvgeo.carreaux import load_carreaux, with_squares
from qpvgeo.fragility import fragility, group
from qpvgeo.outputs import write_fragility
from qpvgeo.territory import load_membership
grid_path, membership_path, outdir, layer_path = sys.argv[1:5]
perimeters = None
if layer_path:
    import geopandas as gpd
    perimeters = gpd.read_parquet(layer_path)
t = {}
t0 = time.perf_counter()
grid = load_carreaux(grid_path, geometry=False)  # as `qpvgeo fragility` reads it: no squares yet
t["read"] = time.perf_counter() - t0
t1 = time.perf_counter()
res = fragility(grid, membership=load_membership(membership_path), perimeters=perimeters)  # every EPCI
t["compute"] = time.perf_counter() - t1
t2 = time.perf_counter()
write_fragility(res, outdir, gpkg=False, overwrite=True)  # what `fragility --all-epci -o` writes
t["write"] = time.perf_counter() - t2
t["total"] = time.perf_counter() - t0
t5 = time.perf_counter()
write_fragility(res, outdir + "-gpkg", overwrite=True)  # with the GeoPackage, on request (--gpkg)
t["write_with_gpkg"] = time.perf_counter() - t5
peak = peak_rss_mb()
flagged = with_squares(res.table, res.table["flagged"].to_numpy(dtype=bool))
t3 = time.perf_counter()
group(flagged, partition=flagged["epci"].to_numpy())
t["group_index"] = time.perf_counter() - t3
t4 = time.perf_counter()
_bench.group_by_geometry(flagged)
t["group_geometry"] = time.perf_counter() - t4
print(json.dumps({"t": t, "peak_mb": peak, "carreaux": len(grid), "epci": len(res.summary["epci"]),
                  "flagged": res.summary["flagged_carreaux"], "zones": res.summary["zones_count"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--carreaux", type=int, default=2_300_000)
    ap.add_argument("--seed", type=int, default=2)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    import synthetic as _bench

    with tempfile.TemporaryDirectory() as tmp:
        grid, membership = _bench.national_grid(args.carreaux, seed=args.seed)
        grid.to_parquet(Path(tmp) / "carreaux.parquet")
        membership.to_csv(Path(tmp) / "epcicom.csv", index=False)
        _bench.national_layer(1600).to_parquet(Path(tmp) / "quartiers.parquet")
        runs = {}
        for name, layer in (("without perimeters", ""), ("with 1 600 quartiers", Path(tmp) / "quartiers.parquet")):
            runs[name] = run_child(CHILD, Path(tmp) / "carreaux.parquet", Path(tmp) / "epcicom.csv",
                                   Path(tmp) / "out", layer)
        sizes = {p.name: p.stat().st_size / 1e6 for p in (Path(tmp) / "out-gpkg").iterdir()}
    r = runs["without perimeters"]
    print(f"{r['carreaux']:,} carreaux, {r['epci']:,} EPCI, {r['flagged']:,} flagged carreaux, {r['zones']:,} zones\n")
    steps = [k for k in r["t"] if not k.startswith("group") and k != "write_with_gpkg"]
    print(table([{"step": k, **{name: f"{x['t'][k]:.1f}" for name, x in runs.items()}} for k in steps]))
    print("(the second: each zone's share in the QPV, whether it lies inside, its nearest quartier and its distance, "
          "and that quartier's population, against a layer of 1 600 quartiers spread over France)")
    for name, x in runs.items():
        print(f"{name}: writing with the GeoPackage as well (--gpkg) {x['t']['write_with_gpkg']:.1f} s, "
              f"peak memory {x['peak_mb']:,.0f} MB")
    print("outputs: " + ", ".join(f"{k} {v:,.0f} MB" for k, v in sorted(sizes.items())))
    t = r["t"]
    print(f"\ngrouping the flagged carreaux: grid indices {t['group_index']:.2f} s, pairwise geometry "
          f"(baseline) {t['group_geometry']:.2f} s: {t['group_geometry'] / t['group_index']:.0f}x")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    main()
