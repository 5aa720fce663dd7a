"""Shared fixtures: a local HTTP server on 127.0.0.1 that answers like the real services
(including their failures), isolated settings and a temporary cache. No test reaches the internet."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qpvgeo import config


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    truncate_to: int | None = None  # announce len(body) but send only this many bytes
    delay_s: float = 0.0
    drip_s: float = 0.0  # send the body one byte at a time, this long apart (a slow server)


class FakeServer:
    """Scripted HTTP server: ``server.route(path, reply1, reply2, ...)``; each request to ``path``
    takes the next reply (the last one repeats). A reply may be a callable(request) -> Reply."""

    def __init__(self):
        self.routes: dict[str, list] = {}
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                req = {"method": self.command, "path": self.path, "headers": dict(self.headers),
                       "body": body}
                outer.requests.append(req)
                queue = outer.routes.get(path)
                if not queue:
                    reply = Reply(404, b"not found")
                else:
                    reply = queue.pop(0) if len(queue) > 1 else queue[0]
                if callable(reply):
                    reply = reply(req)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                if reply.truncate_to is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if reply.drip_s:
                        for i in range(len(reply.body)):
                            self.wfile.write(reply.body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip_s)
                    elif reply.truncate_to is not None:
                        self.wfile.write(reply.body[: reply.truncate_to])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    else:
                        self.wfile.write(reply.body)
                except OSError:
                    pass

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, path: str, *replies) -> None:
        self.routes[path] = list(replies)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"].split("?")[0] == path)


@pytest.fixture
def server():
    srv = FakeServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def settings(tmp_path, monkeypatch):
    """Fresh settings for each test: a temporary cache, fast retries, never the real network."""
    for var in ("QPVGEO_OFFLINE",):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QPVGEO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("QPVGEO_BACKOFF_S", "0.01")
    monkeypatch.setenv("QPVGEO_BAN_URL", "http://127.0.0.1:9/unused")
    s = config.Settings(cache_dir=tmp_path / "cache", backoff_s=0.01, max_retries=3, timeout_s=5,
                        ban_url="http://127.0.0.1:9/unused")
    config.set_settings(s)
    from qpvgeo import _http

    # no keep-alive connection survives a test: a later fake server may get the same port
    for sess in _http._sessions.values():
        sess.close()
    _http._sessions.clear()
    yield s
    config.set_settings(None)


def run_cli(*args):
    """Run the real ``qpvgeo`` command (click's runner) with these arguments."""
    from click.testing import CliRunner

    from qpvgeo.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, *words):
    """Exit code 1, one line on stderr that starts with 'Error:' and holds ``words``, no traceback."""
    assert res.exit_code == 1, res.output
    err = res.stderr.strip()
    assert err.startswith("Error:") and "\n" not in err and "Traceback" not in res.output, err
    for w in words:
        assert w in err, (w, err)
    return err
