"""Writing the fragility results: GeoPackage, CSV of zones, GeoTIFF and a JSON summary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyproj

from . import __version__, _io
from .carreaux import grid_crs, square_bounds, square_wkb
from .errors import InputError
from .fragility import FragilityResult
from .raster import write_geotiff

FILES = {"gpkg": "fragilite.gpkg", "csv": "zones.csv", "tif": "fragilite.tif", "json": "summary.json",
         "parquet_carreaux": "carreaux.parquet", "parquet_zones": "zones.parquet"}


def write_fragility(result: FragilityResult, outdir: str | Path, *, overwrite: bool = False, lang: str = "en",
                    perimeters=None, gpkg: bool = True) -> dict:
    """Write the layers ``carreaux`` and ``zones`` as GeoParquet (``carreaux.parquet``,
    ``zones.parquet``) and, with ``gpkg``, as ``fragilite.gpkg`` (several times slower to write
    at national scale), plus ``zones.csv``, ``fragilite.tif`` and ``summary.json`` into ``outdir``;
    return their paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / v for k, v in FILES.items() if gpkg or k != "gpkg"}
    for p in paths.values():
        _io.check_target(p, overwrite=overwrite)
    table = result.table
    keep = [c for c in ("idcar_200m", "i_est_200", "ind", "men", "men_pauv", "insee", "epci", "status",
                        "reference_rate", "rate", "ratio", "flagged", "zone_id", "qpv_share", "partial")
            if c in table.columns]
    car = _carreaux_arrow(table, keep)  # the squares written from the ids, no shapely object made
    crs = pyproj.CRS.from_user_input(grid_crs(table))
    zones = result.zones.copy()
    zones["communes"] = zones["communes"].map(lambda xs: ",".join(xs))
    s = result.summary
    one = s["epci"][0] if len(s["epci"]) == 1 else None

    def geopackage():
        import pyogrio

        with _io.atomic_path(paths["gpkg"], overwrite=overwrite) as tmp:
            pyogrio.write_arrow(car, tmp, layer="carreaux", driver="GPKG", geometry_name="geometry",
                                geometry_type="Polygon", crs=crs.to_wkt())
            zones.to_file(tmp, layer="zones", driver="GPKG", engine="pyogrio", append=True, use_arrow=True)

    def geoparquet():
        with _io.atomic_path(paths["parquet_carreaux"], overwrite=overwrite) as tmp:
            _write_geoparquet(car, crs, square_bounds(table), tmp)

    def geotiff():
        write_geotiff(table, paths["tif"], overwrite=overwrite,
                      tags={"reference_rate": one["reference_rate"] if one else "per EPCI",
                            "epci": one["epci"] if one else ",".join(e["epci"] for e in s["epci"]),
                            "partial": str(bool(s.get("partial"))).lower(),
                            "source": s.get("source"), "vintage": s.get("vintage")})

    # the large files are written by libraries that release the GIL (Arrow, GDAL): in threads, while
    # this one writes the small ones; each file is written atomically, and the first error is raised
    from . import _parallel

    tasks = [geoparquet, geotiff] + ([geopackage] if gpkg else [])
    running = [_parallel.pool("writers", len(tasks)).submit(t) for t in tasks]
    try:
        with _io.atomic_path(paths["parquet_zones"], overwrite=overwrite) as tmp:
            zones.to_parquet(tmp, index=False)
        with _io.atomic_path(paths["csv"], overwrite=overwrite) as tmp:
            pd.DataFrame(zones.drop(columns="geometry")).to_csv(tmp, index=False)
        # indented for people when small; compact at national scale (Python's C encoder only runs without indent)
        indent = 2 if len(s.get("zones") or []) <= 1000 else None
        _io.write_text(json.dumps(s, ensure_ascii=False, indent=indent, default=str), paths["json"],
                       overwrite=overwrite)
    finally:
        for f in running:
            f.exception()  # wait for every writer, whatever happened here
    for f in running:
        f.result()
    if lang == "fr":  # the zones sheet for élus: a French table (for French Excel) and a one-page sheet
        from .rapport import zones_for_people, zones_sheet_html, zones_sheet_pdf

        paths["csv_fr"], paths["html_fr"] = out / "zones-elus.csv", out / "zones-elus.html"
        paths["pdf_fr"] = out / "zones-elus.pdf"
        with _io.atomic_path(paths["csv_fr"], overwrite=overwrite) as tmp:
            zones_for_people(result).to_csv(tmp, index=False, sep=";", encoding="utf-8-sig")
        _io.write_text(zones_sheet_html(result, perimeters), paths["html_fr"], overwrite=overwrite)
        zones_sheet_pdf(result, paths["pdf_fr"], perimeters, overwrite=overwrite)
    return {k: str(v) for k, v in paths.items()}


