"""The money rules of the contracts, at their limits, and a whole programme of actions."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import run_cli as run

from qpvgeo import funding
from qpvgeo.eligibility import Checker
from qpvgeo.errors import InputError
from qpvgeo.perimeters import load_perimeters
from qpvgeo.programme import programme


def test_fonds_de_cohesion_sociale_limits():  # 002:914-930
    assert funding.fonds_cohesion_sociale(1999)["amount_eur"] == 1999
    assert funding.fonds_cohesion_sociale(2000)["amount_eur"] == 2000
    r = funding.fonds_cohesion_sociale(2001)
    assert r["amount_eur"] == 2000 and "capped" in r["reason"]
    assert funding.fonds_cohesion_sociale(500, status="in_qic")["eligible"] is True  # open to QIC (000:52)
    assert funding.fonds_cohesion_sociale(500, status="outside")["amount_eur"] == 0
    assert funding.fonds_cohesion_sociale(500, status="not_covered")["amount_eur"] is None
    with pytest.raises(InputError, match="beneficiary"):
        funding.fonds_cohesion_sociale(500, beneficiary="entreprise")


def test_anct_floor_and_degressivity():  # 000:126-130
    assert funding.anct_receivable(2499.99) is False and funding.anct_receivable(2500) is True
    assert funding.anct_receivable(100, conseil_citoyen=True) is True
    assert funding.anct_degressive_cap(20_000, 1) == 20_000
    assert funding.anct_degressive_cap(20_000, 2) == 10_000
    assert funding.anct_degressive_cap(20_000, 3) == 6_000  # the third year at 30 %
    assert funding.anct_degressive_cap(12_345, 3) == 3_704  # rounded to the euro, halves up
    with pytest.raises(InputError, match="years 2 and 3"):
        funding.anct_degressive_cap(20_000, 4)


def test_region_limits():  # 000:204-207
    assert funding.region_subsidy(30_000, "operating")["within_limits"] is True
    assert funding.region_subsidy(30_001, "operating")["allowed_eur"] == 30_000
    assert funding.region_subsidy(5_000, "investment")["within_limits"] is True
    assert funding.region_subsidy(4_999, "investment") == {**funding.region_subsidy(4_999, "investment"),
                                                           "within_limits": False, "allowed_eur": 0}
    assert funding.region_subsidy(100_000, "investment")["within_limits"] is True
    r = funding.region_subsidy(100_001, "investment")
    assert r["within_limits"] is False and r["allowed_eur"] == 100_000 and "100 000" in r["reason"]


def test_caf_emplois_francs_dsc():
    assert funding.caf_investment_rate(0.40, "in_qpv") == 0.50  # 000:263
    assert funding.caf_investment_rate(0.40, "in_band") == 0.40
    assert funding.caf_investment_rate(0.40, "geocode_failed") is None
    assert funding.emplois_francs("cdi") == {"eligible": True, "amount_eur": 15_000, "years": 3,
                                             "per_year_eur": 5000.0, "reason": None}  # 002:1239-1240
    assert funding.emplois_francs("cdd", months=6)["amount_eur"] == 5_000
    assert funding.emplois_francs("cdd", months=5)["eligible"] is False
    assert funding.emplois_francs("cdi", resident_status="outside")["amount_eur"] == 0
    assert funding.emplois_francs("cdi", resident_status="not_covered")["eligible"] is None
    # DSC part QPV (004:242-245): 50 % equally, 50 % by QPV inhabitants; shares sum to the cent
    r = funding.dsc_part_qpv(88_463, {"A": 1000, "B": 3000}, method="area-weighted")
    assert r["shares"] == {"A": 22_115.75 + 11_057.88, "B": 22_115.75 + 33_173.62}
    assert sum(r["shares"].values()) == pytest.approx(88_463) and r["population_method"] == "area-weighted"
    from qpvgeo.inhabitants import qpv_inhabitants_by_commune
    from qpvgeo.perimeters import select

    capso = qpv_inhabitants_by_commune(select(load_perimeters(), epci="200069037"))
    assert set(capso["insee"]) == {"62014", "62040", "62525", "62765"}  # the 4 communes with a QPV
    assert capso["estimate"].sum() == pytest.approx(2018 + 1668 + 1431, abs=3)


def test_public_share_counting_qic():
    s = {"in_qpv": 5, "in_qic": 2, "outside": 3}
    assert funding.public_share(s)["share_in_qpv"] == 0.5
    assert funding.public_share(s, count_qic=True)["share_in_qpv"] == 0.7


def test_totals_are_recomputed_and_the_53_euros_found():
    # 001_df5781284065b3b7.txt:266 states 391 934 € for seven FDC lines that add up to 391 987 €
    lines = [("Houdain", "33 272 €"), ("Auchel", "70 000 €"), ("Auchy-les-Mines", "70 000 €"),
             ("Calonne-Ricouart", "58 662 €"), ("Lillers", "70 000 €"), ("Noeux-les-Mines", "70 000 €"),
             ("Haisnes", "20 053 €"), ("TOTAL", "391 934 €")]
    (t,) = funding.check_totals([{"c": c, "m": m} for c, m in lines], amount="m", label="c")
    assert (t["stated_eur"], t["computed_eur"], t["difference_eur"], t["ok"]) == (391_934, 391_987, -53, False)
    assert t["rows"] == list(range(7))
    sub = [{"l": "a", "m": 10}, {"l": "Sous-total 1", "m": 10}, {"l": "b", "m": 5}, {"l": "c", "m": 5},
           {"l": "Sous-total 2", "m": 10}, {"l": "TOTAL", "m": 21}]
    res = funding.check_totals(sub, amount="m", label="l")
    assert [r["ok"] for r in res] == [True, True, False] and res[2]["difference_eur"] == 1


IN, BAND, OUT = (2.26006, 50.75359), (2.2601, 50.7565), (2.05, 50.60)


def _built_programme():
    rows = []
    for i in range(8):  # FDC: in a QPV, in the band, outside, no place; under and over the cap
        for where, (lon, lat) in (("qpv", IN), ("band", BAND), ("out", OUT)):
            expenses = 100_000 if i % 2 else 300_000
            rows.append({"action": f"{where}-{i}", "commune": "Saint-Omer", "pilier": f"P{i % 3}", "lon": lon,
                         "lat": lat, "depenses": expenses, "fdc": 40_000 if i % 2 else 75_000})
    rows.append({"action": "sans-lieu", "commune": "Arques", "pilier": "P0", "lon": None, "lat": None,
                 "depenses": 50_000, "fdc": 20_000})
    return pd.DataFrame(rows)


def test_a_programme_of_a_few_dozen_actions():
    table = _built_programme()
    stated = table["fdc"].sum() + 53
    table = pd.concat([table, pd.DataFrame([{"action": "TOTAL", "fdc": stated}])], ignore_index=True)
    res = programme(table, Checker(load_perimeters()))
    r = res.rows.set_index("action")
    assert len(res.rows) == len(table)  # one output row per input row
    assert r.loc["qpv-1", "fdc_verdict"] == "eligible" and r.loc["qpv-1", "fdc_max_eur"] == 40_000
    assert r.loc["band-0", "fdc_verdict"] == "over_the_limit" and r.loc["band-0", "fdc_max_eur"] == 70_000
    assert r.loc["out-3", "fdc_verdict"] == "not_eligible" and r.loc["out-3", "fdc_allowed_eur"] == 0
    assert r.loc["sans-lieu", "fdc_verdict"] == "undecided" and pd.isna(r.loc["sans-lieu", "fdc_allowed_eur"])
    assert r.loc["TOTAL", "qpv_status"] == "total_row"
    f = res.by_fund.set_index("fund").loc["fdc"]
    assert f["actions"] == 25 and f["undecided_actions"] == 1
    assert f["asked_eur"] == 8 * (40_000 + 75_000) / 2 * 3 + 20_000
    assert f["allowed_eur"] == 2 * 4 * (40_000 + 70_000)  # in the QPV and in the band, within the cap
    (t,) = res.totals
    assert t["difference_eur"] == 53 and t["ok"] is False
    communes = res.by_commune.set_index("commune")
    assert communes.loc["Saint-Omer", "actions"] == 24 and communes.loc["Arques", "actions"] == 1
    assert set(res.by_pillar["pilier"]) == {"P0", "P1", "P2"}


def test_cli_programme_on_the_example(tmp_path):
    res = run("programme", "data/examples/programme-capso.csv", "-o", tmp_path / "p.xlsx")
    assert res.exit_code == 0, res.output
    assert "WRONG by +53 €" in res.output
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(tmp_path / "p.xlsx"))
    assert wb.sheet_names == ["actions", "par_commune", "par_fonds", "par_pilier", "totaux_verifies"]
    rows = wb.get_sheet_by_name("actions").to_python()
    assert len(rows) == 1 + 8
    res = run("--lang", "fr", "programme", "data/examples/programme-capso.csv", "-o", tmp_path / "q.csv", "--json")
    out = json.loads(res.stdout)
    assert out["totals"][0]["difference_eur"] == 53
    fr = pd.read_csv(tmp_path / "q.csv", sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert "au-delà du plafond" in set(fr["fdc_avis"]) and "dans un QPV" in set(fr["statut"])
    # the reasons in French, with French numbers; the totals with the file's lines
    assert "40 % de 129 935 € de dépenses, au plus 70 000 €" in set(fr["fdc_motif"])
    assert "35 000 € demandés : la Région donne au plus 30 000 € (fonctionnement)" in set(fr["region_operating_motif"])
    assert set(fr["eligible"]) <= {"oui", "non", ""}
    totals = pd.read_csv(tmp_path / "q-totaux-verifies.csv", sep=";", encoding="utf-8-sig", dtype=str)
    assert totals.iloc[0][["fonds", "ligne", "lignes", "juste"]].tolist() == ["fdc", "9", "2, 3, 4", "non"]
    res = run("--lang", "fr", "programme", "data/examples/programme-capso.csv", "-o", tmp_path / "r.xlsx")
    assert "total indiqué de fdc (ligne 9 du fichier) : 168 027 € ; recalculé à partir des lignes 2, 3, 4 : " \
           "167 974 € : FAUX, écart de +53 €" in res.output
    assert "nom_du_fonds" in res.output and "167 974 €" in res.output
    # English keeps English reasons
    en = CalamineWorkbook.from_path(str(tmp_path / "p.xlsx")).get_sheet_by_name("actions").to_python()
    assert "40 % of 129 935 € of expenses, at most 70 000 €" in {r[en[0].index("fdc_reason")] for r in en[1:]}
    assert (tmp_path / "q-par-commune.csv").exists() and (tmp_path / "q-totaux-verifies.csv").exists()


def test_the_printable_page_of_the_rapports_tables(tmp_path):
    run("programme", "data/examples/programme-capso.csv", "-o", tmp_path / "p.xlsx")
    page = (tmp_path / "p.html").read_text(encoding="utf-8")
    assert page.count("<table") == 4 and "Par commune" in page and "Écart (€)" in page and 'lang="fr"' in page
    assert "Nom du fonds" in page and "fund" not in page  # French headings


def test_columns_named_by_options(tmp_path):
    src = tmp_path / "prog.csv"
    src.write_text("Projet;Montant FDC;Dépenses HT;lon;lat\nMaison;51974;129935;2.26006;50.75359\n", encoding="utf-8")
    res = run("programme", src, "-o", tmp_path / "o.csv", "--column", "fdc=Montant FDC", "--column",
              "expenses=Dépenses HT", "--column", "label=Projet")
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "o.csv", sep=";", dtype=str, keep_default_na=False)
    assert out["fdc_verdict"].tolist() == ["eligible"] and out["fdc_max_eur"].tolist() == ["51974"]
    bad = run("programme", src, "-o", tmp_path / "x.csv", "--column", "nope=Projet")
    assert bad.exit_code == 1 and "KEY=COLUMN" in bad.stderr
