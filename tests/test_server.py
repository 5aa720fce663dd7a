"""``qpvgeo serve``: the real server (uvicorn in a subprocess on 127.0.0.1), every endpoint with
good and bad inputs, answers equal to the CLI's, and the page driven in headless Chromium with
no network."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
SITES = REPO / "data" / "examples" / "sites-capso.csv"
SITE = REPO / "data" / "examples" / "site-capso.geojson"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, tmp: Path, *args: str, env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"server-{self.port}.log"
        full_env = {**os.environ, "QPVGEO_CACHE_DIR": str(tmp / "cache"), "QPVGEO_OFFLINE": "1", **(env or {})}
        self._log_fh = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "qpvgeo", "serve", "--port", str(self.port), *args],
                                     env=full_env, stdout=subprocess.DEVNULL, stderr=self._log_fh)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start: " + self.log.read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log_fh.close()

    def logs(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("server"), "--max-upload-mb", "1")
    yield srv
    srv.stop()


def get(live, path, **params):
    return httpx.get(live.url + path, params=params, timeout=30)


def assert_error(resp, status, *words, fr=None):
    """An error of the API, naming ``words``; ``fr``: its French words (``error_fr``) hold this."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == status and isinstance(body["error"], str)
    for w in words:
        assert w in body["error"], (w, body["error"])
    if fr is not None:
        assert fr in body["error_fr"], (fr, body.get("error_fr"))
    return body


def test_health_docs_and_openapi(live):
    h = get(live, "/healthz").json()
    assert h["status"] == "ok" and h["quartiers"] == 64 and h["vintage"] == 2024
    spec = get(live, "/openapi.json").json()
    assert {"/api/check", "/api/site", "/api/check-file", "/api/jobs/{job_id}", "/api/quartiers",
            "/api/quartiers/{code}", "/api/fdc", "/api/fragility"} <= set(spec["paths"])
    docs = get(live, "/docs")
    assert docs.status_code == 200 and "/api/check-file" in docs.text and "<script" not in docs.text
    page = get(live, "/")
    assert page.status_code == 200 and 'lang="fr"' in page.text
    assert "<script>" not in page.text and "http" not in page.text.split("<body>")[0].replace("/static", "")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("/static/app.js", "/static/app.css", "/static/leaflet.js", "/static/leaflet.css",
                  "/static/images/layers.png"):
        assert get(live, asset).status_code == 200, asset


def test_api_answers_equal_the_cli(live):
    sites = pd.read_csv(SITES, sep=";", dtype=str, keep_default_na=False)
    checked = 0
    for lon, lat in zip(sites["lon"], sites["lat"]):
        if not lon:
            continue
        api = get(live, "/api/check", lon=lon, lat=lat).json()
        cli = json.loads(run_cli("check", f"{lon},{lat}", "--json").stdout)
        assert api == cli
        checked += 1
    assert checked == 6
    # many points at once: the same objects
    pts = [{"lon": float(a), "lat": float(b)} for a, b in zip(sites["lon"], sites["lat"]) if a]
    many = httpx.post(live.url + "/api/check", json={"points": pts}, timeout=30).json()["answers"]
    assert [a["status"] for a in many] == [get(live, "/api/check", **p).json()["status"] for p in pts]
    # text typed by a person
    swapped = get(live, "/api/check", q="50.75359, 2.26006").json()
    assert swapped == json.loads(run_cli("check", "50.75359,2.26006", "--json").stdout)
    assert (swapped["read_as"], swapped["read_as_fr"], swapped["read_as_code"]) == (
        "lat, lon (as copied from a web map), swapped", "lat, lon (copiés d'une carte web), inversés",
        "lat_lon_swapped")
    assert "read_as" not in get(live, "/api/check", q="2.26006, 50.75359").json()  # read as typed: nothing said
    typed = get(live, "/api/check", q="2.26006, 50.75359").json()
    assert get(live, "/api/check", q="Point (2.26006 50.75359)").json() == typed  # as QGIS copies a point
    polygon = httpx.get(live.url + "/api/check", timeout=30,
                        params={"q": "POLYGON((2.26 50.75, 2.261 50.75, 2.261 50.751, 2.26 50.75))"})
    assert_error(polygon, 400, "/api/site", fr="est un site, pas un lieu")
    assert_error(get(live, "/api/check", q="1,2,3"), 400, "not a pair", fr="« 1,2,3 » n'est pas une paire de nombres")
    l93 = get(live, "/api/check", x=650100, y=7072300, crs="EPSG:2154").json()
    assert l93 == json.loads(run_cli("check", "650100,7072300", "--crs", "EPSG:2154", "--json").stdout)
    assert (l93["read_as"], l93["read_as_fr"], l93["read_as_code"]) == ("x/y in EPSG:2154", "x/y en EPSG:2154",
                                                                        "projected")
    # a site
    feature = json.loads(SITE.read_text())["features"][0]
    api = httpx.post(live.url + "/api/site", json=feature, timeout=30).json()
    with_people = httpx.post(live.url + "/api/site?population=true", json=feature, timeout=30).json()
    assert with_people["population"]["low"] <= with_people["population"]["high"]
    assert api == json.loads(run_cli("check", "--site", SITE, "--json").stdout)
    with open(SITE, "rb") as fh:
        up = httpx.post(live.url + "/api/site-file", files={"file": ("site.geojson", fh)}, timeout=30).json()
    assert up["status"] == api["status"] == "in_qpv" and up["area_m2"] == api["area_m2"]


