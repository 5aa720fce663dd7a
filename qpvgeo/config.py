"""Settings: one documented object, validated, overridable by environment variables.

========================  ==============================  =========================================
setting                   environment variable            default
========================  ==============================  =========================================
``cache_dir``             ``QPVGEO_CACHE_DIR``            ``~/.cache/qpvgeo`` (XDG_CACHE_HOME)
``offline``               ``QPVGEO_OFFLINE`` (1/0)         ``False``
``timeout_s``             ``QPVGEO_TIMEOUT_S``            ``60``
``max_retries``           ``QPVGEO_MAX_RETRIES``          ``4``
``backoff_s``             ``QPVGEO_BACKOFF_S``            ``1.0`` (doubles at each retry)
``max_retry_after_s``     ``QPVGEO_MAX_RETRY_AFTER_S``    ``60`` (longest honoured Retry-After)
``ban_url``               ``QPVGEO_BAN_URL``              ``https://data.geopf.fr/geocodage``
``ban_min_score``         ``QPVGEO_BAN_MIN_SCORE``        ``0.5``
``ban_chunk_rows``        ``QPVGEO_BAN_CHUNK_ROWS``       ``5000``
``ban_rate_per_s``        ``QPVGEO_BAN_RATE_PER_S``       ``40`` (below the service's 50 requests/s)
``lang``                  ``QPVGEO_LANG``                 ``en`` (``fr``: French words for people)
``max_download_bytes``    ``QPVGEO_MAX_DOWNLOAD_BYTES``   ``4 GiB``
``request_deadline_s``    ``QPVGEO_REQUEST_DEADLINE_S``   ``300`` (whole request, retries included)
``download_deadline_s``   ``QPVGEO_DOWNLOAD_DEADLINE_S``  ``7200`` (whole download of a file)
``threads``               ``QPVGEO_THREADS``              ``0`` (all cores; 1: one thread)
========================  ==============================  =========================================
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from .errors import InputError


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qpvgeo"


@dataclasses.dataclass
class Settings:
    """Run-time settings of qpvgeo (see the module docstring for the environment variables)."""

    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    offline: bool = False
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_s: float = 1.0
    max_retry_after_s: float = 60.0
    ban_url: str = "https://data.geopf.fr/geocodage"
    ban_min_score: float = 0.5
    ban_chunk_rows: int = 5000
    ban_rate_per_s: float = 40.0
    lang: str = "en"
    max_download_bytes: int = 4 * 1024**3
    request_deadline_s: float = 300.0
    download_deadline_s: float = 7200.0
    threads: int = 0
    user_agent: str = "qpvgeo (+https://github.com/qpvgeo/qpvgeo)"

    def __post_init__(self) -> None:
        self.cache_dir = Path(self.cache_dir).expanduser()
        if self.request_deadline_s <= 0 or self.download_deadline_s <= 0:
            raise InputError("request_deadline_s and download_deadline_s must be > 0")
        if self.timeout_s <= 0:
            raise InputError(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.max_retries < 0:
            raise InputError(f"max_retries must be >= 0, got {self.max_retries!r}")
        if not 0 <= self.ban_min_score <= 1:
            raise InputError(f"ban_min_score must be between 0 and 1, got {self.ban_min_score!r}")
        if not 1 <= self.ban_chunk_rows <= 200_000:
            raise InputError(
                f"ban_chunk_rows must be 1..200000 (the service limit), got {self.ban_chunk_rows!r}"
            )
        if self.lang not in ("en", "fr"):
            raise InputError(f"lang must be en or fr, got {self.lang!r}")
        if not 0 < self.ban_rate_per_s <= 50:
            raise InputError(f"ban_rate_per_s must be in (0, 50] (the service allows 50/s), "
                             f"got {self.ban_rate_per_s!r}")
        if self.threads < 0:
            raise InputError(f"threads must be 0 (all cores) or a number of threads, got {self.threads!r}")
        if not self.ban_url.startswith(("http://", "https://")):
            raise InputError(f"ban_url must be an http(s) URL, got {self.ban_url!r}")

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some settings changed; unknown names are an error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InputError(f"unknown setting(s) {unknown}; known: {sorted(names)}")
        return dataclasses.replace(self, **changes)


_ENV = {
    "cache_dir": ("QPVGEO_CACHE_DIR", Path),
    "offline": ("QPVGEO_OFFLINE", lambda v: v.strip().lower() in {"1", "true", "yes", "on"}),
    "timeout_s": ("QPVGEO_TIMEOUT_S", float),
    "max_retries": ("QPVGEO_MAX_RETRIES", int),
    "backoff_s": ("QPVGEO_BACKOFF_S", float),
    "max_retry_after_s": ("QPVGEO_MAX_RETRY_AFTER_S", float),
    "ban_url": ("QPVGEO_BAN_URL", str),
    "ban_min_score": ("QPVGEO_BAN_MIN_SCORE", float),
    "ban_chunk_rows": ("QPVGEO_BAN_CHUNK_ROWS", int),
    "ban_rate_per_s": ("QPVGEO_BAN_RATE_PER_S", float),
    "lang": ("QPVGEO_LANG", str),
    "max_download_bytes": ("QPVGEO_MAX_DOWNLOAD_BYTES", int),
    "request_deadline_s": ("QPVGEO_REQUEST_DEADLINE_S", float),
    "download_deadline_s": ("QPVGEO_DOWNLOAD_DEADLINE_S", float),
    "threads": ("QPVGEO_THREADS", int),
}


def from_env(**overrides: Any) -> Settings:
    """Settings from the environment, then ``overrides`` (None values are ignored)."""
    values: dict[str, Any] = {}
    for name, (var, conv) in _ENV.items():
        raw = os.environ.get(var)
        if raw not in (None, ""):
            try:
                values[name] = conv(raw)
            except ValueError as exc:
                raise InputError(f"environment variable {var}={raw!r} is not valid: {exc}") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings().replace(**values)


_current: Settings | None = None


def threads() -> int:
    """Threads the heavy steps use (the ``threads`` setting; 0 means every core)."""
    n = get_settings().threads
    return n if n > 0 else (os.cpu_count() or 1)


def get_settings() -> Settings:
    """The settings in force (read from the environment on first use)."""
    global _current
    if _current is None:
        _current = from_env()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Install ``settings`` as the settings in force (None: read the environment again)."""
    global _current
    _current = settings
