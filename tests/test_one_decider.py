"""One decider for every answer: a point, a site, an address, a file row and a map of the same
place give the same status; no data is never a "no"; no command prints a traceback.

Each test names the defect it guards against (issue "One decider for every answer")."""

from __future__ import annotations

import json
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import Reply, one_line_error
from conftest import run_cli as run
from fake_ban import csv_answer, search_reply
from test_maps import layers_in_html

from qpvgeo import _http, status
from qpvgeo.batch import check_file, check_rows
from qpvgeo.cli import main
from qpvgeo.eligibility import Checker, Rule
from qpvgeo.errors import DownloadError, InputError
from qpvgeo.geocode import BanClient
from qpvgeo.perimeters import load_perimeters, select

CAPSO, CABBALR = "200069037", "200072460"
IN_QN06237M = (2.26006, 50.75359)  # Saint-Omer
LILLE_SITE = "POLYGON ((3.06 50.63, 3.061 50.63, 3.061 50.631, 3.06 50.63))"


@pytest.fixture(scope="module")
def per():
    return load_perimeters()


@pytest.fixture(scope="module")
def checker(per):
    return Checker(per)


# ------------------------------------------------------------------------ 1. sites and coverage
def test_site_outside_the_covered_area_is_not_covered_like_a_point(checker):
    site = gpd.GeoSeries.from_wkt([LILLE_SITE], crs=4326)
    ans = checker.check_site(site)
    assert ans["status"] == "not_covered" and ans["eligible"] is None
    assert ans["code_qp"] is None and ans["distance_m"] is None  # no quartier 16 km away
    assert ans["centroid"]["status"] == "not_covered"
    assert ans["area_m2"] > 0
    res = run("check", "--site", LILLE_SITE, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status"] == "not_covered"


# ------------------------------------------------------------------------ 2. sites elsewhere, CRS
def test_site_in_la_reunion_and_lambert93_wkt_without_crs(checker):
    reunion = "POLYGON ((55.45 -20.9, 55.451 -20.9, 55.451 -20.899, 55.45 -20.9))"
    ans = checker.check_site(gpd.GeoSeries.from_wkt([reunion], crs=4326))
    assert ans["status"] == "not_covered" and 4000 < ans["area_m2"] < 6500  # ~0.5 ha on the ground
    res = run("check", "--site", reunion)  # text mode printed a KeyError before
    assert res.exit_code == 0, res.output
    assert "not_covered" in res.output and "n/a" in res.output
    l93 = "POLYGON ((650000 7070000, 650100 7070000, 650100 7070100, 650000 7070000))"
    one_line_error(run("check", "--site", l93), "EPSG:2154")
    res = run("check", "--site", l93, "--crs", "EPSG:2154", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["area_m2"] == pytest.approx(5000, rel=0.01)
    with pytest.raises(InputError, match="no CRS"):
        checker.check_site(shapely.box(2.26, 50.75, 2.261, 50.751))  # a bare geometry is refused
    ans = checker.check_site(shapely.box(2.26, 50.75, 2.261, 50.751), crs="EPSG:4326")
    assert ans["status"] in status.DECIDED


# ------------------------------------------------------------------------ 3. points on the outline
def test_points_on_an_outline_are_inside_never_outside_at_zero(checker, per):
    geom = per.set_index("code_qp").loc["QN06237M", "geometry"]
    xy = shapely.get_coordinates(geom)
    mid = (xy[:-1] + xy[1:]) / 2
    pts = np.vstack([xy, mid])
    r = checker.check_lonlat(pts[:, 0], pts[:, 1])
    assert set(r.status) == {"in_qpv"}
    assert (r.distance_m == 0).all() and set(r.code_qp) == {"QN06237M"}
    # anywhere: distance 0 and "outside" never appear together
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(2.2, 2.3, 20000), rng.uniform(50.72, 50.78, 20000)
    r = checker.check_lonlat(np.r_[lon, pts[:, 0]], np.r_[lat, pts[:, 1]])
    assert not ((r.status == "outside") & (r.distance_m == 0)).any()
    # a site touching the outline from outside is in the quartier too
    v = shapely.Point(xy[0])
    touching = shapely.box(v.x, v.y, v.x + 0.0005, v.y + 0.0005)
    ans = checker.check_site(touching, crs="EPSG:4326")
    assert ans["status"] == "in_qpv" and ans["in_qpv"]["any_part"] is True


# ------------------------------------------------------------------------ 4. a selection never changes an answer
def test_a_selection_covers_only_what_it_selects(per):
    sub = Checker(select(per, epci=CABBALR))
    ans = sub.check_point(*IN_QN06237M)  # a Saint-Omer QPV, not loaded in this selection
    assert ans["status"] == "not_covered" and ans["code_qp"] is None
    inside = per[per["epci"].map(lambda e: CABBALR in e)].iloc[0].geometry.representative_point()
    assert sub.check_point(inside.x, inside.y)["status"] == "in_qpv"
    by_code = Checker(select(per, code="QN06236M"))
    assert by_code.check_point(*IN_QN06237M)["status"] == "not_covered"


def test_map_of_one_epci_answers_against_every_quartier(tmp_path):
    pts = tmp_path / "p.csv"
    pts.write_text("nom;lon;lat\nMaison;2.26006;50.75359\n", encoding="utf-8")
    out = tmp_path / "m.html"
    res = run("map", "eligibility", "--epci", CABBALR, "--points", pts, "--lon-col", "lon", "--lat-col", "lat",
              "--tiles", "none", "-o", out)
    assert res.exit_code == 0, res.output
    point = layers_in_html(out.read_text(encoding="utf-8"))["Points vérifiés"]["features"][0]
    assert "dans un QPV" in point["properties"]["popup"] and "QN06237M" in point["properties"]["popup"]


# ------------------------------------------------------------------------ 5. no data is not zero
def test_population_without_carreaux_is_refused_not_zero():
    one_line_error(run("population", "--epci", "246200364"), "no carreau")
    res = run("population", "--epci", CAPSO, "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["coverage"] for r in rows} == {"covered"} and all(r["estimate"] > 0 for r in rows)


def test_fragility_on_a_partial_grid_is_refused_unless_allowed(tmp_path):
    import pyogrio

    from qpvgeo.carreaux import load_carreaux

    g = load_carreaux()
    cut = tmp_path / "north.csv"
    raw = pd.read_csv("data/filosofi/filosofi2021_200m_capso-full_epsg3035.csv", dtype=str)
    raw[raw["idcar_200m"].isin(g.loc[g["y_ll"] > 3_095_000, "idcar_200m"])].to_csv(cut, index=False)
    err = one_line_error(run("fragility", "--epci", CAPSO, "--carreaux", cut), "only part", "--allow-partial")
    assert err.count("Error") == 1
    # as a user runs it: the warning is said once on stderr, the outputs are written and marked
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "qpvgeo", "fragility", "--epci", CAPSO, "--carreaux", str(cut),
                          "--allow-partial", "-o", str(tmp_path / "o")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "[PARTIAL]" in res.stdout
    assert res.stderr.count("partial coverage") == 1, res.stderr  # said once, not twice
    assert pyogrio.read_dataframe(tmp_path / "o" / "fragilite.gpkg", layer="zones")["partial"].all()


# ------------------------------------------------------------------------ 6. files that crashed
def test_public_share_on_a_semicolon_csv(tmp_path):
    src = tmp_path / "participants.csv"
    src.write_text("nom;lon;lat\nA;2.26006;50.75359\nB;2.05;50.60\nC;;\n", encoding="utf-8")
    res = run("public-share", src, "-o", tmp_path / "rows.csv", "--lon-col", "lon", "--lat-col", "lat", "--json")
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert (s["people"], s["decided"], s["in_qpv"], s["undecided"]) == (3, 2, 1, 1)
    assert s["share_in_qpv"] == 0.5 and s["meets_threshold"] is False


def test_no_traceback_for_missing_or_odd_files(tmp_path, server):
    one_line_error(run("check-file", tmp_path / "nofile.csv", "-o", tmp_path / "o.csv"), "does not exist")
    (tmp_path / "site.cpg").write_text("UTF-8")
    one_line_error(run("check", "--site", tmp_path / "site.cpg"), "site.cpg")
    one_line_error(run("check", "--site", "POLYGON ((1 2, 3"), "WKT")
    # a URL works wherever a path does (downloaded into the cache)
    server.route("/x.csv", Reply(200, b"nom;lon;lat\nA;2.26006;50.75359\n"))
    res = run("check-file", server.url + "/x.csv", "-o", tmp_path / "o.csv", "--lon-col", "lon", "--lat-col", "lat")
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "o.csv", sep=";")["qpv_status"].tolist() == ["in_qpv"]
    server.route("/gone.csv", Reply(404, b"no"))
    one_line_error(run("check-file", server.url + "/gone.csv", "-o", tmp_path / "p.csv"), "404")


def test_map_with_a_wkt_site(tmp_path):
    wkt = "POLYGON ((2.2600 50.7535, 2.2602 50.7535, 2.2602 50.7537, 2.2600 50.7535))"
    res = run("map", "eligibility", "--site", wkt, "--tiles", "none", "-o", tmp_path / "s.html")
    assert res.exit_code == 0, res.output
    site = layers_in_html((tmp_path / "s.html").read_text(encoding="utf-8"))["Site du projet"]
    assert "dans un QPV" in site["features"][0]["properties"]["popup"]


# ------------------------------------------------------------------------ 7. rule options declared once
def _params(cmd_path):
    cmd = main
    for name in cmd_path:
        cmd = cmd.commands[name]
    return {p.name: p for p in cmd.params}


RULE_COMMANDS = [("check",), ("check-file",), ("public-share",), ("map", "eligibility")]


def test_rule_options_are_the_same_on_every_command():
    ref = _params(RULE_COMMANDS[0])
    for path in RULE_COMMANDS[1:]:
        got = _params(path)
        for name in ("band_m", "comparison", "band_classes", "source", "vintage", "layer", "qic_source"):
            a, b = ref[name], got[name]
            assert (a.opts, repr(a.type), a.default, a.help) == (b.opts, repr(b.type), b.default, b.help), (path, name)
    frag, frag_map = _params(("fragility",)), _params(("map", "fragility"))
    for name in ("factor", "comparison", "min_households", "min_individuals", "contact", "carreaux_source",
                 "membership", "communes_file", "reference_rate", "allow_partial"):
        a, b = frag[name], frag_map[name]
        assert (a.opts, repr(a.type), a.default, a.help) == (b.opts, repr(b.type), b.default, b.help), name


def test_band_classes_with_spaces_and_comparison_on_the_map(tmp_path):
    assert Rule(band_classes="QPV, QIC").band_classes == ("QPV", "QIC")
    res = run("map", "eligibility", "--epci", CAPSO, "--band-classes", "QPV, QIC", "--comparison", "<=",
              "--tiles", "none", "-o", tmp_path / "m.html")
    assert res.exit_code == 0, res.output
    assert "distance au sol &lt;= 300 m" in (tmp_path / "m.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------ 8. undecided funding stays undecided
def test_funding_of_an_undecided_place_is_not_a_no():
    res = run("check", "3.06,50.63", "--expenses", "100000", "--json")  # Lille: not covered
    f = json.loads(res.stdout)["funding"]
    assert f["decided"] is False and f["fdc_politique_ville_eur"] is None and f["fdc_majoration_5pct"] is None
    assert "not in a QPV" not in f["note"] and "undecided" in f["note"]
    res = run("check", "2.05,50.60", "--expenses", "100000", "--json")  # rural: decided, outside
    f = json.loads(res.stdout)["funding"]
    assert f["decided"] is True and f["fdc_politique_ville_eur"] == 0 and f["fdc_majoration_5pct"] is False
    res = run("check", "3.06,50.63", "--expenses", "100000")
    assert "undecided" in res.output and "0 €" not in res.output


# ------------------------------------------------------------------------ 9. a swapped row does not ruin a map
@pytest.mark.parametrize("fmt", ["html", "png", "pdf"])
def test_undecided_rows_are_listed_not_drawn(tmp_path, fmt):
    pts = tmp_path / "p.csv"
    pts.write_text("nom;lon;lat\nMaison;2.26006;50.75359\nInversé;50.7565;2.2601\nVide;;\n", encoding="utf-8")
    out = tmp_path / f"m.{fmt}"
    res = run("map", "eligibility", "--points", pts, "--lon-col", "lon", "--lat-col", "lat", "--tiles", "none",
              "--format", fmt, "-o", out)
    assert res.exit_code == 0, res.output
    if fmt == "html":
        page = out.read_text(encoding="utf-8")
        assert "Non représentés sur la carte (2)" in page and "Inversé" in page
        assert "longitude et latitude semblent inversées" in page  # the note in French, as the map
        drawn = layers_in_html(page)["Points vérifiés"]["features"]
        assert len(drawn) == 1
        import re

        call = page[page.rindex(".fitBounds("):]
        south, west, north, east = map(float, re.findall(r"-?\d+\.\d+", call)[:4])
        assert 50 < south < north < 51.5 and 1 < west < east < 3.5  # not zoomed out to the whole world
    else:
        assert out.stat().st_size > 10_000


# ------------------------------------------------------------------------ 10. one fragility shape
def test_fragility_of_every_epci_draws_like_one():
    from qpvgeo import maps
    from qpvgeo.carreaux import load_carreaux
    from qpvgeo.fragility import fragility

    with pytest.warns(UserWarning, match="partial"):
        res = fragility(load_carreaux(), perimeters=load_perimeters())
    spec = maps.fragility_spec(res, load_perimeters())
    assert "EPCI" in spec.title


# ------------------------------------------------------------------------ 11. layers and network failures
def test_multi_layer_inputs_are_never_read_by_guess(tmp_path, per):
    gpkg = tmp_path / "two.gpkg"
    pts = gpd.GeoDataFrame({"nom": ["a"]}, geometry=[shapely.Point(*IN_QN06237M)], crs=4326)
    pts.to_file(gpkg, layer="ecoles", engine="pyogrio")
    gpd.GeoDataFrame({"nom": ["b"]}, geometry=[shapely.Point(2.05, 50.60)], crs=4326).to_file(
        gpkg, layer="arrets", engine="pyogrio", append=True)
    one_line_error(run("check-file", gpkg, "-o", tmp_path / "o.csv"), "2 layers", "ecoles", "arrets")
    res = run("check-file", gpkg, "-o", tmp_path / "o.csv", "--input-layer", "arrets")
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "o.csv")["qpv_status"].tolist() == ["outside"]
    sites = tmp_path / "sites.gpkg"
    for layer, geom in (("a", shapely.Point(*IN_QN06237M).buffer(1e-4)), ("b", shapely.box(2.05, 50.6, 2.051, 50.601))):
        gpd.GeoDataFrame(geometry=[geom], crs=4326).to_file(sites, layer=layer, engine="pyogrio",
                                                            append=sites.exists())
    one_line_error(run("check", "--site", sites), "2 layers")
    res = run("check", "--site", sites, "--site-layer", "a", "--json")
    assert json.loads(res.stdout)["status"] == "in_qpv"


def test_refused_connections_fail_at_once_in_one_line(settings):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="refused") as err:
        _http.request("GET", "http://127.0.0.1:9/x", settings=settings.replace(backoff_s=1.0))
    assert time.monotonic() - t0 < 1.0  # not retried with backoff
    assert "--offline" in str(err.value) and "\n" not in str(err.value)
    res = run("check", "1 rue du Quai du Commerce, Saint-Omer")  # BAN URL points at 127.0.0.1:9
    one_line_error(res, "--offline")


def test_name_resolution_failures_are_named():
    import urllib3.exceptions as ue

    exc = ue.MaxRetryError(None, "/x", ue.NameResolutionError("example.invalid", None, OSError("no")))
    assert "does not resolve" in _http._reason(exc)


# ------------------------------------------------------------------------ the same place, the same answer
def test_point_site_address_file_and_map_agree(tmp_path, checker, server, settings, per):
    from qpvgeo import config

    geom = per.set_index("code_qp").loc["QN06237M", "geometry"]
    top = shapely.get_coordinates(geom)[np.argmax(shapely.get_coordinates(geom)[:, 1])]
    places = [IN_QN06237M, (2.2601, 50.7565), (2.2350, 50.7480), (2.2705, 50.7283), (2.3990, 50.6390),
              (2.1000, 50.7000), (3.06, 50.63), (55.45, -20.9), (tuple(top))]
    lon, lat = np.array([p[0] for p in places]), np.array([p[1] for p in places])
    points = [checker.check_point(x, y)["status"] for x, y in places]
    assert {"in_qpv", "in_band", "outside", "not_covered"} <= set(points)
    # sites: a 2 m square around each point
    sites = []
    for x, y in places:
        d = 1e-5
        sites.append(checker.check_site(shapely.box(x - d, y - d, x + d, y + d), crs="EPSG:4326")["status"])
    assert sites == points
    # a file
    src = tmp_path / "p.csv"
    pd.DataFrame({"lon": lon, "lat": lat}).to_csv(src, index=False)
    check_file(src, tmp_path / "o.csv", checker, lon_col="lon", lat_col="lat", progress=False)
    assert pd.read_csv(tmp_path / "o.csv")["qpv_status"].tolist() == points
    frame, _, _ = check_rows(src, checker, lon_col="lon", lat_col="lat")
    assert frame["qpv_status"].tolist() == points
    # addresses, geocoded by the (local) BAN to the same points
    import fake_ban

    for i, (x, y) in enumerate(places):
        fake_ban.ADDRESSES[f"{i} rue du test"] = (x, y, "housenumber", 0.95, f"{i} Rue du Test", "62765")
    server.route("/search", search_reply)
    server.route("/search/csv", csv_answer)
    s = settings.replace(ban_url=server.url)
    config.set_settings(s)
    addressed = [checker.check_address(f"{i} rue du test", geocoder=BanClient(s))["status"] for i in range(len(places))]
    assert addressed == points
    src = tmp_path / "a.csv"
    pd.DataFrame({"adresse": [f"{i} rue du test" for i in range(len(places))]}).to_csv(src, index=False)
    check_file(src, tmp_path / "a-out.csv", checker, address_cols=["adresse"], geocoder=BanClient(s), progress=False)
    assert pd.read_csv(tmp_path / "a-out.csv")["qpv_status"].tolist() == points


def test_ambiguous_pairs_and_empty_maps_are_refused():
    one_line_error(run("check", "1,2,3"), "1,2,3")
    assert json.loads(run("check", "2,26006 50,75359", "--json").stdout)["status"] == "in_qpv"
    one_line_error(run("map", "qpv", "--departement", "75"), "no quartier matches")


def test_wkt_typed_as_a_place():
    """A WKT point (as QGIS copies it) is its pair; a WKT polygon is a site, said at once, never
    sent to the address service; an address with brackets is not taken for WKT."""
    from qpvgeo._tables import is_wkt

    same = json.loads(run("check", "2.26006,50.75359", "--json").stdout)
    assert json.loads(run("check", "Point (2.26006 50.75359)", "--json").stdout) == same
    l93 = json.loads(run("check", "POINT Z (650100 7072300 12)", "--json").stdout)
    assert l93["read_as_code"] == "lambert93"
    wkt = "POLYGON((650100 7072300, 650200 7072300, 650200 7072400, 650100 7072300))"
    one_line_error(run("check", wkt), "--site")  # before any geocoding: no network touched here
    one_line_error(run("check", "POINT EMPTY"), "empty geometry")
    one_line_error(run("check", "--site", "Mairie (annexe)"), "does not exist")  # a file name, not WKT
    assert [is_wkt(t) for t in ("multipolygon(((0 0,1 0,1 1,0 0)))", "GEOMETRYCOLLECTION EMPTY",
                                "Mairie (annexe)", "Point de vente (ZA)", "POLYGONE (x)")] == [
        True, True, False, False, False]


# ------------------------------------------------------------------------ files of sites
SITE = "data/examples/site-capso.geojson"


def _site_layer():
    """Rows of every kind a planner's layer may hold, in Lambert-93: sites in a QPV, far from
    every quartier, out of the covered area and in two parts; a point, a QGIS MultiPoint of one
    point, a MultiPoint of two, a line, an empty point and no geometry."""
    site = gpd.read_file(SITE).geometry.iloc[0]
    far = shapely.Point(2.05, 50.60).buffer(0.001)
    rows = {"capso": site, "loin": far, "lille": shapely.from_wkt(LILLE_SITE),
            "deux": shapely.MultiPolygon([site, far]),
            "point": shapely.Point(IN_QN06237M), "mpoint": shapely.MultiPoint([IN_QN06237M]),
            "mpoints": shapely.MultiPoint([IN_QN06237M, (2.05, 50.6)]),
            "ligne": shapely.LineString([IN_QN06237M, (2.05, 50.6)]), "vide": shapely.Point(), "rien": None}
    return gpd.GeoDataFrame({"nom": list(rows)}, geometry=list(rows.values()), crs="EPSG:4326").to_crs("EPSG:2154")


def _number(text: str):
    return float(text) if text else None


def test_a_file_of_sites_is_checked_site_by_site_as_check_site(tmp_path, checker):
    """A layer of project sites (polygons) came back "no point geometry" on every row: each site
    is now checked by the decider of ``check --site``, and its points as points."""
    layer = _site_layer()
    layer.to_file(tmp_path / "sites.gpkg", engine="pyogrio")
    summary = check_file(tmp_path / "sites.gpkg", tmp_path / "o.csv", checker, progress=False)
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False, dtype=str).set_index("nom")
    wgs = layer.to_crs("EPSG:4326").set_index("nom").geometry
    for name in ("capso", "loin", "lille", "deux"):
        want = checker.check_site(wgs[name], crs="EPSG:4326")
        got = out.loc[name]
        assert got["qpv_status"] == want["status"], name
        assert got["qpv_eligible"] == {True: "true", False: "false", None: ""}[want["eligible"]]
        assert got["qpv_code"] == (want["code_qp"] or "")
        assert _number(got["qpv_distance_m"]) == want["distance_m"]
        assert [(c, float(d)) for c, d in (q.split(":") for q in got["qpv_quartiers"].split(";") if q)] == [
            (q["code_qp"], q["distance_m"]) for q in want["quartiers"]]
        assert _number(got["site_area_m2"]) == want["area_m2"]
        for prefix, key in (("site_qpv", "in_qpv"), ("site_zone", "in_eligible_zone")):
            part = want[key]
            assert _number(got[f"{prefix}_area_m2"]) == part["area_m2"]
            for what in ("any_part", "centroid", "whole"):
                assert got[f"{prefix}_{what}"] == {True: "true", False: "false", None: ""}[part[what]], (name, what)
    assert out.loc["capso", "qpv_status"] == "in_qpv" and out.loc["loin", "qpv_status"] == "outside"
    assert out.loc["lille", "qpv_status"] == "not_covered" and out.loc["lille", "qpv_eligible"] == ""
    # the points of the same file are points, a QGIS MultiPoint of one point too
    for name in ("point", "mpoint"):
        assert out.loc[name, "qpv_status"] == checker.check_point(*IN_QN06237M)["status"] == "in_qpv"
        assert out.loc[name, "site_area_m2"] == "" and out.loc[name, "site_qpv_any_part"] == ""
    # what gives no place says why, and nothing is lost
    assert (out.loc[["mpoints", "ligne", "vide", "rien"], "qpv_status"] == "no_coordinates").all()
    assert "one point per row" in out.loc["mpoints", "qpv_note"]
    assert "polygon for a site" in out.loc["ligne", "qpv_note"]
    assert out.loc["vide", "qpv_note"] == out.loc["rien", "qpv_note"] == "no point geometry"
    assert summary["rows"] == len(layer) == len(out)
    check_file(tmp_path / "sites.gpkg", tmp_path / "c.csv", checker, progress=False, chunk_rows=3)
    assert pd.read_csv(tmp_path / "c.csv", keep_default_na=False, dtype=str).set_index("nom").equals(out)
    # the same sites from GeoParquet and from the notebook call
    layer.to_parquet(tmp_path / "sites.parquet")
    check_file(tmp_path / "sites.parquet", tmp_path / "p.csv", checker, progress=False)
    assert pd.read_csv(tmp_path / "p.csv", keep_default_na=False, dtype=str).set_index("nom").equals(out)
    import qpvgeo

    nb = qpvgeo.check(layer, perimeters=checker)
    assert nb["qpv_status"].tolist() == out["qpv_status"].tolist()
    assert nb["site_area_m2"].fillna(-1).tolist() == [float(v) if v else -1 for v in out["site_area_m2"]]