def test_files_come_back_with_every_row(live, tmp_path):
    with open(SITES, "rb") as fh:
        r = httpx.post(live.url + "/api/check-file", files={"file": ("sites.csv", fh)},
                       data={"lon_col": "lon", "lat_col": "lat"}, timeout=60)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"] and "sites-qpv.csv" in r.headers["content-disposition"]
    (tmp_path / "o.csv").write_bytes(r.content)
    out = pd.read_csv(tmp_path / "o.csv", sep=";", dtype=str, keep_default_na=False)
    cli = tmp_path / "cli.csv"
    run_cli("check-file", SITES, "-o", cli, "--lon-col", "lon", "--lat-col", "lat")
    assert out["qpv_status"].tolist() == pd.read_csv(cli, sep=";", dtype=str)["qpv_status"].tolist()
    assert len(out) == 7
    # as a job, with progress and a download link
    with open(SITES, "rb") as fh:
        r = httpx.post(live.url + "/api/check-file", files={"file": ("sites.csv", fh)},
                       data={"lon_col": "lon", "lat_col": "lat", "async": "true", "output_format": "geojson"})
    assert r.status_code == 202 and r.headers["location"].startswith("/api/jobs/")
    job = r.json()
    for _ in range(100):
        job = get(live, f"/api/jobs/{job['job']}").json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert job["state"] == "done" and job["summary"]["rows"] == 7 and job["rows_done"] == 7
    res = get(live, job["download"])
    assert res.status_code == 200 and len(res.json()["features"]) == 7


def test_a_checked_file_names_the_upload_not_the_servers_folders(live, tmp_path):
    """The summary of a file checked by the server (its JSON, and the xlsx's summary sheet) names
    the upload and the download, made safe: no path of the server, no formula."""
    import openpyxl

    with open(SITES, "rb") as fh:
        r = httpx.post(live.url + "/api/check-file", files={"file": ("=HYPERLINK(x) sites.csv", fh)},
                       data={"lon_col": "lon", "lat_col": "lat", "output_format": "xlsx"}, timeout=60)
    assert r.status_code == 200, r.text
    (tmp_path / "o.xlsx").write_bytes(r.content)
    sheet = openpyxl.load_workbook(tmp_path / "o.xlsx")["resume"]
    summary = {row[0]: row[1] for row in sheet.iter_rows(values_only=True)}
    assert summary["input"] == "_HYPERLINK_x_sites.csv" and summary["output"] == "_HYPERLINK_x_sites-qpv.xlsx"
    assert summary["rows"] == 7
    with open(SITES, "rb") as fh:
        job = httpx.post(live.url + "/api/check-file", files={"file": ("sites.csv", fh)},
                         data={"lon_col": "lon", "lat_col": "lat", "async": "true"}).json()
    for _ in range(100):
        job = get(live, f"/api/jobs/{job['job']}").json()
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert (job["summary"]["input"], job["summary"]["output"]) == ("sites.csv", "sites-qpv.csv")


