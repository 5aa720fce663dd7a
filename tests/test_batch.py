import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fake_ban import csv_answer, search_reply

from qpvgeo.batch import check_file, check_table
from qpvgeo.cli import main
from qpvgeo.eligibility import Checker
from qpvgeo.errors import InputError
from qpvgeo.perimeters import load_perimeters

IN_QPV = ("2.26006", "50.75359")  # QN06237M, Saint-Omer


@pytest.fixture(scope="module")
def checker():
    return Checker(load_perimeters())


BAD_ROWS = [
    # id, lon, lat, expected status
    ("a", *IN_QPV, "in_qpv"),
    ("b", "", "", "no_coordinates"),
    ("c", "abc", "50.7", "invalid_coordinates"),
    ("d", "50.75359", "2.26006", "swapped_coordinates"),
    ("e", "4.3517", "50.8503", "not_covered"),  # Brussels
    ("f", *IN_QPV, "in_qpv"),  # duplicate of a
    ("g", "2,05", "50,60", "outside"),  # decimal commas, rural Pas-de-Calais
    ("h", "2.2601", "50.7565", "in_band"),
    ("i", "200", "95", "invalid_coordinates"),
    ("j", "100.0", "10.0", "outside_territory"),
    ("k", "2.26006", "", "no_coordinates"),
]


def _write_csv(path, rows, sep=";", encoding="utf-8", bom=False):
    lines = [sep.join(["id", "nom", "lon", "lat"])]
    for r in rows:
        lines.append(sep.join([r[0], f"Équipement {r[0]}", r[1], r[2]]))
    text = "\n".join(lines) + "\n"
    data = text.encode(encoding)
    if bom:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)


@pytest.mark.parametrize("sep,encoding,bom", [(";", "utf-8", False), (",", "utf-8", True),
                                              ("\t", "latin-1", False)])
def test_batch_with_bad_rows_keeps_every_row_in_order(tmp_path, checker, sep, encoding, bom):
    src = tmp_path / "in.csv"
    rows = [r for r in BAD_ROWS if not (sep == "," and "," in r[1])]
    _write_csv(src, rows, sep=sep, encoding=encoding, bom=bom)
    out = tmp_path / "out.csv"
    summary = check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False)
    res = pd.read_csv(out, sep=sep, dtype=str, keep_default_na=False)
    assert list(res["id"]) == [r[0] for r in rows]
    assert list(res["qpv_status"]) == [r[3] for r in rows]
    assert res["nom"].iloc[0] == "Équipement a"  # latin-1 read correctly, written UTF-8
    assert summary["rows"] == len(rows)
    assert sum(summary["statuses"].values()) == len(rows)
    a = res.set_index("id")
    assert a.loc["a", "qpv_code"] == "QN06237M" and a.loc["a", "qpv_eligible"] == "true"
    assert a.loc["b", "qpv_eligible"] == "" and a.loc["b", "qpv_code"] == ""
    assert "swapped" in a.loc["d", "qpv_note"]
    assert summary["quartiers"]["QN06237M"] >= 3


def test_results_do_not_depend_on_chunk_size(tmp_path, checker):
    rng = np.random.default_rng(7)
    n = 600
    df = pd.DataFrame({"id": np.arange(n), "lon": rng.uniform(2.20, 2.32, n).round(6),
                       "lat": rng.uniform(50.72, 50.78, n).round(6)})
    df["lon"] = df["lon"].astype(str)
    df.loc[::97, "lon"] = ""
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    outs = []
    for chunk in (1, 7, 500, 100_000):
        out = tmp_path / f"out{chunk}.csv"
        check_file(src, out, checker, lon_col="lon", lat_col="lat", chunk_rows=chunk, progress=False)
        outs.append(out.read_bytes())
    assert all(o == outs[0] for o in outs[1:])
    res = pd.read_csv(tmp_path / "out1.csv", dtype=str, keep_default_na=False)
    assert len(res) == n
    assert set(res["qpv_status"]) >= {"in_qpv", "in_band", "outside", "no_coordinates"}


