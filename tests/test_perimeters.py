import json
import zipfile

import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner

from qpvgeo.cli import main
from qpvgeo.crs import metric_crs, territory_of_departement
from qpvgeo.errors import DataError, InputError, NotFoundError, QpvgeoError
from qpvgeo.perimeters import SCHEMA, load_perimeters, select

CAPSO = "200069037"


@pytest.fixture(scope="module")
def embedded():
    return load_perimeters()


def test_embedded_layer_has_the_64_qpv_of_pas_de_calais(embedded):
    assert len(embedded) == 64
    assert list(embedded["code_qp"]) == [f"QN062{i:02d}M" for i in range(1, 64)] + ["QN06264N"]
    assert list(embedded.columns) == SCHEMA + ["geometry"]
    assert embedded.crs.to_epsg() == 4326
    assert set(embedded["classe"]) == {"QPV"}
    assert set(embedded["vintage"]) == {2024}
    assert set(embedded["departement"]) == {"62"}
    assert embedded.geometry.is_valid.all()


def test_capso_has_exactly_its_three_quartiers(embedded):
    capso = select(embedded, epci=CAPSO)
    assert list(capso["code_qp"]) == ["QN06236M", "QN06237M", "QN06256M"]
    row = embedded.set_index("code_qp").loc["QN06236M"]
    assert row["communes"] == ["62040", "62525", "62765"]
    assert row["nom_qp"] == "Saint-Exupéry - Léon Blum"
    assert row["epci"] == [CAPSO]


def test_quartier_spanning_two_epci_lists_both(embedded):
    row = embedded.set_index("code_qp").loc["QN06216M"]
    assert sorted(row["epci"]) == ["200072460", "246200364"]
    # and it is found from either EPCI
    assert "QN06216M" in set(select(embedded, epci="200072460")["code_qp"])
    assert "QN06216M" in set(select(embedded, epci="246200364")["code_qp"])


def test_filters_and_unknown_identifiers(embedded):
    assert list(select(embedded, commune="62525")["code_qp"]) == ["QN06236M"]
    assert len(select(embedded, departement="62")) == 64
    with pytest.raises(NotFoundError, match="QN99999X"):
        select(embedded, code="QN99999X")
    with pytest.raises(NotFoundError, match="123456789"):
        select(embedded, epci="123456789")
    with pytest.raises(InputError, match="SIREN"):
        select(embedded, epci="CAPSO")


def _square(x, y, size=300):
    return shapely.box(x, y, x + size, y + size)


def test_2015_style_shapefile_zip_loads_into_the_same_schema(tmp_path):
    # 2015 ANCT shapefile: CODE_QP, NOM_QP, COMMUNE_QP (names), Lambert-93
    gdf = gpd.GeoDataFrame(
        {"CODE_QP": ["QP062012", "QP062013"], "NOM_QP": ["Quartier A", "Quartier B"],
         "COMMUNE_QP": ["Saint-Omer", "Arques"]},
        geometry=[_square(647100, 7072750), _square(645900, 7069750)], crs="EPSG:2154")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdf.to_file(shp_dir / "QP_METROPOLE_LB93.shp", engine="pyogrio")
    archive = tmp_path / "qp-politiquedelaville-shp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in shp_dir.iterdir():
            zf.write(f, f"qp-politiquedelaville-shp/{f.name}")
    out = load_perimeters(archive)
    assert list(out.columns) == SCHEMA + ["geometry"]
    assert list(out["code_qp"]) == ["QP062012", "QP062013"]
    assert list(out["nom_qp"]) == ["Quartier A", "Quartier B"]
    assert set(out["vintage"]) == {2015}
    assert set(out["departement"]) == {"62"}
    assert out.crs.to_epsg() == 2154
    # communes found from the embedded commune layer, EPCI from the membership table
    assert out["communes"].iloc[0] == ["62765"]
    assert out["epci"].iloc[0] == [CAPSO]


def test_anct_2024_style_zip_loads_into_the_same_schema(tmp_path, embedded):
    sub = embedded[embedded["code_qp"].isin(["QN06236M", "QN06237M"])]
    anct = gpd.GeoDataFrame(
        {"code_qp": sub["code_qp"].values, "lib_qp": sub["nom_qp"].values,
         "insee_reg": "32", "lib_reg": "Hauts-de-France", "insee_dep": "62",
         "lib_dep": "Pas-de-Calais", "insee_com": ["62040,62525,62765", "62765"],
         "lib_com": ["Arques, Longuenesse, Saint-Omer", "Saint-Omer"],
         "siren_epci": [CAPSO, CAPSO]},
        geometry=sub.geometry.values, crs="EPSG:4326").to_crs("EPSG:2154")
    src = tmp_path / "src"
    (src / "GPKG").mkdir(parents=True)
    (src / "GEOJSON").mkdir()
    anct.to_file(src / "GPKG" / "QP2024_France_hexagonale_LB93.gpkg", engine="pyogrio")
    anct.to_crs(4326).to_file(src / "GEOJSON" / "QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson",
                              engine="pyogrio")
    archive = tmp_path / "qpv-2024.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(src / "GPKG" / "QP2024_France_hexagonale_LB93.gpkg", "GPKG/QP2024_France_hexagonale_LB93.gpkg")
        zf.write(src / "GEOJSON" / "QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson",
                 "GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson")
        zf.writestr("LISEZMOI.txt", "readme")
    out = load_perimeters(archive)
    assert list(out.columns) == SCHEMA + ["geometry"]
    assert list(out["code_qp"]) == ["QN06236M", "QN06237M"]
    assert out["communes"].iloc[0] == ["62040", "62525", "62765"]
    assert out["epci"].iloc[0] == [CAPSO]
    assert set(out["vintage"]) == {2024}
    assert "QP2024_France_Hexagonale_Outre_Mer_WGS84" in out["source"].iloc[0]  # national member chosen
    # the LB93 member on request
    lb93 = load_perimeters(archive, layer="LB93")
    assert lb93.crs.to_epsg() == 2154
    assert abs(lb93.to_crs(2154).area.sum() - out.to_crs(2154).area.sum()) < 1.0