def test_a_file_of_sites_keeps_its_polygons_and_speaks_french(tmp_path, checker):
    import openpyxl
    import pyogrio

    layer = _site_layer()
    layer.to_file(tmp_path / "sites.gpkg", engine="pyogrio")
    check_file(tmp_path / "sites.gpkg", tmp_path / "o.gpkg", checker, progress=False)
    info = pyogrio.read_info(tmp_path / "o.gpkg")
    assert info["geometry_type"] == "Unknown"  # polygons, multipolygons and points in one layer
    assert dict(zip(info["fields"], info["dtypes"]))["site_qpv_any_part"] == "bool"
    back = gpd.read_file(tmp_path / "o.gpkg").set_index("nom")
    wgs = layer.to_crs("EPSG:4326").set_index("nom").geometry
    for name in ("capso", "deux", "point"):
        assert back.geometry[name].geom_type == wgs[name].geom_type
        assert back.geometry[name].equals_exact(wgs[name], tolerance=1e-9), name
    assert back.loc["capso", "site_area_m2"] == checker.check_site(wgs["capso"], crs="EPSG:4326")["area_m2"]
    # French, for people: a spreadsheet with real booleans and numbers, French column names
    check_file(tmp_path / "sites.gpkg", tmp_path / "o.xlsx", checker, progress=False, lang="fr")
    ws = openpyxl.load_workbook(tmp_path / "o.xlsx")["resultats"]
    rows = list(ws.values)
    head = rows[0]
    capso = dict(zip(head, rows[1 + list(layer["nom"]).index("capso")]))
    assert capso["statut"] == "dans un QPV" and capso["site_en_qpv_une_partie"] is True
    assert capso["site_en_qpv_entier"] is False and isinstance(capso["surface_site_m2"], float)
    lille = dict(zip(head, rows[1 + list(layer["nom"]).index("lille")]))
    assert lille["site_en_qpv_une_partie"] is None and lille["eligible"] is None  # no data is not a no
    check_file(tmp_path / "sites.gpkg", tmp_path / "o.csv", checker, progress=False, lang="fr")
    fr = pd.read_csv(tmp_path / "o.csv", keep_default_na=False, dtype=str).set_index("nom")
    assert fr.loc["capso", "site_en_qpv_une_partie"] == "oui" and fr.loc["capso", "site_en_qpv_entier"] == "non"
    assert "," in fr.loc["capso", "surface_site_m2"]  # a decimal comma
    assert fr.loc["mpoints", "remarque"] == "un MultiPoint de plusieurs points : un point par ligne"


