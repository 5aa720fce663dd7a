"""Quartiers fragiles: the rule on hand-built grids, and the embedded data against a computation
made directly from the raw CSV with pandas."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from click.testing import CliRunner

from qpvgeo import _data
from qpvgeo.carreaux import load_carreaux
from qpvgeo.cli import main
from qpvgeo.errors import DataError, InputError, NotFoundError
from qpvgeo.fragility import FragilityRule, flag, fragility, group, reference_rate
from qpvgeo.inhabitants import population
from qpvgeo.outputs import write_fragility
from qpvgeo.perimeters import load_perimeters, normalize

CAPSO = "200069037"
X0, Y0 = 3_776_800, 3_098_200  # a carreau in Saint-Omer (EPSG:3035)


def grid(cells):
    """Carreaux from (i, j, men, men_pauv, ind[, imputed]) tuples on the INSEE grid."""
    rows = []
    for c in cells:
        i, j, men, pauv, ind = c[:5]
        rows.append({"idcar_200m": f"CRS3035RES200mN{Y0 + 200 * j}E{X0 + 200 * i}",
                     "men": men, "men_pauv": pauv, "ind": ind, "i_est_200": c[5] if len(c) > 5 else 0})
    path_df = pd.DataFrame(rows)
    from qpvgeo.carreaux import _with_geometry

    return _with_geometry(path_df.astype(str))


def test_or_between_households_and_individuals():
    g = grid([(0, 0, 50, 20, 60),    # 50 households: flagged
              (2, 0, 49, 20, 100),   # 100 individuals: flagged
              (4, 0, 49, 20, 99),    # neither: not flagged
              (6, 0, 200, 10, 400)])  # big but not poor
    out = flag(g, 0.10, FragilityRule())
    assert out["flagged"].tolist() == [True, True, False, False]


def test_rate_of_exactly_twice_the_reference():
    g = grid([(0, 0, 100, 20, 200)])  # rate 0.20 = 2 × 0.10
    assert flag(g, 0.10, FragilityRule())["flagged"].tolist() == [True]
    assert flag(g, 0.10, FragilityRule(comparison=">"))["flagged"].tolist() == [False]
    # rates that are not exact in binary: 0.3 × 2 vs 0.6
    g2 = grid([(0, 0, 10, 6, 200)])
    assert flag(g2, 0.3, FragilityRule())["flagged"].tolist() == [True]


def test_imputed_carreaux_are_counted(monkeypatch):
    g = grid([(0, 0, 60, 30, 120, 1), (1, 0, 60, 30, 120, 0), (5, 5, 60, 1, 120, 1)])
    out = flag(g, 0.2, FragilityRule())
    assert int((out["flagged"] & (out["i_est_200"] == 1)).sum()) == 1


def test_edge_versus_corner_contact():
    g = grid([(0, 0, 60, 30, 120), (1, 1, 60, 30, 120), (2, 1, 60, 30, 120), (5, 5, 60, 30, 120)])
    edge = group(g, contact="edge")
    corner = group(g, contact="corner")
    assert len(set(edge)) == 3  # (0,0) alone, (1,1)+(2,1), (5,5)
    assert edge[1] == edge[2] and edge[0] != edge[1]
    assert len(set(corner)) == 2 and corner[0] == corner[1] == corner[2]


def test_zone_touching_a_qpv():
    g = grid([(0, 0, 60, 30, 120), (1, 0, 60, 30, 120), (3, 0, 60, 30, 120)])
    # a quartier covering the first carreau exactly, and nothing else
    sq = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
    q = normalize(gpd.GeoDataFrame({"code_qp": ["QN06299M"], "lib_qp": ["Test"], "insee_com": ["62765"]},
                                   geometry=[sq], crs=3035), label="test", vintage=2024)
    g["insee"] = "62765"
    g["epci"] = CAPSO
    flagged = flag(g, 0.2, FragilityRule())
    from qpvgeo.fragility import zones

    zt, zone_of = zones(flagged, perimeters=q)
    zt = zt.set_index("zone_id")
    assert len(zt) == 2
    z1 = zt.loc[zone_of[0]]
    assert z1["households_in_qpv_share"] == pytest.approx(0.5)
    assert z1["nearest_qpv"] == "QN06299M" and z1["distance_qpv_m"] == 0
    assert bool(z1["inside_qpv"]) is False
    z2 = zt.loc[zone_of[2]]
    assert z2["households_in_qpv_share"] == 0
    # 400 m in EPSG:3035 between the squares; on the ground within 0.5 %
    assert z2["distance_qpv_m"] == pytest.approx(400, rel=0.005)
    # a zone entirely inside a quartier is kept and marked
    big = q.copy()
    big["geometry"] = [shapely.box(X0 - 10, Y0 - 10, X0 + 1000, Y0 + 300)]
    zt2, _ = zones(flagged, perimeters=big)
    assert zt2["inside_qpv"].all() and len(zt2) == 2


def test_bad_inputs_get_statuses_or_clear_errors(tmp_path):
    g = grid([(0, 0, 0, 0, 0), (1, 0, 60, -1, 120), (2, 0, 60, 30, 120)])
    g.loc[2, "id_status"] = "ok"
    out = flag(g, 0.2, FragilityRule())
    assert out["status"].tolist() == ["no_households", "invalid_counts", "ok"]
    assert out["flagged"].tolist() == [False, False, True]
    bad = tmp_path / "bad.csv"
    bad.write_text("idcar_200m,men,men_pauv,ind\nNOT_AN_ID,60,30,120\nCRS3035RES200mN3098200E3776800,60,30,120\n")
    c = load_carreaux(bad)
    assert c["id_status"].tolist() == ["invalid_id", "ok"] and len(c) == 2
    assert flag(c, 0.2, FragilityRule())["status"].tolist() == ["invalid_id", "ok"]
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("idcar_200m;men\nCRS3035RES200mN3098200E3776800;60\n")
    with pytest.raises(DataError, match="men_pauv"):
        load_carreaux(nocol)
    with pytest.raises(NotFoundError, match="200033579"):
        fragility(load_carreaux(), epci="200033579")  # CU d'Arras: not on the embedded grid
    with pytest.raises(NotFoundError, match="123456789"):
        fragility(load_carreaux(), epci="123456789")
    with pytest.raises(InputError, match="factor"):
        FragilityRule(factor=0)
    with pytest.raises(DataError, match="no household"):
        reference_rate(grid([(0, 0, 0, 0, 0)]))


def test_csv_variants_2017_style_latin1_semicolon(tmp_path):
    p = tmp_path / "filo2017.csv"
    text = "Idcar_200m;I_est_200;Ind;Men;Men_pauv;Lcog_geo\nCRS3035RES200mN3098200E3776800;0;120,0;60,0;30,0;62765\n"
    p.write_bytes(text.encode("latin-1"))
    c = load_carreaux(p)
    assert c["men"].tolist() == [60.0] and c["lcog_geo"].tolist() == ["62765"]
    assert c.crs.to_epsg() == 3035
    assert c.geometry.iloc[0].bounds == (3776800, 3098200, 3777000, 3098400)


def test_gpkg_parquet_and_zip_read_the_same(tmp_path):
    base = load_carreaux()
    sub = base.iloc[:50]
    cols = ["idcar_200m", "i_est_200", "ind", "men", "men_pauv"]
    sub[cols + ["geometry"]].to_file(tmp_path / "c.gpkg", layer="carreaux_200m_met", engine="pyogrio")
    pd.DataFrame(sub[cols]).to_parquet(tmp_path / "c.parquet")
    import zipfile

    import py7zr

    pd.DataFrame(sub[cols]).to_csv(tmp_path / "carreaux_200m_met.csv", index=False, sep=";")
    with py7zr.SevenZipFile(tmp_path / "inner.7z", "w") as z7:
        z7.write(tmp_path / "carreaux_200m_met.csv", "carreaux_200m_met.csv")
    with zipfile.ZipFile(tmp_path / "Filosofi_csv.zip", "w") as zf:
        zf.write(tmp_path / "inner.7z", "Filosofi2019_carreaux_200m_csv.7z")
    for src in ("c.gpkg", "c.parquet", "Filosofi_csv.zip"):
        c = load_carreaux(tmp_path / src)
        assert c["idcar_200m"].tolist() == sub["idcar_200m"].tolist(), src
        assert np.allclose(c["men_pauv"], sub["men_pauv"]), src
    # bbox filter at read time
    x, y = sub["x_ll"].iloc[0], sub["y_ll"].iloc[0]
    c = load_carreaux(tmp_path / "c.gpkg", bbox=(x + 1, y + 1, x + 199, y + 199))
    assert c["idcar_200m"].tolist() == [sub["idcar_200m"].iloc[0]]
    c = load_carreaux(tmp_path / "c.parquet", bbox=(x + 1, y + 1, x + 199, y + 199))
    assert len(c) == 1


def _independent_capso_flags():
    """Straight from the raw CSV with pandas: centres in CAPSO communes, Σ/Σ, the rule, BFS zones."""
    raw = pd.read_csv(_data.embedded(_data.FILOSOFI_2021_CAPSO))
    xy = raw["idcar_200m"].str.extract(r"N(\d+)E(\d+)").astype(int)
    raw["y"], raw["x"] = xy[0], xy[1]
    pts = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["x"] + 100, raw["y"] + 100), crs=3035)
    communes = gpd.read_file(_data.embedded(_data.COMMUNES_62)).to_crs(3035)
    epcicom = pd.read_csv(_data.embedded(_data.EPCICOM_62), dtype=str)
    remap = {"62210": "62154", "62461": "62447", "62549": "62447", "62743": "62447"}
    communes["code26"] = communes["code"].replace(remap)
    capso = set(epcicom.loc[epcicom["siren"] == CAPSO, "insee"])
    j = gpd.sjoin(pts, communes[["code26", "geometry"]], predicate="within", how="inner")
    mine = j[j["code26"].isin(capso)]
    ref = mine["men_pauv"].sum() / mine["men"].sum()
    f = mine[(mine["men_pauv"] / mine["men"] >= 2 * ref) & ((mine["men"] >= 50) | (mine["ind"] >= 100))]
    cells = {(x // 200, y // 200): i for i, x, y in zip(f["idcar_200m"], f["x"], f["y"])}
    seen, groups = set(), []
    for start in cells:
        if start in seen:
            continue
        stack, comp = [start], set()
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            comp.add(cells[c])
            for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                n = (c[0] + d[0], c[1] + d[1])
                if n in cells and n not in seen:
                    stack.append(n)
        groups.append(frozenset(comp))
    return ref, set(f["idcar_200m"]), set(groups), f


@pytest.fixture(scope="module")
def capso():
    return fragility(load_carreaux(), epci=CAPSO, perimeters=load_perimeters())


def test_embedded_capso_equals_an_independent_pandas_computation(capso):
    ref, flagged_ids, groups, f = _independent_capso_flags()
    e = capso.summary["epci"][0]
    assert e["reference_rate"] == pytest.approx(ref, rel=1e-12)
    assert e["reference_rate"] == pytest.approx(0.1724, abs=5e-5)  # SOURCE.md: 17.24 %
    assert capso.summary["carreaux"] == e["carreaux"] == 3565  # SOURCE.md: 3,565 centres in CAPSO
    assert capso.summary["partial"] is False
    got = capso.carreaux
    assert set(got.loc[got["flagged"], "idcar_200m"]) == flagged_ids
    mine = {frozenset(got.loc[got["zone_id"] == z, "idcar_200m"]) for z in capso.zones["zone_id"]}
    assert mine == groups
    assert capso.summary["flagged_carreaux"] == len(flagged_ids)
    z = capso.zones.set_index("zone_id")
    for zid in z.index:
        ids = set(got.loc[got["zone_id"] == zid, "idcar_200m"])
        sub = f[f["idcar_200m"].isin(ids)]
        assert z.loc[zid, "households"] == pytest.approx(sub["men"].sum(), abs=0.06)
        assert z.loc[zid, "rate"] == pytest.approx(sub["men_pauv"].sum() / sub["men"].sum())


def test_zones_lie_where_the_raw_data_say(capso):
    z = capso.zones
    # the largest zones are in Saint-Omer / Longuenesse next to the QPV; Arques has candidates too
    communes = set().union(*z["communes"])
    assert {"62765", "62525", "62040"} <= communes
    top = z.iloc[0]
    assert "62765" in top["communes"] and top["nearest_qpv"] == "QN06237M"
    wgs = z.geometry.centroid.to_crs(4326)
    assert ((wgs.x > 2.0) & (wgs.x < 2.5) & (wgs.y > 50.5) & (wgs.y < 50.85)).all()


def test_reference_rate_can_be_given(capso):
    res = fragility(load_carreaux(), epci=CAPSO, reference_rate=0.15)
    assert res.summary["epci"][0]["reference_rate"] == 0.15
    assert res.summary["epci"][0]["reference_method"] == "given"
    assert res.summary["epci"][0]["computed_reference_rate"] == pytest.approx(0.1724, abs=5e-5)
    assert res.summary["flagged_carreaux"] > capso.summary["flagged_carreaux"]


def test_partial_coverage_is_refused_or_marked_everywhere(tmp_path):
    g = load_carreaux()
    cut = g[g["y_ll"] > 3_095_000]  # only the north of the grid
    with pytest.raises(DataError, match="only part of EPCI 200069037.*allow_partial"):
        fragility(cut, epci=CAPSO)
    with pytest.warns(UserWarning, match="partial coverage"):
        res = fragility(cut, epci=CAPSO, allow_partial=True, perimeters=load_perimeters())
    e = res.summary["epci"][0]
    assert res.summary["partial"] is True and e["partial"] is True and e["communes_without_carreau"]
    assert res.zones["partial"].all() and res.carreaux["partial"].all()
    assert all(z["partial"] for z in res.summary["zones"])
    files = write_fragility(res, tmp_path)
    assert json.loads(Path(files["json"]).read_text())["partial"] is True
    assert pd.read_csv(files["csv"])["partial"].all()
    assert gpd.read_file(files["gpkg"], layer="carreaux")["partial"].all()
    with rasterio.open(files["tif"]) as src:
        assert src.tags()["partial"] == "true"


def test_outputs_and_geotiff_read_back(capso, tmp_path):
    files = write_fragility(capso, tmp_path)
    layers = [r[0] for r in __import__("pyogrio").list_layers(files["gpkg"])]
    assert set(layers) == {"carreaux", "zones"}
    zones = gpd.read_file(files["gpkg"], layer="zones")
    assert len(zones) == len(capso.zones)
    csv = pd.read_csv(files["csv"])
    assert csv["zone_id"].tolist() == capso.zones["zone_id"].tolist()
    row = capso.carreaux[capso.carreaux["flagged"]].iloc[0]
    with rasterio.open(files["tif"]) as src:
        assert src.crs.to_epsg() == 3035
        assert src.descriptions == ("rate", "ratio", "flagged")
        assert src.nodata == -9999
        t = src.transform
        assert t.a == 200 and t.e == -200
        assert t.c % 200 == 0 and t.f % 200 == 0  # aligned on the INSEE grid
        r, c = src.index(row["x_ll"] + 100, row["y_ll"] + 100)
        vals = src.read()[:, r, c]
        assert vals[0] == pytest.approx(row["rate"], rel=1e-6)
        assert vals[1] == pytest.approx(row["ratio"], rel=1e-6)
        assert vals[2] == 1
        assert float(src.tags()["reference_rate"]) == pytest.approx(capso.summary["epci"][0]["reference_rate"])
    with pytest.raises(InputError, match="already exists"):
        write_fragility(capso, tmp_path)


def test_population_of_qpv_area_weighted():
    per = load_perimeters()
    per = per[per["code_qp"] == "QN06237M"]
    p = population(per, load_carreaux()).iloc[0]
    # SOURCE.md (derived, item 3): about 1,668 individuals, 909 households, 347 poor households
    assert p["estimate"] == pytest.approx(1668, abs=1)
    assert p["households_estimate"] == pytest.approx(909, abs=1)
    assert p["poor_households"] == pytest.approx(347, abs=1)


def test_cli_fragility_json_and_population(tmp_path):
    res = CliRunner().invoke(main, ["fragility", "--epci", CAPSO, "-o", str(tmp_path / "out"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["epci"][0]["reference_rate"] == pytest.approx(0.1724, abs=5e-5)
    assert s["flagged_carreaux"] > 0 and len(s["zones"]) > 0
    assert {"zone_id", "carreaux", "households", "individuals", "poor_households", "rate", "ratio",
            "communes", "households_in_qpv_share", "nearest_qpv", "distance_qpv_m"} <= set(s["zones"][0])
    assert (tmp_path / "out" / "fragilite.tif").exists()
    res = CliRunner().invoke(main, ["fragility", "--epci", CAPSO, "--contact", "corner"])
    assert res.exit_code == 0 and "reference rate: 17.24%" in res.output
    res = CliRunner().invoke(main, ["population", "--code", "QN06236M", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["code_qp"] == "QN06236M"
    res = CliRunner().invoke(main, ["fragility", "--epci", "200033579"])
    assert res.exit_code == 1 and "no carreau" in res.output


def test_all_epci_in_one_pass_matches_the_single_epci_run(capso):
    with pytest.warns(UserWarning, match="partial coverage"):
        res = fragility(load_carreaux(), perimeters=load_perimeters())  # every EPCI of the grid
    table = {r["epci"]: r for r in res.summary["epci"]}
    assert CAPSO in table and len(table) >= 3  # CAPSO and its neighbours on the embedded grid
    assert table[CAPSO]["reference_rate"] == pytest.approx(capso.summary["epci"][0]["reference_rate"])
    assert set(res.summary) == set(capso.summary)  # one result shape for one EPCI and for all
    mine = res.carreaux[res.carreaux["epci"] == CAPSO]
    assert set(mine.loc[mine["flagged"], "idcar_200m"]) == set(
        capso.carreaux.loc[capso.carreaux["flagged"], "idcar_200m"])
    assert int(table[CAPSO]["zones"]) == len(capso.zones)
    assert not table[CAPSO]["partial"]
    assert table["200072460"]["partial"]  # CABBALR: only its western edge is on the grid
    # zones never cross an EPCI limit
    for zid, epcis in res.carreaux[res.carreaux["zone_id"] != ""].groupby("zone_id")["epci"]:
        assert epcis.nunique() == 1, zid


def test_zones_do_not_cross_epci():
    g = grid([(0, 0, 60, 30, 120), (1, 0, 60, 30, 120)])
    assert len(set(group(g, partition=["A", "A"]))) == 1
    assert len(set(group(g, partition=["A", "B"]))) == 2


def test_commune_from_lcog_geo_single_centre_or_first_code():
    from qpvgeo.fragility import assign_communes

    g = grid([(0, 0, 60, 30, 120), (1, 0, 60, 30, 120), (0, 200, 60, 30, 120)])
    g["lcog_geo"] = ["62040", "6276562040", "6276562040"]  # single; across two communes; idem, far away
    out = assign_communes(g)
    assert out["insee"].iloc[0] == "62040"
    from qpvgeo.territory import load_communes

    communes = load_communes().to_crs(3035)
    centre = shapely.Point(X0 + 300, Y0 + 100)
    holder = communes.loc[communes.contains(centre), "insee"].iloc[0]
    assert holder in ("62765", "62040")
    assert out["insee"].iloc[1] == holder  # the commune that holds its centre
    assert out["epci"].iloc[0] == CAPSO
    # a centre in no known commune (40 km north, in the sea): the first code listed
    assert out["insee"].iloc[2] == "62765"


def test_cli_all_epci(tmp_path):
    with pytest.warns(UserWarning, match="partial coverage"):
        res = CliRunner().invoke(main, ["fragility", "--all-epci", "-o", str(tmp_path / "all"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert len(s["epci"]) >= 3 and s["flagged_carreaux"] >= 37
    assert any(r["epci"] == CAPSO and r["zones"] == 22 for r in s["epci"])
    assert (tmp_path / "all" / "zones.csv").exists()
    res = CliRunner().invoke(main, ["fragility"])
    assert res.exit_code == 1 and "--all-epci" in res.output


# ------------------------------------------------------------------------- squares only where needed
def test_square_wkb_is_what_shapely_writes_for_the_same_squares():
    from qpvgeo.carreaux import square_wkb

    g = grid([(0, 0, 10, 1, 20), (3, -2, 10, 1, 20), (7, 5, 10, 1, 20)])
    g.loc[1, "id_status"] = "invalid_id"
    wkb = square_wkb(g).to_pylist()
    expected = shapely.to_wkb(shapely.box(g["x_ll"], g["y_ll"], g["x_ll"] + 200, g["y_ll"] + 200))
    assert wkb[0] == expected[0] and wkb[2] == expected[2]  # byte for byte
    assert wkb[1] is None  # no square for an id that does not parse


def test_a_result_builds_its_squares_only_when_asked(capso):
    table = load_carreaux(geometry=False)
    assert not isinstance(table, gpd.GeoDataFrame) and table.attrs["crs"] == "EPSG:3035"
    res = fragility(table, epci=CAPSO, perimeters=load_perimeters())
    assert not isinstance(res.table, gpd.GeoDataFrame)
    # the same answers as from carreaux read with their squares, and the same squares on demand
    assert res.summary == capso.summary
    pd.testing.assert_frame_equal(pd.DataFrame(res.table), pd.DataFrame(capso.table.drop(columns="geometry")))
    assert res.carreaux.crs == capso.carreaux.crs
    assert shapely.equals(res.carreaux.geometry.values, capso.carreaux.geometry.values).all()


def test_written_layers_read_back_in_geopandas_and_gdal(capso, tmp_path):
    import pyogrio

    files = write_fragility(capso, tmp_path)
    want = capso.carreaux.reset_index(drop=True)
    for path, kw in ((files["parquet_carreaux"], {}), (files["gpkg"], {"layer": "carreaux"})):
        got = gpd.read_parquet(path) if path.endswith(".parquet") else gpd.read_file(path, **kw)
        assert got.crs.to_epsg() == 3035 and len(got) == len(want)
        assert shapely.equals_exact(got.geometry.values, want.geometry.values, tolerance=0).all()
        assert got["status"].tolist() == want["status"].astype(str).tolist()
        assert got["zone_id"].tolist() == want["zone_id"].astype(str).tolist()
        assert got["epci"].dtype.kind in "OT" or str(got["epci"].dtype) == "str"  # text, not codes
        assert (got["ratio"].to_numpy() == want["ratio"].to_numpy()).sum() == want["ratio"].notna().sum()
    if "Parquet" in pyogrio.list_drivers():  # GDAL (QGIS) reads the GeoParquet file too
        gdal = pyogrio.read_dataframe(files["parquet_carreaux"])
        assert gdal.crs.to_epsg() == 3035 and len(gdal) == len(want)
        assert shapely.equals(gdal.geometry.values, want.geometry.values).all()


def test_squares_near_boxes_and_qpv_share_match_every_square_measured():
    from qpvgeo.fragility import near_boxes, qpv_share

    base = load_carreaux()
    union = shapely.union_all(load_perimeters().to_crs(base.crs).geometry.values)
    parts = shapely.get_parts(union)
    near = near_boxes(base, shapely.bounds(parts))
    boxes = shapely.box(*shapely.bounds(parts).T)
    brute = shapely.STRtree(boxes).query(base.geometry.values, predicate="intersects")[0]
    everyone = np.zeros(len(base), dtype=bool)
    everyone[brute] = True
    # every square that meets a box is found (and few others: those that touch one)
    assert (near >= everyone).all() and near.sum() < 1.5 * everyone.sum()
    whole = shapely.area(shapely.intersection(base.geometry.values, union)) / 200 ** 2
    np.testing.assert_allclose(qpv_share(base, union), whole, atol=1e-12)
    assert (whole > 0).sum() > 50


def test_duplicates_are_the_same_square_however_spelled():
    g = grid([(0, 0, 10, 1, 20), (1, 0, 10, 1, 20)])
    raw = pd.DataFrame({"idcar_200m": [g["idcar_200m"][0], " " + g["idcar_200m"][0],
                                       g["idcar_200m"][0].replace("N", "N0"), g["idcar_200m"][1]],
                        "men": "10", "men_pauv": "1", "ind": "20"})
    from qpvgeo.carreaux import _with_geometry

    out = _with_geometry(raw)
    assert out["id_status"].astype(str).tolist() == ["ok", "duplicate", "duplicate", "ok"]


def test_nearest_quartier_of_zones_and_the_qpv_area_equal_geos_whole_layer_answers():
    from qpvgeo.fragility import _area_inside, _nearest, _qpv_parts

    per = load_perimeters()
    q = np.asarray(per.to_crs(3035).geometry.values, dtype=object)
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = shapely.total_bounds(q)
    # zones of one to a few squares: inside, across outlines, near and 50 km away
    x = rng.uniform(x0 - 50_000, x1 + 50_000, 3000)
    y = rng.uniform(y0 - 50_000, y1 + 50_000, 3000)
    near = shapely.get_coordinates(shapely.boundary(q))[rng.integers(0, 10_000, 1000)]
    x, y = np.r_[x, near[:, 0] - 100], np.r_[y, near[:, 1] - 100]
    zones_ = shapely.union_all([shapely.box(x, y, x + 200, y + 200), shapely.box(x + 200, y, x + 400, y + 200)],
                               axis=0)
    ti, d = _nearest(zones_, q)
    (zi, qi), dd = shapely.STRtree(q).query_nearest(zones_, return_distance=True, all_matches=False)
    want = np.full(len(zones_), np.nan)
    want[zi] = dd
    np.testing.assert_allclose(d, want, rtol=0, atol=1e-9)
    assert (ti >= 0).all() and np.allclose(shapely.distance(zones_, q[ti]), d)
    assert (d == 0).sum() > 200 and (d > 10_000).sum() > 100
    # the QPV's area in parts that do not overlap, even from a layer whose quartiers overlap
    doubled = pd.concat([per, per.iloc[:5].assign(geometry=per.iloc[:5].translate(80, 0))], ignore_index=True)
    parts = _qpv_parts(doubled, 3035)
    whole = shapely.union_all(doubled.to_crs(3035).geometry.values)
    assert shapely.area(parts).sum() == pytest.approx(whole.area, rel=1e-9)
    np.testing.assert_allclose(_area_inside(zones_, parts), shapely.area(shapely.intersection(zones_, whole)),
                               rtol=1e-9, atol=1e-6)


def test_zones_where_no_perimeter_was_loaded_say_so_never_not_in_a_qpv():
    from qpvgeo.perimeters import select
    from qpvgeo.rapport import zones_for_people

    # one quartier selected by its code: the layer speaks for that quartier only (as for a point)
    one = select(load_perimeters(), code=["QN06237M"])
    res = fragility(load_carreaux(), epci=CAPSO, perimeters=one)
    z = res.zones
    assert set(z["qpv_coverage"]) <= {"covered", "partial", "not_covered"}
    out = z[z["qpv_coverage"] == "not_covered"]
    assert len(out) > 5
    assert (out["nearest_qpv"] == "").all() and out["distance_qpv_m"].isna().all()
    assert out["inside_qpv"].isna().all() and out["households_in_qpv_share"].isna().all()
    recs = {r["zone_id"]: r for r in res.summary["zones"]}
    assert all(recs[i]["inside_qpv"] is None and recs[i]["distance_qpv_m"] is None for i in out["zone_id"])
    sheet = zones_for_people(res).set_index("Zone")
    assert sheet.loc[out["zone_id"], "Dans un QPV"].str.startswith("pas de données").all()
    # the carreaux there have no share either, those in the quartier theirs
    far = res.carreaux["zone_id"].isin(out["zone_id"])
    assert res.carreaux.loc[far, "qpv_share"].isna().all()
    assert (res.carreaux["qpv_share"] > 0).any()
    # where it speaks (zones across the quartier), the same answers as with the whole layer
    whole = fragility(load_carreaux(), epci=CAPSO, perimeters=load_perimeters()).zones.set_index("zone_id")
    across = z[z["qpv_coverage"] == "partial"].set_index("zone_id")
    assert len(across) and (across["nearest_qpv"] == "QN06237M").all()
    assert (across["distance_qpv_m"] == whole.loc[across.index, "distance_qpv_m"]).all()
    # no perimeters at all: nothing is said about the QPV
    bare = fragility(load_carreaux(), epci=CAPSO).zones
    assert (bare["qpv_coverage"] == "not_covered").all() and bare["inside_qpv"].isna().all()
