"""Exceptions raised by qpvgeo.

Every error qpvgeo raises on purpose derives from :class:`QpvgeoError`; each subclass also
inherits the built-in exception it resembles, so callers may catch either.
"""

from __future__ import annotations


class QpvgeoError(Exception):
    """Root of every qpvgeo error. ``fr``: the message in French, for the errors a person meets on
    the French page (the browser desk shows it; the API gives it as ``error_fr``)."""

    def __init__(self, message: str = "", *, fr: str | None = None):
        super().__init__(message)
        self.fr = fr


class InputError(QpvgeoError, ValueError):
    """A value given by the user is wrong: the message quotes it and says how to fix it."""


class DataError(QpvgeoError, ValueError):
    """A data file is unusable: missing layer, columns or CRS, unreadable content."""


class NotFoundError(QpvgeoError, LookupError):
    """An identifier (quartier code, EPCI SIREN, commune) is not in the loaded data."""


class DownloadError(QpvgeoError, OSError):
    """A download failed, was cut short, or did not match its expected size or checksum."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class GeocodingError(QpvgeoError, OSError):
    """The address service could not be reached or answered something unusable."""
