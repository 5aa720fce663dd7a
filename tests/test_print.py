"""Print maps and fiches quartier for the rapport, read back as a reader would: PDF pages measured
and their text searched with PDF libraries, renderings checked for ink, SVG text parsed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pytest
from conftest import run_cli as run

from qpvgeo import maps, printmap
from qpvgeo.eligibility import Checker
from qpvgeo.perimeters import load_perimeters, select

CAPSO = "200069037"
NAMES = {"QN06236M": "Saint-Exupéry - Léon Blum", "QN06237M": "Quai Du commerce - Saint Sépulcre",
         "QN06256M": "Centre Historique"}
A4 = {(595, 842), (842, 595)}


def pdf_facts(path):
    """(page sizes in points, font kinds, text of each page, ink share of each page's rendering)."""
    import pypdf
    import pypdfium2 as pdfium

    reader = pypdf.PdfReader(str(path))
    sizes = [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]
    kinds = set()
    for page in reader.pages:
        for font in page["/Resources"].get("/Font", {}).values():
            font = font.get_object()
            sub = font["/Subtype"]
            if sub == "/Type0":
                desc = font["/DescendantFonts"][0].get_object()
                embedded = "/FontFile2" in desc["/FontDescriptor"].get_object()
                kinds.add(f"{desc['/Subtype']}:{'embedded' if embedded else 'not embedded'}")
            elif sub == "/TrueType":
                embedded = "/FontFile2" in font["/FontDescriptor"].get_object()
                kinds.add(f"/TrueType:{'embedded' if embedded else 'not embedded'}")
            else:
                kinds.add(str(sub))
    doc = pdfium.PdfDocument(str(path))
    texts, ink = [], []
    for i in range(len(doc)):
        texts.append(doc[i].get_textpage().get_text_range())
        grey = np.asarray(doc[i].render(scale=1).to_pil().convert("L"), dtype=float)
        ink.append(float((grey < 200).mean()))
    return sizes, kinds, texts, ink


def assert_print_ready(path, *must_read):
    sizes, kinds, texts, ink = pdf_facts(path)
    assert set(sizes) <= A4, sizes
    assert kinds <= {"/CIDFontType2:embedded", "/TrueType:embedded"}, kinds  # no Type 3, nothing missing
    # a wrapped label reads across its line break; pdfium marks a hyphen at a break as U+FFFE
    text = re.sub(r"\s+", " ", " ".join(texts).replace("\ufffe", "-"))
    for word in must_read:
        assert word in text, f"{word!r} not in the text of {path.name}"
    assert all(0.01 < share < 0.6 for share in ink), ink  # every page has ink, none is a black block
    return text


@pytest.fixture(scope="module")
def capso():
    per = load_perimeters()
    return Checker(per), select(per, epci=CAPSO)


def test_print_map_pages_fonts_text(capso, tmp_path):
    checker, shown = capso
    spec = maps.qpv_spec(shown)
    for page, size in (("a4-portrait", (595, 842)), ("a4-landscape", (842, 595))):
        pdf = maps.save(spec, tmp_path / f"qpv-{page}.pdf", page=page)[0]
        text = assert_print_ready(pdf, *NAMES.values(), "Légende", "Sources", "Situation", "km")
        assert pdf_facts(pdf)[0] == [size]
        assert "Limite d'EPCI" in text and "Arques" in text  # EPCI outline, commune names
    a3 = maps.save(spec, tmp_path / "qpv-a3.pdf", page="a3-portrait")[0]
    assert pdf_facts(a3)[0] == [(842, 1191)]


def test_svg_keeps_labels_and_inset_as_text(capso, tmp_path):
    checker, shown = capso
    svg = maps.save(maps.qpv_spec(shown), tmp_path / "qpv.svg")[0]
    root = ET.parse(svg).getroot()
    texts = " ".join("".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for name in NAMES.values():  # long names are wrapped on two lines: compare without the break
        assert name.replace(" ", "") in texts.replace(" ", ""), name
    assert "Situation" in texts  # the inset's title
    fig = maps.to_figure(maps.qpv_spec(shown))
    placed = fig.qpvgeo_labels
    assert {p["shown"] for p in placed if p["kind"] == "quartier"} == set(NAMES.values())  # named in full
    main = fig.axes[0]
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in main.texts if t.get_text().strip()]
    assert len(boxes) > 10 and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    inset = [ax for ax in fig.axes if getattr(ax, "qpvgeo_inset", False)]
    assert len(inset) == 1
    # the inset shows more than the main map, and the main map's extent lies within it
    (ix0, ix1), (iy0, iy1) = inset[0].get_xlim(), inset[0].get_ylim()
    (mx0, mx1), (my0, my1) = main.get_xlim(), main.get_ylim()
    assert ix0 <= mx0 < mx1 <= ix1 and iy0 <= my0 < my1 <= iy1 and (ix1 - ix0) > 2 * (mx1 - mx0)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_extent_follows_what_is_shown(capso):
    checker, shown = capso
    site = gpd.read_file("data/examples/site-capso.geojson")
    crs = "EPSG:2154"
    site_spec = maps.eligibility_spec(checker, shown=shown, site=site)
    x0, y0, x1, y1 = printmap.extent(site_spec, crs, 1.0)
    assert printmap.MIN_SPAN_M <= x1 - x0 < 2500  # a 1.4 ha site is seen, not lost in the EPCI
    ground = site.to_crs(crs).total_bounds
    assert x0 < ground[0] and ground[2] < x1 and y0 < ground[1] and ground[3] < y1
    tiny = site.to_crs(crs).assign(geometry=lambda g: g.centroid.buffer(4))  # 50 m²
    x0, _, x1, _ = printmap.extent(maps.eligibility_spec(checker, shown=shown, site=tiny.to_crs(4326)), crs, 1.0)
    assert x1 - x0 == pytest.approx(printmap.MIN_SPAN_M)  # the sensible minimum
    x0, _, x1, _ = printmap.extent(maps.qpv_spec(shown), crs, 1.0)
    assert x1 - x0 > 15_000  # the EPCI's three quartiers, 20 km apart


def test_palette_greyscale_colourblind_and_not_qpv_red():
    from matplotlib.colors import to_rgb

    def luminance(c):
        r, g, b = to_rgb(c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lum = [luminance(c) for c in maps.SCALE]
    assert all(a - b > 0.08 for a, b in zip(lum, lum[1:]))  # classes stay apart in greyscale
    red = np.array(to_rgb(maps.COLOURS["QPV"]))
    for c in [*maps.SCALE, *maps.STATUS_COLOURS.values(), maps.COLOURS["zone"], maps.COLOURS["band"]]:
        assert np.abs(np.array(to_rgb(c)) - red).sum() > 0.45, c  # never the QPV red
    assert len(set(printmap.MARKERS.values())) == len(printmap.MARKERS)  # statuses also apart by shape
    assert maps.STATUS_COLOURS["in_qpv"] != maps.COLOURS["QPV"]  # no red point on red


def test_fragility_map_in_french_numbers(tmp_path):
    res = run("map", "fragility", "--epci", CAPSO, "--format", "svg", "-o", tmp_path / "f.svg")
    assert res.exit_code == 0, res.output
    text = (tmp_path / "f.svg").read_text(encoding="utf-8")
    assert "17,2 %" in text and "17.2%" not in text and "0 % à 10 %" in text
    assert re.search(r">\s*Z01\s*<", text)  # zones labelled
    res = run("map", "qpv", "--epci", CAPSO, "--format", "pdf", "--page", "a4-landscape", "-o", tmp_path / "q.pdf")
    assert res.exit_code == 0, res.output
    assert pdf_facts(tmp_path / "q.pdf")[0] == [(842, 595)]


def test_zones_sheet_pdf(tmp_path):
    res = run("--lang", "fr", "fragility", "--epci", CAPSO, "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    pdf = tmp_path / "f" / "zones-elus.pdf"
    sizes, *_ = pdf_facts(pdf)
    assert sizes == [(842, 595), (842, 595)]  # the table on one page, then its map page
    text = assert_print_ready(pdf, "Quartiers fragiles candidats : CA du Pays de Saint-Omer", "39,0 %",
                              "Quai Du commerce - Saint")
    assert "0.39" not in text and "1286.0" not in text


def test_fiches_of_the_three_capso_quartiers(tmp_path):
    out = tmp_path / "fiches"
    res = run("fiche", "--epci", CAPSO, "-o", out, "--format", "pdf")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["QN06236M.pdf", "QN06237M.pdf", "QN06256M.pdf", "index.html",
                                                     "index.pdf"]
    estimates = {"QN06236M": "2 018", "QN06237M": "1 668", "QN06256M": "1 431"}
    for code, name in NAMES.items():
        sizes, *_ = pdf_facts(out / f"{code}.pdf")
        assert 2 <= len(sizes) <= 3  # a map page and one (or two) pages of figures
        text = assert_print_ready(out / f"{code}.pdf", name, code, estimates[code], "CA du Pays de Saint-Omer",
                                  "17,2 %", "fourchette", "pondération par la surface")
        assert f"sig.ville.gouv.fr/territoire/{code}" in text
    index = assert_print_ready(out / "index.pdf", *NAMES.values())
    assert "CA du Pays de Saint-Omer (200069037)" in index
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="QN06237M.pdf"' in page and "src=\"http" not in page


def test_fiche_html_is_self_contained_with_searchable_map(tmp_path):
    res = run("fiche", "QN06237M", "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "f" / "QN06237M.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in page and "<svg" in page
    assert not re.search(r'(src|href)="https?://(?!sig\.ville\.gouv\.fr)', page)  # opens offline
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    texts = "".join(ET.fromstring(svg).itertext())
    assert "QuaiDucommerce-Saint" in texts.replace(" ", "").replace("\n", "")  # the map's labels are text
    assert "1 668" in page and "38,1 %" in page and "2,2 ×" in page


def test_fiche_official_figures_points_and_change(tmp_path, capso):
    checker, shown = capso
    # the old geography: the Saint-Omer quartier 20 m smaller all round
    old = shown.copy()
    m = old.to_crs(2154)
    m["geometry"] = m.buffer(-20)
    m.to_crs(4326).to_file(tmp_path / "old.gpkg", driver="GPKG")
    res = run("fiche", "QN06237M", "QN06256M", "-o", tmp_path / "f", "--official",
              "data/examples/population-capso.csv", "--points", "Arrêts=data/examples/stops-capso.txt",
              "--old", tmp_path / "old.gpkg", "--old-vintage", "2015")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "f" / "QN06237M.html").read_text(encoding="utf-8")
    assert "2 300 habitants (chiffre officiel)" in page and "Écart estimation − officiel" in page
    # the stops counted by the one decider agree with an independent ground measure
    import pandas as pd

    s = pd.read_csv("data/examples/stops-capso.txt")
    pts = gpd.GeoSeries(gpd.points_from_xy(s["stop_lon"], s["stop_lat"]), crs=4326).to_crs(2154)
    q = shown[shown["code_qp"] == "QN06237M"].to_crs(2154).geometry.iloc[0]
    d = pts.distance(q).to_numpy()
    inside, band = int((d == 0).sum()), int(((d > 0) & (d < 300)).sum())
    assert inside and band
    assert f"{inside} dans le quartier, {band} dans la bande des 300 m" in page
    # the change: 20 m added all round, nothing removed
    assert "Évolution du périmètre" in page and "modifié" in page
    ha = float(re.search(r"surface ajoutée ([\d ,]+) ha", page).group(1).replace(" ", "").replace(",", "."))
    old_q = m[m["code_qp"] == "QN06237M"].geometry.iloc[0]
    assert ha == pytest.approx((q.area - old_q.area) / 1e4, rel=0.02)
    assert "retirée 0,0 ha" in page


def test_fiche_without_data_says_so(tmp_path):
    # a Pas-de-Calais quartier far from the embedded CAPSO grid: no figures, never 0
    res = run("fiche", "QN06202M", "QN06255M", "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    page = (tmp_path / "f" / "QN06202M.html").read_text(encoding="utf-8")
    assert "pas de donnée" in page and "non disponible" in page
    assert " 0 habitants" not in page and ">0 %<" not in page
    # Lillers' quartier lies across the edge of the embedded tile bands: a floor, said so
    page = (tmp_path / "f" / "QN06255M.html").read_text(encoding="utf-8")
    assert "au moins 62 habitants (estimation partielle" in page
    assert "no data (not zero)" in res.output and "at least 62 people" in res.output
    assert "candidate zones: no data" in res.output and "0 candidate zone" not in res.output
    bad = run("fiche", "-o", tmp_path / "g")
    assert bad.exit_code == 1 and "give quartier codes" in bad.output
    bad = run("fiche", "QN99999X", "-o", tmp_path / "g")
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1


def test_label_placement_leaves_out_what_does_not_fit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(4, 4))
    ax = fig.add_axes([0, 0, 1, 1])
    from pyproj import Transformer

    to = Transformer.from_crs(2154, 4326, always_xy=True)
    x0, y0 = 650000, 6860000
    ax.set_xlim(x0, x0 + 1000)
    ax.set_ylim(y0, y0 + 1000)
    lon, lat = to.transform(x0 + 500, y0 + 500)
    labels = [(lon, lat, "Quartier A", "quartier"), (lon, lat, "Quartier B", "quartier"),
              (lon, lat, "Commune trop petite", "commune", 5.0), (lon, lat, "Grande commune", "commune", 5000.0)]
    placed = {p["text"]: p for p in printmap.place_labels(ax, labels, "EPSG:2154")}
    assert placed["Quartier A"]["shown"] == "Quartier A" and placed["Quartier B"]["shown"] == "Quartier B"
    assert placed["Grande commune"]["shown"] and not placed["Commune trop petite"]["shown"]
    assert placed["Quartier B"]["moved"] != placed["Quartier A"]["moved"]  # moved aside, not on top
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(fig)


def test_crowded_quartiers_are_named_by_code_or_listed(tmp_path):
    """On the département map the mining basin's quartiers cannot all be named: those without room
    are named by their code, or listed in the credits; never drawn on top of each other."""
    per = load_perimeters()
    fig = maps.to_figure(maps.qpv_spec(per))
    placed = [p for p in fig.qpvgeo_labels if p["kind"] == "quartier"]
    assert len(placed) == 64
    by_code = [p for p in placed if p["shown"] and p["shown"] != p["text"]]
    missing = [p for p in placed if not p["shown"]]
    assert by_code and all(re.fullmatch(r"QN\d{5}[A-Z]", p["shown"]) for p in by_code)
    credits = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert f"Quartiers non nommés faute de place ({len(missing)})" in credits
    assert all(p["text"].split()[0] in credits for p in missing)
    import matplotlib.pyplot as plt

    plt.close(fig)
