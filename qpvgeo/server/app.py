"""The ASGI application: settings, data loaded once per worker, middleware, errors as JSON.

A thin layer over the library, like the command line: every answer comes from the same
:class:`qpvgeo.eligibility.Checker` as ``qpvgeo check``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__, config
from ..errors import DataError, GeocodingError, InputError, NotFoundError, OfflineError, QpvgeoError
from ..present import decimal_comma
from ..rules import Rule

log = logging.getLogger("qpvgeo.server")
SETTINGS_ENV = "QPVGEO_SERVER_SETTINGS"  # JSON of ServerSettings, for the workers uvicorn starts


@dataclass(frozen=True)
class ServerSettings:
    """Settings of ``qpvgeo serve`` (one object, validated; every worker reads the same).

    ========================  ==========================================================  ==========
    setting                   meaning                                                     default
    ========================  ==========================================================  ==========
    ``source`` … ``qic``      perimeters to load (as ``--source``, ``--vintage``,          embedded
                              ``--layer``, ``--qic``)
    ``band_m`` …              the rule (as ``--band-m``, ``--comparison``,                300, <, QPV
                              ``--band-classes``)
    ``max_upload_mb``         largest uploaded file (413 beyond)                          50
    ``max_rows``              most rows of an uploaded table                              1 000 000
    ``max_points``            most points of one ``POST /api/check``                      10 000
    ``sync_upload_mb``        larger uploads run as a job (202 and ``/api/jobs/{id}``)    2
    ``request_timeout_s``     longest answer of a request (503 beyond; jobs excepted)     60
    ``cors_origins``          origins allowed to call the API from a browser (none: off)  ()
    ``frame_ancestors``       who may embed the page (CSP frame-ancestors)                'self'
    ``api_token``             when set, /api/* needs ``Authorization: Bearer <token>``    None
    ``jobs_dir``              where uploads and results of jobs live (kept 1 hour)        a tmp dir
    ``log_requests``          one log line per request (method, path, status, ms)         True
    ========================  ==========================================================  ==========
    """

    source: str | None = None
    vintage: int | None = None
    layer: str | None = None
    qic: str | None = None
    band_m: float = 300.0
    comparison: str = "<"
    band_classes: tuple[str, ...] = ("QPV",)
    max_upload_mb: float = 50.0
    max_rows: int = 1_000_000
    max_points: int = 10_000
    sync_upload_mb: float = 2.0
    request_timeout_s: float = 60.0
    cors_origins: tuple[str, ...] = ()
    frame_ancestors: str = "'self'"
    api_token: str | None = None
    jobs_dir: str | None = None
    log_requests: bool = True
    job_ttl_s: float = 3600.0

    def __post_init__(self):
        object.__setattr__(self, "band_classes", Rule(band_classes=self.band_classes).band_classes)
        object.__setattr__(self, "cors_origins", tuple(self.cors_origins))
        for name in ("max_upload_mb", "sync_upload_mb", "request_timeout_s", "job_ttl_s"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_rows < 1 or self.max_points < 1:
            raise InputError("max_rows and max_points must be >= 1")
        if any(c in self.frame_ancestors for c in ";,\n"):
            raise InputError(f"frame_ancestors is a CSP source list such as \"'self' https://intranet.example\", "
                             f"got {self.frame_ancestors!r}")
        if self.api_token is not None and len(self.api_token) < 16:
            raise InputError("the API token must have at least 16 characters")

    @property
    def rule(self) -> Rule:
        return Rule(band_m=self.band_m, comparison=self.comparison, band_classes=self.band_classes)

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServerSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            return cls()
        values = json.loads(raw)
        for k in ("band_classes", "cors_origins"):
            values[k] = tuple(values.get(k) or ())
        return cls(**values)


@dataclass
class Desk:
    """What a worker loads once: the perimeters, the checker, and the caches of slow answers."""

    settings: ServerSettings
    checker: object
    perimeters: object
    jobs: object
    fragility_cache: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)


def _load(settings: ServerSettings) -> Desk:
    from ..eligibility import Checker
    from ..perimeters import load_layers
    from .jobs import Jobs

    per = load_layers(settings.source, vintage=settings.vintage, layer=settings.layer, qic=settings.qic,
                      settings=config.get_settings())
    folder = Path(settings.jobs_dir) if settings.jobs_dir else Path(tempfile.mkdtemp(prefix="qpvgeo-jobs-"))
    return Desk(settings=settings, checker=Checker(per, rule=settings.rule), perimeters=per,
                jobs=Jobs(folder, ttl_s=settings.job_ttl_s))


def error(status: int, message: str, **extra) -> JSONResponse:
    """Every error of the API: ``{"error": message, "status": code}``, the message naming the value."""
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


def french(fr: str | None) -> dict:
    """``{"error_fr": fr}`` for an error that has its French words (:class:`QpvgeoError`'s ``fr``),
    else nothing: the page shows them, other clients may."""
    return {"error_fr": fr} if fr else {}


_STATUS_OF = ((OfflineError, 503), (GeocodingError, 503), (NotFoundError, 404), (InputError, 400),
              (DataError, 400), (QpvgeoError, 400))


def status_of(exc: Exception) -> int:
    return next((code for kind, code in _STATUS_OF if isinstance(exc, kind)), 500)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The application for ``settings`` (default: embedded data, default rule)."""
    settings = settings or ServerSettings()
    from .docs import docs_page
    from .routes import router, static_router

    app = FastAPI(title="qpvgeo", version=__version__, docs_url=None, redoc_url=None,
                  description="Eligibility of places to the politique de la ville: QPV, the 300 m band, "
                              "quartiers fragiles. The same answers as the qpvgeo command line.")
    app.state.desk = _load(settings)
    app.include_router(router)
    app.include_router(static_router)
    app.add_api_route("/docs", docs_page, include_in_schema=False)

    @app.exception_handler(QpvgeoError)
    async def _qpvgeo_error(request: Request, exc: QpvgeoError):
        return error(status_of(exc), str(exc), **french(exc.fr))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "body"))
            got = e.get("input")
            parts.append(f"{where}: {e.get('msg')}" + (f" (got {got!r})" if got is not None and
                                                       not isinstance(got, dict | list) else ""))
        return error(400, "; ".join(parts) or "bad request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error(500, f"unexpected {type(exc).__name__}; the server logged it")

    _middleware(app, settings)
    return app


class _Guard:
    """Pure ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware, which matters for
    hundreds of checks a second): the API token, the upload limit announced by Content-Length,
    the request time limit, the security headers, and one log line per request (method, path,
    status, duration; never the query string, which may hold an address, nor the body)."""

    def __init__(self, app, settings: ServerSettings):
        self.app, self.settings = app, settings
        self.csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
                    f"frame-ancestors {settings.frame_ancestors}").encode()
        self.token = f"Bearer {settings.api_token}".encode() if settings.api_token else None

    async def __call__(self, scope, receive, send):
        import asyncio

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        path = scope.get("path", "")
        status = {"code": 500, "started": False}
        headers = dict(scope.get("headers") or [])

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                extra = [(b"content-security-policy", self.csp), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer")]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        async def reply(response):
            await response(scope, receive, send_with_headers)

        try:
            if self.token and path.startswith("/api/") and not secrets.compare_digest(
                    headers.get(b"authorization", b""), self.token):
                return await reply(error(401, "this server needs an API token: send 'Authorization: Bearer <token>'"))
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > self.settings.max_upload_mb * 1e6:
                mb, limit = int(length) / 1e6, self.settings.max_upload_mb
                fr = (f"le fichier fait {decimal_comma(mb, 1)} Mo, au-delà de la limite de {decimal_comma(limit)} Mo ; "
                      "découpez-le")
                return await reply(error(413, f"the upload is {mb:.1f} MB, over the limit of {limit:g} MB; "
                                              "split the file", error_fr=fr))
            try:
                await asyncio.wait_for(self.app(scope, receive, send_with_headers),
                                       timeout=self.settings.request_timeout_s)
            except asyncio.TimeoutError:
                if not status["started"]:
                    await reply(error(503, f"the answer took longer than {self.settings.request_timeout_s:g} s; "
                                           "for a large file use /api/check-file, which runs as a job"))
        finally:
            if self.settings.log_requests:
                log.info("%s %s %d %.1f ms", scope.get("method"), path, status["code"],
                         (time.perf_counter() - t0) * 1000)


def _middleware(app: FastAPI, settings: ServerSettings) -> None:
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(_Guard, settings=settings)


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn's workers: the settings come from ``QPVGEO_SERVER_SETTINGS``."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)  # one line per request, whatever the root level
    return create_app(ServerSettings.from_env())
