#!/usr/bin/env python
"""Regenerate the pictures of the README with the project's own commands (PNG at A4 width,
300 dpi, no web tiles), into docs/img/.

    python scripts/make_readme_images.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"

COMMANDS = {
    "eligibilite-capso.png": ["map", "eligibility", "--epci", "200069037", "--points",
                              str(ROOT / "data" / "examples" / "sites-capso.csv"), "--lon-col", "lon", "--lat-col",
                              "lat"],
    "fragilite-capso.png": ["map", "fragility", "--epci", "200069037"],
    "qpv-pas-de-calais.png": ["map", "qpv", "--departement", "62"],
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, args in COMMANDS.items():
        cmd = [sys.executable, "-m", "qpvgeo", *args, "--format", "png", "-o", str(OUT / name), "--overwrite"]
        print("qpvgeo " + " ".join(args[:4]) + " ...", flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
