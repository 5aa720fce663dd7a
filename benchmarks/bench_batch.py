#!/usr/bin/env python
"""The batch command end to end on large CSV files (read, classify, write), with peak memory.

    python benchmarks/bench_batch.py                  # 1 M and 5 M rows
    python benchmarks/bench_batch.py --rows 1000000

Each run happens in a fresh process, so that its peak memory is its own. The baseline reads the
whole file with pandas, classifies it in one go and writes it with pandas (no streaming).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, run_child, table  # noqa: E402

CHILD = r"""
from _common import peak_rss_mb
import json, sys, time
import pandas as pd
from qpvgeo.batch import check_file, check_table
from qpvgeo.eligibility import Checker
from qpvgeo.perimeters import load_perimeters
mode, src, dst, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
checker = Checker(load_perimeters())
t0 = time.perf_counter()
if mode == "qpvgeo":
    summary = check_file(src, dst, checker, lon_col="lon", lat_col="lat", chunk_rows=chunk, progress=False)
    rows = summary["rows"]
else:
    df = pd.read_csv(src, sep=";", dtype=str, keep_default_na=False)
    res = check_table(df, checker, lon_col="lon", lat_col="lat")
    res.attrs.clear()
    res.to_csv(dst, sep=";", index=False)
    rows = len(res)
print(json.dumps({"seconds": time.perf_counter() - t0, "rows": rows,
                  "peak_mb": peak_rss_mb()}))
"""


def make_csv(path: Path, n: int, seed: int) -> None:
    import numpy as np
    import pandas as pd
    import synthetic as _bench

    from qpvgeo.perimeters import load_perimeters

    rng = np.random.default_rng(seed)
    lon, lat = _bench.points(n, load_perimeters(), seed=seed)
    block = 1_000_000
    for start in range(0, n, block):
        sl = slice(start, min(n, start + block))
        ids = np.arange(sl.start, sl.stop)
        pd.DataFrame({"id": ids, "nom": [f"Établissement n°{i}" for i in ids], "lon": lon[sl].round(6),
                      "lat": lat[sl].round(6), "montant": rng.uniform(1e3, 1e6, len(ids)).round(2)}
                     ).to_csv(path, sep=";", index=False, mode="w" if start == 0 else "a", header=start == 0)


def run(mode: str, src: Path, dst: Path, chunk: int) -> dict:
    return run_child(CHILD, mode, src, dst, chunk)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--baseline-max", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            src = Path(tmp) / f"in-{n}.csv"
            make_csv(src, n, args.seed)
            mb = src.stat().st_size / 1e6
            q = run("qpvgeo", src, Path(tmp) / f"out-{n}.csv", args.chunk_rows)
            row = {"rows": f"{n:,}", "file MB": f"{mb:,.0f}", "qpvgeo s": f"{q['seconds']:.1f}",
                   "rows/s": f"{n / q['seconds']:,.0f}", "qpvgeo peak MB": f"{q['peak_mb']:,.0f}",
                   "baseline s": "-", "baseline peak MB": "-", "time ratio": "-", "memory ratio": "-"}
            if n <= args.baseline_max:
                b = run("baseline", src, Path(tmp) / f"base-{n}.csv", 0)
                row.update({"baseline s": f"{b['seconds']:.1f}", "baseline peak MB": f"{b['peak_mb']:,.0f}",
                            "time ratio": f"{b['seconds'] / q['seconds']:.1f}x",
                            "memory ratio": f"{b['peak_mb'] / q['peak_mb']:.1f}x"})
            rows.append(row)
            print(f"  {n:,} rows: {q['seconds']:.1f} s, peak {q['peak_mb']:,.0f} MB", flush=True)
            src.unlink()
    print()
    print(table(rows))
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        growth = float(last["qpvgeo peak MB"].replace(",", "")) / float(first["qpvgeo peak MB"].replace(",", ""))
        print(f"\nqpvgeo peak memory, {last['rows']} vs {first['rows']} rows: x{growth:.2f} "
              f"(streaming: it should stay near 1)")


if __name__ == "__main__":
    main()
