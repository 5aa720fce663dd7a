"""``qpvgeo serve``: the eligibility desk in a browser, and the HTTP API."""

from __future__ import annotations

import click

from . import main
from .options import perimeter_options, rule_options


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0 behind a reverse proxy).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, each with the data loaded once.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=50, show_default=True)
@click.option("--max-rows", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Most rows of an uploaded table.")
@click.option("--request-timeout-s", type=click.FloatRange(min=0, min_open=True), default=60, show_default=True)
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="An origin allowed to call the API from a browser (repeatable; none: CORS off).")
@click.option("--frame-ancestors", default="'self'", show_default=True,
              help="Who may embed the page in a frame (CSP frame-ancestors), e.g. \"'self' https://intranet.example\".")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None,
              help="A file holding the API token that /api/* then requires (Authorization: Bearer …).")
@rule_options
@perimeter_options
def serve_cmd(host, port, workers, max_upload_mb, max_rows, request_timeout_s, cors_origins, frame_ancestors,
              token_file, rule, perimeters):
    """Serve the eligibility page and the HTTP API (FastAPI + uvicorn).

    \b
    Example:
      qpvgeo serve --port 8000      # then open http://127.0.0.1:8000/ (API: /docs)
    """
    from pathlib import Path

    from ..errors import InputError
    from ..server import ServerSettings, serve

    if token_file and not Path(token_file).is_file():
        raise InputError(f"token file {token_file!r} does not exist: write the token (16 characters or more) in it")
    token = Path(token_file).read_text(encoding="utf-8").strip() if token_file else None
    settings = ServerSettings(source=perimeters.source, vintage=perimeters.vintage, layer=perimeters.layer,
                              qic=perimeters.qic, band_m=rule.band_m, comparison=rule.comparison,
                              band_classes=rule.band_classes, max_upload_mb=max_upload_mb, max_rows=max_rows,
                              request_timeout_s=request_timeout_s, cors_origins=cors_origins,
                              frame_ancestors=frame_ancestors, api_token=token)
    if host not in ("127.0.0.1", "localhost", "::1") and token is None:
        click.echo(f"warning: listening on {host} without an API token (--token-file); put it behind a reverse "
                   "proxy that controls access", err=True)
    click.echo(f"qpvgeo: http://{host}:{port}/ (API description: http://{host}:{port}/docs)", err=True)
    serve(settings, host=host, port=port, workers=workers)
