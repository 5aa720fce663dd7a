"""Eligibility against ground truth built with pyproj.Geod, independently of the code."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from qpvgeo.eligibility import STATUSES, Checker, Rule
from qpvgeo.errors import InputError
from qpvgeo.perimeters import load_perimeters, normalize

GEOD = Geod(ellps="GRS80")


@pytest.fixture(scope="module")
def qpv():
    return load_perimeters()


@pytest.fixture(scope="module")
def checker(qpv):
    return Checker(qpv)


def geodesic_distance_to_outline(lon, lat, polygon, step_m=0.5):
    """Minimum geodesic distance from a point to a polygon outline, densified every step_m."""
    best = np.inf
    for ring in shapely.get_rings(shapely.get_parts(polygon)):
        xy = np.asarray(ring.coords)
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            _, _, seg = GEOD.inv(x0, y0, x1, y1)
            if seg == 0:
                continue
            n = max(int(seg / step_m), 2)
            pts = GEOD.npts(x0, y0, x1, y1, n, initial_idx=0, terminus_idx=0)
            arr = np.asarray(pts)
            _, _, d = GEOD.inv(np.full(len(arr), lon), np.full(len(arr), lat), arr[:, 0], arr[:, 1])
            best = min(best, d.min())
    return best


def point_north_of(polygon, distance_m):
    """The point distance_m due north (geodesic) of the northernmost vertex of a polygon."""
    xy = np.asarray(polygon.exterior.coords if polygon.geom_type == "Polygon"
                    else max(polygon.geoms, key=lambda g: g.bounds[3]).exterior.coords)
    top = xy[np.argmax(xy[:, 1])]
    lon, lat, _ = GEOD.fwd(top[0], top[1], 0.0, distance_m)
    return lon, lat


def test_points_inside_qn06237m(checker, qpv):
    geom = qpv.set_index("code_qp").loc["QN06237M", "geometry"]
    rng = np.random.default_rng(1)
    x0, y0, x1, y1 = geom.bounds
    lon, lat = rng.uniform(x0, x1, 400), rng.uniform(y0, y1, 400)
    inside = shapely.contains_xy(geom, lon, lat)
    assert inside.sum() > 20
    r = checker.check_lonlat(lon[inside], lat[inside])
    assert set(r.status) == {"in_qpv"}
    assert set(r.code_qp) == {"QN06237M"}
    assert (r.distance_m == 0).all()
    one = checker.check_point(2.26006, 50.75359)
    assert one["status"] == "in_qpv" and one["code_qp"] == "QN06237M"
    assert one["nom_qp"] == "Quai Du commerce - Saint Sépulcre"
    assert one["distance_m"] == 0.0 and one["eligible"] is True


@pytest.mark.parametrize("ground_m,status", [(299.5, "in_band"), (300.5, "outside"),
                                             (150.0, "in_band"), (299.95, "in_band")])
def test_band_limit_on_the_ground(checker, qpv, ground_m, status):
    geom = qpv.set_index("code_qp").loc["QN06237M", "geometry"]
    lon, lat = point_north_of(geom, ground_m)
    truth = geodesic_distance_to_outline(lon, lat, geom)
    assert truth == pytest.approx(ground_m, abs=0.02)  # the construction is right
    ans = checker.check_point(lon, lat)
    assert ans["status"] == status
    assert ans["code_qp"] == "QN06237M"
    assert abs(ans["distance_m"] - truth) < 0.05
    # Lambert-93 alone would call the 299.5 m point outside: the correction matters
    if ground_m == 299.5:
        import pyproj

        t = pyproj.Transformer.from_crs(4326, 2154, always_xy=True)
        g93 = shapely.transform(geom, lambda a: np.column_stack(t.transform(a[:, 0], a[:, 1])))
        assert shapely.Point(*t.transform(lon, lat)).distance(g93) > 300.0


def test_comparison_and_band_are_parameters(qpv):
    geom = qpv.set_index("code_qp").loc["QN06237M", "geometry"]
    lon, lat = point_north_of(geom, 250.0)
    assert Checker(qpv, rule=Rule(band_m=200)).check_point(lon, lat)["status"] == "outside"
    assert Checker(qpv, rule=Rule(band_m=500)).check_point(lon, lat)["status"] == "in_band"
    ans = Checker(qpv, rule=Rule(band_m=200)).check_point(lon, lat)
    assert ans["rule"]["band_m"] == 200 and ans["rule"]["comparison"] == "<"
    with pytest.raises(InputError, match="comparison"):
        Rule(comparison="≤")
    with pytest.raises(InputError, match="band"):
        Rule(band_m=-1)


def test_point_near_two_quartiers_lists_both_nearest_first(checker, qpv):
    g = qpv.set_index("code_qp")
    # QN06211M and QN06213M (CABBALR) are about 190 m apart
    a, b = g.loc["QN06211M", "geometry"], g.loc["QN06213M", "geometry"]
    pa, pb = shapely.ops.nearest_points(a, b)
    mid_lon, mid_lat = pa.x + (pb.x - pa.x) / 3, pa.y + (pb.y - pa.y) / 3
    ans = checker.check_point(mid_lon, mid_lat)
    codes = [q["code_qp"] for q in ans["quartiers"]]
    assert codes[:2] == ["QN06211M", "QN06213M"]
    assert ans["status"] == "in_band"
    dists = [q["distance_m"] for q in ans["quartiers"]]
    assert dists == sorted(dists)
    for q in ans["quartiers"]:
        truth = geodesic_distance_to_outline(mid_lon, mid_lat, g.loc[q["code_qp"], "geometry"])
        assert abs(q["distance_m"] - truth) < 0.05
    assert ans["code_qp"] == codes[0]


def test_outside_coverage_is_not_a_no(checker):
    assert checker.check_point(4.35, 50.85)["status"] == "not_covered"  # Brussels
    assert checker.check_point(3.06, 50.63)["status"] == "not_covered"  # Lille (Nord, not loaded)
    assert checker.check_point(100.0, 10.0)["status"] == "outside_territory"
    assert checker.check_point(55.45, -20.9)["status"] == "not_covered"  # La Réunion, no layer
    assert checker.check_point(2.05, 50.60)["status"] == "outside"  # rural Pas-de-Calais


def _diamond(lon0, lat0, dlon=0.0015, dlat=0.001):
    return shapely.Polygon([(lon0, lat0 + dlat), (lon0 + dlon, lat0), (lon0, lat0 - dlat),
                            (lon0 - dlon, lat0)])


def _layer(code, dep, polygon):
    raw = gpd.GeoDataFrame({"code_qp": [code], "lib_qp": ["Test"], "insee_dep": [dep]},
                           geometry=[polygon], crs="EPSG:4326")
    return normalize(raw, label="test", vintage=2024)


@pytest.mark.parametrize("dep,lon,lat,epsg", [
    ("59", 2.37, 51.03, 2154), ("29", -4.49, 48.39, 2154), ("67", 7.75, 48.58, 2154),
    ("66", 2.89, 42.69, 2154), ("2A", 8.74, 41.92, 2154), ("974", 55.45, -20.9, 2975),
    ("971", -61.55, 16.25, 5490), ("973", -52.33, 4.93, 2972), ("976", 45.17, -12.78, 4471)])
@pytest.mark.parametrize("distance_m", [5.0, 299.5, 1000.0])
def test_ground_distance_within_5_cm_anywhere(dep, lon, lat, epsg, distance_m):
    poly = _diamond(lon, lat)
    checker = Checker(_layer("QN99901M", dep, poly))
    assert checker.zones[0].territory.epsg == epsg
    for az in (0.0, 63.0, 135.0, 250.0):
        # a point at distance_m from the outline, measured independently on the ellipsoid
        cx, cy = poly.exterior.interpolate(az / 360 * poly.exterior.length).coords[0]
        plon, plat, _ = GEOD.fwd(lon, lat, az, 1.0)
        _, _, back = GEOD.inv(lon, lat, cx, cy)
        plon, plat, _ = GEOD.fwd(cx, cy, GEOD.inv(lon, lat, cx, cy)[0], distance_m)
        truth = geodesic_distance_to_outline(plon, plat, poly, step_m=0.25)
        got = checker.check_point(plon, plat)
        assert abs(got["distance_m"] - truth) < 0.05, (dep, az, got["distance_m"], truth)


def test_la_reunion_point_measured_in_utm40s():
    poly = _diamond(55.45, -20.9)
    checker = Checker(_layer("QN97401M", "974", poly))
    lon, lat = point_north_of(poly, 299.0)
    ans = checker.check_point(lon, lat)
    assert checker.zones[0].territory.epsg == 2975
    assert ans["status"] == "in_band" and ans["code_qp"] == "QN97401M"
    assert abs(ans["distance_m"] - 299.0) < 0.05


def _ll_box(lon0, lat0, dlon, dlat):
    return shapely.box(lon0, lat0, lon0 + dlon, lat0 + dlat)


def test_site_straddling_the_band_limit(checker, qpv):
    geom = qpv.set_index("code_qp").loc["QN06237M", "geometry"]
    lon0, lat0 = point_north_of(geom, 250.0)
    lon1, lat1 = point_north_of(geom, 350.0)
    # a 40 m wide strip from 250 m to 350 m north of the quartier
    _, _, w = GEOD.fwd(lon0, lat0, 90, 20)
    dlon = abs(GEOD.fwd(lon0, lat0, 90, 20)[0] - lon0)
    site = shapely.box(lon0 - dlon, lat0, lon0 + dlon, lat1)
    ans = checker.check_site(site, crs="EPSG:4326")
    assert ans["in_eligible_zone"]["any_part"] is True
    assert ans["in_eligible_zone"]["whole"] is False
    assert ans["in_qpv"]["any_part"] is False
    assert ans["status"] == "in_band"
    assert ans["code_qp"] == "QN06237M"
    assert abs(ans["distance_m"] - 250.0) < 0.1
    # about half of the strip (250-300 m of 250-350 m) lies in the zone
    share = ans["in_eligible_zone"]["area_m2"] / ans["area_m2"]
    assert 0.45 < share < 0.55
    assert 3500 < ans["area_m2"] < 4500  # ~40 m x 100 m on the ground


def test_site_inside_a_qpv(checker, qpv):
    geom = qpv.set_index("code_qp").loc["QN06237M", "geometry"]
    c = geom.representative_point()
    site = c.buffer(0.0001)
    ans = checker.check_site(site, crs="EPSG:4326")
    assert ans["in_qpv"] == {"any_part": True, "centroid": True, "whole": True,
                             "area_m2": pytest.approx(ans["area_m2"], rel=1e-6)}
    assert ans["status"] == "in_qpv"
    with pytest.raises(InputError, match="polygon"):
        checker.check_site(shapely.Point(2.26, 50.75), crs="EPSG:4326")


def test_blocks_give_the_same_answers(checker):
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(2.2, 2.3, 5000), rng.uniform(50.72, 50.78, 5000)
    whole = checker.check_lonlat(lon, lat)
    blocks = checker.check_lonlat(lon, lat, block=700)
    assert (whole.status == blocks.status).all() and (whole.code_qp == blocks.code_qp).all()
    assert np.array_equal(whole.distance_m, blocks.distance_m, equal_nan=True) and whole.quartiers == blocks.quartiers


def test_qic_inside_and_band_only_on_request():
    qpv = _diamond(2.0, 50.5)
    qic = _diamond(2.02, 50.5)
    layer = gpd.GeoDataFrame(
        {"code_qp": ["QN06299M", "QIC-001"], "lib_qp": ["QPV test", "Cité test"], "insee_dep": ["62", "62"]},
        geometry=[qpv, qic], crs="EPSG:4326")
    qpv_layer = normalize(layer.iloc[[0]], label="t", vintage=2024)
    qic_layer = normalize(layer.iloc[[1]], label="t", classe="QIC")
    both = gpd.GeoDataFrame(pd.concat([qpv_layer, qic_layer], ignore_index=True), crs="EPSG:4326")
    default = Checker(both)  # band around QPV only
    with_qic = Checker(both, rule=Rule(band_classes=("QPV", "QIC")))
    assert default.zones[0].band_outline is not None  # only some quartiers get a band
    inside_qic = default.check_point(2.02, 50.5)
    assert inside_qic["status"] == "in_qic" and inside_qic["code_qp"] == "QIC-001"
    assert inside_qic["eligible"] is False
    lon, lat = point_north_of(qic, 150.0)
    near_qic = default.check_point(lon, lat)
    assert near_qic["status"] == "outside" and near_qic["code_qp"] == "QIC-001"
    assert abs(near_qic["distance_m"] - 150.0) < 0.05
    assert [q["code_qp"] for q in near_qic["quartiers"]] == ["QIC-001"]  # listed, but gives no band
    assert with_qic.check_point(lon, lat)["status"] == "in_band"
    lon, lat = point_north_of(qpv, 150.0)
    near_qpv = default.check_point(lon, lat)
    assert near_qpv["status"] == "in_band" and near_qpv["code_qp"] == "QN06299M"


def test_point_results_as_a_frame(checker):
    df = checker.check_lonlat([2.26006, 2.05], [50.75359, 50.60]).frame()
    assert list(df["status"]) == ["in_qpv", "outside"]
    assert list(df["eligible"]) == [True, False]
    assert df["quartiers"].iloc[0] == [("QN06237M", 0.0)]


def test_text_answers_are_the_integer_answers_looked_up(checker):
    # inside, in the band, outside, not covered (the sea off the coast), outside France, no
    # coordinates, then 3 000 points over the département and beyond it
    lon = np.r_[2.26006, 2.2640, 2.2, 1.62, -30.0, np.nan, np.random.default_rng(8).uniform(1.6, 3.0, 3000)]
    lat = np.r_[50.75359, 50.7500, 50.6, 50.9, 40.0, 50.7, np.random.default_rng(9).uniform(50.2, 51.0, 3000)]
    c = checker.codes_lonlat(lon, lat)
    r = checker.check_lonlat(lon, lat)
    has = c.row >= 0
    assert (~has).any() and has.any()
    for text, values in ((r.code_qp, checker.codes), (r.nom_qp, checker.names), (r.classe, checker.classes)):
        assert text.dtype == object and len(text) == lon.size
        assert list(text[has]) == list(values[c.row[has]])
        assert set(text[~has]) == {""}
    assert list(r.status) == list(STATUSES[c.status])
    assert list(r.status[:6]) == ["in_qpv", "in_band", "outside", "not_covered", "outside_territory", ""]
    assert list(r.code_qp[:6]) == ["QN06237M", "QN06237M", "QN06256M", "", "", ""]
