#!/usr/bin/env python
"""qpvgeo against its peers, in the same run, on the same points and layers (fixed seeds).

    pip install -e ".[bench]"               # DuckDB and its spatial extension, from PyPI
    python benchmarks/bench_peers.py         # 100 000 and 1 000 000 points (~3 min)
    python benchmarks/bench_peers.py --points 100000 1000000 5000000

1. The eligibility job (status; the nearest quartier with its distance within 300 m) on the 64
   embedded QPV and on a generated layer of ~1 600 quartiers: qpvgeo's core (which also gives the
   nearest quartier beyond the band), DuckDB spatial (an ``ST_DWithin`` join in Lambert-93), and
   geopandas (buffer, ``sjoin``; up to --geopandas-max points). The answers are compared: DuckDB
   measures in Lambert-93, whose lengths differ from the ground by its scale factor (up to 0.2 %,
   60 cm at 300 m), so every point where it differs must lie within that error of the limit.
2. The batch job end to end on a CSV file (read, classify, write): ``check-file`` (in process),
   DuckDB (``read_csv`` → join → ``COPY … TO`` CSV), and two floors, with no work in between:
   pyarrow reading the same file and writing the same columns back; and pyarrow reading it and
   writing it with the result columns ``check-file`` adds (made beforehand), an output of the
   same size as ``check-file``'s. A third line is the least any design keeping qpvgeo's libraries
   could take: that second floor, streamed in chunks, with the projection (pyproj) and the
   nearest-outline-vertex search (pykdtree) of every point on the chunk workers, and nothing else
   of the decision (``floor_search``).

Each figure is the median of ``--repeat`` rounds (3 by default: this machine's timings vary by
tens of percent from one run to the next); within a round the jobs run in turn, so that a drift
of the machine weighs on all of them alike. Each is printed with its ratio to qpvgeo's, measured
in this run; the machine is printed first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import synthetic as _bench  # noqa: E402
from _common import machine, table  # noqa: E402

from qpvgeo.eligibility import Checker  # noqa: E402
from qpvgeo.perimeters import load_perimeters  # noqa: E402

BAND = 300.0
L93_SCALE_ERROR = 0.003  # Lambert-93's scale factor lies within 0.99905-1.0030 in mainland France


def timed(job, repeat: int):
    """(median seconds, last result) of ``repeat`` runs of ``job()``."""
    (t, out), = timed_together({"job": job}, repeat).values()
    return t, out


def timed_together(jobs: dict, repeat: int) -> dict:
    """{name: (median seconds, last result)} of ``repeat`` rounds of the ``jobs``, run in turn
    within each round (a drift of the machine's speed then weighs on every job alike)."""
    times: dict = {name: [] for name in jobs}
    out: dict = {}
    for _ in range(repeat):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            out[name] = job()
            times[name].append(time.perf_counter() - t0)
    return {name: (float(np.median(times[name])), out[name]) for name in jobs}


def duckdb_connection():
    import duckdb

    try:
        import duckdb_extension_spatial as ext
    except ImportError:
        raise SystemExit("DuckDB's spatial extension is missing: pip install -e \".[bench]\"") from None
    con = duckdb.connect()
    path = next(Path(ext.__path__[0]).rglob("spatial.duckdb_extension"))
    con.execute(f"LOAD '{path}'")
    con.execute(f"SET threads = {os.cpu_count()}")
    return con


def load_quartiers(con, layer) -> None:
    import pandas as pd

    l93 = layer.to_crs(2154)
    frame = pd.DataFrame({"code": l93["code_qp"].astype(str), "wkb": l93.geometry.to_wkb()})
    con.register("q_src", frame)
    con.execute("CREATE OR REPLACE TABLE q AS SELECT code, ST_GeomFromWKB(wkb) AS geom FROM q_src")
    con.unregister("q_src")


ELIGIBILITY_SQL = f"""
WITH p AS (
  SELECT id, ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:2154', always_xy := true) AS g FROM pts
), near AS (
  SELECT p.id, q.code, ST_Distance(p.g, q.geom) AS d FROM p JOIN q ON ST_DWithin(p.g, q.geom, {BAND})
)
SELECT id, arg_min(code, d) AS code, min(d) AS d FROM near GROUP BY id
"""


def duckdb_eligibility(con, lon, lat):
    """(status per point: 2 inside, 1 in the band, 0 outside; code; metres) by DuckDB."""
    import pyarrow as pa

    con.register("pts", pa.table({"id": np.arange(len(lon)), "lon": lon, "lat": lat}))
    res = con.execute(ELIGIBILITY_SQL).arrow()
    if hasattr(res, "read_all"):  # newer DuckDB returns a record batch reader
        res = res.read_all()
    con.unregister("pts")
    ids = res["id"].to_numpy()
    d = res["d"].to_numpy()
    status = np.zeros(len(lon), dtype=np.int8)
    status[ids] = np.where(d == 0, 2, 1)
    dist = np.full(len(lon), np.nan)
    dist[ids] = d
    return status, dist


def qpvgeo_status(res) -> np.ndarray:
    s = res.status.astype(str)
    return np.where(np.isin(s, ["in_qpv", "in_qic", "in_fragile"]), 2, np.where(s == "in_band", 1, 0)).astype(np.int8)


def compare(ours: np.ndarray, our_d: np.ndarray, theirs: np.ndarray, their_d: np.ndarray) -> str:
    """Points classified differently: how many, how many within Lambert-93's scale error of the
    band limit, and how many within 5 mm of an outline (inside for qpvgeo, docs/rules.md §8)."""
    diff = np.flatnonzero(ours != theirs)
    limit = np.abs(our_d[diff] - BAND) <= BAND * L93_SCALE_ERROR + 0.05
    outline = (ours[diff] == 2) & (their_d[diff] < 0.005)
    other = diff.size - int(limit.sum()) - int(outline.sum())
    return f"{diff.size} ({int(limit.sum())} at the limit, {int(outline.sum())} on an outline, {other} other)"


def eligibility(layers, sizes, gpd_max, con, repeat) -> list[dict]:
    rows = []
    for lname, layer in layers.items():
        t0 = time.perf_counter()
        checker = Checker(layer)
        load_quartiers(con, layer)
        index_s = time.perf_counter() - t0
        warm = _bench.points(20_000, layer, seed=99)
        checker.check_lonlat(*warm, with_quartiers=False)
        duckdb_eligibility(con, *warm)
        for n in sizes:
            lon, lat = _bench.points(n, layer, seed=1)
            got = timed_together({
                "qpvgeo": lambda c=checker, lon=lon, lat=lat: c.check_lonlat(lon, lat, with_quartiers=False),
                "duckdb": lambda lon=lon, lat=lat: duckdb_eligibility(con, lon, lat)}, repeat)
            (t_q, ours), (t_d, (d_status, d_dist)) = got["qpvgeo"], got["duckdb"]
            differ = compare(qpvgeo_status(ours), ours.distance_m, d_status, d_dist)
            row = {"layer": lname, "points": f"{n:,}", "qpvgeo s": f"{t_q:.2f}", "duckdb s": f"{t_d:.2f}",
                   "duckdb/qpvgeo": f"{t_d / t_q:.2f}", "geopandas s": "-", "geopandas/qpvgeo": "-",
                   "differ (duckdb)": differ, "index+load s": f"{index_s:.2f}"}
            if n <= gpd_max:
                t0 = time.perf_counter()
                _bench.baseline_classify(layer, lon, lat, band_m=BAND)
                t_g = time.perf_counter() - t0
                row.update({"geopandas s": f"{t_g:.2f}", "geopandas/qpvgeo": f"{t_g / t_q:.1f}"})
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    return rows


def make_csv(path: Path, n: int) -> None:
    import pandas as pd

    lon, lat = _bench.points(n, load_perimeters(), seed=1)
    rng = np.random.default_rng(1)
    pd.DataFrame({"id": np.arange(n), "nom": [f"Établissement n°{i}" for i in range(n)], "lon": lon.round(6),
                  "lat": lat.round(6), "montant": rng.uniform(1e3, 1e6, n).round(2)}).to_csv(path, sep=";",
                                                                                             index=False)


def floor(src: Path, dst: Path, results=None) -> None:
    """pyarrow reads the file and writes the same columns back: no work in between. With
    ``results`` (an Arrow table of the result columns, made beforehand), it writes them too: the
    floor of reading this input and writing an output of that size."""
    import pyarrow.csv as pc

    t = pc.read_csv(src, parse_options=pc.ParseOptions(delimiter=";"),
                    convert_options=pc.ConvertOptions(column_types={"nom": "string"}))
    for name in results.column_names if results is not None else ():
        t = t.append_column(name, results[name])
    pc.write_csv(t, dst, write_options=pc.WriteOptions(delimiter=";"))


def floor_search(src: Path, dst: Path, results, checker, chunk_rows: int = 100_000) -> None:
    """The least any design that keeps qpvgeo's libraries could take: the file streamed in Arrow
    (no pandas), each chunk put in Morton order, projected and searched for its nearest outline
    vertex (pyproj, pykdtree: what the core cannot do without) on the chunk workers, and written
    with the result columns made beforehand. Everything else the decision needs (exact distances,
    the quartiers within the band, the inside and coverage tests, the text of the answers, the
    formula check) costs nothing here."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pcp
    import pyarrow.csv as pc

    from qpvgeo.config import threads
    from qpvgeo.eligibility import _morton_order, one_openmp_thread

    zone = checker.zones[0]
    tree = zone.outline.kdtree

    def search(batch):
        lon = pcp.cast(batch.column("lon"), pa.float64()).to_numpy()
        lat = pcp.cast(batch.column("lat"), pa.float64()).to_numpy()
        order = _morton_order(lon, lat)
        x, y = lon[order], lat[order]
        zone.to_metric.transform(x, y, inplace=True)
        tree.query(np.column_stack([x, y]), k=1)
        return batch

    with open(src, encoding="utf-8") as fh:
        names = fh.readline().rstrip("\n").split(";")
    read = pc.ReadOptions(column_names=names, skip_rows=1, block_size=max(1 << 20, 60 * chunk_rows))
    convert = pc.ConvertOptions(column_types={h: pa.string() for h in names}, strings_can_be_null=False)
    done, queue = 0, []
    workers = threads()
    with ThreadPoolExecutor(workers, initializer=one_openmp_thread) as pool, \
            pc.open_csv(src, read_options=read, parse_options=pc.ParseOptions(delimiter=";"),
                        convert_options=convert) as reader, \
            pc.CSVWriter(dst, pa.schema(list(reader.schema) + list(results.schema)),
                         write_options=pc.WriteOptions(delimiter=";")) as writer:
        def write(batch):
            nonlocal done
            t = pa.Table.from_batches([batch])
            for name in results.column_names:
                t = t.append_column(name, results[name].slice(done, batch.num_rows))
            writer.write_table(t)
            done += batch.num_rows

        for batch in reader:
            queue.append(pool.submit(search, batch))
            if len(queue) > workers:
                write(queue.pop(0).result())
        while queue:
            write(queue.pop(0).result())


def result_columns(out: Path):
    """The result columns of a ``check-file`` output, as an Arrow table (for the floor with them)."""
    import pyarrow.csv as pc

    t = pc.read_csv(out, parse_options=pc.ParseOptions(delimiter=";"),
                    convert_options=pc.ConvertOptions(strings_can_be_null=False))
    return t.select([c for c in t.column_names if c.startswith("qpv_")])


def duckdb_batch(con, src: Path, dst: Path) -> None:
    con.execute(f"""
    COPY (
      WITH f AS (SELECT * FROM read_csv('{src}', delim=';', header=true)),
      p AS (SELECT id, ST_Transform(ST_Point(lon, lat), 'EPSG:4326', 'EPSG:2154', always_xy := true) AS g FROM f),
      near AS (SELECT p.id, arg_min(q.code, ST_Distance(p.g, q.geom)) AS code, min(ST_Distance(p.g, q.geom)) AS d
               FROM p JOIN q ON ST_DWithin(p.g, q.geom, {BAND}) GROUP BY p.id)
      SELECT f.*, CASE WHEN near.d = 0 THEN 'in_qpv' WHEN near.d IS NOT NULL THEN 'in_band' ELSE 'outside' END
             AS qpv_status, near.code AS qpv_code, round(near.d, 2) AS qpv_distance_m
      FROM f LEFT JOIN near USING (id) ORDER BY f.id
    ) TO '{dst}' (HEADER, DELIMITER ';')""")


def batch(sizes, con, repeat) -> list[dict]:
    from qpvgeo.batch import check_file

    checker = Checker(load_perimeters())
    load_quartiers(con, load_perimeters())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            src = Path(tmp) / f"in-{n}.csv"
            make_csv(src, n)
            mb = src.stat().st_size / 1e6
            once = check_file(src, Path(tmp) / "first.csv", checker, lon_col="lon", lat_col="lat",
                              progress=False)  # a first run, untimed: the result columns of the floor
            results = result_columns(Path(once["output"]))
            out_mb = Path(once["output"]).stat().st_size / 1e6
            Path(once["output"]).unlink()
            jobs = {"qpvgeo": lambda d, src=src: check_file(src, d, checker, lon_col="lon", lat_col="lat",
                                                            progress=False),
                    "duckdb": lambda d, src=src: duckdb_batch(con, src, d),
                    "floor": lambda d, src=src: floor(src, d),
                    "floor_out": lambda d, src=src, results=results: floor(src, d, results),
                    "floor_search": lambda d, src=src, results=results: floor_search(src, d, results, checker)}

            def run(job, name, n=n):
                dst = Path(tmp) / f"out-{name}-{n}.csv"
                job(dst)
                dst.unlink()

            got = timed_together({name: (lambda job=job, name=name: run(job, name)) for name, job in jobs.items()},
                                 repeat)
            t = {name: v[0] for name, v in got.items()}
            row = {"rows": f"{n:,}", "file MB": f"{mb:.0f}", "output MB": f"{out_mb:.0f}",
                   "qpvgeo s": f"{t['qpvgeo']:.2f}", "duckdb s": f"{t['duckdb']:.2f}",
                   "floor s": f"{t['floor']:.2f}", "floor with the output's columns s": f"{t['floor_out']:.2f}",
                   "floor with the output and the search s": f"{t['floor_search']:.2f}",
                   "duckdb/qpvgeo": f"{t['duckdb'] / t['qpvgeo']:.2f}",
                   "qpvgeo/floor": f"{t['qpvgeo'] / t['floor']:.1f}",
                   "qpvgeo/floor with output": f"{t['qpvgeo'] / t['floor_out']:.1f}",
                   "floor with the search/floor": f"{t['floor_search'] / t['floor']:.1f}"}
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
            src.unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--quartiers", type=int, default=1600)
    ap.add_argument("--geopandas-max", type=int, default=100_000, help="run geopandas only up to this many points")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each job; the median is printed")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    con = duckdb_connection()
    import duckdb

    print(f"duckdb {duckdb.__version__}, threads {os.cpu_count()}; qpvgeo threads: the `threads` setting "
          f"({os.environ.get('QPVGEO_THREADS', '0 = every core')})\n")
    layers = {"64 QPV (62)": load_perimeters(),
              f"{args.quartiers} quartiers (France)": _bench.national_layer(args.quartiers, seed=0)}
    print("eligibility core (status; nearest quartier within 300 m; qpvgeo also beyond it)")
    rows = eligibility(layers, args.points, args.geopandas_max, con, args.repeat)
    print("\n" + table(rows))
    print("\nbatch CSV end to end (read, classify, write; 64 QPV)")
    brows = batch(args.rows, con, args.repeat)
    print("\n" + table(brows))


if __name__ == "__main__":
    main()
