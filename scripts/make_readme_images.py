#!/usr/bin/env python
"""Regenerate the pictures of the README with the project's own commands (print maps: PNG on A4,
300 dpi, no web tiles; the fiche quartier: its PDF's pages rendered at 100 dpi), into docs/img/.

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


EXAMPLES = ROOT / "data" / "examples"
FICHE = ["fiche", "QN06237M", "--format", "pdf", "--official", str(EXAMPLES / "population-capso.csv"),
         "--points", f"Arrêts de bus={EXAMPLES / 'stops-capso.txt'}"]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, args in COMMANDS.items():
        cmd = [sys.executable, "-m", "qpvgeo", *args, "--format", "png", "-o", str(OUT / name), "--overwrite"]
        print("qpvgeo " + " ".join(args[:4]) + " ...", flush=True)
        subprocess.run(cmd, check=True)
    import tempfile

    import pypdfium2 as pdfium  # a test dependency: pip install -e ".[test]"

    with tempfile.TemporaryDirectory() as tmp:
        print("qpvgeo " + " ".join(FICHE[:4]) + " ...", flush=True)
        subprocess.run([sys.executable, "-m", "qpvgeo", *FICHE, "-o", tmp], check=True)
        pdf = pdfium.PdfDocument(str(Path(tmp) / "QN06237M.pdf"))
        for i in range(min(len(pdf), 2)):
            pdf[i].render(scale=100 / 72).to_pil().save(OUT / f"fiche-QN06237M-{i + 1}.png", optimize=True)
        pdf.close()


if __name__ == "__main__":
    main()
