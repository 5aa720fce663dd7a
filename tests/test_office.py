"""Files as offices have them (xlsx, ods, cp1252 CSV in Lambert-93), answers as their people read
them (French Excel), and the Python API for notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely
from conftest import one_line_error
from conftest import run_cli as run
from python_calamine import CalamineWorkbook

import qpvgeo
from qpvgeo.batch import check_file
from qpvgeo.eligibility import Checker
from qpvgeo.perimeters import load_perimeters

REPO = Path(__file__).resolve().parents[1]

ROWS = [("Maison de quartier", 2.26006, 50.75359, "in_qpv"), ("Gymnase", 2.2601, 50.7565, "in_band"),
        ("Mairie annexe", 2.05, 50.60, "outside"), ("Sans lieu", None, None, "no_coordinates")]


@pytest.fixture(scope="module")
def checker():
    return Checker(load_perimeters())


def _xlsx(path, rows=ROWS, header=("Nom", "Longitude", "Latitude", "Code INSEE")):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Équipements"
    ws.append(list(header))
    for name, lon, lat, _ in rows:
        ws.append([name, lon, lat, "62765"])
    wb.create_sheet("Notes").append(["rien ici"])
    wb.save(path)


def test_xlsx_in_and_out_with_columns_found_by_themselves(tmp_path):
    src, out = tmp_path / "sites.xlsx", tmp_path / "out.xlsx"
    _xlsx(src)
    res = run("check-file", src, "-o", out)
    assert res.exit_code == 0, res.output
    assert "'Longitude' and 'Latitude', in degrees (WGS84)" in res.output
    wb = CalamineWorkbook.from_path(str(out))
    assert wb.sheet_names == ["resultats", "resume"]
    rows = wb.get_sheet_by_name("resultats").to_python()
    head, body = rows[0], rows[1:]
    assert head[:4] == ["Nom", "Longitude", "Latitude", "Code INSEE"] and "qpv_status" in head
    col = {h: i for i, h in enumerate(head)}
    assert [r[0] for r in body] == [r[0] for r in ROWS]  # one row per input row, in order
    assert [r[col["qpv_status"]] for r in body] == [r[3] for r in ROWS]
    assert body[0][col["Longitude"]] == 2.26006 and isinstance(body[0][col["Latitude"]], float)  # numbers
    assert body[0][col["qpv_eligible"]] is True and body[2][col["qpv_eligible"]] is False  # booleans
    assert isinstance(body[2][col["qpv_distance_m"]], float) and body[0][col["Code INSEE"]] == "62765"  # a code
    summary = dict(r[:2] for r in wb.get_sheet_by_name("resume").to_python())
    assert summary["rows"] == 4 and summary["status: in_qpv"] == 1
    # another sheet, by name or number
    one_line_error(run("check-file", src, "-o", tmp_path / "n.csv", "--sheet", "Notes"), "cannot tell", "rien ici")
    one_line_error(run("check-file", src, "-o", tmp_path / "n.csv", "--sheet", "9"), "has 2 sheets")


def test_xlsx_formulas_come_back_as_text(tmp_path, checker):
    src = tmp_path / "f.csv"
    src.write_text('nom;lon;lat\n=HYPERLINK("http://x","y");2.26006;50.75359\n', encoding="utf-8")
    check_file(src, tmp_path / "f.xlsx", checker, progress=False)
    ws = openpyxl.load_workbook(tmp_path / "f.xlsx")["resultats"]
    cell = ws["A2"]
    assert cell.value == '=HYPERLINK("http://x","y")' and cell.data_type == "s"  # text, not a formula


def test_ods_input(tmp_path):
    src = tmp_path / "sites.ods"
    pd.DataFrame({"nom": ["a", "b"], "lat": [50.75359, 50.60], "lng": [2.26006, 2.05]}).to_excel(
        src, engine="odf", index=False) if _has_odf() else pytest.skip("odfpy is not installed to write .ods")
    res = run("check-file", src, "-o", tmp_path / "o.csv", "--json")
    assert json.loads(res.stdout)["statuses"] == {"in_qpv": 1, "outside": 1}


def _has_odf() -> bool:
    try:
        import odf  # noqa: F401
    except ImportError:
        return False
    return True


def test_cp1252_csv_in_lambert93_without_options(tmp_path):
    src = tmp_path / "l93.csv"
    src.write_bytes("Équipement;X;Y\nÉcole Lamartine;649800;7073100\nPôle;651 015;7 072 505\n".encode("cp1252"))
    res = run("check-file", src, "-o", tmp_path / "o.csv")
    assert res.exit_code == 0, res.output
    assert "'X' and 'Y', projected x/y in Lambert-93 (EPSG:2154), recognised from their values" in res.output
    out = pd.read_csv(tmp_path / "o.csv", sep=";", dtype=str, keep_default_na=False)
    assert out["Équipement"].tolist() == ["École Lamartine", "Pôle"]
    import pyproj

    lon, lat = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform([649800, 651015], [7073100, 7072505])
    expect = [Checker(load_perimeters()).check_point(a, b)["status"] for a, b in zip(lon, lat)]
    assert out["qpv_status"].tolist() == expect


def test_ambiguous_or_missing_columns_are_said(tmp_path):
    src = tmp_path / "odd.csv"
    src.write_text("nom;x;y\na;123456789;5\n", encoding="utf-8")
    one_line_error(run("check-file", src, "-o", tmp_path / "o.csv"), "--crs")
    src.write_text("nom;valeur\na;1\n", encoding="utf-8")
    one_line_error(run("check-file", src, "-o", tmp_path / "o.csv"), "['nom', 'valeur']")


def test_excel_lang_fr_byte_for_byte(tmp_path):
    src = tmp_path / "fr.csv"
    src.write_text("nom;lon;lat\nÉcole;2,26006;50,75359\nRural;2.05;50.60\nVide;;\n", encoding="utf-8")
    res = run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.csv", "--excel")
    assert res.exit_code == 0, res.output
    expected = (
        '\ufeff"nom";"lon";"lat";"statut";"eligible";"code_quartier";"nom_quartier";"classe_quartier";'
        '"distance_au_sol_m";"quartiers_dans_la_bande";"remarque"\n'
        '"École";"2,26006";"50,75359";"dans un QPV";"oui";"QN06237M";"Quai Du commerce - Saint Sépulcre";"QPV";'
        '"0";"QN06237M:0";""\n'
        '"Rural";"2.05";"50.60";"hors zone";"non";"QN06236M";"Saint-Exupéry - Léon Blum";"QPV";"21082,71";"";""\n'
        '"Vide";"";"";"non décidé : pas de coordonnées";"";"";"";"";"";"";""\n')
    assert (tmp_path / "o.csv").read_bytes() == expected.encode("utf-8")
    # machine outputs keep the English codes
    run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.gpkg")
    assert set(gpd.read_file(tmp_path / "o.gpkg")["qpv_status"]) == {"in_qpv", "outside", "no_coordinates"}
    res = run("--lang", "fr", "check", "2.26006,50.75359", "--json")
    assert json.loads(res.stdout)["status"] == "in_qpv"
    res = run("--lang", "fr", "check", "2,2601;50,7565")
    assert "statut : dans la bande des 300 m" in res.output and "1,61 m" in res.output


HOSTILE = "nom;x;y\nA;2,26006;50,75359\nB;50.75359;2.26006\nC;;\nD;abc;50\nE;2.26006;50.75359\nF;1;2;3;4\n"


def test_french_outputs_say_everything_in_french(tmp_path):
    """Notes, the summary sheet and the terminal summary of ``--lang fr``, read back as a person
    would; the same file in English keeps English notes, and machine formats English throughout."""
    src = tmp_path / "hostile.csv"
    src.write_text(HOSTILE, encoding="utf-8")
    res = run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.xlsx")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "localisation : coordonnées des colonnes « x » et « y », en degrés (WGS84)" in out
    assert "6 lignes vérifiées" in out and "non décidé : longitude et latitude inversées" in out
    assert "[swapped_coordinates]" in out and "par quartier (dedans ou dans sa bande) :" in out
    wb = CalamineWorkbook.from_path(str(tmp_path / "o.xlsx"))
    assert wb.sheet_names == ["resultats", "resume"]
    rows = wb.get_sheet_by_name("resultats").to_python()
    notes = {r[0]: r[rows[0].index("remarque")] for r in rows[1:]}
    assert notes["B"] == "longitude et latitude semblent inversées : corrigez les colonnes ou les valeurs"
    assert notes["D"] == "pas un nombre : x « abc »"  # only the value that is not a number
    assert notes["F"] == "ligne 7 : 5 champs alors que l'en-tête en a 3"  # the row with too many fields, kept
    assert notes["A"] == notes["C"] == ""
    # coordinates are numbers cell by cell: a value that is not one stays text, the others are not
    cells = {r[0]: (r[1], r[2]) for r in rows[1:]}
    assert cells["A"] == (2.26006, 50.75359) and cells["D"] == ("abc", 50) and cells["F"] == (1, "2;3;4")
    summary = dict(wb.get_sheet_by_name("resume").to_python())
    assert summary["fichier d'entrée"] == str(src) and summary["lignes"] == 6
    assert summary["statut : dans un QPV"] == 2 and summary["statut : non décidé : ligne illisible"] == 1
    assert summary["règle"] == "bande < 300 m autour des QPV ; périmètres 2024 ; distances au sol"
    assert summary["localisation"] == "coordonnées des colonnes « x » et « y », en degrés (WGS84)"
    # English: English notes and summary
    assert run("check-file", src, "-o", tmp_path / "en.csv").exit_code == 0
    en = pd.read_csv(tmp_path / "en.csv", sep=";", dtype=str, keep_default_na=False)
    assert list(en["qpv_note"]) == ["", "longitude and latitude look swapped; fix the columns or the values", "",
                                    "not a number: x 'abc'", "", "line 7: 5 fields where the header has 3"]
    # machine formats keep English notes, whatever the language
    assert run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.gpkg").exit_code == 0
    assert list(gpd.read_file(tmp_path / "o.gpkg")["qpv_note"].fillna("")) == list(en["qpv_note"])


def test_a_site_and_its_funding_in_french():
    site = str(REPO / "data" / "examples" / "site-capso.geojson")
    res = run("--lang", "fr", "check", "--site", site, "--population", "--expenses", "129935")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "site de 14 129,7 m² : statut dans un QPV  [in_qpv]"
    assert lines[1] == "  dans un QPV : une partie oui, le centre non, en entier non ; 3 879 m² dedans"
    assert lines[4].startswith("  habitants du site : 28 [0 – 162], pondération par la surface")
    assert lines[5] == ("  FDC « Politique de la Ville » : 51 974 € ; FDC classique +5 % : oui ; "
                        "seuil ANCT (2 500 €) : atteint")
    res = run("--lang", "fr", "check", "3.06,50.63", "--expenses", "1000")  # no data: no amount, and why
    assert "financement : non décidé (non couvert" in res.output and "0 €" not in res.output
    res = run("--lang", "fr", "check", "2.05,50.60", "--expenses", "1000")
    assert "(hors zone : le lieu est décidé, et n'est ni dans un QPV ni dans la bande)" in res.output


def test_population_and_fragility_in_french_in_the_terminal():
    res = run("--lang", "fr", "population", "--epci", "200069037", "--official",
              str(REPO / "data" / "examples" / "population-capso.csv"))
    assert res.exit_code == 0, res.output
    head, first = res.output.splitlines()[:2]
    assert head.split() == ["code", "quartier", "habitants", "[fourchette]", "ménages", "[fourchette]", "couverture",
                            "officiel", "écart"]
    assert first.startswith("QN06236M") and first.split()[-4:] == ["3", "500", "-1", "482"] and "couvert" in first
    assert "méthode : pondération par la surface" in res.output
    res = run("--lang", "fr", "fragility", "--epci", "200069037")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "taux de référence : 17,24 % (calculé : Σ ménages pauvres / Σ ménages)" in out
    assert "couverture : 3 565 carreaux, 43 914 ménages, 102 130 individus = 97,9 % des 104 320 habitants" in out
    assert "repérés : 37 carreaux (0 imputés), 22 zones candidates" in out
    assert "Taux de pauvreté des ménages" in out and "39,0 %" in out
    res = run("--lang", "fr", "compare", "embedded", "embedded")
    assert res.exit_code == 0, res.output
    head, first = res.output.splitlines()[:2]
    assert head.split()[:3] == ["ancien_code", "nouveau_code", "changement"]
    assert first.split()[2:5] == ["inchangé", "45,82", "45,82"]
    # a warning is one line, without qpvgeo's file and code (a real process: here warnings are errors)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "qpvgeo", "--lang", "fr", "fragility", "--all-epci"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("WARNING py.warnings: partial coverage") and done.stderr.count("\n") == 1, (
        done.stderr)
    assert "[PARTIEL : des EPCI en partie couverts seulement]" in done.stdout


def test_a_typo_in_a_few_rows_does_not_make_a_file_projected(tmp_path):
    src = tmp_path / "typo.csv"
    src.write_text("lon;lat\n" + "2.26006;50.75359\n" * 30 + "226006;50.75359\n", encoding="utf-8")
    res = run("--lang", "fr", "check-file", src, "-o", tmp_path / "o.csv")
    assert res.exit_code == 0, res.output
    got = pd.read_csv(tmp_path / "o.csv", sep=";", dtype=str, keep_default_na=False)
    assert list(got["statut"]).count("dans un QPV") == 30
    assert got["remarque"].iloc[-1].startswith("la longitude doit être comprise entre -180 et 180")


def test_python_api_on_a_geodataframe_in_lambert93(tmp_path):
    pts = gpd.GeoDataFrame({"nom": [r[0] for r in ROWS[:3]]},
                           geometry=[shapely.Point(r[1], r[2]) for r in ROWS[:3]], crs=4326).to_crs(2154)
    pts.index = ["x", "y", "z"]
    got = qpvgeo.check(pts)
    assert list(got.index) == ["x", "y", "z"] and got.crs.to_epsg() == 2154
    assert got["qpv_status"].tolist() == [r[3] for r in ROWS[:3]]
    pts.to_file(tmp_path / "p.gpkg", engine="pyogrio")
    run("check-file", tmp_path / "p.gpkg", "-o", tmp_path / "p.csv")
    assert pd.read_csv(tmp_path / "p.csv")["qpv_status"].tolist() == got["qpv_status"].tolist()
    s = pd.Series([2.26006, 2.05], index=[10, 20])
    arr = qpvgeo.check(lon=s, lat=pd.Series([50.75359, 50.60], index=[10, 20]))
    assert list(arr.index) == [10, 20] and arr["qpv_status"].tolist() == ["in_qpv", "outside"]
    l93 = qpvgeo.check(lon=[649800], lat=[7073100], crs="EPSG:2154")
    assert l93["qpv_status"].iloc[0] in ("outside", "in_band", "in_qpv")
    assert qpvgeo.check_site(shapely.box(2.2600, 50.7535, 2.2602, 50.7537), crs="EPSG:4326")["status"] == "in_qpv"
    assert len(qpvgeo.load_perimeters()) == 64
    assert qpvgeo.population(codes=["QN06237M"])["coverage"].tolist() == ["covered"]


def test_french_numbers_typed_in_a_file(tmp_path, checker):
    src = tmp_path / "n.csv"
    src.write_text("nom;x;y\na;650\u00a0100;7\u202f072\u202f300\n", encoding="utf-8")
    s = check_file(src, tmp_path / "o.csv", checker, lon_col="x", lat_col="y", crs="EPSG:2154", progress=False)
    assert s["statuses"] == {"outside": 1}


def test_geoparquet_in_and_out_and_booleans_in_gpkg(tmp_path):
    import sqlite3

    src = "data/examples/sites-capso.csv"
    assert run("check-file", src, "-o", tmp_path / "s.parquet").exit_code == 0
    g = gpd.read_parquet(tmp_path / "s.parquet")
    assert g.crs.to_epsg() == 4326 and len(g) == 7 and g.geometry.name == "geometry"
    assert str(g["qpv_eligible"].dtype) == "boolean" and g["qpv_eligible"].iloc[0]
    g[["nom", "geometry"]].to_parquet(tmp_path / "points.parquet")
    res = run("check-file", tmp_path / "points.parquet", "-o", tmp_path / "again.gpkg", "--json")
    assert json.loads(res.stdout)["statuses"] == {"outside": 3, "in_qpv": 2, "in_band": 1, "no_coordinates": 1}
    sql = sqlite3.connect(tmp_path / "again.gpkg").execute(
        "select sql from sqlite_master where name='eligibilite'").fetchone()[0]
    assert '"qpv_eligible" BOOLEAN' in sql
    # a qpvgeo output given back as input is refused rather than overwritten
    one_line_error(run("check-file", tmp_path / "s.parquet", "-o", tmp_path / "x.csv"), "already has the column")


def test_fragility_writes_geoparquet(tmp_path):
    res = run("fragility", "--epci", "200069037", "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    zones = gpd.read_parquet(tmp_path / "f" / "zones.parquet")
    car = gpd.read_parquet(tmp_path / "f" / "carreaux.parquet")
    assert len(zones) == 22 and zones.crs.to_epsg() == 3035 and car["flagged"].sum() == 37


def test_commune_by_name(tmp_path):
    from qpvgeo.errors import InputError, NotFoundError
    from qpvgeo.territory import find_commune

    assert find_commune("Béthune") == find_commune("BETHUNE") == "62119"
    with pytest.raises(NotFoundError, match="Béthune"):
        find_commune("Bethun")
    import pandas as pd_

    table = pd_.DataFrame({"insee": ["62001", "59001"], "nom_commune": ["Ablain", "Ablain"],
                           "siren_epci": ["1", "2"], "nom_epci": ["a", "b"], "pmun": [1, 1]})
    with pytest.raises(InputError, match=r"Ablain \(62001\), Ablain \(59001\)"):
        find_commune("ablain", table)
    res = run("perimeters", "--commune", "Béthune")
    assert res.exit_code == 0 and "QN06208M" in res.output and "Béthune, Verquin" in res.output


def test_standard_input_and_output():
    from click.testing import CliRunner

    from qpvgeo.cli import main

    res = CliRunner().invoke(main, ["check-file", "-", "-o", "-"], input="nom;lon;lat\nA;2.26006;50.75359\n")
    assert res.exit_code == 0, res.output
    out = res.stdout.splitlines()
    assert out[0].startswith('"nom";"lon";"lat";"qpv_status"') and '"in_qpv"' in out[1] and len(out) == 2
    assert "1 rows checked -> -" in res.stderr


def test_membership_table_as_the_dgcl_xlsx(tmp_path):
    raw = pd.read_csv("data/communes/epcicom2026_pas-de-calais.csv", dtype=str, sep=None, engine="python")
    with pd.ExcelWriter(tmp_path / "epcicom2026.xlsx") as xw:
        pd.DataFrame({"lisez-moi": ["source DGCL"]}).to_excel(xw, sheet_name="Notice", index=False)
        raw.to_excel(xw, sheet_name="epcicom2026", index=False)
    res = run("fragility", "--epci", "200069037", "--membership", tmp_path / "epcicom2026.xlsx", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epci"][0]["reference_rate"] == pytest.approx(0.1724, abs=5e-5)
