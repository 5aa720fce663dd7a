"""All HTTP of qpvgeo: one session, timeouts, bounded retries, cached atomic downloads.

Retries on 429 and 5xx (honouring ``Retry-After``, bounded by ``max_retry_after_s``) and on read
timeouts are done by urllib3's ``Retry``; a name that does not resolve or a refused connection is
not retried (it will not heal in seconds) and is said in one line with what to do. A body cut
short is detected here (Content-Length, urllib3's length enforcement) and retried, never cached.
Besides the timeout of each read, every request has a total deadline (``request_deadline_s``,
``download_deadline_s``): a server that drips bytes cannot hold qpvgeo for ever.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__, _io
from .config import Settings, get_settings
from .errors import DownloadError, OfflineError

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)


class _BoundedRetry(Retry):
    """urllib3 Retry whose Retry-After wait is capped (a server may ask for hours)."""

    max_retry_after_s: float = 60.0

    def get_retry_after(self, response):  # noqa: D401 - urllib3 API
        value = super().get_retry_after(response)
        if value is None:
            return None
        return min(float(value), self.max_retry_after_s)

    def new(self, **kw):
        new = super().new(**kw)
        new.max_retry_after_s = self.max_retry_after_s
        return new


_sessions: dict[tuple, requests.Session] = {}


def session(settings: Settings | None = None) -> requests.Session:
    """The shared ``requests.Session`` for these settings (TLS verified, retries mounted)."""
    s = settings or get_settings()
    key = (s.max_retries, s.backoff_s, s.max_retry_after_s, s.user_agent)
    if key not in _sessions:
        retry = _BoundedRetry(
            total=s.max_retries,
            connect=0,  # DNS failures and refused connections: at once, with a clear message
            read=s.max_retries,
            status=s.max_retries,
            backoff_factor=s.backoff_s,
            backoff_max=max(s.backoff_s * 2**s.max_retries, s.backoff_s),
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # POST /search/csv is safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.max_retry_after_s = s.max_retry_after_s
        sess = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        sess.mount("http://", adapter)
        sess.mount("https://", adapter)
        sess.headers["User-Agent"] = f"{s.user_agent} qpvgeo/{__version__}"
        sess.verify = True
        _sessions[key] = sess
    return _sessions[key]


class _Deadline:
    """Shuts the connection of a streamed response when the deadline passes, so that a blocked
    read returns at once (a read timeout alone restarts with every byte a slow server drips)."""

    def __init__(self, resp: requests.Response, at: float):
        self.resp, self.fired = resp, False
        self.timer = threading.Timer(max(at - time.monotonic(), 0.0), self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(getattr(self.resp.raw, "connection", None), "sock", None)
        try:
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.resp.close()

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        return False


def _reason(exc: Exception) -> str:
    """What failed, in words, from the chain of a requests/urllib3 exception."""
    import urllib3.exceptions as ue

    seen, e = set(), exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ue.NameResolutionError):
            return "the server's name does not resolve (no network, a proxy, or a wrong URL)"
        if isinstance(e, ue.NewConnectionError) or isinstance(e, ConnectionRefusedError):
            return "the connection was refused or could not be made (no network, a proxy, or the service is down)"
        if isinstance(e, ue.MaxRetryError) and e.reason is not None:
            e = e.reason
            continue
        if isinstance(e, requests.Timeout | ue.TimeoutError):
            return "the server did not answer in time"
        e = e.__cause__ or e.__context__ or (e.args[0] if e.args and isinstance(e.args[0], Exception) else None)
    return str(exc).splitlines()[0][:200]


def request(method: str, url: str, *, settings: Settings | None = None, deadline_s: float | None = None,
            **kwargs) -> requests.Response:
    """Send one request with retries and a total deadline; raise :class:`DownloadError` (one line
    that says what failed and what to do) when it finally fails. With ``stream=True`` the caller
    reads the body and should use :func:`deadline` for it."""
    s = settings or get_settings()
    if s.offline:
        raise OfflineError(f"offline mode is on: will not request {url}")
    kwargs.setdefault("timeout", s.timeout_s)
    stream = kwargs.pop("stream", False)
    limit = deadline_s if deadline_s is not None else s.request_deadline_s
    at = time.monotonic() + limit
    box: dict = {}

    def send():
        try:
            box["resp"] = session(s).request(method, url, stream=True, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["exc"] = exc

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    worker.join(max(at - time.monotonic(), 0.0))
    if worker.is_alive():
        raise DownloadError(f"{url} gave no answer within {limit:g} s (setting request_deadline_s); "
                            "try again later, or work offline from the cache (--offline)")
    if "exc" in box:
        exc = box["exc"]
        if isinstance(exc, requests.RequestException):
            raise DownloadError(f"request to {url} failed: {_reason(exc)}; check the network, or work offline "
                                "(--offline, with the cache, or give coordinates instead of addresses)") from None
        raise exc
    resp = box["resp"]
    if resp.status_code >= 400:
        resp.close()
        raise DownloadError(f"{url} answered HTTP {resp.status_code} {resp.reason}".rstrip()
                            + " after the retries; try again later")
    if not stream:
        late = DownloadError(f"{url}: the answer did not arrive within {limit:g} s (setting request_deadline_s); "
                             "try again later")
        cut = deadline(resp, at)
        try:
            with cut:
                resp._content = b"".join(resp.iter_content(chunk_size=1 << 16))
        except (requests.RequestException, OSError) as exc:
            if cut.fired:
                raise late from None
            raise DownloadError(f"{url}: the answer was cut short ({_reason(exc)})") from None
        if cut.fired:
            raise late
    return resp


def deadline(resp: requests.Response, at: float) -> _Deadline:
    """A context manager that cuts the streamed ``resp`` at the monotonic time ``at``."""
    return _Deadline(resp, at)


class RateLimiter:
    """At most ``rate_per_s`` calls per second across every thread of the process (a token bucket
    of one): callers wait their turn, so a server under any load stays below a service's limit."""

    def __init__(self, rate_per_s: float):
        self.interval = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)