def test_notebook_check_takes_one_place_text_and_gaps():
    """``qpvgeo.check(lon=…, lat=…)`` crashed on a single pair, on text and on missing values."""
    import qpvgeo

    one = qpvgeo.check(lon=IN_QN06237M[0], lat=IN_QN06237M[1])
    assert one["qpv_status"].tolist() == ["in_qpv"]
    many = qpvgeo.check(lon=["2,26006", "abc", None, np.nan], lat=["50,75359", "50.7", "50.7", 50.7])
    assert many["qpv_status"].tolist() == ["in_qpv", "invalid_coordinates", "no_coordinates", "no_coordinates"]
    assert many["qpv_note"][1] == "not a number: lon 'abc'"
    assert many.geometry[0].equals(shapely.Point(IN_QN06237M)) and many.geometry[1:].isna().all()
    projected = qpvgeo.check(lon=[650100], lat=[7072300], crs="EPSG:2154")
    assert projected["qpv_status"].tolist() == qpvgeo.check(lon=[projected.geometry[0].x],
                                                             lat=[projected.geometry[0].y])["qpv_status"].tolist()
    empty = qpvgeo.check(gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.Point()], crs="EPSG:4326"))
    assert empty["qpv_status"].tolist() == ["no_coordinates"]


# ------------------------------------------------------------------------ places written in one cell
def test_a_wkt_column_answers_as_the_same_layer_does(tmp_path, checker):
    """A QGIS CSV export (a WKT column, here in Lambert-93 without its CRS) and an xlsx of the
    same places gave "cannot tell where the locations are": they now answer row for row as the
    GeoPackage of the same layer, sites included."""
    import openpyxl

    layer = _site_layer()
    layer.to_file(tmp_path / "sites.gpkg", engine="pyogrio")
    check_file(tmp_path / "sites.gpkg", tmp_path / "g.csv", checker, progress=False)
    want = pd.read_csv(tmp_path / "g.csv", keep_default_na=False, dtype=str).set_index("nom")
    wkt = [shapely.to_wkt(g, rounding_precision=-1) if g is not None else "" for g in layer.geometry]
    pd.DataFrame({"WKT": wkt, "nom": layer["nom"]}).to_csv(tmp_path / "qgis.csv", index=False)
    summary = check_file(tmp_path / "qgis.csv", tmp_path / "w.csv", checker, progress=False)
    assert summary["located_by"]["geometry_col"] == "WKT" and summary["located_by"]["crs"] == "EPSG:2154"
    got = pd.read_csv(tmp_path / "w.csv", keep_default_na=False, dtype=str).set_index("nom").drop(columns="WKT")
    assert got.equals(want)
    # the same in a spreadsheet
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["nom", "geometrie"])
    for name, text in zip(layer["nom"], wkt):
        ws.append([name, text or None])
    wb.save(tmp_path / "sites.xlsx")
    check_file(tmp_path / "sites.xlsx", tmp_path / "x.csv", checker, progress=False)
    assert pd.read_csv(tmp_path / "x.csv", keep_default_na=False, dtype=str).set_index("nom").drop(
        columns="geometrie").equals(want)


