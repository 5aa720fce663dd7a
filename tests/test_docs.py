"""The README's commands are run on the embedded data and their printed output compared where the
README shows it; those that need the network or files the reader brings are parsed, so that an
option the CLI lost cannot stay in the documentation (as sqlite-utils' tests/test_docs.py does)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qpvgeo.cli import main

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
_OUTPUT_OPTS = {"-o", "--output"}
_FILE_EXT = (".csv", ".geojson", ".gpkg", ".shp", ".zip", ".parquet", ".xlsx", ".txt", ".cpg")


def readme_commands() -> list[tuple[list[str], list[str]]]:
    """(argv after 'qpvgeo', expected output lines) for every qpvgeo command of the README."""
    out = []
    for lang, body in re.findall(r"```(console|bash)\n(.*?)```", README, re.S):
        lines = body.splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if lang == "console":
                if not line.startswith("$ qpvgeo"):
                    continue
                expected = []
                while i < len(lines) and not lines[i].startswith("$ "):
                    expected.append(lines[i])
                    i += 1
                out.append((_argv(line[2:]), expected))
            else:
                for part in line.split("&&"):
                    part = part.strip()
                    part = part[len(".venv/bin/"):] if part.startswith(".venv/bin/qpvgeo") else part
                    if part.startswith("qpvgeo "):
                        out.append((_argv(part), []))
    return out


def _argv(command: str) -> list[str]:
    command = command.split(" | ")[0]  # "| tail -1": the expected line is checked among all
    argv = shlex.split(command, comments=True)
    assert argv[0] == "qpvgeo", command
    return argv[1:]


def needs_outside(argv: list[str]) -> bool:
    """Whether a command needs the network or a file the reader brings (then it is only parsed)."""
    if argv[0] in ("fetch", "serve") or "official" in argv or "--address-cols" in argv:
        return True  # the network, or a server that runs until stopped (tests/test_server.py runs it)
    if argv[0] == "check" and len(argv) > 1 and not argv[1].startswith("-") and re.search(r"[A-Za-z]", argv[1]):
        return True  # an address: the BAN
    for prev, tok in zip([""] + argv, argv):
        if prev in _OUTPUT_OPTS:
            continue
        if tok.startswith("~") or (tok.lower().endswith(_FILE_EXT) and not (REPO / tok).exists()):
            return True
    return False


COMMANDS = readme_commands()


def test_the_readme_has_commands():
    assert len(COMMANDS) > 20
    assert any(a[0] == "check-file" for a, _ in COMMANDS) and any(a[0] == "fragility" for a, _ in COMMANDS)


def _parse(argv: list[str]) -> None:
    """Parse a command line with click, all the way down, without running it."""
    ctx = main.make_context("qpvgeo", list(argv), resilient_parsing=False)
    cmd, args = main, ctx.protected_args + ctx.args
    while isinstance(cmd, click.Group) and args:
        name, sub, args = cmd.resolve_command(ctx, args)
        ctx = sub.make_context(name, args, parent=ctx)
        cmd, args = sub, (ctx.protected_args + ctx.args if isinstance(sub, click.Group) else [])


@pytest.mark.parametrize("argv,expected", COMMANDS, ids=[" ".join(a)[:70] for a, _ in COMMANDS])
def test_readme_command(argv, expected, tmp_path, monkeypatch):
    if needs_outside(argv):
        _parse(argv)
        return
    monkeypatch.chdir(tmp_path)
    os.symlink(REPO / "data", tmp_path / "data")
    res = CliRunner().invoke(main, argv)
    shown = [ln for ln in expected if ln.strip() and "…" not in ln]
    if shown and shown[0].startswith("Error:"):
        assert res.exit_code == 1, res.output
        got = res.stderr
    else:
        assert res.exit_code == 0, res.output
        got = res.stdout
    lines = {" ".join(ln.split()) for ln in got.splitlines()}
    for ln in shown:
        assert " ".join(ln.split()) in lines, f"README line not printed: {ln!r}\n--- printed:\n{got}"


def test_the_command_line_starts_without_the_heavy_libraries():
    """``import qpvgeo.cli`` (what ``qpvgeo --help`` and ``qpvgeo fdc`` pay) loads no geopandas,
    pandas, numpy, shapely, pyproj, folium, scipy, matplotlib or rasterio."""
    import subprocess
    import sys

    code = ("import sys, qpvgeo.cli; heavy = [m for m in ('geopandas', 'pandas', 'numpy', 'shapely', 'pyproj', "
            "'folium', 'scipy', 'matplotlib', 'rasterio', 'fastapi') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_single_check_imports_no_k_d_tree():
    """``qpvgeo check LON,LAT``: the point is compared with every outline vertex directly; the
    k-d tree (pykdtree and its OpenMP library) is neither imported nor built."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from qpvgeo.cli import main; "
            "r = CliRunner().invoke(main, ['check', '2.26006,50.75359']); "
            "print(r.exit_code, 'in_qpv' in r.output, 'pykdtree.kdtree' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "True", "False"], out
