"""Maps: assertions on the rendered HTML, a real headless browser, and the print images."""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from qpvgeo import maps
from qpvgeo.batch import check_table
from qpvgeo.carreaux import load_carreaux
from qpvgeo.cli import main
from qpvgeo.eligibility import Checker
from qpvgeo.errors import InputError
from qpvgeo.fragility import fragility
from qpvgeo.perimeters import load_perimeters, select

CAPSO = "200069037"


@pytest.fixture(scope="module")
def per():
    return load_perimeters()


@pytest.fixture(scope="module")
def elig_spec(per):
    checker = Checker(per)
    pts = pd.DataFrame({"nom": ['<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">',
                                "Salle B", "Salle C", "Vide"],
                        "lon": ["2.26006", "2.2601", "2.25", ""], "lat": ["50.75359", "50.7565", "50.73", ""]})
    res = check_table(pts, checker, lon_col="lon", lat_col="lat")
    lon, lat = (pd.to_numeric(pts[c]).to_numpy() for c in ("lon", "lat"))
    return maps.eligibility_spec(checker, shown=select(per, epci=CAPSO), points=(res, lon, lat))


@pytest.fixture(scope="module")
def frag_spec(per):
    return maps.fragility_spec(fragility(load_carreaux(), epci=CAPSO, perimeters=per), per)


def layers_in_html(page: str) -> dict:
    """{layer name: GeoJSON FeatureCollection} read back from the rendered page."""
    overlays = re.search(r"overlays\s*:\s*\{(.*?)\}", page, re.S).group(1)
    names = {json.loads(f'"{n}"'): v for n, v in re.findall(r'"([^"]+)"\s*:\s*(geo_json_[0-9a-f]+)', overlays)}
    out = {}
    dec = json.JSONDecoder()
    for name, var in names.items():
        start = page.index(f"{var}_add({{") + len(var) + 5
        out[name] = dec.raw_decode(page, start)[0]
    return out


def test_eligibility_html_layers_features_wgs84_legend_credits(elig_spec):
    page = maps.render_html(maps.to_folium(elig_spec, tiles="none"))
    layers = layers_in_html(page)
    assert set(layers) == {"Communes", "EPCI", "Zone des 300 m", "QPV (État)", "Points vérifiés"}
    assert len(layers["QPV (État)"]["features"]) == 3
    assert len(layers["Points vérifiés"]["features"]) == 3  # the row without coordinates is not drawn
    for name, fc in layers.items():
        if name == "Communes":
            continue
        coords = np.array(re.findall(r"-?\d+\.\d+", json.dumps([f["geometry"] for f in fc["features"]])), float)
        lon, lat = coords[0::2], coords[1::2]
        assert ((lon > 1.5) & (lon < 3.2)).all() and ((lat > 50.2) & (lat < 51.0)).all()  # WGS84 degrees
    assert "Légende" in page and "Zone des 300 m" in page and "Quartier prioritaire de l&#x27;État" in page
    assert "Sources : ANCT, périmètres des quartiers prioritaires 2024" in page and "Carte réalisée le" in page
    assert "https://sig.ville.gouv.fr/territoire/QN06237M" in page
    # the address from the file is text, never markup
    assert "<script>window.__pwned" not in page and "onerror=\"window" not in page
    assert "\\u0026lt;script\\u0026gt;window.__pwned" in page  # HTML-escaped, inside JSON
    # offline: Leaflet inlined, nothing loaded from a CDN
    assert "cdn.jsdelivr" not in page and "code.jquery" not in page and "L.control.scale" in page
    assert not re.findall(r'<script[^>]+src="http', page)


def test_fragility_html(frag_spec):
    page = maps.render_html(maps.to_folium(frag_spec, tiles="none"))
    layers = layers_in_html(page)
    name = "Carreaux 200 m : taux de pauvreté des ménages"
    assert name in layers and "Carreaux fragiles" in layers and "Zones candidates" in layers
    n_ok = 3565
    assert len(layers[name]["features"]) == n_ok
    assert len(layers["Zones candidates"]["features"]) == 22
    assert "Zone Z01" in page and "Taux de pauvreté" in page
    assert "INSEE, Filosofi 2021" in page