def test_opendatasoft_geo_point_and_geo_shape_columns(tmp_path, checker):
    """Opendatasoft's exports (many French portals) write "Geo Point" as "lat, lon" and "Geo
    Shape" as GeoJSON: points are read from the pair, latitude first; polygons as sites."""
    places = [IN_QN06237M, (2.2601, 50.7565), (2.05, 50.60), (3.06, 50.63)]
    points = [checker.check_point(x, y)["status"] for x, y in places]
    src = tmp_path / "ods.csv"
    pd.DataFrame({"nom": ["a", "b", "c", "d"], "Geo Point": [f"{y}, {x}" for x, y in places],
                  "Geo Shape": [json.dumps({"type": "Point", "coordinates": [x, y]}) for x, y in places]}
                 ).to_csv(src, sep=";", index=False)
    summary = check_file(src, tmp_path / "o.csv", checker, progress=False)
    assert summary["located_by"]["geometry_col"] == "Geo Point" and summary["located_by"]["geometry_lat_first"]
    out = pd.read_csv(tmp_path / "o.csv", sep=";", keep_default_na=False, dtype=str)
    assert out["qpv_status"].tolist() == points and "site_area_m2" not in out
    # a dataset of shapes: its polygons are the sites, not their centres
    site = gpd.read_file(SITE).geometry.iloc[0]
    shapes = pd.DataFrame({"nom": ["parc"], "Geo Point": [f"{site.centroid.y}, {site.centroid.x}"],
                           "Geo Shape": [shapely.to_geojson(site)]})
    shapes.to_csv(tmp_path / "shapes.csv", sep=";", index=False)
    check_file(tmp_path / "shapes.csv", tmp_path / "s.csv", checker, progress=False)
    row = pd.read_csv(tmp_path / "s.csv", sep=";", keep_default_na=False, dtype=str).iloc[0]
    whole = checker.check_site(site, crs="EPSG:4326")
    assert row["qpv_status"] == whole["status"] == "in_qpv" and float(row["site_area_m2"]) == whole["area_m2"]
    assert checker.check_point(site.centroid.x, site.centroid.y)["status"] != "in_qpv"  # the centre is not


