"""Hostile files, broken services, full disks: nothing lost, nothing hangs, nothing runs.

The project's own suite of bad inputs and faults (issue "Hostile files, broken services, full
disks"): slow and failing servers on 127.0.0.1, archive bombs, rows that do not parse, mixed
encodings, formulas, read-only and full disks (a small tmpfs, where the machine allows mounting
one), a kill during a run, empty inputs, carreaux that repeat or do not parse."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import Reply, one_line_error
from conftest import run_cli as run
from fake_ban import csv_answer

from qpvgeo import _archive, _http
from qpvgeo.batch import check_file
from qpvgeo.eligibility import Checker
from qpvgeo.errors import DataError, DownloadError, InputError
from qpvgeo.geocode import BanClient
from qpvgeo.perimeters import load_perimeters

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checker():
    return Checker(load_perimeters())


# ------------------------------------------------------------------------ 1. slow servers
def test_a_dripping_server_cannot_hold_a_download(server, settings):
    server.route("/slow.zip", Reply(200, b"x" * 200, drip_s=0.05))
    s = settings.replace(download_deadline_s=1.0, timeout_s=5)
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="download_deadline_s"):
        _http.download(server.url + "/slow.zip", settings=s)
    assert time.monotonic() - t0 < 4
    assert not _http.cache_path(server.url + "/slow.zip", settings=s).exists()
    assert not list(_http.cache_path(server.url + "/slow.zip", settings=s).parent.glob(".part-*"))


def test_a_dripping_geocoder_gives_failed_rows_not_a_hang(server, settings, tmp_path, checker):
    server.route("/search/csv", Reply(200, b"qpvgeo_id,latitude\n" * 20, drip_s=0.05))
    s = settings.replace(ban_url=server.url, request_deadline_s=1.0, max_retries=0)
    src = tmp_path / "a.csv"
    src.write_text("adresse\n1 rue du quai du commerce saint-omer\n10 place foch arras\n", encoding="utf-8")
    t0 = time.monotonic()
    summary = check_file(src, tmp_path / "o.csv", checker, address_cols=["adresse"], geocoder=BanClient(s),
                         progress=False)
    assert time.monotonic() - t0 < 5
    assert summary["statuses"] == {"geocode_failed": 2}
    out = pd.read_csv(tmp_path / "o.csv")
    assert out["qpv_note"].str.contains("request_deadline_s").all()


# ------------------------------------------------------------------------ 2. archives
def test_zip_bomb_is_refused_by_ratio_and_leaves_nothing(tmp_path, settings):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("GEOJSON/qp.geojson", b"\0" * (64 << 20))
    assert bomb.stat().st_size < 200_000
    dest = tmp_path / "x"
    with pytest.raises(DataError, match="expands .* times"):
        _archive.extract(bomb, dest)
    assert not any(dest.rglob("*"))
    res = run("perimeters", "--source", bomb)
    one_line_error(res, "zip bomb")
    assert not [p for p in (settings.cache_dir / "extracted").rglob("*") if p.is_file()]


def test_member_with_a_false_declared_size(tmp_path):
    good = tmp_path / "good.zip"
    payload = os.urandom(300_000)
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.csv", payload)
    data = bytearray(good.read_bytes())
    size = len(payload).to_bytes(4, "little")
    small = (1000).to_bytes(4, "little")
    n = data.count(size)
    assert n == 2  # local header and central directory
    data = data.replace(size, small)
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="declared size|damaged"):
        _archive.extract(liar, dest)
    assert not list(dest.rglob("*.part-*")) and not list(dest.rglob(".part-*")) and not (dest / "a.csv").exists()


# ------------------------------------------------------------------------ 3. rows that do not parse
def test_a_row_with_too_many_fields_comes_back_marked(tmp_path, checker):
    src = tmp_path / "in.csv"
    src.write_text("id;lon;lat\n1;2.26006;50.75359\n2;2.05;50.60;extra\n3;2.2601;50.7565\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False)
    assert summary["rows"] == 3
    res = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    assert res["qpv_status"].tolist() == ["in_qpv", "unreadable_row", "in_band"]
    # its fields are kept, the extra ones in the last column; nothing of it is decided
    assert res.loc[1, ["id", "lon", "lat"]].tolist() == ["2", "2.05", "50.60;extra"]
    assert res.loc[1, ["qpv_code", "qpv_distance_m", "qpv_eligible"]].tolist() == ["", "", ""]
    assert "line 3" in res.loc[1, "qpv_note"]
    # the first data row is the bad one (pandas would shift or drop fields silently)
    src.write_text("id;lon;lat\n1;2.26006;50.75359;x\n2;2.05;50.60\n", encoding="utf-8")
    check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False, overwrite=True)
    res = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    assert res["qpv_status"].tolist() == ["unreadable_row", "outside"]
    # the chunk size does not change the answer
    rows = "".join(f"{i};2.26006;50.75359{';x' if i % 7 == 3 else ''}\n" for i in range(40))
    src.write_text("id;lon;lat\n" + rows, encoding="utf-8")
    a = tmp_path / "a.csv"
    check_file(src, a, checker, lon_col="lon", lat_col="lat", progress=False, chunk_rows=5)
    got = pd.read_csv(a, sep=";", dtype=str, keep_default_na=False)
    assert len(got) == 40
    assert (got["qpv_status"] == "unreadable_row").tolist() == [i % 7 == 3 for i in range(40)]


def test_duplicate_geometry_and_fid_columns(tmp_path, checker):
    src = tmp_path / "dup.csv"
    src.write_text("nom;nom;lon;lat\na;b;2.26006;50.75359\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"\['nom'\] appear more than once"):
        check_file(src, tmp_path / "o.csv", checker, lon_col="lon", lat_col="lat", progress=False)
    src = tmp_path / "qgis.csv"
    src.write_text("fid;geometry;lon;lat\n7;POINT(1 2);2.26006;50.75359\n", encoding="utf-8")
    for ext in ("geojson", "gpkg"):
        out = tmp_path / f"o.{ext}"
        check_file(src, out, checker, lon_col="lon", lat_col="lat", progress=False)
        info = pyogrio.read_info(out)
        assert {"fid", "geometry", "qpv_status"} <= set(info["fields"]), info["fields"]
        assert info["features"] == 1
    props = json.loads((tmp_path / "o.geojson").read_text())["features"][0]["properties"]
    assert props["geometry"] == "POINT(1 2)" and props["fid"] == "7" and props["qpv_status"] == "in_qpv"
    gp = pyogrio.read_dataframe(tmp_path / "o.gpkg", read_geometry=False)
    assert gp["fid"].tolist() == ["7"] and bool(gp["qpv_eligible"].iloc[0]) is True


# ------------------------------------------------------------------------ 4. the geocoder is down
def test_a_429_storm_keeps_every_row_and_a_second_run_finishes(server, settings, tmp_path, checker):
    src = tmp_path / "a.csv"
    src.write_text("adresse\n1 rue du quai du commerce saint-omer\nrue de dunkerque saint-omer\n"
                   "10 place foch arras\nsaint-omer\n", encoding="utf-8")
    s = settings.replace(ban_url=server.url, ban_chunk_rows=2, max_retries=1, max_retry_after_s=0.01)
    storm = {"on": True}

    def answer(req):  # the first chunk is answered; the second meets a 429 storm while it lasts
        if storm["on"] and b"foch" in req["body"]:
            return Reply(429, b"slow down", {"Retry-After": "0"})
        return csv_answer(req)

    server.route("/search/csv", answer)
    summary = check_file(src, tmp_path / "o.csv", checker, address_cols=["adresse"], geocoder=BanClient(s),
                         progress=False)
    assert summary["rows"] == 4
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert out["qpv_status"].tolist()[:2] == ["in_qpv", "geocode_imprecise"]  # the first chunk came back
    assert out["qpv_status"].tolist()[2:] == ["geocode_failed", "geocode_failed"]
    # the reason once (counted as "HTTP 429": the server's random port may hold the digits 429)
    assert out.loc[2, "qpv_note"].count("HTTP 429") == 1 and "run again" in out.loc[2, "qpv_note"]
    sent = len(server.requests)
    storm["on"] = False  # the service is back
    check_file(src, tmp_path / "o2.csv", checker, address_cols=["adresse"], geocoder=BanClient(s), progress=False)
    out = pd.read_csv(tmp_path / "o2.csv", keep_default_na=False)
    assert out["qpv_status"].tolist() == ["in_qpv", "geocode_imprecise", "outside", "geocode_imprecise"]
    again = [r["body"] for r in server.requests[sent:]]
    assert again and all(b"foch" in body and b"quai du commerce" not in body for body in again)  # from the cache


def test_offline_without_cache_marks_the_rows(settings, tmp_path, checker):
    src = tmp_path / "a.csv"
    src.write_text("adresse\n1 rue du quai du commerce saint-omer\n", encoding="utf-8")
    s = settings.replace(offline=True)
    check_file(src, tmp_path / "o.csv", checker, address_cols=["adresse"], geocoder=BanClient(s), progress=False)
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert out["qpv_status"].tolist() == ["geocode_failed"] and "offline" in out.loc[0, "qpv_note"]


def test_a_cp1252_geocoder_answer_is_decoded_by_its_charset(server, settings, tmp_path, checker):
    body = ("qpvgeo_id,adresse,citycode,postcode,latitude,longitude,result_label,result_score,result_type,"
            "result_citycode,result_status\n0,x,,,50.75359,2.26006,Quai Sépulcre Saint-Omer,0.9,housenumber,62765,ok\n")
    server.route("/search/csv", Reply(200, body.encode("cp1252"), {"Content-Type": "text/csv; charset=windows-1252"}))
    src = tmp_path / "a.csv"
    src.write_text("adresse\nx\n", encoding="utf-8")
    check_file(src, tmp_path / "o.csv", checker, address_cols=["adresse"],
               geocoder=BanClient(settings.replace(ban_url=server.url)), progress=False)
    out = pd.read_csv(tmp_path / "o.csv", keep_default_na=False)
    assert out.loc[0, "geo_label"] == "Quai Sépulcre Saint-Omer" and out.loc[0, "qpv_status"] == "in_qpv"


# ------------------------------------------------------------------------ 5. formulas
def test_formulas_are_neutralised_in_csv_outputs(tmp_path, checker):
    src = tmp_path / "f.csv"
    src.write_text('nom;note;lon;lat\n=HYPERLINK("http://x","y");+SUM(A1);-0.57;50.75\n@SUM(1);-3;2.26006;50.75359\n',
                   encoding="utf-8")
    check_file(src, tmp_path / "o.csv", checker, lon_col="lon", lat_col="lat", progress=False)
    text = (tmp_path / "o.csv").read_text(encoding="utf-8")
    out = pd.read_csv(tmp_path / "o.csv", sep=";", dtype=str, keep_default_na=False)
    assert out["nom"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'@SUM(1)"]
    assert out["note"].tolist() == ["'+SUM(A1)", "-3"]  # a plain number is left alone
    assert out["lon"].tolist() == ["-0.57", "2.26006"]
    assert "\n=" not in text and ";=" not in text and ";+" not in text


def test_formula_start_reads_the_first_byte_of_every_cell_as_python_would():
    """The buffer-level test of a cell's first character (the batch's fast path) against plain
    Python, on slices (an offset into the buffers), empty and missing cells, and an empty last
    cell whose offset points past the data."""
    import numpy as np
    import pyarrow as pa

    from qpvgeo._tables import _FORMULA_START, _formula_start

    cells = ["=A1", "", None, "+1", "x", "-", "@b", "\tt", "\rr", "é=", " =", "", "=", None, ""]
    arr = pa.array(cells, type=pa.large_string())
    for start in range(len(cells)):
        for stop in range(start, len(cells) + 1):
            part = arr.slice(start, stop - start)
            want = np.array([bool(c) and c[0] in _FORMULA_START for c in cells[start:stop]], dtype=bool)
            np.testing.assert_array_equal(_formula_start(part), want)
            np.testing.assert_array_equal(_formula_start(pa.chunked_array([part], type=pa.large_string())), want)
    assert _formula_start(pa.array(["", ""], type=pa.large_string())).tolist() == [False, False]


# ------------------------------------------------------------------------ 6. the machine's errors
@contextlib.contextmanager
def small_disk(path: Path, size: str = "64k", ro: bool = False):
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests mount a small file system")
    try:
        yield path
    finally:
        busy = subprocess.run(["umount", str(path)], capture_output=True).returncode
        if busy:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)  # detach it anyway, then fail
        assert not busy, "a file was left open on the small disk"


def test_full_and_read_only_disks_give_one_line_and_no_partial_file(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("lon;lat\n" + "2.26006;50.75359\n" * 20000, encoding="utf-8")
    with small_disk(tmp_path / "full") as full:
        one_line_error(run("check-file", big, "-o", full / "o.csv", "--lon-col", "lon", "--lat-col", "lat"),
                       "no space left")
        assert list(full.iterdir()) == []
    with small_disk(tmp_path / "ro", ro=True) as ro:
        one_line_error(run("check-file", big, "-o", ro / "o.csv", "--lon-col", "lon", "--lat-col", "lat"),
                       "read-only")


def test_unknown_crs_and_usage_errors_are_one_line(tmp_path):
    one_line_error(run("check", "650000,7070000", "--crs", "EPSG:99999"), "EPSG:99999")
    src = tmp_path / "x.csv"
    src.write_text("x;y\n650000;7070000\n", encoding="utf-8")
    one_line_error(run("check-file", src, "-o", tmp_path / "o.csv", "--lon-col", "x", "--lat-col", "y",
                       "--crs", "EPSG:99999"), "EPSG:99999")
    one_line_error(run("check", "2.26,50.75", "--band-m", "abc"), "--band-m", "--help")
    one_line_error(run("no-such-command"), "no-such-command")
    one_line_error(run("check-file", src), "-o")


def test_a_killed_run_leaves_no_output_and_the_next_run_cleans_up(tmp_path, server):
    """kill -9 while writing: the input is intact, nothing at the final path; the temporary file
    it left is removed by the next run."""
    src = tmp_path / "a.csv"
    src.write_text("adresse\n1 rue du quai du commerce saint-omer\n10 place foch arras\n", encoding="utf-8")
    before = src.read_bytes()
    server.route("/search/csv", csv_answer, Reply(200, b"", delay_s=30))  # the second chunk hangs
    out = tmp_path / "o.csv"
    env = {**os.environ, "QPVGEO_BAN_URL": server.url, "QPVGEO_BAN_CHUNK_ROWS": "1", "QPVGEO_CACHE_DIR":
           str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "qpvgeo", "check-file", str(src), "-o", str(out),
                             "--address-cols", "adresse", "--chunk-rows", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".o.csv.qpvgeo-*")):
        time.sleep(0.05)
    temps = list(tmp_path.glob(".o.csv.qpvgeo-*"))
    assert temps, "the run never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert src.read_bytes() == before and not out.exists() and all(t.exists() for t in temps)
    server.route("/search/csv", csv_answer)
    res = subprocess.run([sys.executable, "-m", "qpvgeo", "check-file", str(src), "-o", str(out),
                          "--address-cols", "adresse"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert not list(tmp_path.glob(".o.csv.qpvgeo-*")) and len(pd.read_csv(out)) == 2


# ------------------------------------------------------------------------ 7. empty inputs
@pytest.mark.parametrize("ext", ["gpkg", "geojson", "csv"])
def test_an_empty_input_gives_an_empty_output_of_the_right_format(tmp_path, ext, checker):
    src = tmp_path / "empty.geojson"
    src.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    out = tmp_path / f"o.{ext}"
    res = run("check-file", src, "-o", out, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"] == 0
    if ext == "csv":
        assert "qpv_status" in out.read_text()
    elif ext == "geojson":  # GeoJSON has no schema: an empty FeatureCollection
        assert json.loads(out.read_text())["features"] == []
    else:
        info = pyogrio.read_info(out)
        assert info["features"] == 0 and "qpv_status" in info["fields"]
    header_only = tmp_path / "h.csv"
    header_only.write_text("lon;lat\n", encoding="utf-8")
    s = check_file(header_only, tmp_path / f"h-out.{ext}", checker, lon_col="lon", lat_col="lat", progress=False)
    assert s["rows"] == 0


# ------------------------------------------------------------------------ 8. carreaux
def _grid_csv(path, rows):
    pd.DataFrame(rows, columns=["idcar_200m", "ind", "men", "men_pauv"]).to_csv(path, index=False)


def test_carreaux_that_repeat_or_do_not_parse(tmp_path):
    from qpvgeo.carreaux import load_carreaux
    from qpvgeo.fragility import fragility

    raw = pd.read_csv(REPO / "data/filosofi/filosofi2021_200m_capso-full_epsg3035.csv", dtype=str)
    base = fragility(load_carreaux(), epci="200069037").summary["epci"][0]
    doubled = pd.concat([raw, raw.iloc[:50]], ignore_index=True)  # 50 carreaux repeated
    p = tmp_path / "d.csv"
    doubled.to_csv(p, index=False)
    g = load_carreaux(p)
    assert (g["id_status"] == "duplicate").sum() == 50
    again = fragility(g, epci="200069037").summary["epci"][0]
    assert again["reference_rate"] == base["reference_rate"] and again["households"] == base["households"]
    # a grid without lcog_geo, with an id that does not parse: kept in the outputs, said
    assert "lcog_geo" not in raw.columns  # the embedded grid has no lcog_geo
    nolc = raw.copy()
    nolc.loc[0, "idcar_200m"] = "not-an-id"
    p = tmp_path / "n.csv"
    nolc.to_csv(p, index=False)
    res = fragility(load_carreaux(p), epci="200069037", allow_partial=True)
    assert "not-an-id" in set(res.carreaux["idcar_200m"])
    assert res.carreaux.loc[res.carreaux["idcar_200m"] == "not-an-id", "status"].iloc[0] == "invalid_id"
    # and in every written layer, with no square (a null geometry), the others with theirs
    import geopandas as gpd

    from qpvgeo.outputs import write_fragility

    files = write_fragility(res, tmp_path / "out")
    for back in (gpd.read_parquet(files["parquet_carreaux"]), gpd.read_file(files["gpkg"], layer="carreaux")):
        assert len(back) == len(res.carreaux)
        bad = back["idcar_200m"] == "not-an-id"
        assert bad.sum() == 1 and back.geometry[bad].isna().all()
        assert back.geometry[~bad].notna().all() and (back.geometry[~bad].area.round(6) == 200 ** 2).all()


def test_a_grid_in_another_crs_is_filtered_in_its_own_crs(tmp_path):
    # La Réunion's grid is in EPSG:2975; a quartier there must find its carreaux
    import pyproj

    from qpvgeo.carreaux import load_carreaux
    from qpvgeo.inhabitants import population

    t = pyproj.Transformer.from_crs(4326, 2975, always_xy=True)
    x, y = t.transform(55.45, -20.9)
    x0, y0 = int(x // 200 * 200), int(y // 200 * 200)
    rows = [(f"CRS2975RES200mN{y0 + 200 * j}E{x0 + 200 * i}", 100, 40, 10) for i in range(5) for j in range(5)]
    p = tmp_path / "reunion.csv"
    _grid_csv(p, rows)
    q = gpd.GeoDataFrame({"code_qp": ["QN97401M"], "nom_qp": ["Test"]},
                         geometry=[shapely.Point(x0 + 500, y0 + 500).buffer(300)], crs=2975)
    g = load_carreaux(p, around=q)
    assert len(g) == 25 and g.crs.to_epsg() == 2975
    pop = population(q, g).iloc[0]
    assert pop["coverage"] == "covered" and pop["estimate"] == pytest.approx(100 * np.pi * 300**2 / 200**2, rel=0.02)


# ------------------------------------------------------------------------ 9. encodings row by row
def test_utf8_file_with_one_cp1252_byte(tmp_path, checker):
    src = tmp_path / "m.csv"
    src.write_bytes("nom;lon;lat\nÉcole Jean Moulin;2.26006;50.75359\n".encode()
                    + "Caf\u00e9 du Nord;2.05;50.60\n".encode("cp1252")
                    + "Mairie d’Arques;2.2601;50.7565\n".encode())
    check_file(src, tmp_path / "o.csv", checker, lon_col="lon", lat_col="lat", progress=False)
    out = pd.read_csv(tmp_path / "o.csv", sep=";", keep_default_na=False)
    assert out["nom"].tolist() == ["École Jean Moulin", "Café du Nord", "Mairie d’Arques"]
    assert out["qpv_note"].tolist()[1].endswith("decoded as cp1252") and out["qpv_note"].tolist()[0] == ""


def test_utf8_check_block_by_block_agrees_with_python_whatever_the_block_cuts(tmp_path):
    """The UTF-8 check reads the file in blocks (memory flat in the file's size): a character
    cut by a block's end is carried over, a stray or unfinished byte anywhere fails, as Python's
    codec says, for every block size down to one byte."""
    import random

    from qpvgeo._tables import _strict_utf8

    rng = random.Random(3)
    chars = ["a", "é", "€", "𝄞", ";", "\n", "Ω", "日", "’"]
    p = tmp_path / "f.csv"
    seen = {True: 0, False: 0}
    for trial in range(150):
        data = "".join(rng.choice(chars) for _ in range(rng.randint(0, 120))).encode()
        if trial % 3 == 1 and data:  # a stray byte somewhere
            i = rng.randrange(len(data))
            data = data[:i] + bytes([rng.choice([0x80, 0xC3, 0xE2, 0xF0, 0xFF, 0xE9])]) + data[i:]
        if trial % 5 == 2 and data:  # the last character perhaps cut
            data = data[:-1]
        p.write_bytes(data)
        try:
            data.decode("utf-8")
            truth = True
        except UnicodeDecodeError:
            truth = False
        seen[truth] += 1
        for block in (1, 2, 3, 4, 5, 7, 64, 1 << 20):
            assert _strict_utf8(p, block=block) is truth, (data, block)
    assert min(seen.values()) > 30


# ------------------------------------------------------------------------ 10. projected numbers without CRS
def test_projected_numbers_get_the_same_hint_in_csv_and_geojson(tmp_path, checker):
    gj = tmp_path / "p.geojson"
    point = {"type": "Point", "coordinates": [650000, 7070000]}
    gj.write_text(json.dumps({"type": "FeatureCollection",
                              "features": [{"type": "Feature", "properties": {"id": 1}, "geometry": point}]}))
    check_file(gj, tmp_path / "o1.csv", checker, progress=False)
    csv = tmp_path / "p.csv"
    csv.write_text("x;y\n650000;7070000\n", encoding="utf-8")
    check_file(csv, tmp_path / "o2.csv", checker, lon_col="x", lat_col="y", progress=False)
    a = pd.read_csv(tmp_path / "o1.csv", keep_default_na=False).iloc[0]
    b = pd.read_csv(tmp_path / "o2.csv", sep=";", keep_default_na=False).iloc[0]
    assert a["qpv_status"] == b["qpv_status"] == "invalid_coordinates"
    assert a["qpv_note"] == b["qpv_note"] and "--crs EPSG:2154" in a["qpv_note"]


def test_binary_and_utf16_files(tmp_path, checker):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 20)
    one_line_error(run("check-file", junk, "-o", tmp_path / "o.csv"), "junk.csv")
    quoted = tmp_path / "q.csv"
    quoted.write_bytes(b'lon;lat\n"2.26;\r50\n')  # a quote left open across a carriage return
    res = run("check-file", quoted, "-o", tmp_path / "q-out.csv")
    assert res.exit_code in (0, 1) and "Traceback" not in res.output and "unexpected" not in res.output
    u16 = tmp_path / "u16.csv"
    u16.write_bytes("lon;lat;nom\n2.26006;50.75359;École\n".encode("utf-16"))  # Excel's "Unicode text"
    check_file(u16, tmp_path / "u.csv", checker, progress=False)
    out = pd.read_csv(tmp_path / "u.csv", sep=";")
    assert out["qpv_status"].tolist() == ["in_qpv"] and out["nom"].tolist() == ["École"]
