"""The HTTP API and the page. Each route parses, calls one library function, and formats.

Answers are the objects of the command line's ``--json`` (``qpvgeo check --json``,
``qpvgeo check --site … --json``, ``qpvgeo fdc --json``, ``qpvgeo fragility --json``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from .. import config
from ..errors import InputError, NotFoundError
from .app import error, french
from .jobs import INPUT_EXT, OUTPUT_EXT

router = APIRouter()
static_router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent / "static"
_STATIC_FILES = {"app.js": "text/javascript", "app.css": "text/css"}
_LEAFLET_FILES = {"leaflet.js": "text/javascript", "leaflet.css": "text/css"}


def _desk(request: Request):
    return request.app.state.desk


def _json(obj, status: int = 200) -> Response:
    from ..cli import _json_default

    return Response(json.dumps(obj, ensure_ascii=False, default=_json_default), status_code=status,
                    media_type="application/json")


# ------------------------------------------------------------------------------- health
@router.get("/healthz", summary="Is the server up, and with which data")
def healthz(request: Request):
    d = _desk(request)
    return {"status": "ok", "quartiers": len(d.perimeters), "vintage": d.checker.vintage,
            "rule": d.checker.rule_dict()}


@router.get("/api/meta", summary="The rule, the vintage, the sources, and the French words of each status")
def meta(request: Request):
    from ..maps import _source_of
    from ..status import LABELS_FR

    d = _desk(request)
    return {"rule": d.checker.rule_dict(), "labels_fr": LABELS_FR, "quartiers": len(d.perimeters),
            "sources": [_source_of(d.perimeters), "IGN, Admin Express (limites communales)",
                        "Base Adresse Nationale (géocodage)"]}


# ------------------------------------------------------------------------------- one place
@router.get("/api/check", summary="Eligibility of one place: lon/lat, x/y in a CRS, or text (coordinates "
            "typed by a person, or an address geocoded with the BAN)")
async def check_one(request: Request, lon: float | None = None, lat: float | None = None, x: float | None = None,
              y: float | None = None, crs: str | None = None,
              q: str | None = Query(None, max_length=300, description="'2.26,50.75', '50.75, 2.26', "
                                    "Lambert-93 'x, y', or an address")):
    from .._tables import read_place
    from ..crs import parse_point
    from ..present import read_as

    checker = _desk(request).checker
    if lon is not None or lat is not None:
        if lon is None or lat is None:
            raise InputError("give both lon and lat (degrees, WGS84)")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InputError(f"lon={lon!r}, lat={lat!r} are not degrees; for projected coordinates use x, y and crs")
        return _json(checker.check_point(lon, lat))
    if x is not None or y is not None:
        if x is None or y is None or not crs:
            raise InputError("give x, y and crs (e.g. crs=EPSG:2154)")
        lon_, lat_, how = parse_point(f"{x},{y}", crs=crs)
        return _json({**checker.check_point(lon_, lat_), **read_as(how, crs)})
    if q is None or not q.strip():
        raise InputError("give lon and lat, x, y and crs, or q (coordinates or an address)")
    place = read_place(q, crs=crs)
    if place is None:  # an address
        import anyio

        from ..geocode import BanClient

        def geocode_and_check():  # the network: in a thread, never on the event loop
            client = BanClient(config.get_settings())
            try:
                return checker.check_address(q.strip(), geocoder=client)
            finally:
                client.close()

        return _json(await anyio.to_thread.run_sync(geocode_and_check))
    lon_, lat_, how = place
    return _json({**checker.check_point(lon_, lat_), **read_as(how, crs)})


@router.post("/api/check", summary="Eligibility of many points: {\"points\": [{\"lon\": …, \"lat\": …}, …]}")
async def check_many(request: Request):
    d = _desk(request)
    body = await _body_json(request)
    pts = body.get("points") if isinstance(body, dict) else body
    if not isinstance(pts, list) or not pts:
        raise InputError('send {"points": [{"lon": 2.26, "lat": 50.75}, …]}')
    if len(pts) > d.settings.max_points:
        return error(413, f"{len(pts)} points, over the limit of {d.settings.max_points} per request; "
                          "send a file to /api/check-file")
    lon, lat = [], []
    for i, p in enumerate(pts):
        try:
            a, b = (p["lon"], p["lat"]) if isinstance(p, dict) else (p[0], p[1])
            a, b = float(a), float(b)
        except (KeyError, IndexError, TypeError, ValueError):
            raise InputError(f"point {i} is not {{\"lon\": …, \"lat\": …}} or [lon, lat]: {p!r}"[:200]) from None
        if not (-180 <= a <= 180 and -90 <= b <= 90):
            raise InputError(f"point {i}: lon={a!r}, lat={b!r} are not degrees")
        lon.append(a)
        lat.append(b)
    return _json({"answers": d.checker.check_points(lon, lat)})


async def _body_json(request: Request):
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InputError("the body is not JSON") from None


# ------------------------------------------------------------------------------- sites
@router.post("/api/site", summary="Eligibility of a project site: a GeoJSON geometry or feature (WGS84); "
             "?population=true adds the people living on it, with the method and bracket")
async def check_site(request: Request, population: bool = False):
    import geopandas as gpd
    import shapely

    body = await _body_json(request)
    if not isinstance(body, dict):
        raise InputError("send a GeoJSON Polygon or MultiPolygon, or a Feature holding one")
    if body.get("type") == "FeatureCollection":
        feats = body.get("features") or []
        if len(feats) != 1:
            raise InputError(f"send one site: this FeatureCollection has {len(feats)} features",
                             fr=f"un seul site à la fois : ce fichier en contient {len(feats)}")
        body = feats[0]
    geom = body.get("geometry") if body.get("type") == "Feature" else body
    try:
        shape = shapely.geometry.shape(geom)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException):
        raise InputError("the site is not a GeoJSON geometry (e.g. {\"type\": \"Polygon\", \"coordinates\": "
                         "[[[2.26, 50.75], …]]})") from None
    site = gpd.GeoSeries([shape], crs="EPSG:4326")
    ans = _desk(request).checker.check_site(site)
    if population:
        from ..inhabitants import site_population

        ans["population"] = site_population(gpd.GeoDataFrame(geometry=site))
    return _json(ans)


@router.post("/api/site-file", summary="Eligibility of a project site given as a file (GeoJSON, GPKG, FlatGeobuf)")
async def check_site_file(request: Request, file: UploadFile = File(...), feature: int | None = Form(None)):
    from .. import _tables

    d = _desk(request)
    ext = _input_ext(file.filename, (".geojson", ".json", ".gpkg", ".fgb"))
    job, path = d.jobs.new(ext, ".csv", "site")
    await _save(file, path, d.settings.max_upload_mb)
    return _json(d.checker.check_site(_tables.read_site(str(path), feature=feature)))


# ------------------------------------------------------------------------------- files
def _input_ext(filename: str | None, allowed=INPUT_EXT) -> str:
    ext = Path(filename or "").suffix.lower()
    if ext not in allowed:
        raise InputError(f"cannot read a file named {filename!r}: send a {', '.join(allowed)} file",
                         fr=f"impossible de lire un fichier nommé « {filename} » : envoyez un fichier "
                            f"{', '.join(allowed)}")
    return ext


async def _save(upload: UploadFile, path: Path, max_mb: float) -> int:
    """Stream an upload to ``path``, counting its bytes against the limit (413 beyond)."""
    from fastapi import HTTPException

    n = 0
    with open(path, "wb") as fh:
        while block := await upload.read(1 << 20):
            n += len(block)
            if n > max_mb * 1e6:
                fh.close()
                path.unlink(missing_ok=True)
                raise HTTPException(413, f"the upload is over the limit of {max_mb:g} MB; split the file")
            fh.write(block)
    return n


def _safe_stem(filename: str | None) -> str:
    """The stem of an uploaded file's name, made of letters, digits, ``.``, ``-`` and ``_`` only."""
    return re.sub(r"[^\w.-]+", "_", Path(filename or "fichier").stem)[:80] or "fichier"


