"""The fast paths give the same answers as the plain ones, whatever the threads and chunk sizes
(issue "Faster than DuckDB spatial"): the Arrow CSV reader against pandas', chunks classified
in threads against one at a time, the direct search of a few points against the k-d tree."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qpvgeo import _tables, config
from qpvgeo.batch import check_file
from qpvgeo.eligibility import Checker
from qpvgeo.perimeters import load_perimeters

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synthetic  # noqa: E402


@pytest.fixture(scope="module")
def checker():
    return Checker(load_perimeters())


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """30 000 rows: points around the QPV and far away, text with quotes, separators inside
    quotes, formulas, empty fields, accents, a newline inside a quoted field."""
    lon, lat = synthetic.points(30_000, load_perimeters(), seed=5)
    rng = np.random.default_rng(5)
    words = np.array(["École « Jean Jaurès »", '=HYPERLINK("x")', "", "-0.57", "a;b", "l'été\ndeux lignes",
                      '"quoted"', "+33 3 21", "@SUM(A1)", "Ωmega"], dtype=object)
    frame = pd.DataFrame({"id": np.arange(30_000), "nom": words[rng.integers(0, len(words), 30_000)],
                          "lon": lon.round(6).astype(str).astype(object), "lat": lat.round(6), "vide": ""})
    frame.loc[::97, "lon"] = ""  # rows without coordinates
    path = tmp_path_factory.mktemp("fast") / "in.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def run(path, out, checker, *, threads, chunk, monkeypatch=None, pandas_reader=False):
    config.set_settings(config.get_settings().replace(threads=threads))
    try:
        if pandas_reader:
            monkeypatch.setattr(_tables, "_csv_rows_arrow", _tables._csv_rows_pandas)
        summary = check_file(path, out, checker, lon_col="lon", lat_col="lat", chunk_rows=chunk, progress=False)
    finally:
        config.set_settings(None)
    return summary, out.read_bytes()


def test_the_batch_is_byte_identical_whatever_the_threads_and_chunks(table, checker, tmp_path, monkeypatch):
    base_summary, base = run(table, tmp_path / "plain.csv", checker, threads=1, chunk=30_000,
                             monkeypatch=monkeypatch, pandas_reader=True)
    assert base_summary["rows"] == 30_000 and base.count(b"\n") > 30_000
    for threads, chunk in ((1, 1_000), (2, 7_001), (2, 100_000), (3, 2_500)):
        summary, got = run(table, tmp_path / f"t{threads}-{chunk}.csv", checker, threads=threads, chunk=chunk)
        assert got == base, (threads, chunk)
        assert summary["statuses"] == base_summary["statuses"]
    monkeypatch.undo()


def test_arrow_and_pandas_readers_give_the_same_frames(table):
    fmt = _tables.sniff_csv(table)
    a = pd.concat([c.frame for c in _tables._csv_rows_arrow(table, fmt, 4_000)], ignore_index=True)
    b = pd.concat([c.frame for c in _tables._csv_rows_pandas(table, fmt, 4_000)], ignore_index=True)
    pd.testing.assert_frame_equal(a, b)
    sizes = [len(c.frame) for c in _tables._csv_rows_arrow(table, fmt, 4_000)]
    assert max(sizes) == 4_000 and sum(sizes) == 30_000


def test_a_short_or_long_row_goes_to_the_careful_reader(tmp_path, checker):
    p = tmp_path / "ragged.csv"
    p.write_text("id,lon,lat\n1,2.26006,50.75359\n2,2.26\n3,2.26006,50.75359,extra\n", encoding="utf-8")
    fmt = _tables.sniff_csv(p)
    with pytest.raises(_tables.MalformedCsv):
        list(_tables._csv_rows_arrow(p, fmt, 100))
    out = tmp_path / "out.csv"
    s = check_file(p, out, checker, lon_col="lon", lat_col="lat", progress=False)
    assert s["rows"] == 3  # every row accounted for
    assert pd.read_csv(out, dtype=str)["qpv_status"].tolist()[0] == "in_qpv"


@pytest.mark.parametrize("threads", [1, 2])
def test_few_points_direct_search_equals_the_tree(checker, threads):
    lon, lat = synthetic.points(3_000, load_perimeters(), seed=8)
    config.set_settings(config.get_settings().replace(threads=threads))
    try:
        fresh = Checker(load_perimeters())
        for z in fresh.zones:  # every small call searched directly, however many
            z.outline.direct_total = None
        small = [fresh.check_lonlat(lon[i:i + 40], lat[i:i + 40]) for i in range(0, 3_000, 40)]  # direct
        assert all(z.outline._tree is None for z in fresh.zones)
        big = checker.check_lonlat(lon, lat)  # the k-d tree
    finally:
        config.set_settings(None)
    status = np.concatenate([r.status for r in small])
    dist = np.concatenate([r.distance_m for r in small])
    code = np.concatenate([r.code_qp for r in small])
    assert (status == big.status).all() and (code == big.code_qp).all()
    np.testing.assert_array_equal(dist, big.distance_m)
    text = np.concatenate([r.quartiers_text() for r in small])
    assert (text == big.quartiers_text()).all()


def test_many_single_checks_build_the_tree_once_direct_searches_cost_as_much(checker):
    """A server answering one point at a time: direct searches until they have compared
    ``direct_total`` pairs in all, then the k-d tree, with the same answers throughout."""
    lon, lat = synthetic.points(400, load_perimeters(), seed=9)
    fresh = Checker(load_perimeters())
    outline = fresh.zones[0].outline
    per_point = len(outline.coords)
    answers, built_at = [], None
    for i in range(lon.size):
        answers.append(fresh.check_point(lon[i], lat[i]))
        if built_at is None and outline._tree is not None:
            built_at = i
    assert outline._direct_pairs <= outline.direct_total
    assert built_at == outline.direct_total // per_point  # the first point past the budget
    want = [checker.check_point(a, b) for a, b in zip(lon, lat)]
    assert answers == want


def test_the_index_is_kept_on_disk_and_never_stale(tmp_path, monkeypatch):
    from qpvgeo import eligibility

    monkeypatch.setenv("QPVGEO_CACHE_DIR", str(tmp_path / "cache"))
    config.set_settings(None)
    layer = load_perimeters()
    lon, lat = synthetic.points(5_000, layer, seed=9)
    first = Checker(layer).check_lonlat(lon, lat)
    assert len(list((tmp_path / "cache" / "index").glob("*.npz"))) == 1

    def no_build(*a, **k):
        raise AssertionError("the index was built again")

    monkeypatch.setattr(eligibility, "_build_outline", no_build)
    again = Checker(layer).check_lonlat(lon, lat)  # read from the disk
    assert (again.status == first.status).all() and (again.quartiers_text() == first.quartiers_text()).all()
    np.testing.assert_array_equal(again.distance_m, first.distance_m)
    # another layer or another band: another key, built again
    moved = layer.copy()
    moved.loc[0, "geometry"] = moved.geometry.iloc[0].buffer(0.0001)
    for build in (lambda: Checker(moved), lambda: Checker(layer, rule=eligibility.Rule(band_m=200))):
        with pytest.raises(AssertionError, match="built again"):
            build()
    monkeypatch.undo()
    config.set_settings(None)


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # the cache folder cannot be made, even by root
    try:
        monkeypatch.setenv("QPVGEO_CACHE_DIR", str(blocker / "cache"))
        config.set_settings(None)
        ans = Checker(load_perimeters()).check_point(2.26006, 50.75359)
        assert ans["status"] == "in_qpv"
    finally:
        config.set_settings(None)


def test_threads_share_no_pyproj_or_unprepared_geos_object(tmp_path):
    """Chunks classified in threads once corrupted the heap now and then (a shared pyproj
    Transformer; GEOS preparing a geometry on its first test from two threads). Run in a child
    process, so that a crash fails this test instead of killing the run."""
    import subprocess

    lon, lat = synthetic.points(400_000, load_perimeters(), seed=11)
    src = tmp_path / "in.csv"
    pd.DataFrame({"lon": lon.round(6), "lat": lat.round(6)}).to_csv(src, index=False)
    code = ("import sys; from qpvgeo import config; from qpvgeo.batch import check_file; "
            "from qpvgeo.eligibility import Checker; from qpvgeo.perimeters import load_perimeters; "
            "config.set_settings(config.get_settings().replace(threads=int(sys.argv[3]))); "
            "check_file(sys.argv[1], sys.argv[2], Checker(load_perimeters()), lon_col='lon', lat_col='lat', "
            "chunk_rows=20000, progress=False)")
    outs = []
    for i, threads in enumerate((1, 4, 4, 4)):
        out = tmp_path / f"out{i}.csv"
        r = subprocess.run([sys.executable, "-c", code, str(src), str(out), str(threads)], capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(out.read_bytes())
    assert all(o == outs[0] for o in outs)


@pytest.mark.parametrize("spread", [150.0, 600.0])
def test_distances_and_quartiers_equal_a_brute_force_measure(checker, spread):
    """Every distance a decision or a list depends on is the exact one: each point against every
    quartier by GEOS (Lambert-93 distance / the scale factor), the same quartiers within the band
    with the same centimetres; beyond the band, the nearest quartier within 5 cm. Points are
    crowded around the Lens-Liévin and Calais quartiers, many of which touch or nearly touch."""
    import shapely

    from qpvgeo.crs import scale_factor
    from qpvgeo.status import DECIDED

    layer = load_perimeters()
    lon, lat = synthetic.points(3_000, layer, seed=12, share_near=1.0, spread_m=spread)
    z = checker.zones[0]
    # and points within a few metres of the outlines, where many vertices are near (short edges)
    xy = shapely.get_coordinates(shapely.get_rings(shapely.get_parts(z.geoms[:20])))
    mid = (xy[:-1] + xy[1:]) / 2 + np.random.default_rng(1).uniform(-spread / 50, spread / 50, (len(xy) - 1, 2))
    a, b = z.to_wgs84.transform(mid[:, 0], mid[:, 1])
    lon, lat = np.r_[lon, a], np.r_[lat, b]
    r = checker.check_lonlat(lon, lat)
    x, y = z.to_metric.transform(lon, lat)
    k = scale_factor(z.territory.crs, lon, lat)
    d = shapely.distance(shapely.points(x, y)[:, None], z.geoms[None, :]) / k[:, None]
    decided = np.isin(r.status, DECIDED)
    assert decided.mean() > 0.9 and len(lon) > 5_000
    codes = checker.codes[z.index]
    want = {(i, codes[j]): d[i, j] for i, j in zip(*np.nonzero(d < checker.rule.band_m)) if decided[i]}
    got = {(int(i), c): m for i, c, m in zip(*r.pairs)}
    assert got.keys() == want.keys()
    gap = np.array([abs(got[key] - round(want[key], 2)) for key in want])
    assert gap.max() <= 0.0100001, gap.max()  # the same centimetre, but for a rounding of x.xx5
    nearest = d.argmin(axis=1)
    far = decided & (r.status == "outside")
    assert (r.code_qp[far] == codes[nearest[far]]).all()
    np.testing.assert_allclose(r.distance_m[far], d[far, nearest[far]], atol=0.05)
    assert len(want) > 1_000 and far.sum() > (100 if spread > 300 else 0)


def test_every_lazy_geos_index_is_built_before_threads_use_it(tmp_path, monkeypatch):
    """GEOS builds an STRtree on its first query and a prepared geometry's indexes on their first
    test. With the index read from the disk, the quartiers' STRtree was first queried by two
    chunks at once, which now and then corrupted the heap (seen as an abort when a thread
    ended). The Checker now queries every tree and tests every prepared geometry itself, in the
    thread that builds it, whether the index comes from the disk or not."""
    import shapely

    from qpvgeo import eligibility

    queried = []

    class Tree(shapely.STRtree):
        def query(self, *a, **k):
            queried.append(self)
            return super().query(*a, **k)

    monkeypatch.setattr(eligibility.shapely, "STRtree", Tree)
    monkeypatch.setenv("QPVGEO_CACHE_DIR", str(tmp_path / "cache"))
    config.set_settings(None)
    try:
        for _ in range(2):  # built, then read from the disk
            queried.clear()
            c = Checker(load_perimeters())
            assert all(z.tree in queried for z in c.zones)
            assert all(shapely.is_prepared(z.geoms).all() for z in c.zones) and shapely.is_prepared(c.coverage)
        assert list((tmp_path / "cache" / "index").glob("*.npz"))
    finally:
        config.set_settings(None)


def test_inside_overlapping_nested_and_touching_quartiers_as_a_brute_force():
    """Which quartier a point is inside, where quartiers overlap (a QIC across a QPV), nest (a
    QPV inside a larger QIC) and touch (two QPV sharing an edge), against GEOS on every quartier:
    a point inside a QPV is ``in_qpv`` with one of the QPV that hold it; inside only a QIC,
    ``in_qic`` (or ``in_band`` when a QPV's band reaches it); inside none, never an inside status."""
    import geopandas as gpd
    import shapely

    from qpvgeo.crs import scale_factor
    from qpvgeo.eligibility import ON_OUTLINE_M
    from qpvgeo.perimeters import normalize

    def box(lon0, lat0, dlon, dlat):
        return shapely.box(lon0, lat0, lon0 + dlon, lat0 + dlat)

    shapes = {  # code: (class, polygon)
        "QN06291M": ("QPV", box(2.000, 50.500, 0.010, 0.006)),
        "QN06292M": ("QPV", box(2.010, 50.500, 0.010, 0.006)),  # shares the edge lon = 2.010
        "QIC-OVER": ("QIC", box(2.015, 50.503, 0.012, 0.006)),  # across QN06292M's corner
        "QIC-BIG": ("QIC", box(2.040, 50.495, 0.030, 0.020)),
        "QN06293M": ("QPV", box(2.050, 50.500, 0.008, 0.005)),  # inside QIC-BIG
    }
    parts = []
    for code, (cls, poly) in shapes.items():
        raw = gpd.GeoDataFrame({"code_qp": [code], "lib_qp": [code], "insee_dep": ["62"]}, geometry=[poly],
                               crs="EPSG:4326")
        parts.append(normalize(raw, label="t", vintage=2024, **({} if cls == "QPV" else {"classe": cls})))
    layer = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    checker = Checker(layer)
    rng = np.random.default_rng(3)
    lon = rng.uniform(1.995, 2.075, 60_000)
    lat = rng.uniform(50.490, 50.520, 60_000)
    r = checker.check_lonlat(lon, lat)
    z = checker.zones[0]
    x, y = z.to_metric.transform(lon, lat)
    holds = np.column_stack([shapely.intersects_xy(g, x, y) for g in z.geoms])  # points × quartiers
    cls = checker.classes[z.index]
    codes = checker.codes[z.index]
    in_qpv = holds[:, cls == "QPV"].any(axis=1)
    in_qic = holds[:, cls == "QIC"].any(axis=1) & ~in_qpv
    assert in_qpv.sum() > 1_000 and in_qic.sum() > 1_000
    assert (r.status[in_qpv] == "in_qpv").all()
    assert all(holds[i, list(codes).index(c)] and c.startswith("QN") for i, c in zip(np.flatnonzero(in_qpv),
                                                                                   r.code_qp[in_qpv]))
    assert set(r.status[in_qic]) <= {"in_qic", "in_band"}
    assert (r.status[in_qic] == "in_qic").sum() > 100
    # outside every quartier, and not on an outline (within 5 mm, docs/rules.md §8): never inside
    k = scale_factor(z.territory.crs, lon, lat)
    on = shapely.distance(shapely.points(x, y), shapely.union_all(shapely.boundary(z.geoms))) / k < ON_OUTLINE_M
    outside = ~holds.any(axis=1) & ~on
    assert on.sum() < 10 and outside.sum() > 30_000
    assert not np.isin(r.status[outside], ["in_qpv", "in_qic", "in_fragile"]).any()
    # the quartiers listed within the band: each one holding the point is listed at 0 m
    listed = {(int(i), c): d for i, c, d in zip(*r.pairs)}
    for i, j in zip(*np.nonzero(holds & (cls == "QPV")[None, :])):
        assert listed[(int(i), codes[j])] == 0.0


def test_points_outside_the_coverage_set_aside_give_the_same_answers(monkeypatch):
    """Points outside the covered area and beyond every quartier's reach are set aside as
    ``not_covered`` before any distance is measured (one bounded k-d tree search); the answers
    are those of the full path, including the points outside the covered area that lie inside a
    quartier or in its band (a yes is a yes). The covered area here is the western half of the
    layer, so that half the quartiers lie outside it."""
    import shapely

    from qpvgeo import eligibility

    layer = load_perimeters()
    west = shapely.box(1.0, 49.0, 2.45, 52.0)
    checker = Checker(layer, coverage=west)
    near_lon, near_lat = synthetic.points(80_000, layer, seed=21, share_near=1.0, spread_m=400.0)
    rng = np.random.default_rng(21)
    lon = np.r_[near_lon, rng.uniform(-4.5, 8.0, 40_000)]
    lat = np.r_[near_lat, rng.uniform(43.0, 51.0, 40_000)]
    fast = checker.codes_lonlat(lon, lat)
    calls = []
    monkeypatch.setattr(eligibility.Checker, "_beyond_every_quartier",
                        lambda self, zone, a, b, among: calls.append(1) or np.zeros(a.size, dtype=bool))
    plain = checker.codes_lonlat(lon, lat)
    assert calls  # the plain path ran with nothing set aside
    for name in ("status", "row", "dist"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name))
    for a, b in zip(fast.pairs, plain.pairs):
        np.testing.assert_array_equal(a, b)
    st = eligibility.STATUSES[fast.status]
    outside_cov = ~shapely.contains_xy(west, lon, lat)
    assert (st[outside_cov] == "not_covered").sum() > 40_000
    assert np.isin(st[outside_cov], ["in_qpv", "in_band"]).sum() > 5_000  # answered though not covered


