"""Fiches quartier for the rapport: for each quartier one or two A4 pages in French — identity,
a map (the quartier, its band, the fragile carreaux and zones around it, commune limits), people
and households with their method, bracket and coverage, its poverty rate against its EPCI's,
the candidate fragile zones in or near it, the user's point layers counted inside it and within
its band, its change between two geographies — and an index page per EPCI
(docs/rules.md §12).

Every answer comes from the same places as everywhere else: points through
:class:`qpvgeo.eligibility.Checker`, people through :func:`qpvgeo.inhabitants.population`,
fragility through :func:`qpvgeo.fragility.fragility`, changes through :func:`qpvgeo.compare.compare`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from . import _document as doc
from . import _io
from .errors import DataError, InputError, NotFoundError
from .present import grouped, in_qpv_fr, method_fr, percent

log = logging.getLogger(__name__)

NEAR_M = 1000.0  # a candidate zone within this ground distance of the quartier is shown on its fiche
LIST_MAX = 15  # points named per layer (the count is always complete)
LABEL_COLUMNS = ("stop_name", "nom", "name", "libelle", "label", "designation", "denomination",
                 "appellation_officielle", "nom_etablissement", "enseigne", "id", "stop_id")
COVERAGE_FR = {"covered": "couvert par la grille", "partial": "en partie hors de la grille (chiffres partiels)",
               "not_covered": "hors de la grille chargée : pas de donnée (ce n'est pas zéro)"}
PEOPLE_FR = {"official": "{n} habitants (chiffre officiel)", "estimate": "{n} habitants (estimation)",
             "at_least": "au moins {n} habitants (estimation partielle : le quartier sort de la grille)"}
INDEX_PEOPLE_FR = {"official": "{n} (officiel)", "estimate": "{n}", "at_least": "au moins {n} (partiel)"}
PEOPLE_EN = {"official": "{n} people (official)", "estimate": "{n} people (estimate)",
             "at_least": "at least {n} people (the quartier runs out of the grid)"}  # the terminal
CHANGE_FR = {"unchanged": "inchangé", "modified": "modifié", "split": "scindé", "merged": "fusionné",
             "regrouped": "regroupé", "entered": "entré dans la géographie", "left": "sorti de la géographie"}
CLASSE_FR = {"QPV": "Quartier prioritaire de la politique de la ville (QPV)",
             "QIC": "Quartier prioritaire communautaire (QIC)", "fragile": "Quartier fragile"}


@dataclass
class PointLayer:
    """A point file (schools, a GTFS ``stops.txt``, services…) checked by the Checker."""

    name: str
    labels: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    results: object  # qpvgeo.eligibility.PointResults

    def around(self, code: str) -> dict:
        """Points inside quartier ``code`` and within its band (ground metres), by name."""
        inside, band = [], []
        pts, codes, metres = self.results.pairs
        mine = codes == code
        for i, d in zip(pts[mine], metres[mine]):
            if d == 0 and str(self.results.code_qp[i]) == code:
                inside.append(str(self.labels[i]))
            else:
                band.append((str(self.labels[i]), float(d)))
        band.sort(key=lambda t: t[1])
        undecided = int(np.sum(~np.isin(self.results.status.astype(str), ["in_qpv", "in_band", "in_qic",
                                                                            "in_fragile", "outside"])))
        return {"name": self.name, "inside": sorted(inside), "band": band, "total": len(self.labels),
                "undecided": undecided}


def load_point_layer(path: str, checker, *, name: str | None = None) -> PointLayer:
    """Read a point file (CSV with coordinate columns, GTFS ``stops.txt``, GeoJSON, GPKG…; its
    location columns recognised as for ``check-file``) and check every point."""
    from .batch import check_rows

    frame, lon, lat = check_rows(path, checker)
    lower = {str(c).lower(): c for c in frame.columns}
    col = next((lower[n] for n in LABEL_COLUMNS if n in lower), None)
    labels = (frame[col].astype(str).to_numpy() if col is not None
              else np.array([f"point {i + 1}" for i in range(len(frame))], dtype=object))
    res = checker.check_lonlat(lon, lat)
    return PointLayer(name or Path(str(path)).stem, labels, lon, lat, res)


@dataclass
class Fiche:
    code: str
    nom: str
    classe: str
    vintage: str
    communes: list  # names
    epci: list  # (siren, name)
    area_ha: float | None
    link: str
    population: dict
    reference: dict | None  # the EPCI record of the fragility summary
    fragility_note: str
    zones: pd.DataFrame
    points: list = field(default_factory=list)
    changes: list = field(default_factory=list)
    spec: object = None
    sources: list = field(default_factory=list)
    made: str = field(default_factory=lambda: date.today().strftime("%d/%m/%Y"))

    @property
    def people(self) -> tuple[float | None, str]:
        """The figure a fiche puts first and what it is: ``official`` where an official figure
        exists, else ``estimate``, or ``at_least`` when the quartier runs out of the grid (the
        carreaux give only part of its people)."""
        p = self.population
        if p.get("official") is not None and p["official"] == p["official"]:
            return p["official"], "official"
        return p.get("estimate"), "at_least" if p.get("coverage") == "partial" else "estimate"


def build(selection, checker, *, source=None, vintage=None, membership=None, communes=None, official=None,
          weights=None, point_layers=(), old=None, frule=None, settings=None) -> list[Fiche]:
    """The fiches of the quartiers of ``selection`` (rows of the checker's layer).

    ``old`` is a perimeter layer of another geography: each fiche then shows its change.
    """
    from . import maps
    from .compare import _ground_area_ha, compare
    from .inhabitants import population
    from .territory import commune_names, epci_name, load_membership

    if selection.empty:
        raise InputError("no quartier to make a fiche of")
    from .carreaux import load_carreaux

    table = load_membership(membership)
    names = commune_names(table)
    carreaux = load_carreaux(source, vintage=vintage, around=selection, settings=settings)  # once, for all
    pop = population(selection, carreaux, weights=weights, official=official)
    pop = pop.astype(object).where(pop.notna(), None).set_index("code_qp")
    sirens = sorted({s for v in selection["epci"] for s in _epcis(v)})
    results, notes = {}, {}
    for siren in sirens:
        results[siren], notes[siren] = _fragility_of(siren, checker.perimeters, source=source, vintage=vintage,
                                                     membership=membership, communes=communes, frule=frule,
                                                     settings=settings)
    changes = compare(old, selection, carreaux=carreaux).table.to_dict("records") if old is not None else None
    from .crs import metric_crs

    crs_m = metric_crs(geodataframe=selection)
    sel_m = selection.to_crs(crs_m)
    area = _ground_area_ha(sel_m.geometry.values, crs_m)
    out = []
    for i, (_, q) in enumerate(selection.iterrows()):
        code = q["code_qp"]
        eps = _epcis(q["epci"])
        siren = eps[0] if eps else None
        res = results.get(siren)
        reference = next((e for e in res.summary["epci"] if e["epci"] == siren), None) if res else None
        zones = _zones_near(res, sel_m.geometry.values[i], crs_m) if res else pd.DataFrame()
        f = Fiche(code=code, nom=q["nom_qp"], classe=q["classe"], vintage=str(q.get("vintage") or ""),
                  communes=[names.get(c, c) for c in q["communes"]],
                  epci=[(s, _safe(epci_name, s, table)) for s in eps], area_ha=float(area[i]),
                  link=maps.SIG_URL.format(code=code) if q["classe"] == "QPV" else "",
                  population=dict(pop.loc[code]) if code in pop.index else {}, reference=reference,
                  fragility_note=notes.get(siren, "") if siren else "quartier sans EPCI connu",
                  zones=zones, points=[layer.around(code) for layer in point_layers])
        if changes is not None:
            f.changes = [r for r in changes if code in str(r["new_code"]).split(",")]
        f.spec = maps.fiche_spec(checker, code, result=res, point_layers=point_layers)
        f.sources = _sources(f)
        out.append(f)
    return out


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - a name is for reading; the code is kept beside it
        return args[0]


def _epcis(value) -> list:
    """The EPCI SIREN of a quartier's ``epci`` field (a list, or one code)."""
    return [s for s in (value if isinstance(value, list | tuple) else [value]) if s]


def _fragility_of(siren, perimeters, *, source, vintage, membership, communes, frule, settings):
    """(FragilityResult or None, why not) for one EPCI: an EPCI the loaded grid does not cover
    gets no fragility figures (said on the fiche), never zeros."""
    from .fragility import fragility, load_grid

    try:
        carreaux, table, outlines = load_grid(source, epci=siren, vintage=vintage, membership=membership,
                                              communes=communes, settings=settings)
        return fragility(carreaux, epci=siren, perimeters=perimeters, rule=frule, membership=table,
                         communes=outlines), ""
    except (DataError, InputError, NotFoundError) as exc:
        log.info("no fragility for EPCI %s: %s", siren, exc)
        return None, ("la grille Filosofi chargée ne couvre pas tout cet EPCI, son taux de référence serait faux "
                      "(chargez le fichier Filosofi qui le couvre, --carreaux)")


def _zones_near(res, geom_m, crs_m) -> pd.DataFrame:
    z = res.zones.to_crs(crs_m)
    if z.empty:
        return pd.DataFrame()
    d = z.distance(geom_m).to_numpy()
    near = z[d <= NEAR_M].copy()
    near["distance_m"] = d[d <= NEAR_M].round(0)
    return pd.DataFrame(near.drop(columns="geometry")).sort_values(["distance_m", "zone_id"])


def _sources(f: Fiche) -> list[str]:
    s = [f"ANCT, périmètres des quartiers prioritaires {f.vintage}".strip()]
    if f.population.get("source"):
        s.append(f"INSEE, Filosofi carroyé 200 m ({str(f.population['source']).removeprefix('embedded: ')})")
    if f.population.get("official_source"):
        s.append(f"Population officielle : {f.population['official_source']}")
    s.append("IGN, Admin Express (limites communales) ; DGCL (EPCI)")
    s.extend(f"Couche de points : {p['name']}" for p in f.points)
    return s


# ------------------------------------------------------------------------------- content
def _bracket(p: dict, pre: str = "") -> str:
    if p.get(f"{pre}estimate") is None:
        return "pas de donnée"
    return (f"{grouped(p[pre + 'estimate'])} (fourchette {grouped(p[pre + 'low'])} – {grouped(p[pre + 'high'])})")


def document(f: Fiche) -> doc.Document:
    """The fiche as a document (HTML or PDF)."""
    p = f.population
    people, kind = f.people
    head = (PEOPLE_FR[kind].format(n=grouped(people)) if people is not None
            else "pas de donnée (le quartier est hors de la grille chargée ; ce n'est pas zéro)")
    ident = [("Code", f.code), ("Nom", f.nom), ("Classe", CLASSE_FR.get(f.classe, f.classe)),
             ("Communes", ", ".join(f.communes)), ("EPCI", ", ".join(f"{n} ({s})" for s, n in f.epci) or "—"),
             ("Géographie", f"{f.classe} {f.vintage}".strip()),
             ("Superficie", f"{grouped(f.area_ha, digits=1)} ha" if f.area_ha is not None else "—")]
    if f.link:
        ident.append(("Page officielle", f.link))
    rows = [("Habitants", head)]
    if p.get("official") is not None:
        rows.append(("Chiffre officiel", f"{grouped(p['official'])} ({p.get('official_source') or 'source ?'}"
                                         f"{', ' + str(p['official_year']) if p.get('official_year') else ''})"))
    rows += [("Estimation par les carreaux", _bracket(p)), ("Ménages", _bracket(p, "households_")),
             ("Méthode", method_fr(p.get("method"))),
             ("Couverture", COVERAGE_FR.get(p.get("coverage"), p.get("coverage") or "—"))]
    if p.get("official") is not None and p.get("gap") is not None:
        rows.append(("Écart estimation − officiel", grouped(p["gap"], sign=True)))
    note = ("Fourchette : habitants des carreaux dont le centre est dans le quartier … de tous les carreaux "
            "qui le touchent. La pondération par la surface sous-estime les quartiers dessinés autour des "
            "immeubles (docs/rules.md §10).")
    sections = [doc.Section("Identité", rows=ident), doc.Section("Habitants et ménages", rows=rows, note=note)]
    poverty = []
    if p.get("rate") is not None:
        poverty.append(("Taux de pauvreté des ménages (carreaux)", percent(p["rate"])))
    if f.reference:
        ref = f.reference["reference_rate"]
        poverty.append((f"Taux de référence : {f.reference['nom_epci']}", percent(ref)))
        if p.get("rate") is not None and ref:
            poverty.append(("Rapport au taux de l'EPCI", f"{grouped(p['rate'] / ref, digits=1)} ×"))
    elif f.fragility_note:
        poverty.append(("Taux de référence de l'EPCI", "non disponible : " + f.fragility_note))
    sections.append(doc.Section("Pauvreté", rows=poverty or [("Taux de pauvreté", "pas de donnée")]))
    if f.reference is not None:
        if len(f.zones):
            t = doc.Table(["Zone", "Communes", "Ménages", "Habitants", "Taux", "Dans un QPV", "Distance"],
                          [[r["zone_id"], r["noms_communes"], grouped(r["households"]), grouped(r["individuals"]),
                            percent(r["rate"]), in_qpv_fr(r), f"{grouped(r['distance_m'])} m"]
                           for _, r in f.zones.iterrows()], widths=[0.6, 2.4, 0.9, 0.9, 0.8, 1.6, 0.9])
            sections.append(doc.Section(f"Zones fragiles candidates dans le quartier ou à moins de "
                                        f"{grouped(NEAR_M)} m", table=t))
        else:
            sections.append(doc.Section("Zones fragiles candidates", items=[
                f"aucune zone candidate dans le quartier ni à moins de {grouped(NEAR_M)} m"]))
    for layer in f.points:
        items = [f"{len(layer['inside'])} dans le quartier, {len(layer['band'])} dans la bande des 300 m "
                 f"(sur {grouped(layer['total'])} points du fichier"
                 + (f", dont {layer['undecided']} non décidés" if layer["undecided"] else "") + ")"]
        items += [f"dans le quartier : {n}" for n in layer["inside"][:LIST_MAX]]
        items += [f"à {grouped(d)} m : {n}" for n, d in layer["band"][:LIST_MAX]]
        more = len(layer["inside"]) + len(layer["band"]) - len(items) + 1
        if more > 0:
            items.append(f"… et {more} autres")
        sections.append(doc.Section(f"Points : {layer['name']}", items=items))
    for c in f.changes:
        items = [f"{CHANGE_FR.get(c['change'], c['change'])} : ancien périmètre {c['old_code'] or '—'} "
                 f"({grouped(c['old_ha'], digits=1)} ha) → {c['new_code']} ({grouped(c['new_ha'], digits=1)} ha)",
                 f"surface ajoutée {grouped(c['added_ha'], digits=1)} ha, retirée "
                 f"{grouped(c['removed_ha'], digits=1)} ha"]
        if c.get("added_people") is not None:
            items.append(f"habitants dans la partie ajoutée : {grouped(c['added_people'])}, dans la partie "
                         f"retirée : {grouped(c.get('removed_people'))} ({method_fr(c.get('people_method'))})")
        sections.append(doc.Section("Évolution du périmètre", items=items))
    sections.append(doc.Section("Sources", items=f.sources))
    return doc.Document(title=f"{f.nom} ({f.code})",
                        subtitle=f"{CLASSE_FR.get(f.classe, f.classe)} — {', '.join(f.communes)} — "
                                 + ", ".join(n for _, n in f.epci),
                        sections=sections, maps=[f.spec] if f.spec is not None else [],
                        footer=f"Fiche quartier {f.code}, établie le {f.made} avec qpvgeo.")


def index_document(fiches: list[Fiche], files: dict) -> doc.Document:
    """One index section per EPCI: each quartier with its people and poverty, linked to its fiche."""
    by_epci: dict = {}
    for f in fiches:
        key = f.epci[0] if f.epci else ("", "sans EPCI")
        by_epci.setdefault(key, []).append(f)
    sections, links = [], {}
    for (siren, name), group in sorted(by_epci.items(), key=lambda kv: kv[0][1]):
        rows = []
        for f in group:
            people, kind = f.people
            said = INDEX_PEOPLE_FR[kind].format(n=grouped(people)) if people is not None else "pas de donnée"
            rows.append([f.code, f.nom, ", ".join(f.communes), said, percent(f.population.get("rate")) or "—",
                         str(len(f.zones)) if f.reference is not None else "—"])
            if f.code in files:
                links[f.nom] = files[f.code]
        sections.append(doc.Section(f"{name}" + (f" ({siren})" if siren else ""), table=doc.Table(
            ["Code", "Quartier", "Communes", "Habitants", "Taux de pauvreté", "Zones fragiles proches"], rows,
            widths=[1.0, 2.2, 2.2, 1.2, 1.0, 1.0])))
    return doc.Document(title="Fiches quartier", subtitle=f"{len(fiches)} quartier(s), établies le "
                        f"{date.today():%d/%m/%Y} avec qpvgeo", sections=sections, links=links,
                        footer="Habitants : chiffre officiel s'il a été donné, sinon estimation par les carreaux "
                               "Filosofi (voir chaque fiche pour la méthode et la fourchette).")


# ------------------------------------------------------------------------------- writing
FORMATS = ("html", "pdf")


def write(fiches: list[Fiche], outdir: str | Path, *, fmt: str = "html", overwrite: bool = False,
          page: str = "a4-portrait", on_progress=None) -> list[Path]:
    """Write one file per quartier (``<code>.html`` or ``.pdf``) and ``index.html`` (with
    ``index.pdf`` for PDF) into ``outdir``, atomically. Returns the files written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown fiche format {fmt!r}: use html or pdf")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    names = {f.code: out / f"{f.code}.{fmt}" for f in fiches}
    index = [out / "index.html"] + ([out / "index.pdf"] if fmt == "pdf" else [])
    for p in [*names.values(), *index]:
        _io.check_target(p, overwrite=overwrite)
    written = []
    for f in fiches:
        written.append(_write_one(document(f), names[f.code], fmt, overwrite, page))
        if on_progress is not None:
            on_progress(f)
    idx = index_document(fiches, {c: p.name for c, p in names.items()})
    _io.write_text(doc.to_html(idx), index[0], overwrite=overwrite)
    written.append(index[0])
    if fmt == "pdf":
        written.append(_write_one(idx, index[1], "pdf", overwrite, page))
    return written


def _write_one(d: doc.Document, path: Path, fmt: str, overwrite: bool, page: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .printmap import RC, figure

    if fmt == "html":
        svgs = []
        for spec in d.maps:
            fig = figure(spec, page_name=page)
            try:
                svgs.append(doc.svg_of(fig))  # labels stay text: searchable
            finally:
                plt.close(fig)
        return _io.write_text(doc.to_html(d, map_html=svgs), path, overwrite=overwrite)
    from matplotlib.backends.backend_pdf import PdfPages

    with _io.atomic_path(path, overwrite=overwrite) as tmp, matplotlib.rc_context(RC):
        with PdfPages(tmp, metadata={"Title": d.title, "Creator": "qpvgeo"}) as pdf:
            doc.to_pdf(d, pdf, page_name=page)
    return path