def _download_name(filename: str | None, ext: str) -> str:
    return f"{_safe_stem(filename)}-qpv{ext}"


@router.post("/api/check-file", summary="Eligibility of every row of a table (CSV, GeoJSON, GPKG); the result "
             "comes back as a file, or, for a large file or with async=true, as a job to follow")
async def check_file(request: Request, file: UploadFile = File(...), lon_col: str | None = Form(None),
                     lat_col: str | None = Form(None), crs: str | None = Form(None),
                     address_cols: str | None = Form(None), citycode_col: str | None = Form(None),
                     postcode_col: str | None = Form(None), geometry_col: str | None = Form(None),
                     layer: str | None = Form(None), sheet: str | None = Form(None), output_format: str = Form("csv"),
                     run_async: bool = Form(False, alias="async"), lang: str = Form("en"),
                     excel: bool = Form(False)):
    from ..batch import check_file as check_file_

    d = _desk(request)
    ext = _input_ext(file.filename)
    out_ext = f".{output_format.lower().lstrip('.')}"
    if out_ext not in OUTPUT_EXT:
        raise InputError(f"output_format must be csv, xlsx, geojson or gpkg, got {output_format!r}")
    job, path = d.jobs.new(ext, out_ext, _download_name(file.filename, out_ext))
    size = await _save(file, path, d.settings.max_upload_mb)
    cols = [c.strip() for c in address_cols.split(",") if c.strip()] if address_cols else None

    names = (_safe_stem(file.filename) + ext, job.download_name)  # told in the summary, not the server's folders

    def work(j):
        return check_file_(path, j.result, d.checker, progress=False, max_rows=d.settings.max_rows, layer=layer,
                           sheet=sheet, lang=lang, excel=excel, names=names,
                           lon_col=lon_col, lat_col=lat_col, crs=crs, address_cols=cols, citycode_col=citycode_col,
                           postcode_col=postcode_col, geometry_col=geometry_col,
                           on_progress=lambda n: setattr(j, "rows_done", n))

    background = run_async or size > d.settings.sync_upload_mb * 1e6
    if background:
        d.jobs.run(job, work, background=True)
        return JSONResponse(job.public(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})
    import anyio

    await anyio.to_thread.run_sync(lambda: d.jobs.run(job, work, background=False))
    if job.state == "failed":
        return error(job.error_status, job.error, **french(job.error_fr))
    return FileResponse(job.result, filename=job.download_name,
                        headers={"X-Qpvgeo-Rows": str(job.summary["rows"]), "X-Qpvgeo-Job": job.id})