def test_coverage_grid_gives_the_answers_of_the_area_itself():
    """The grid that answers 'in the covered area?' for many points at once (cells inside,
    outside, or across the edge, only the latter tested) says what shapely says of the area: on
    the Pas-de-Calais outline, and on a box whose edges are the grid's own, points on them
    included."""
    import shapely

    from qpvgeo.eligibility import _AreaGrid

    checker = Checker(load_perimeters())
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(1.3, 3.3, 300_000), rng.uniform(50.0, 51.2, 300_000)
    grid = _AreaGrid(checker.coverage)
    assert ((grid.kind == grid.INSIDE).sum() > 3_000) and ((grid.kind == grid.EDGE).sum() < 2_000)
    np.testing.assert_array_equal(grid.contains_xy(lon, lat), shapely.contains_xy(checker.coverage, lon, lat))
    area = shapely.box(2.0, 50.0, 3.0, 51.0)
    shapely.prepare(area)
    box_grid = _AreaGrid(area, cells=16)
    edges = np.r_[np.linspace(2.0, 3.0, 33), np.nextafter(3.0, 0), np.nextafter(2.0, 3), 1.9, 3.1, np.nan]
    ex, ey = (g.ravel() for g in np.meshgrid(edges, np.r_[edges[:-1] - 2.0 + 50.0, np.nan]))
    np.testing.assert_array_equal(box_grid.contains_xy(ex, ey), shapely.contains_xy(area, ex, ey))
    # and a Checker answers the same with it (many points) as without it (a few at a time)
    many = checker.codes_lonlat(lon[:60_000], lat[:60_000])
    few = [checker.codes_lonlat(lon[i:i + 20_000], lat[i:i + 20_000]) for i in range(0, 60_000, 20_000)]
    np.testing.assert_array_equal(many.status, np.concatenate([f.status for f in few]))


