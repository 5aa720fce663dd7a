"""The zones sheet for élus, in French, on the embedded data (issue "Ready for the rapport")."""

from __future__ import annotations

import pandas as pd
from conftest import run_cli as run


def test_the_french_zones_sheet(tmp_path):
    res = run("--lang", "fr", "fragility", "--epci", "200069037", "-o", tmp_path / "f")
    assert res.exit_code == 0, res.output
    t = pd.read_csv(tmp_path / "f" / "zones-elus.csv", sep=";", encoding="utf-8-sig", dtype=str)
    assert list(t.columns) == ["Zone", "Communes", "QPV le plus proche", "Ménages", "Habitants",
                               "Taux de pauvreté des ménages", "Rapport au taux de l'EPCI", "Dans un QPV",
                               "Distance au QPV le plus proche (m)", "Seuil de 1 000 habitants"]
    top = t.iloc[0]
    assert (top["Zone"], top["Communes"], top["QPV le plus proche"]) == (
        "Z01", "Saint-Omer", "Quai Du commerce - Saint Sépulcre")  # names, not codes
    assert (top["Ménages"], top["Habitants"]) == ("1286", "2320")  # whole numbers
    assert top["Taux de pauvreté des ménages"] == "39,0 %"  # percent, decimal comma
    assert top["Rapport au taux de l'EPCI"] == "2,3 × le taux de la CA du Pays de Saint-Omer"
    assert top["Dans un QPV"] == "en partie (60 % des ménages)"
    assert set(t["Dans un QPV"]) >= {"entièrement", "non"} and t["Seuil de 1 000 habitants"].iloc[0] == "atteint"
    assert t["Ménages"].astype(int).is_monotonic_decreasing  # largest first
    page = (tmp_path / "f" / "zones-elus.html").read_text(encoding="utf-8")
    assert 'lang="fr"' in page and "Quartiers fragiles candidats : CA du Pays de Saint-Omer" in page
    assert "17,2 %" in page and "data:image/png;base64," in page  # the reference in French, and the map
    # without --lang fr the machine outputs only
    res = run("fragility", "--epci", "200069037", "-o", tmp_path / "g")
    assert not (tmp_path / "g" / "zones-elus.csv").exists()