def test_quartiers_fdc_fragility(live):
    q = get(live, "/api/quartiers", epci="200069037").json()
    assert [r["code_qp"] for r in q] == ["QN06236M", "QN06237M", "QN06256M"]
    gj = get(live, "/api/quartiers", epci="200069037", format="geojson").json()
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == 3
    one = get(live, "/api/quartiers/QN06237M").json()
    kinds = {f["properties"]["kind"]: f for f in one["features"]}
    assert set(kinds) == {"outline", "band"}
    pop = kinds["outline"]["properties"]["population"]
    assert pop["estimate"] == pytest.approx(1668, abs=1) and pop["low"] <= pop["estimate"] <= pop["high"]
    assert get(live, "/api/fdc", expenses=["129935", "949145", "548159"]).json()["total_eur"] == 191974
    frag = get(live, "/api/fragility", epci="200069037").json()
    assert frag["summary"]["epci"][0]["reference_rate"] == pytest.approx(0.1724, abs=5e-5)
    assert len(frag["zones"]["features"]) == 22
    assert get(live, "/api/band").json()["features"]


BAD = [
    ("GET", "/api/check", {"lon": "abc", "lat": "1"}, 400, "lon"),
    ("GET", "/api/check", {"lon": "2.2"}, 400, "lat"),
    ("GET", "/api/check", {"lon": "650000", "lat": "7000000"}, 400, "not degrees"),
    ("GET", "/api/check", {"q": "1;2;3"}, 400, "1;2;3"),
    ("GET", "/api/check", {"x": "1", "y": "2", "crs": "EPSG:99999"}, 400, "EPSG:99999"),
    ("GET", "/api/check", {}, 400, "give"),
    ("GET", "/api/check", {"q": "12 rue de Dunkerque, Saint-Omer"}, 503, "offline"),
    ("GET", "/api/quartiers/QN99999X", {}, 404, "QN99999X"),
    ("GET", "/api/quartiers", {"epci": "12"}, 400, "SIREN"),
    ("GET", "/api/quartiers", {"format": "xml"}, 400, "xml"),
    ("GET", "/api/fdc", {"expenses": "-5"}, 400, "-5"),
    ("GET", "/api/fdc", {}, 400, "expenses"),
    ("GET", "/api/fragility", {"epci": "246200364"}, 404, "no carreau"),
    ("GET", "/api/fragility", {"epci": "abc"}, 400, "epci"),
    ("GET", "/api/jobs/nope", {}, 404, "nope"),
    ("GET", "/static/../../etc/passwd", {}, 404, ""),
    ("GET", "/nowhere", {}, 404, ""),
]


@pytest.mark.parametrize("method,path,params,status,word", BAD, ids=[f"{m} {p} {s}" for m, p, _, s, _ in BAD])
def test_bad_inputs_get_4xx_json_and_the_server_keeps_serving(live, method, path, params, status, word):
    resp = httpx.request(method, live.url + path, params=params, timeout=30)
    assert_error(resp, status, word)
    assert get(live, "/healthz").status_code == 200


