"""Geocoding with the Base Adresse Nationale (BAN) through the Géoplateforme.

Two services: ``GET {base}/search`` for one address and ``POST {base}/search/csv`` for many.
The batch client sends chunks within the service limits, matches rows back by an id column,
re-sends rows missing from an answer (answers are sometimes cut short), backs off on 429
(honouring Retry-After) and on 5xx and timeouts (bounded, see :mod:`qpvgeo._http`), and caches
every answer in a small SQLite file in the cache folder. A match of type ``street`` or
``municipality``, or with a score below ``ban_min_score``, is *imprecise*: qpvgeo then refuses to
decide a 300 m question on it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from . import _http
from .config import Settings, get_settings
from .errors import DownloadError, GeocodingError, OfflineError
from .present import note

log = logging.getLogger(__name__)

IMPRECISE_TYPES = ("street", "municipality")
_ID = "qpvgeo_id"
_MAX_RESENDS = 3


_DOWN_FR = ("le service d'adresses (BAN) ne répond pas ou répond mal : réessayez plus tard, ou donnez des "
            "coordonnées (longitude, latitude)")


@dataclass
class GeocodeResult:
    """One geocoding answer. ``status``: ``ok``, ``imprecise``, ``not_found`` or ``failed``."""

    status: str
    lon: float | None = None
    lat: float | None = None
    label: str = ""
    score: float | None = None
    type: str = ""
    citycode: str = ""
    reason: str = ""  # why a ``failed`` answer failed

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def row_status(self) -> str:
        """The eligibility status this answer leads to before any check (:mod:`qpvgeo.status`):
        '' when the point is precise enough to check, else ``geocode_not_found``,
        ``geocode_imprecise`` or ``geocode_failed``. Single checks and the batch both use it."""
        return {"ok": "", "imprecise": "geocode_imprecise", "not_found": "geocode_not_found",
                "failed": "geocode_failed"}[self.status]


def _decode(resp) -> str:
    """The text of an answer, by its declared charset; else UTF-8, else cp1252 (never garbled
    silently: undecodable bytes of a declared charset are replaced and logged)."""
    import re

    m = re.search(r"charset=([\w.-]+)", resp.headers.get("Content-Type", ""), re.I)
    raw = resp.content
    if m:
        try:
            return raw.decode(m.group(1)).lstrip("\ufeff")
        except (LookupError, UnicodeDecodeError):
            log.warning("the geocoder's answer is not valid %s; undecodable bytes replaced", m.group(1))
            return raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


class BanClient:
    """Client of the BAN geocoder (base URL from the settings, e.g. a local test server)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.base = self.settings.ban_url.rstrip("/")
        self._db: sqlite3.Connection | None = None

    def _throttle(self) -> None:
        """Every call to the service, from every thread, stays below ``ban_rate_per_s``."""
        _http.limiter(self.base, self.settings.ban_rate_per_s).wait()

    # ---------------------------------------------------------------- cache
    def _cache(self) -> sqlite3.Connection:
        if self._db is None:
            self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.settings.cache_dir / "ban-cache.sqlite", timeout=30)
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT)")
        return self._db

    def _key(self, query: str, citycode: str = "", postcode: str = "") -> str:
        raw = json.dumps([self.base, query.strip().lower(), citycode, postcode])
        return hashlib.sha256(raw.encode()).hexdigest()

    def _get_cached(self, keys: list[str]) -> dict[str, GeocodeResult]:
        out = {}
        db = self._cache()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = db.execute(f"SELECT key, value FROM answers WHERE key IN ({','.join('?' * len(part))})",
                              part).fetchall()
            out.update({k: GeocodeResult(**json.loads(v)) for k, v in rows})
        return out

    def _put_cached(self, items: dict[str, GeocodeResult]) -> None:
        db = self._cache()
        db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?)",
                       [(k, json.dumps(v.as_dict())) for k, v in items.items() if v.status != "failed"])
        db.commit()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # ---------------------------------------------------------------- grading
    def _grade(self, lon, lat, label, score, rtype, citycode) -> GeocodeResult:
        if lon is None or lat is None:
            return GeocodeResult("not_found")
        precise = rtype not in IMPRECISE_TYPES and (score or 0) >= self.settings.ban_min_score
        return GeocodeResult("ok" if precise else "imprecise", lon, lat, label or "", score, rtype or "",
                             citycode or "")

    def _offline_error(self) -> OfflineError:
        return OfflineError(
            "offline mode is on and this address is not in the geocoding cache: give coordinates "
            "instead (qpvgeo check LON,LAT, or check-file --lon-col/--lat-col)",
            fr=f"{note('geocode_offline', 'fr')} : donnez plutôt des coordonnées (longitude, latitude)")

    # ---------------------------------------------------------------- single
    def search(self, query: str, *, citycode: str = "", postcode: str = "") -> GeocodeResult:
        """Geocode one address (``GET /search``); cached."""
        if not query or not query.strip():
            return GeocodeResult("not_found")
        key = self._key(query, citycode, postcode)
        cached = self._get_cached([key])
        if key in cached:
            return cached[key]
        if self.settings.offline:
            raise self._offline_error()
        params = {"q": query, "limit": 1}
        if citycode:
            params["citycode"] = citycode
        if postcode:
            params["postcode"] = postcode
        try:
            self._throttle()
            resp = _http.request("GET", f"{self.base}/search", params=params, settings=self.settings)
            data = resp.json()
        except DownloadError as exc:
            raise GeocodingError(f"the address service {self.base} failed: {exc}", fr=_DOWN_FR) from exc
        except ValueError as exc:
            raise GeocodingError(f"the address service {self.base} sent an unreadable answer", fr=_DOWN_FR) from exc
        feats = data.get("features") or []
        if not feats:
            res = GeocodeResult("not_found")
        else:
            f = feats[0]
            lon, lat = f["geometry"]["coordinates"][:2]
            p = f.get("properties", {})
            res = self._grade(lon, lat, p.get("label"), p.get("score"), p.get("type"), p.get("citycode"))
        self._put_cached({key: res})
        return res

    # ---------------------------------------------------------------- batch
    def search_many(self, queries: list[str], *, citycodes: Iterable[str] | None = None,
                    postcodes: Iterable[str] | None = None) -> list[GeocodeResult]:
        """Geocode many addresses through ``POST /search/csv``; one result per query, in order.

        Rows already in the cache are not sent. Rows the service leaves out of its answer are
        sent again (up to 3 times), then marked ``failed``; nothing is dropped. When the service
        fails (after the bounded retries of :mod:`qpvgeo._http`), or offline, the rows not yet
        answered are marked ``failed`` with the ``reason``: what came back is kept and cached, and
        a second run finishes the job.
        """
        n = len(queries)
        citycodes = list(citycodes) if citycodes is not None else [""] * n
        postcodes = list(postcodes) if postcodes is not None else [""] * n
        keys = [self._key(q or "", c or "", p or "") for q, c, p in zip(queries, citycodes, postcodes)]
        results: list[GeocodeResult | None] = [None] * n
        cached = self._get_cached(list(set(keys)))
        todo: dict[str, int] = {}
        for i, (q, k) in enumerate(zip(queries, keys)):
            if not q or not str(q).strip():
                results[i] = GeocodeResult("not_found")
            elif k in cached:
                results[i] = cached[k]
            else:
                todo.setdefault(k, i)  # a duplicate address is sent once
        pending = list(todo.items())
        answers: dict[str, GeocodeResult] = {}
        size = self.settings.ban_chunk_rows
        failure = note("geocode_offline") if pending and self.settings.offline else ""
        for start in range(0, len(pending) if not failure else 0, size):
            chunk = pending[start:start + size]
            try:
                got = self._send_with_resends(chunk, queries, citycodes, postcodes)
            except GeocodingError as exc:
                # the service is down: keep what came back, mark the rest, do not hammer it
                failure = str(exc)
                log.error("geocoding stopped: %s; %d address(es) left for a later run",
                          failure, len(pending) - start)
                break
            answers.update(got)
            self._put_cached(got)
        missing = GeocodeResult("failed", reason=failure or note("geocode_left_out"))
        for i, k in enumerate(keys):
            if results[i] is None:
                results[i] = answers.get(k, missing)
        return results  # type: ignore[return-value]

    def _send_with_resends(self, chunk, queries, citycodes, postcodes) -> dict[str, GeocodeResult]:
        out: dict[str, GeocodeResult] = {}
        remaining = chunk
        for attempt in range(_MAX_RESENDS + 1):
            if not remaining:
                break
            if attempt:
                log.warning("the BAN answer lacked %d row(s); sending them again (%d/%d)",
                            len(remaining), attempt, _MAX_RESENDS)
            got = self._post_csv(remaining, queries, citycodes, postcodes)
            out.update(got)
            remaining = [(k, i) for k, i in remaining if k not in out]
        if remaining:
            log.error("%d address(es) could not be geocoded after %d re-sends", len(remaining), _MAX_RESENDS)
        return out

    def _post_csv(self, chunk, queries, citycodes, postcodes) -> dict[str, GeocodeResult]:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([_ID, "adresse", "citycode", "postcode"])
        ids = {}
        for j, (k, i) in enumerate(chunk):
            w.writerow([j, queries[i], citycodes[i] or "", postcodes[i] or ""])
            ids[str(j)] = k
        files = {"data": ("adresses.csv", buf.getvalue().encode("utf-8"), "text/csv")}
        form = [("columns", "adresse"), ("result_columns", "latitude"), ("result_columns", "longitude"),
                ("result_columns", "result_label"), ("result_columns", "result_score"),
                ("result_columns", "result_type"), ("result_columns", "result_citycode"),
                ("result_columns", "result_status")]
        if any(citycodes[i] for _, i in chunk):
            form.append(("citycode", "citycode"))
        if any(postcodes[i] for _, i in chunk):
            form.append(("postcode", "postcode"))
        try:
            self._throttle()
            resp = _http.request("POST", f"{self.base}/search/csv", data=form, files=files,
                                 settings=self.settings)
            text = _decode(resp)
        except DownloadError as exc:
            raise GeocodingError(f"the address service {self.base}/search/csv failed: {exc}", fr=_DOWN_FR) from exc
        out: dict[str, GeocodeResult] = {}
        if text and not text.endswith("\n"):
            # an answer cut short: its last line may be incomplete, so it is re-sent
            text = text[: text.rfind("\n") + 1]
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or _ID not in reader.fieldnames:
            log.warning("the BAN batch answer has no %s column; every row will be re-sent", _ID)
            return out
        for row in reader:
            if None in row.values() or None in row:
                continue  # a malformed line: re-send it
            k = ids.get((row.get(_ID) or "").strip())
            if k is None:
                continue
            status = (row.get("result_status") or "ok").strip()
            if status in ("not-found", "skipped"):
                out[k] = GeocodeResult("not_found")
                continue
            try:
                lon, lat = float(row["longitude"]), float(row["latitude"])
                score = float(row.get("result_score") or 0)
            except (KeyError, TypeError, ValueError):
                if status == "ok" and (row.get("longitude") or "") != "":
                    continue  # a line cut in the middle: re-send it
                out[k] = GeocodeResult("not_found")
                continue
            out[k] = self._grade(lon, lat, row.get("result_label"), score, row.get("result_type"),
                                 row.get("result_citycode"))
        return out
