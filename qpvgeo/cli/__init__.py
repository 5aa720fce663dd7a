"""The ``qpvgeo`` command line: a thin layer that parses options, calls one library function and
formats its answer. Every error (a library error, a usage error, an error of the machine such as
a read-only folder or a full disk) becomes one line on stderr and exit code 1; ``-vv`` adds the
traceback of unexpected errors. Command modules import the heavy libraries only when they run."""

from __future__ import annotations

import errno
import json
import logging
import sys
import warnings

import click

from .. import __version__, config
from ..errors import QpvgeoError

log = logging.getLogger("qpvgeo.cli")


def _machine_error(exc: OSError) -> str:
    where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
    fixes = {
        errno.ENOSPC: "no space left on the device: free some space or write elsewhere",
        errno.EACCES: "permission denied: choose a file or folder you can write to",
        errno.EROFS: "the file system is read-only: write elsewhere",
        errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere",
        errno.ENOENT: "no such file or folder: check the path",
        errno.EISDIR: "this is a folder: give a file name",
    }
    reason = fixes.get(exc.errno, exc.strerror or str(exc))
    return f"cannot use{where}: {reason}"


class _Group(click.Group):
    """The root group: runs a command and turns every failure into one line and exit code 1."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name or "qpvgeo", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except click.UsageError as exc:
            cmd = exc.ctx.command_path if exc.ctx is not None else "qpvgeo"
            click.echo(f"Error: {exc.format_message()} (see '{cmd} --help')", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(1)
        except QpvgeoError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:
            log.debug("machine error", exc_info=True)
            click.echo(f"Error: {_machine_error(exc)}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Error: interrupted; nothing was written at the output path", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the promise: no traceback, one line
            log.debug("unexpected error", exc_info=True)
            click.echo(f"Error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                       "(run with -vv for the details, and please report it)", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="qpvgeo")
@click.option("-v", "--verbose", count=True, help="More messages (-vv for debug and tracebacks).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.option("--offline", is_flag=True, default=None,
              help="Use only the cache; never touch the network (env QPVGEO_OFFLINE=1).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Cache folder for downloads (env QPVGEO_CACHE_DIR).")
@click.option("--lang", type=click.Choice(["en", "fr"]), default=None,
              help="Language of what people read: text, CSV and xlsx (env QPVGEO_LANG; JSON and GIS files "
                   "keep English codes).")
@click.option("--threads", type=click.IntRange(min=0), default=None,
              help="Threads for the heavy steps (env QPVGEO_THREADS; default 0: every core).")
def main(verbose: int, quiet: bool, offline: bool | None, cache_dir: str | None, lang: str | None,
         threads: int | None) -> None:
    """qpvgeo: QPV eligibility, quartiers fragiles and maps for the politique de la ville.

    Works offline on the embedded data (Pas-de-Calais QPV 2024, Filosofi 2021 of the CA du Pays
    de Saint-Omer); official national files are downloaded on request into a cache.
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.captureWarnings(True)
    warnings.formatwarning = _warning_text
    config.set_settings(config.from_env(offline=offline, cache_dir=cache_dir, lang=lang, threads=threads))


def _warning_text(message, category, filename, lineno, line=None) -> str:
    """A warning as its message alone (logged as ``WARNING py.warnings: …``, one line), without the
    file and the line of code Python adds: people read what happened, not where in qpvgeo."""
    return str(message)


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default))


def _json_default(o):
    import numpy as np

    if isinstance(o, np.bool_):
        return bool(o)
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
from . import compare as _compare  # noqa: E402,F401
from . import fetch as _fetch  # noqa: E402,F401
from . import fiche as _fiche  # noqa: E402,F401
from . import fragility as _fragility  # noqa: E402,F401
from . import funding as _funding  # noqa: E402,F401
from . import maps as _maps  # noqa: E402,F401
from . import perimeters as _perimeters  # noqa: E402,F401  (registers commands)
from . import programme as _programme  # noqa: E402,F401
from . import serve as _serve  # noqa: E402,F401