def test_bad_bodies_and_uploads(live, tmp_path):
    post = lambda path, **kw: httpx.post(live.url + path, timeout=30, **kw)  # noqa: E731
    assert_error(post("/api/check", content=b"not json"), 400, "JSON")
    assert_error(post("/api/check", json={"points": [{"lon": "x"}]}), 400, "point 0")
    assert_error(post("/api/check", json={"points": [[500, 500]]}), 400, "not degrees")
    assert_error(post("/api/site", json={"type": "Point", "coordinates": [2.26, 50.75]}), 400, "polygon",
                 fr="un site est un polygone, pas un objet Point")
    assert_error(post("/api/site", json={"type": "Polygon"}), 400, "GeoJSON")
    assert_error(post("/api/site", json={"type": "FeatureCollection", "features": []}), 400, "one site")
    assert_error(post("/api/check-file", files={"file": ("x.exe", b"MZ")}), 400, "x.exe",
                 fr="impossible de lire un fichier nommé « x.exe »")
    assert_error(post("/api/check-file", files={"file": ("x.csv", b"a;b\n1;2\n")}), 400, "cannot tell",
                 fr="impossible de savoir où sont les lieux")
    assert_error(post("/api/check-file", files={"file": ("x.csv", b"a;b\n1;2\n")}, data={"lon_col": "lon",
                                                                                     "lat_col": "lat"}), 400, "'lon'")
    assert_error(post("/api/check-file", files={"file": ("../../x.csv", b"lon;lat\n2.26;50.75\n")},
                      data={"lon_col": "lon", "lat_col": "lat", "output_format": "exe"}), 400, "exe")
    big = b"lon;lat\n" + b"2.26006;50.75359\n" * 100_000  # 1.7 MB, over the 1 MB limit of this server
    assert_error(post("/api/check-file", files={"file": ("big.csv", big)}, data={"lon_col": "lon"}), 413, "limit",
                 fr="au-delà de la limite de 1 Mo")
    assert "error_fr" not in post("/api/check", content=b"not json").json()  # not every error has French words
    # a job that fails in the background keeps the French words of its error
    job = post("/api/check-file", files={"file": ("x.csv", b"a;b\n1;2\n")}, data={"async": "true"}).json()
    for _ in range(100):
        state = get(live, f"/api/jobs/{job['job']}").json()
        if state["state"] == "failed":
            break
        time.sleep(0.1)
    assert state["state"] == "failed" and state["error_fr"].startswith("impossible de savoir où sont les lieux")
    assert get(live, "/healthz").status_code == 200
    # nothing from a request became a path: no file named after the upload anywhere in the job folders
    assert "x.csv" not in live.logs()


def test_one_log_line_per_request_without_addresses(live):
    get(live, "/api/check", q="12 rue Secrète, Saint-Omer")
    time.sleep(0.3)
    logs = live.logs()
    assert "GET /api/check 503" in logs
    assert "Secrète" not in logs and "Secr" not in logs and "q=" not in logs