def test_tiles_are_optional(elig_spec):
    with_tiles = maps.render_html(maps.to_folium(elig_spec, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in with_tiles
    without = maps.render_html(maps.to_folium(elig_spec, tiles="none"))
    assert "tile.openstreetmap.org" not in without


def test_print_png_and_pdf(elig_spec, frag_spec, tmp_path):
    from PIL import Image

    for spec, name in ((elig_spec, "e"), (frag_spec, "f")):
        png = maps.save(spec, tmp_path / f"{name}.png")[0]
        img = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert img.shape == pytest.approx((3508, 2480), abs=1)  # A4 (210 × 297 mm) at 300 dpi
        assert img.std() > 10 and (img < 250).mean() > 0.01  # not blank
        pdf = maps.save(spec, tmp_path / f"{name}.pdf")[0]
        import pypdfium2 as pdfium

        page = pdfium.PdfDocument(str(pdf))[0]
        assert page.get_size() == pytest.approx((595.3, 841.9), abs=0.5)  # A4 in points
        raster = np.asarray(page.render(scale=300 / 72).to_pil().convert("L"), dtype=float)
        assert raster.shape[1] >= 2480
        assert raster.std() > 10 and (raster < 250).mean() > 0.01  # not blank
    with pytest.raises(InputError, match="300 dpi"):
        maps.save(elig_spec, tmp_path / "low.png", dpi=150)


def test_html_written_with_embed_snippet_and_no_overwrite(elig_spec, tmp_path):
    files = maps.save(elig_spec, tmp_path / "e.html", tiles="none")
    assert [f.name for f in files] == ["e.html", "e.embed.html"]
    assert '<iframe src="e.html"' in files[1].read_text()
    with pytest.raises(InputError, match="already exists"):
        maps.save(elig_spec, tmp_path / "e.html")


def test_cli_maps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["map", "qpv", "--epci", CAPSO, "--tiles", "none"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "maps" / f"qpv-{CAPSO}.html").exists()
    pts = tmp_path / "pts.csv"
    pts.write_text("nom,lon,lat\nA,2.26006,50.75359\n")
    r = CliRunner().invoke(main, ["map", "eligibility", "--epci", CAPSO, "--points", str(pts), "--lon-col", "lon",
                                  "--lat-col", "lat", "--format", "png", "-o", str(tmp_path / "e.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "e.png").stat().st_size > 10_000
    r = CliRunner().invoke(main, ["map", "fragility", "--epci", CAPSO, "--format", "pdf", "-o", "f.pdf"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_PROBE_HEAD = ("<script>window.__errors=[];window.addEventListener('error',function(e){"
               "window.__errors.push(String(e.message))});</script>")
_PROBE_TAIL = ("<script>window.addEventListener('load',function(){setTimeout(function(){"
               "var d=document.createElement('pre');d.id='qpvgeo-probe';d.textContent=JSON.stringify({"
               "L: typeof L, paths: document.querySelectorAll('.leaflet-overlay-pane path').length,"
               "errors: window.__errors, pwned: window.__pwned || 0});document.body.appendChild(d);},300);});"
               "</script>")


def _browse(html_path, tmp_path):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chrome'}", "--virtual-time-budget=5000"]
    dom = subprocess.run(args + ["--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="qpvgeo-probe">([^<]*)</pre>', dom.stdout)
    assert m, dom.stderr[-2000:]
    shot = html_path.with_suffix(".png")
    subprocess.run(args + ["--window-size=1200,900", f"--screenshot={shot}", html_path.as_uri()],
                   capture_output=True, timeout=120)
    return json.loads(m.group(1).replace("&quot;", '"')), shot


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs it)")
@pytest.mark.parametrize("kind", ["eligibility", "fragility", "qpv"])
def test_maps_open_offline_in_headless_chromium(kind, elig_spec, frag_spec, per, tmp_path):
    from PIL import Image

    spec = {"eligibility": elig_spec, "fragility": frag_spec,
            "qpv": maps.qpv_spec(select(per, departement="62"))}[kind]
    page = maps.render_html(maps.to_folium(spec, tiles="none"))
    expected = sum(len(fc["features"]) for fc in layers_in_html(page).values())
    probe_page = page.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace("</body>", _PROBE_TAIL + "</body>")
    path = tmp_path / f"{kind}.html"
    path.write_text(probe_page, encoding="utf-8")
    probe, shot = _browse(path, tmp_path)
    assert probe["L"] == "object"  # Leaflet loaded without network
    assert probe["errors"] == []
    assert probe["paths"] == expected
    assert probe["pwned"] == 0
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.std() > 5  # something was drawn


def test_site_is_coloured_by_status_with_a_popup(per):
    import geopandas as gpd
    import shapely

    checker = Checker(per)
    site = gpd.GeoDataFrame(geometry=[shapely.Point(2.26006, 50.75359).buffer(0.0003)], crs=4326)
    spec = maps.eligibility_spec(checker, site=site)
    page = maps.render_html(maps.to_folium(spec, tiles="none"))
    layer = layers_in_html(page)["Site du projet"]
    assert len(layer["features"]) == 1
    assert "En QPV : une partie oui" in layer["features"][0]["properties"]["popup"]
    assert any("Site du projet : dans un QPV" in label for _, label, _ in spec.legend)