def _carreaux_arrow(table: pd.DataFrame, columns: list[str]):
    """The carreaux' columns as an Arrow table (categorical columns as plain text, which every
    GIS reads) with ``geometry``, each square as WKB (:func:`qpvgeo.carreaux.square_wkb`)."""
    import pyarrow as pa

    t = pa.Table.from_pandas(pd.DataFrame(table[columns]), preserve_index=False)
    for i, f in enumerate(t.schema):
        if pa.types.is_dictionary(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(pa.string()))
    t = t.append_column("geometry", square_wkb(table))
    return t.replace_schema_metadata(None)


def _write_geoparquet(t, crs: pyproj.CRS, bbox: list[float], path) -> None:
    """GeoParquet 1.0 (WKB geometry, its CRS as PROJJSON, its bounding box) from an Arrow table
    with a WKB ``geometry`` column of polygons, as geopandas, GDAL/QGIS and DuckDB read it."""
    import pyarrow.parquet as pq

    meta = {"version": "1.0.0", "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon"],
                                     "crs": crs.to_json_dict(), **({"bbox": bbox} if bbox else {})}},
            "creator": {"library": "qpvgeo", "version": __version__}}
    pq.write_table(t.replace_schema_metadata({b"geo": json.dumps(meta).encode()}), path)


COMPARE_COLUMNS_FR = {
    "old_code": "ancien_code", "new_code": "nouveau_code", "change": "changement", "old_ha": "ancienne_surface_ha",
    "new_ha": "nouvelle_surface_ha", "kept_ha": "surface_conservee_ha", "added_ha": "surface_ajoutee_ha",
    "removed_ha": "surface_retiree_ha", "added_people": "habitants_ajoutes", "removed_people": "habitants_retires",
    "added_people_low": "habitants_ajoutes_bas", "added_people_high": "habitants_ajoutes_haut",
    "removed_people_low": "habitants_retires_bas", "removed_people_high": "habitants_retires_haut",
    "added_households": "menages_ajoutes", "removed_households": "menages_retires", "people_method": "methode",
}
CHANGES_FR = {"unchanged": "inchangé", "modified": "modifié", "split": "scindé", "merged": "fusionné",
              "regrouped": "regroupé", "entered": "entré", "left": "sorti"}