def test_geojson_and_gpkg_in_and_out(tmp_path, checker):
    pts = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=gpd.points_from_xy([2.26006, 2.05], [50.75359, 50.60]),
                           crs="EPSG:4326").to_crs(2154)
    src = tmp_path / "pts.gpkg"
    pts.to_file(src, engine="pyogrio")
    for ext in (".geojson", ".gpkg"):
        out = tmp_path / f"out{ext}"
        check_file(src, out, checker, progress=False, chunk_rows=1)
        res = gpd.read_file(out)
        assert list(res["id"]) == ["a", "b"]
        assert list(res["qpv_status"]) == ["in_qpv", "outside"]
        assert res.crs.to_epsg() == 4326
        assert res.geometry.iloc[0].x == pytest.approx(2.26006, abs=1e-7)


def test_projected_xy_columns(tmp_path, checker):
    import pyproj

    x, y = pyproj.Transformer.from_crs(4326, 2154, always_xy=True).transform(2.26006, 50.75359)
    df = pd.DataFrame({"x": [x], "y": [y]})
    res = check_table(df, checker, lon_col="x", lat_col="y", crs="EPSG:2154")
    assert res["qpv_status"].tolist() == ["in_qpv"]


def test_outputs_are_not_overwritten_without_asking(tmp_path, checker):
    src = tmp_path / "in.csv"
    _write_csv(src, BAD_ROWS[:1])
    out = tmp_path / "out.csv"
    out.write_text("precious")
    with pytest.raises(InputError, match="already exists"):
        check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False)
    assert out.read_text() == "precious"
    check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False, overwrite=True)
    assert "qpv_status" in out.read_text()
    with pytest.raises(InputError, match="'longitude'"):
        check_table(pd.DataFrame({"a": [1]}), checker, lon_col="longitude", lat_col="a")


def test_batch_with_addresses_geocoded(tmp_path, checker, server, settings, monkeypatch):
    server.route("/search/csv", csv_answer)
    server.route("/search", search_reply)
    monkeypatch.setenv("QPVGEO_BAN_URL", server.url)
    src = tmp_path / "addr.csv"
    src.write_text("id;numero;voie;ville\n1;1;rue du Quai du Commerce;Saint-Omer\n2;;rue de Dunkerque;Saint-Omer\n"
                   "3;;;\n4;9;rue inconnue;Nulle-part\n5;10;place Foch;Arras\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(main, ["check-file", str(src), "-o", str(out), "--address-cols",
                                    "numero,voie,ville", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    df = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    assert list(df["qpv_status"]) == ["in_qpv", "geocode_imprecise", "no_address", "geocode_not_found", "outside"]
    assert df["geo_type"].tolist()[:2] == ["housenumber", "street"]
    assert df["geo_label"].iloc[0] == "1 Rue du Quai du Commerce 62500 Saint-Omer"
    assert "approximate point would be" in df["qpv_note"].iloc[1]
    assert summary["rows"] == 5 and summary["statuses"]["in_qpv"] == 1
    # in French: the notes too (the answers come from the geocoding cache now)
    fr = tmp_path / "fr.csv"
    res = CliRunner().invoke(main, ["--lang", "fr", "check-file", str(src), "-o", str(fr), "--address-cols",
                                    "numero,voie,ville"])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(fr, sep=";", dtype=str, keep_default_na=False)
    # the status in words, the distance with a decimal comma
    assert got["remarque"].iloc[1] == ("correspondance de type « street », score 0,81 : trop imprécise pour décider ; "
                                       "le point approché serait dans la bande des 300 m QN06237M à 96,48 m")
    # offline, an address not in the cache: the row says so, in French, and how to finish
    src.write_text("id;adresse\n1;5 rue jamais vue, Arras\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["--offline", "--lang", "fr", "check-file", str(src), "-o", str(fr),
                                    "--address-cols", "adresse", "--overwrite"])
    assert res.exit_code == 0, res.output
    got = pd.read_csv(fr, sep=";", dtype=str, keep_default_na=False)
    assert got["statut"].tolist() == ["non décidé : géocodage en échec"]
    assert got["remarque"].iloc[0] == ("géocodage en échec (mode hors ligne, et cette adresse n'est pas dans le cache "
                                       "de géocodage) ; relancez pour terminer (les réponses déjà reçues sont gardées "
                                       "en cache)")
    # the single-address command goes through the same geocoder
    res = CliRunner().invoke(main, ["check", "1 rue du Quai du Commerce, Saint-Omer", "--json"])
    ans = json.loads(res.stdout)
    assert ans["status"] == "in_qpv" and ans["geocode"]["type"] == "housenumber"
    res = CliRunner().invoke(main, ["check", "Saint-Omer", "--json"])
    ans = json.loads(res.stdout)
    assert ans["status"] == "geocode_imprecise" and ans["eligible"] is None