def test_scale_factor_by_latitude_is_numpy_interp_on_its_lattice_bit_for_bit():
    """Lambert-93's k, found by arithmetic on its 0.001° lattice (kept per thread and grown as
    asked), gives numpy.interp's numbers bit for bit, whatever the points asked with it, and
    pyproj's own k within 1e-10."""
    import pyproj

    from qpvgeo.crs import _interp_factor_lat, scale_factor

    proj = pyproj.Proj(pyproj.CRS("EPSG:2154"))

    def by_numpy(lon, lat):  # the lattice of this call only, searched by numpy.interp
        ok = np.isfinite(lat) & np.isfinite(lon)
        out = np.full(lat.shape, np.nan)
        grid = np.arange(np.floor(lat[ok].min() * 1000) - 1, np.ceil(lat[ok].max() * 1000) + 2) / 1000
        out[ok] = np.interp(lat[ok], grid, np.asarray(proj.get_factors(np.zeros(grid.size), grid).meridional_scale))
        return out

    rng = np.random.default_rng(4)
    nodes = np.arange(41_000, 51_500) / 1000
    lat = np.r_[rng.uniform(41, 51.5, 200_000), nodes, np.nextafter(nodes, 0), np.nextafter(nodes, 90),
                np.round(rng.uniform(41, 51.5, 20_000), 6)]
    lon = rng.uniform(-5, 9, lat.size)
    lon[::997] = np.nan
    assert np.array_equal(_interp_factor_lat(proj, lon, lat, {}), by_numpy(lon, lat), equal_nan=True)
    lattice = {}  # one lattice, grown by calls on narrow then wide ranges
    for lo, hi in ((50.0, 50.2), (42.0, 42.5), (45.0, 51.5), (41.0, 51.5)):
        m = (lat >= lo) & (lat <= hi)
        got = _interp_factor_lat(proj, lon[m], lat[m], lattice)
        assert np.array_equal(got, by_numpy(lon[m], lat[m]), equal_nan=True)
    some = rng.uniform(41, 51.5, 2_000)
    truth = np.asarray(proj.get_factors(np.zeros(some.size), some).meridional_scale)
    assert np.abs(scale_factor("EPSG:2154", np.zeros(some.size), some) - truth).max() < 1e-10