def comparison_in(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The comparison table in ``lang``: French column names and change words with ``"fr"``."""
    if lang != "fr":
        return table
    table = table.copy()
    table["change"] = table["change"].map(CHANGES_FR)
    return table.rename(columns=COMPARE_COLUMNS_FR)


def write_comparison(res, outdir, *, old, new, lang: str = "en", xlsx: bool = False, overwrite: bool = False) -> dict:
    """Write ``comparaison.csv`` (or ``.xlsx``; French with ``lang="fr"``), ``comparaison.gpkg``
    (layers ``ajouts`` and ``retraits``, the parts added and removed) and ``comparaison.html``."""
    from . import maps
    from .crs import WGS84

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / ("comparaison.xlsx" if xlsx else "comparaison.csv"), "gpkg": out / "comparaison.gpkg",
             "html": out / "comparaison.html"}
    for p in paths.values():
        _io.check_target(p, overwrite=overwrite)
    table = comparison_in(res.table, lang)
    with _io.atomic_path(paths["table"], overwrite=overwrite) as tmp:
        if xlsx:
            table.to_excel(tmp, index=False, sheet_name="comparaison")
        elif lang == "fr":
            pd.DataFrame(table).to_csv(tmp, index=False, sep=";", decimal=",", encoding="utf-8-sig")
        else:
            pd.DataFrame(table).to_csv(tmp, index=False)
    with _io.atomic_path(paths["gpkg"], overwrite=overwrite) as tmp:
        for kind, layer in (("added", "ajouts"), ("removed", "retraits")):
            part = res.parts[res.parts["kind"] == kind]
            part.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", append=Path(tmp).exists())
    spec = maps.comparison_spec(res, old.to_crs(WGS84), new.to_crs(WGS84))
    written = maps.save(spec, paths["html"], fmt="html", tiles="none", overwrite=overwrite)
    paths["embed"] = written[-1]
    return {k: str(v) for k, v in paths.items()}


# French names of the columns of a checked programme (qpvgeo.programme): exact names, then the
# endings of the per-fund columns
PROGRAMME_COLUMNS_FR = {
    "fund": "fonds", "fund_name": "nom_du_fonds", "asked_eur": "demande_eur", "allowed_eur": "admis_eur",
    "undecided_actions": "actions_non_decidees", "line": "ligne", "label": "libelle", "stated_eur": "indique_eur",
    "computed_eur": "recalcule_eur", "difference_eur": "ecart_eur", "lines": "lignes", "ok": "juste",
}
_PROGRAMME_ENDINGS_FR = (("_asked_eur", "_demande_eur"), ("_verdict", "_avis"), ("_max_eur", "_plafond_eur"),
                         ("_reason", "_motif"), ("_allowed_eur", "_admis_eur"))


def programme_column_fr(name: str) -> str:
    """The French name of a column of a checked programme (the input's own columns are kept)."""
    from .present import COLUMNS_FR
    from .programme import FUNDS

    if name in PROGRAMME_COLUMNS_FR or name in COLUMNS_FR:
        return PROGRAMME_COLUMNS_FR.get(name) or COLUMNS_FR[name]
    for end, fr in _PROGRAMME_ENDINGS_FR:
        if name.endswith(end) and name[:-len(end)] in FUNDS:
            return name[:-len(end)] + fr
    return name


def totals_for_people(totals: list) -> pd.DataFrame:
    """The totals a programme states, recomputed, with the file's line numbers (1: the header)
    instead of the table's row positions."""
    t = pd.DataFrame(totals)
    if not len(t):
        return t
    t = t.assign(line=t["row"] + 2, lines=t["rows"].map(lambda rows: ", ".join(str(r + 2) for r in rows)))
    return t[["fund", "line", "label", "stated_eur", "computed_eur", "difference_eur", "lines", "ok"]]


VERDICTS_FR = {"eligible": "éligible", "over_the_limit": "au-delà du plafond", "not_eligible": "non éligible",
               "undecided": "non décidé", "not_asked": "", "total_row": "ligne de total"}


def write_programme(res, output, *, lang: str = "en", overwrite: bool = False) -> dict:
    """Write a checked programme: ``.xlsx`` (sheets actions, par_commune, par_fonds, par_pilier,
    totaux_verifies) or ``.csv`` (the actions, and ``<name>-par-commune.csv``, ``-par-fonds``,
    ``-par-pilier``, ``-totaux-verifies`` beside it)."""
    from . import _tables
    from .present import oui_non, status_fr

    out = Path(output)
    rows = _tables.neutralise_formulas(res.rows)
    totals = totals_for_people(res.totals)
    sheets = {"actions": rows, "par_commune": res.by_commune, "par_fonds": res.by_fund, "par_pilier": res.by_pillar,
              "totaux_verifies": totals}
    if lang == "fr":
        rows = rows.copy()
        rows["qpv_status"] = rows["qpv_status"].map(lambda s: "ligne de total" if s == "total_row" else status_fr(s))
        if out.suffix.lower() == ".csv":  # a spreadsheet keeps its booleans (VRAI/FAUX in French Excel)
            rows["qpv_eligible"] = rows["qpv_eligible"].map(oui_non).astype(object)
        for c in [c for c in rows.columns if c.endswith("_verdict")]:
            rows[c] = rows[c].map(lambda v: VERDICTS_FR.get(v, v))
        if len(totals):
            totals = totals.assign(ok=totals["ok"].map({True: "oui", False: "non"}))
        sheets = {name: pd.DataFrame(frame).rename(columns=programme_column_fr) for name, frame in
                  {**sheets, "actions": rows, "totaux_verifies": totals}.items()}
    page = out.with_suffix(".html")
    _io.write_text(_programme_page(res), page, overwrite=overwrite)
    if out.suffix.lower() == ".xlsx":
        with _io.atomic_path(out, overwrite=overwrite) as tmp:
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                for name, frame in sheets.items():
                    pd.DataFrame(frame).to_excel(xw, sheet_name=name, index=False)
        return {"actions": str(out), "page": str(page)}
    if out.suffix.lower() != ".csv":
        raise InputError(f"cannot write {out.name}: use a .csv or .xlsx name")
    files = {}
    for name, frame in sheets.items():
        p = out if name == "actions" else out.with_name(f"{out.stem}-{name.replace('_', '-')}.csv")
        with _io.atomic_path(p, overwrite=overwrite) as tmp:
            pd.DataFrame(frame).to_csv(tmp, index=False, sep=";", encoding="utf-8-sig" if lang == "fr" else "utf-8",
                                       decimal="," if lang == "fr" else ".")
        files[name] = str(p)
    files["page"] = str(page)
    return files


_PAGE_LABELS = {  # the printable page's column headings
    "fund": "Fonds", "fund_name": "Nom du fonds", "actions": "Actions", "asked_eur": "Demandé (€)",
    "allowed_eur": "Admis (€)", "undecided_actions": "Actions non décidées", "line": "Ligne", "label": "Libellé",
    "stated_eur": "Indiqué (€)", "computed_eur": "Recalculé (€)", "difference_eur": "Écart (€)", "lines": "Lignes",
    "ok": "Juste", "commune": "Commune", "pilier": "Pilier",
}


def _programme_page(res) -> str:
    """A printable page (A4) of the rapport's tables, in French: per fund, per commune, per pillar,
    and the table's totals recomputed."""
    import html
    from datetime import date

    from .present import euros as french_euros

    def euros(v):
        return french_euros(v, sep="\u202f")

    def table(frame, title):
        if frame is None or not len(frame):
            return ""
        f = pd.DataFrame(frame).copy()
        for c in f.columns:
            if c.endswith("_eur"):
                f[c] = f[c].map(euros)
        f.columns = [_PAGE_LABELS.get(c) or c.replace("_asked_eur", " demandé (€)") for c in f.columns]
        return f"<h2>{html.escape(title)}</h2>" + f.to_html(index=False, escape=True, border=0)

    checks = totals_for_people(res.totals)
    if len(checks):
        checks = checks.assign(ok=checks["ok"].map({True: "oui", False: "non"}))
    style = ("body{font:11pt sans-serif;margin:12mm}table{border-collapse:collapse;margin:4mm 0}"
             "td,th{border-bottom:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#eee}"
             "@page{size:A4;margin:12mm}")
    return ("<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Programmation</title>"
            f"<style>{style}</style></head><body><h1>Programmation : vérification des financements</h1>"
            + table(res.by_fund, "Par fonds") + table(res.by_commune, "Par commune")
            + table(res.by_pillar, "Par pilier") + table(checks, "Totaux du tableau recalculés")
            + f"<p>Établi le {date.today():%d/%m/%Y} avec qpvgeo ; règles et sources : docs/rules.md.</p>"
            "</body></html>")