@router.get("/api/jobs/{job_id}", summary="A job's state, progress (rows done), summary and download link")
def job_state(request: Request, job_id: str):
    job = _desk(request).jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (finished jobs are kept one hour)")
    return _json(job.public())


@router.get("/api/jobs/{job_id}/result", summary="The checked file of a finished job")
def job_result(request: Request, job_id: str):
    job = _desk(request).jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r} (finished jobs are kept one hour)")
    if job.state != "done":
        return error(409, f"job {job_id} is {job.state}" + (f": {job.error}" if job.error else ""))
    return FileResponse(job.result, filename=job.download_name)


# ------------------------------------------------------------------------------- quartiers
def _feature_collection(gdf, props) -> dict:
    from ..maps import web_geometries

    g = web_geometries(gdf)
    return json.loads(g[props + ["geometry"]].to_json(drop_id=True))


@router.get("/api/quartiers", summary="The quartiers (filters as qpvgeo perimeters), as JSON or GeoJSON")
def quartiers(request: Request, departement: str | None = None, epci: str | None = None, commune: str | None = None,
              code: list[str] | None = Query(None), format: str = "json"):
    from ..perimeters import flatten_lists, select, to_records

    d = _desk(request)
    per = select(d.perimeters, departement=departement, epci=epci, commune=commune, code=code or None)
    if format == "geojson":
        return _json(_feature_collection(flatten_lists(per), ["code_qp", "nom_qp", "classe", "communes", "epci",
                                                              "vintage"]))
    if format != "json":
        raise InputError(f"format must be json or geojson, got {format!r}")
    return _json(to_records(per))


@router.get("/api/quartiers/{code}", summary="One quartier as GeoJSON: its outline, its band, its population "
            "estimate from the carreaux")
