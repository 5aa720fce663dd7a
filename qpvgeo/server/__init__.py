"""``qpvgeo serve``: the eligibility desk in a browser, and an open HTTP API (FastAPI + uvicorn).

A thin layer over the library: ``app`` (settings, data loaded once per worker, middleware),
``routes`` (the API and the page), ``jobs`` (files checked in the background), ``docs`` (the API
page, offline) and ``static/`` (the page, its script and styles; Leaflet comes from the
XStatic-Leaflet package). Start it with :func:`serve` or ``qpvgeo serve``.
"""

from __future__ import annotations

from .app import ServerSettings, create_app


def serve(settings: ServerSettings | None = None, *, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1) -> None:
    """Run the server with uvicorn (``workers`` processes, each loading the data once)."""
    import os
    import socket

    import uvicorn

    from .app import SETTINGS_ENV

    settings = settings or ServerSettings()
    os.environ[SETTINGS_ENV] = settings.to_env()
    config = uvicorn.Config("qpvgeo.server.app:create_app_from_env", factory=True, host=host, port=port,
                            workers=workers, access_log=False, log_level="info", proxy_headers=True,
                            forwarded_allow_ips="127.0.0.1")
    if workers == 1:
        uvicorn.Server(config).run()
        return
    from uvicorn.supervisors import Multiprocess

    # the shared socket is made here with its protocol named, so that asyncio sets TCP_NODELAY on
    # every connection (uvicorn's own leaves proto 0, and Nagle's algorithm then adds 40 ms to answers)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


__all__ = ["ServerSettings", "create_app", "serve"]
