from __future__ import annotations

import click

from .. import config
from . import main


@main.group("fetch")
def fetch_group():
    """Download official files into the cache (so that later runs work offline)."""


@fetch_group.command("qpv")
@click.option("--vintage", type=click.Choice(["2024", "2015"]), default="2024")
@click.option("--force", is_flag=True, help="Download again even when cached.")
def fetch_qpv(vintage, force):
    """The ANCT QPV perimeters of a vintage (national ZIP)."""
    from .. import _http
    from ..sources import qpv_source

    entry = qpv_source(int(vintage))
    path = _http.download(entry.url, name=entry.filename, settings=config.get_settings(), force=force)
    click.echo(f"{entry.description}\n{entry.url}\n-> {path}")


@fetch_group.command("filosofi")
@click.option("--vintage", type=click.Choice(["2021", "2019", "2017"]), default="2021")
@click.option("--force", is_flag=True, help="Download again even when cached.")
def fetch_filosofi(vintage, force):
    """The INSEE Filosofi 200 m carreaux of a vintage (national ZIP, large)."""
    from .. import _http
    from ..sources import filosofi_source

    entry = filosofi_source(int(vintage))
    path = _http.download(entry.url, name=entry.filename, settings=config.get_settings(), force=force)
    click.echo(f"{entry.description}\n{entry.url}\n-> {path}")