def test_cli_check_point_json_offline():
    res = CliRunner().invoke(main, ["--offline", "check", "2.26006,50.75359", "--json"])
    assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert ans["status"] == "in_qpv" and ans["code_qp"] == "QN06237M"
    assert ans["distance_m"] == 0
    assert {"status", "code_qp", "nom_qp", "distance_m", "quartiers", "rule"} <= set(ans)
    assert ans["rule"]["band_m"] == 300 and ans["rule"]["vintage"] == 2024
    res = CliRunner().invoke(main, ["check", "2.26006,50.75359"])
    assert "QN06237M" in res.output and "IN A QPV" in res.output
    res = CliRunner().invoke(main, ["check", "700000,7000000"])  # only Lambert-93 gives such values: said
    assert res.exit_code == 0 and "Lambert-93 (EPSG:2154), recognised from the values" in res.output
    res = CliRunner().invoke(main, ["check", "2000000,9000000"])
    assert res.exit_code == 1 and "--crs" in res.output


def test_cli_check_site(tmp_path):
    site = tmp_path / "site.geojson"
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([2.26006], [50.75359]), crs=4326).to_crs(2154).buffer(20) \
        .to_crs(4326).to_frame("geometry").to_file(site, engine="pyogrio")
    res = CliRunner().invoke(main, ["check", "--site", str(site), "--json"])
    assert res.exit_code == 0, res.output
    ans = json.loads(res.stdout)
    assert ans["in_qpv"]["centroid"] is True and ans["in_eligible_zone"]["any_part"] is True
    res = CliRunner().invoke(main, ["check", "--site", "POLYGON ((2.2 50.7, 2.21 50.7, 2.21 50.71, 2.2 50.7))"])
    assert res.exit_code == 0 and "nearest quartier" in res.output


def test_vector_input_streams_and_handles_non_points(tmp_path, checker):
    import shapely

    gdf = gpd.GeoDataFrame({"id": ["p", "poly", "none", "q"], "n": [1.5, None, 3.0, 4.0]},
                           geometry=[shapely.Point(2.26006, 50.75359), shapely.box(2.2, 50.7, 2.21, 50.71), None,
                                     shapely.Point(2.05, 50.60)], crs=4326)
    src = tmp_path / "mixed.geojson"
    gdf.to_file(src, engine="pyogrio")
    out = tmp_path / "out.csv"
    check_file(src, out, checker, progress=False, chunk_rows=3)
    res = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(res["id"]) == ["p", "poly", "none", "q"]
    # the polygon is a project site, checked as ``check --site`` checks it; every chunk has the
    # site columns, empty for the points (the second chunk holds no polygon)
    box = checker.check_site(shapely.box(2.2, 50.7, 2.21, 50.71), crs="EPSG:4326")
    assert list(res["qpv_status"]) == ["in_qpv", box["status"], "no_coordinates", "outside"]
    assert [float(v) if v else None for v in res["site_area_m2"]] == [None, box["area_m2"], None, None]
    assert res["n"].tolist()[:2] == ["1.5", ""]