def quartier(request: Request, code: str):
    import geopandas as gpd

    from ..inhabitants import population
    from ..perimeters import flatten_lists, select, to_records

    d = _desk(request)
    one = select(d.perimeters, code=code)
    rec = to_records(one)[0]
    key = ("population", rec["code_qp"])
    if key not in d.fragility_cache:
        try:
            d.fragility_cache[key] = population(one).iloc[0].to_dict()
        except Exception as exc:  # noqa: BLE001 - no carreaux here is not an error of the quartier
            d.fragility_cache[key] = {"coverage": "not_covered", "error": str(exc)}
    outline = _feature_collection(flatten_lists(one), ["code_qp", "nom_qp", "classe"])["features"][0]
    outline["properties"].update(rec, population=d.fragility_cache[key], kind="outline")
    band = d.checker.band_geometry(codes=[rec["code_qp"]])
    feats = [outline]
    if len(band):
        fb = _feature_collection(gpd.GeoDataFrame(band, crs=band.crs), ["nom"])["features"][0]
        fb["properties"].update(kind="band", rule=d.checker.rule_dict())
        feats.append(fb)
    return _json({"type": "FeatureCollection", "features": feats})


@router.get("/api/band", summary="The band around every quartier of the band classes, as GeoJSON")
def band(request: Request):
    d = _desk(request)
    key = ("band",)
    if key not in d.fragility_cache:
        d.fragility_cache[key] = _feature_collection(d.checker.band_geometry(), ["nom"])
    return _json(d.fragility_cache[key])


@router.get("/api/communes", summary="Commune limits around the loaded quartiers (context for the map)")
def communes(request: Request):
    import shapely

    from ..territory import load_communes

    d = _desk(request)
    key = ("communes",)
    if key not in d.fragility_cache:
        c = load_communes()
        x0, y0, x1, y1 = d.perimeters.to_crs(4326).total_bounds
        near = c[c.intersects(shapely.box(x0 - 0.05, y0 - 0.05, x1 + 0.05, y1 + 0.05))]
        d.fragility_cache[key] = _feature_collection(near, ["insee", "nom"])
    return _json(d.fragility_cache[key])


# ------------------------------------------------------------------------------- money, fragility
@router.get("/api/fdc", summary="FDC « Politique de la Ville »: min(rate × expenses, cap) for each amount")
def fdc(expenses: list[str] = Query(..., description="eligible expenses in euros (repeat)"),
        rate: float = 0.40, cap: float = 70_000):
    from .. import funding

    amounts = [funding.fdc_politique_ville(e, rate=rate, cap_eur=cap) for e in expenses]
    return {"expenses": expenses, "amounts_eur": amounts, "total_eur": sum(amounts), "rate": rate, "cap_eur": cap,
            "anct_receivable": [funding.anct_receivable(e) for e in expenses]}


@router.get("/api/fragility", summary="Quartiers fragiles of an EPCI: the summary and the zones as GeoJSON")
def fragility(request: Request, epci: str = Query(..., pattern=r"^\d{9}$", description="SIREN, e.g. 200069037")):
    from ..fragility import fragility as run
    from ..fragility import load_grid

    d = _desk(request)
    key = ("fragility", epci)
    if key not in d.fragility_cache:
        grid, table, communes_ = load_grid(None, epci=epci, settings=config.get_settings())
        res = run(grid, epci=epci, perimeters=d.perimeters, membership=table, communes=communes_)
        z = res.zones.copy()
        z["communes"] = z["communes"].map(",".join)
        props = [c for c in z.columns if c != "geometry"]
        d.fragility_cache[key] = {"summary": res.summary, "zones": _feature_collection(z, props)}
    return _json(d.fragility_cache[key])


# ------------------------------------------------------------------------------- the page
@static_router.get("/")
def index():
    return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))


@static_router.get("/static/{name}")
def static(name: str):
    if name in _STATIC_FILES:
        return FileResponse(STATIC / name, media_type=_STATIC_FILES[name])
    if name in _LEAFLET_FILES:
        import xstatic.pkg.leaflet as xl

        return FileResponse(Path(xl.BASE_DIR) / name, media_type=_LEAFLET_FILES[name])
    return error(404, f"no static file {name!r}")


@static_router.get("/static/images/{name}")
def leaflet_images(name: str):
    import xstatic.pkg.leaflet as xl

    images = Path(xl.BASE_DIR) / "images"
    known = {p.name for p in images.glob("*.png")}
    if name not in known:
        return error(404, f"no image {name!r}")
    return FileResponse(images / name, media_type="image/png")