def test_token_cors_and_frame_ancestors(tmp_path):
    token = "s3cret-token-of-the-epci-42"
    (tmp_path / "token").write_text(token + "\n")
    srv = LiveServer(tmp_path, "--workers", "2", "--token-file", str(tmp_path / "token"), "--cors-origin",
                     "https://intranet.example",
                     "--frame-ancestors", "'self' https://intranet.example")
    try:
        params = {"lon": 2.26, "lat": 50.75}
        assert_error(httpx.get(srv.url + "/api/check", params=params), 401, "token")
        assert_error(httpx.get(srv.url + "/api/check", params=params, headers={"Authorization": "Bearer nope"}),
                     401, "token")
        ok = httpx.get(srv.url + "/api/check", params=params, headers={"Authorization": f"Bearer {token}",
                                                                       "Origin": "https://intranet.example"})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://intranet.example"
        other = httpx.get(srv.url + "/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        assert "frame-ancestors 'self' https://intranet.example" in other.headers["content-security-policy"]
        assert token not in srv.logs()
    finally:
        srv.stop()


def test_perimeters_updated_without_downtime(tmp_path):
    """Two workers, the perimeter file replaced, SIGHUP: workers restart one at a time and every
    request in between is answered."""
    import signal

    from qpvgeo.perimeters import load_perimeters

    per = load_perimeters().rename(columns={"nom_qp": "lib_qp"})[["code_qp", "lib_qp", "geometry"]]
    src = tmp_path / "qpv.geojson"
    per.iloc[:10].to_file(src, engine="pyogrio")
    srv = LiveServer(tmp_path, "--workers", "2", "--source", str(src), "--max-rows", "3")
    try:
        assert get(srv, "/healthz").json()["quartiers"] == 10
        with open(SITES, "rb") as fh:  # the rows limit of this server
            assert_error(httpx.post(srv.url + "/api/check-file", files={"file": ("s.csv", fh)},
                                    data={"lon_col": "lon", "lat_col": "lat"}), 400, "more than 3 rows")
        tmp = tmp_path / "new.geojson"
        per.to_file(tmp, engine="pyogrio")
        os.replace(tmp, src)
        srv.proc.send_signal(signal.SIGHUP)
        seen, failures, deadline = set(), 0, time.monotonic() + 60
        while time.monotonic() < deadline and 64 not in seen:
            try:
                r = httpx.get(srv.url + "/healthz", timeout=5)
                seen.add(r.json()["quartiers"]) if r.status_code == 200 else None
                failures += r.status_code != 200
            except httpx.HTTPError:
                failures += 1
        assert 64 in seen and failures == 0
    finally:
        srv.stop()


def test_cors_is_off_by_default(live):
    r = httpx.get(live.url + "/healthz", headers={"Origin": "https://x.example"})
    assert "access-control-allow-origin" not in r.headers


def test_ban_calls_are_throttled_whatever_the_load():
    from qpvgeo._http import RateLimiter

    lim = RateLimiter(50.0)
    stamps = []

    def call():
        for _ in range(10):
            lim.wait()
            stamps.append(time.monotonic())

    threads = [threading.Thread(target=call) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 40
    # each call gets its own slot, 1/50 s after the one before: the i-th call to go cannot go
    # before t0 + i/50 (a thread that wakes late only delays its own call, so the gaps between
    # the stamps vary, but none of them is early)
    early = [i for i, s in enumerate(stamps) if s - t0 < i / 50 - 1e-3]
    assert not early, [(i, round(stamps[i] - t0, 4)) for i in early]
    assert stamps[-1] - t0 >= 39 / 50 - 1e-3  # 40 calls: at least 0.78 s at 50 per second


# ------------------------------------------------------------------------------- the page in Chromium
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
def test_the_page_in_headless_chromium_with_no_network(live, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    errors, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 850}, locale="fr-FR")
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def only_local(route):
            if route.request.url.startswith(live.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(live.url + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        assert page.locator(".leaflet-overlay-pane path").count() >= 64
        # typed coordinates
        page.fill("#q", "2.26006, 50.75359")
        page.keyboard.press("Enter")
        page.wait_for_selector("#answer[data-status='in_qpv']", timeout=10000)
        text = page.inner_text("#answer")
        assert "dans un QPV" in text and "Quai Du commerce - Saint Sépulcre (QN06237M)" in text
        assert "indicative" in text
        link = page.get_attribute("#answer a", "href")
        assert link == "https://sig.ville.gouv.fr/territoire/QN06237M"
        page.screenshot(path=str(tmp_path / "answer.png"))
        # lat, lon as copied from a web map: the same answer, and how it was read, in French
        page.fill("#q", "50.75359, 2.26006")
        page.keyboard.press("Enter")
        page.locator("#answer", has_text="Lu comme").wait_for(timeout=10000)
        text = page.inner_text("#answer")
        assert "Lu comme : lat, lon (copiés d'une carte web), inversés" in text and "dans un QPV" in text
        page.fill("#q", "2.26006, 50.75359")
        page.keyboard.press("Enter")
        expect(page.locator("#answer")).not_to_contain_text("Lu comme", timeout=10000)  # as typed: nothing said
        # a polygon pasted in the search box: a French error that says where sites go
        page.fill("#q", "POLYGON((2.26 50.75, 2.261 50.75, 2.261 50.751, 2.26 50.75))")
        page.keyboard.press("Enter")
        expect(page.locator("#answer")).to_contain_text("Erreur : une géométrie Polygon est un site, pas un lieu",
                                                        timeout=10000)
        errors.remove("Failed to load resource: the server responded with a status of 400 (Bad Request)")  # that one
        page.fill("#q", "2.26006, 50.75359")
        page.keyboard.press("Enter")
        page.wait_for_selector("#answer[data-status='in_qpv']", timeout=10000)
        # the printable fiche d'éligibilité: one A4 page with the map, the answer, the rule, sources, date
        import pypdfium2 as pdfium

        page.pdf(path=str(tmp_path / "fiche.pdf"), format="A4", print_background=True)
        doc = pdfium.PdfDocument(str(tmp_path / "fiche.pdf"))
        fiche = doc[0].get_textpage().get_text_range()
        assert len(doc) == 1 and doc[0].get_size() == pytest.approx((595, 842), abs=2)
        for words in ("dans un QPV", "QN06237M", "Règle", "Sources", "indicative"):
            assert words in fiche, words
        assert "Vérifier le fichier" not in fiche  # the forms are not printed
        doc.close()
        # a click on the map: a point in the band north of QN06237M
        page.evaluate("qpvgeo.map.setView([50.7565, 2.2601], 16, {animate: false})")
        xy = page.evaluate("(() => { const p = qpvgeo.map.latLngToContainerPoint([50.7565, 2.2601]);"
                           " return [p.x, p.y]; })()")
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        page.wait_for_selector("#answer[data-status='in_band']", timeout=10000)
        assert "bande des 300 m" in page.inner_text("#answer")
        # a table file comes back with every row
        page.click("#file-box summary")
        page.set_input_files("#table-file", str(SITES))
        page.select_option("#output_format", "csv")
        page.click("#file-form button[type=submit]")
        page.wait_for_selector("#download", timeout=20000)
        assert page.get_attribute("#file-result", "data-rows") == "7"
        with page.expect_download() as dl:
            page.click("#download")
        got = pd.read_csv(dl.value.path(), sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        assert len(got) == 7 and got["statut"].iloc[0] == "dans un QPV"  # French, for French Excel
        # a layer of parcels (polygons, in Lambert-93): each one checked as a site, in a spreadsheet
        import geopandas as gpd
        import openpyxl

        parcels = gpd.read_file(REPO / "data/examples/site-capso.geojson").to_crs("EPSG:2154")
        parcels.to_file(tmp_path / "parcelles.gpkg", engine="pyogrio")
        page.set_input_files("#table-file", str(tmp_path / "parcelles.gpkg"))
        page.select_option("#output_format", "xlsx")
        page.click("#file-form button[type=submit]")
        expect(page.locator("#file-result")).to_have_attribute("data-rows", "1", timeout=20000)
        with page.expect_download() as dl:
            page.click("#download")
        assert dl.value.suggested_filename.endswith(".xlsx")
        dl.value.save_as(tmp_path / "parcelles.xlsx")
        rows = list(openpyxl.load_workbook(tmp_path / "parcelles.xlsx")["resultats"].values)
        parcel = dict(zip(rows[0], rows[1]))
        assert parcel["statut"] == "dans un QPV" and parcel["site_en_qpv_une_partie"] is True
        assert parcel["surface_site_m2"] == live_checker_area(parcels)
        # a site drawn on the map
        page.click("#site-box summary")
        page.click("#draw")
        page.evaluate("qpvgeo.map.setView([50.7536, 2.2601], 17, {animate: false})")
        box = page.locator("#map").bounding_box()
        for dlat, dlon in ((-0.0002, -0.0003), (-0.0002, 0.0003), (0.0002, 0.0003), (0.0002, -0.0003)):
            xy = page.evaluate(f"(() => {{ const p = qpvgeo.map.latLngToContainerPoint([{50.7536 + dlat}, "
                               f"{2.2601 + dlon}]); return [p.x, p.y]; }})()")
            page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])
        page.click("#finish")
        page.locator("#answer", has_text="Site de").wait_for(timeout=10000)
        page.screenshot(path=str(tmp_path / "site.png"))
        assert page.get_attribute("#answer", "data-status") == "in_qpv"
        # phone width: still usable
        page.set_viewport_size({"width": 390, "height": 800})
        assert page.locator("#q").bounding_box()["width"] > 200
        page.screenshot(path=str(tmp_path / "phone.png"))
        browser.close()
    assert errors == [], errors
    assert outside == [], outside
    if os.environ.get("QPVGEO_KEEP_SHOTS"):  # to look at them: QPVGEO_KEEP_SHOTS=DIR
        for shot in ("answer.png", "site.png", "phone.png", "fiche.pdf"):
            shutil.copy(tmp_path / shot, Path(os.environ["QPVGEO_KEEP_SHOTS"]) / shot)


def live_checker_area(layer) -> float:
    """The ground area ``check --site`` gives the first site of ``layer``."""
    from qpvgeo.eligibility import Checker
    from qpvgeo.perimeters import load_perimeters

    return Checker(load_perimeters()).check_site(layer.iloc[[0]])["area_m2"]