def test_qic_layer_gets_its_class(tmp_path):
    qic = gpd.GeoDataFrame({"nom": ["Cité Madagascar"], "insee_com": ["62051"]},
                           geometry=[_square(680000, 7040000)], crs="EPSG:2154")
    path = tmp_path / "qic.geojson"
    qic.to_file(path, engine="pyogrio")
    out = load_perimeters(path, classe="QIC")
    assert out["classe"].tolist() == ["QIC"]
    assert out["code_qp"].tolist() == ["QIC-001"]
    assert out["nom_qp"].tolist() == ["Cité Madagascar"]


def test_invalid_geometry_is_repaired_with_a_warning_naming_the_quartier(tmp_path):
    bowtie = shapely.Polygon([(0, 0), (100, 100), (100, 0), (0, 100)])
    bowtie = shapely.affinity.translate(bowtie, 652000, 7072000)
    gdf = gpd.GeoDataFrame({"code_qp": ["QN09104M"], "lib_qp": ["Bow"], "insee_com": ["09122"]},
                           geometry=[bowtie], crs="EPSG:2154")
    path = tmp_path / "bad.gpkg"
    gdf.to_file(path, engine="pyogrio")
    with pytest.warns(UserWarning, match="QN09104M"):
        out = load_perimeters(path)
    assert out.geometry.is_valid.all()
    assert out.geometry.iloc[0].area == pytest.approx(5000, rel=1e-6)


def test_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_perimeters(tmp_path / "nope.geojson")
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("README.txt", "nothing")
    with pytest.raises(DataError, match="no perimeter layer"):
        load_perimeters(empty_zip)
    nocrs = gpd.GeoDataFrame({"code_qp": ["QN06299M"], "lib_qp": ["X"]}, geometry=[_square(0, 0)])
    with pytest.warns(UserWarning, match="crs"):
        nocrs.to_file(tmp_path / "nocrs.shp", engine="pyogrio")
    with pytest.raises(DataError, match="no CRS"):
        load_perimeters(tmp_path / "nocrs.shp")
    nocols = gpd.GeoDataFrame({"foo": [1]}, geometry=[_square(0, 0)], crs="EPSG:2154")
    nocols.to_file(tmp_path / "nocols.gpkg", engine="pyogrio")
    with pytest.raises(DataError, match="code_qp"):
        load_perimeters(tmp_path / "nocols.gpkg")
    assert issubclass(DataError, QpvgeoError)


def test_zip_slip_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.geojson", '{"type":"FeatureCollection","features":[]}')
    with pytest.raises(DataError, match="outside"):
        load_perimeters(archive)
    assert not (tmp_path / "evil.geojson").exists()
    assert not (tmp_path.parent / "evil.geojson").exists()


@pytest.mark.parametrize("dep,epsg", [("62", 2154), ("2A", 2154), ("75", 2154), ("971", 5490),
                                       ("972", 5490), ("973", 2972), ("974", 2975), ("976", 4471)])
def test_territory_crs_from_departement(dep, epsg):
    assert territory_of_departement(dep).epsg == epsg
    assert metric_crs(departement=dep).to_epsg() == epsg


@pytest.mark.parametrize("lonlat,epsg", [((2.26, 50.75), 2154), ((9.15, 42.0), 2154),
                                         ((-61.55, 16.25), 5490), ((-61.0, 14.6), 5490),
                                         ((-52.33, 4.93), 2972), ((55.45, -20.9), 2975),
                                         ((45.17, -12.78), 4471)])
def test_territory_crs_from_location(lonlat, epsg):
    assert metric_crs(lonlat=lonlat).to_epsg() == epsg


def test_unknown_territory_is_an_error():
    with pytest.raises(InputError, match="no French territory"):
        metric_crs(lonlat=(100.0, 10.0))
    with pytest.raises(InputError, match="99"):
        territory_of_departement("99")


def test_cli_perimeters_json_for_capso():
    res = CliRunner().invoke(main, ["perimeters", "--epci", CAPSO, "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["code_qp"] for d in data] == ["QN06236M", "QN06237M", "QN06256M"]
    assert set(data[0]) == set(SCHEMA)
    assert data[0]["communes"] == ["62040", "62525", "62765"]


def test_cli_perimeters_table_export_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["perimeters", "--commune", "62765"])
    assert res.exit_code == 0
    assert "QN06236M" in res.output and "QN06237M" in res.output
    out = tmp_path / "capso.gpkg"
    res = runner.invoke(main, ["perimeters", "--epci", CAPSO, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert len(gpd.read_file(out)) == 3
    res = runner.invoke(main, ["perimeters", "--epci", CAPSO, "-o", str(out)])
    assert res.exit_code == 1 and "already exists" in res.output
    res = runner.invoke(main, ["perimeters", "--code", "QN00000X"])
    assert res.exit_code == 1 and "QN00000X" in res.output
    res = runner.invoke(main, ["perimeters", "--source", str(tmp_path / "missing.zip")])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = runner.invoke(main, ["--version"])
    assert res.exit_code == 0 and "qpvgeo" in res.output
