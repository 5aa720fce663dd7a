"""The ``qpvgeo`` command line: a thin layer that parses options, calls the library and
formats its answer. Library errors become a one-line message and exit code 1."""

from __future__ import annotations

import json
import logging
import sys

import click

from .. import __version__, config
from ..errors import QpvgeoError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except QpvgeoError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qpvgeo")
@click.option("-v", "--verbose", count=True, help="More messages (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--offline", is_flag=True, default=None,
              help="Use only the cache; never touch the network (env QPVGEO_OFFLINE=1).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache folder for downloads (env QPVGEO_CACHE_DIR).")
def main(verbose: int, quiet: bool, offline: bool | None, cache_dir: str | None) -> None:
    """qpvgeo: QPV eligibility, quartiers fragiles and maps for the politique de la ville.

    Works offline on the embedded data (Pas-de-Calais QPV 2024, Filosofi 2021 of the CA du Pays
    de Saint-Omer); official national files are downloaded on request into a cache.
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    config.set_settings(config.from_env(offline=offline, cache_dir=cache_dir))


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if np.isnan(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def quiet_progress() -> bool:
    return logging.getLogger().level >= logging.ERROR


from . import check as _check  # noqa: E402,F401
from . import fetch as _fetch  # noqa: E402,F401
from . import fragility as _fragility  # noqa: E402,F401
from . import funding as _funding  # noqa: E402,F401
from . import maps as _maps  # noqa: E402,F401
from . import perimeters as _perimeters  # noqa: E402,F401  (registers commands)