_limiters: dict[tuple, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter(key: str, rate_per_s: float) -> RateLimiter:
    """The process-wide limiter of a service (e.g. the BAN's base URL) at this rate."""
    with _limiters_lock:
        k = (key, rate_per_s)
        if k not in _limiters:
            _limiters[k] = RateLimiter(rate_per_s)
        return _limiters[k]


def cache_path(url: str, *, settings: Settings | None = None, name: str | None = None) -> Path:
    """Where the download of ``url`` is (or would be) cached."""
    s = settings or get_settings()
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    base = name or os.path.basename(urlsplit(url).path) or "download"
    return s.cache_dir / "downloads" / f"{digest}-{base}"


def download(
    url: str,
    *,
    name: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download ``url`` into the cache (or return the cached copy) and return its path.

    The body is streamed to a temporary file in the cache folder and renamed only once complete
    and checked (length announced by the server, ``size`` and ``sha256`` when given). Failed or
    truncated downloads leave nothing in the cache. Offline, only the cache is used and the error
    names the file to put in place.
    """
    s = settings or get_settings()
    dest = cache_path(url, settings=s, name=name)
    if dest.exists() and not force:
        if sha256 and _sha256(dest) != sha256.lower():
            log.warning("cached %s does not match its checksum; downloading it again", dest)
        else:
            return dest
    if s.offline:
        raise OfflineError(
            f"offline mode is on and {url} is not in the cache: download it yourself and save it as "
            f"{dest} (or run the same command without --offline)"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(s.max_retries + 1):
        try:
            _download_once(url, dest, s, sha256=sha256, size=size, progress=progress)
            return dest
        except _Truncated as exc:
            last = exc
            wait = s.backoff_s * 2**attempt
            log.warning("%s; retrying in %.1f s (%d/%d)", exc, wait, attempt + 1, s.max_retries)
            time.sleep(wait)
    raise DownloadError(f"{url}: {last}; nothing was cached") from last


class _Truncated(DownloadError):
    pass


def _download_once(url: str, dest: Path, s: Settings, *, sha256, size, progress) -> None:
    at = time.monotonic() + s.download_deadline_s
    resp = request("GET", url, settings=s, stream=True, deadline_s=s.download_deadline_s)
    expected = resp.headers.get("Content-Length")
    expected_n = int(expected) if expected and expected.isdigit() else None
    if expected_n is not None and expected_n > s.max_download_bytes:
        resp.close()
        raise DownloadError(
            f"{url} announces {expected_n} bytes, over the limit of {s.max_download_bytes} "
            "(setting max_download_bytes)"
        )
    digest = hashlib.sha256()
    n = 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-", suffix=dest.suffix)
    bar = None
    try:
        if progress and (expected_n or 0) > 5_000_000:
            from tqdm.auto import tqdm

            bar = tqdm(total=expected_n, unit="B", unit_scale=True, desc=dest.name, leave=False)
        with os.fdopen(fd, "wb") as fh, deadline(resp, at) as cut:
            try:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    n += len(chunk)
                    if n > s.max_download_bytes:
                        raise DownloadError(
                            f"{url} is larger than {s.max_download_bytes} bytes "
                            "(setting max_download_bytes)"
                        )
                    digest.update(chunk)
                    fh.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            except (requests.RequestException, OSError) as exc:
                if cut.fired:
                    raise DownloadError(f"{url}: not complete within {s.download_deadline_s:g} s (setting "
                                        "download_deadline_s); nothing was cached") from None
                raise _Truncated(f"download cut short after {n} bytes ({_reason(exc)})") from exc
        if cut.fired:
            raise DownloadError(f"{url}: not complete within {s.download_deadline_s:g} s (setting "
                                "download_deadline_s); nothing was cached")
        if expected_n is not None and n != expected_n:
            raise _Truncated(f"download cut short: {n} of {expected_n} bytes")
        if size is not None and n != size:
            raise DownloadError(f"{url}: got {n} bytes, expected {size}; nothing was cached")
        if sha256 and digest.hexdigest() != sha256.lower():
            raise DownloadError(
                f"{url}: SHA-256 {digest.hexdigest()} differs from the expected {sha256}; "
                "nothing was cached"
            )
        os.replace(tmp, dest)
        meta = {
            "url": url,
            "bytes": n,
            "sha256": digest.hexdigest(),
            "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "last_modified": resp.headers.get("Last-Modified"),
        }
        _io.write_text(json.dumps(meta, indent=1), dest.with_name(dest.name + ".json"), overwrite=True)
        log.info("downloaded %s (%d bytes) to %s", url, n, dest)
    finally:
        if bar is not None:
            bar.close()
        resp.close()
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