def test_a_geometry_column_named_with_its_crs_and_cells_that_are_no_place(tmp_path, checker):
    src = tmp_path / "t.csv"
    pd.DataFrame({"id": [1, 2, 3, 4, 5], "lieu": ["SRID=2154;POINT (650100 7072300)", "", "n'importe quoi",
                                                   "POINT (2.26006 50.75359)", "POINT (bad"]}).to_csv(src, index=False)
    res = run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.csv", "--geometry-col", "lieu", "--crs",
              "EPSG:2154")
    assert res.exit_code == 0, res.output
    assert "lieux de la colonne « lieu »" in res.output and "(EPSG:2154)" in res.output
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False, dtype=str)
    assert out["statut"][0] == status_fr(checker.check_point(*_l93(650100, 7072300))["status"])
    assert out["remarque"][2] == ("pas un lieu : « n'importe quoi » (donnez du WKT, du GeoJSON ou une paire de "
                                  "nombres comme 2.26, 50.75)")
    english = check_file(src, tmp_path / "e.csv", checker, progress=False, geometry_col="lieu", crs="EPSG:2154",
                         lang="en")
    e = pd.read_csv(tmp_path / "e.csv", keep_default_na=False, dtype=str)
    assert e["qpv_status"].tolist()[:3] == [checker.check_point(*_l93(650100, 7072300))["status"], "no_coordinates",
                                            "invalid_coordinates"]
    assert e["qpv_status"][4] == "invalid_coordinates" and "'POINT (bad'" in e["qpv_note"][4]
    # degrees in a column said to be Lambert-93: not a place in the territory, never a "no"
    assert e["qpv_status"][3] not in status.DECIDED
    assert english["rows"] == 5
    one_line_error(run("check-file", src, "-o", tmp_path / "x.csv", "--geometry-col", "nope"), "nope")
    one_line_error(run("check-file", src, "-o", tmp_path / "x.csv", "--geometry-col", "lieu", "--lon-col", "id",
                       "--lat-col", "id"), "in one way", "--geometry-col")


def status_fr(code):
    from qpvgeo.present import status_fr as words

    return words(code)


def _l93(x, y):
    import pyproj

    return pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(x, y)
