import pytest
from click.testing import CliRunner

from qpvgeo import funding
from qpvgeo.cli import main
from qpvgeo.errors import InputError


@pytest.mark.parametrize("expenses,amount", [(129_935, 51_974), (949_145, 70_000), (548_159, 70_000),
                                             (175_000, 70_000), (174_999, 69_999.6 and 70_000), (0, 0)])
def test_fdc_known_answers(expenses, amount):
    assert funding.fdc_politique_ville(expenses) == amount


def test_fdc_total_break_even_and_parameters():
    assert funding.fdc_total([129_935, 949_145, 548_159]) == 191_974
    assert funding.fdc_break_even_eur() == 175_000
    assert funding.fdc_politique_ville(100_000, rate=0.5, cap_eur=40_000) == 40_000
    with pytest.raises(InputError, match="-5"):
        funding.fdc_politique_ville(-5)
    with pytest.raises(InputError, match="fraction"):
        funding.fdc_politique_ville(10, rate=40)


def test_anct_floor_and_majoration():
    assert funding.anct_receivable(2_499.99) is False
    assert funding.anct_receivable(2_500) is True
    assert funding.anct_receivable(100, conseil_citoyen=True) is True
    assert funding.classic_fdc_majoration("in_band") and funding.classic_fdc_majoration("in_qpv")
    assert not funding.classic_fdc_majoration("outside")
    assert not funding.classic_fdc_majoration("geocode_imprecise")


def test_public_share_counts_qic_apart():
    res = funding.public_share(["in_qpv"] * 6 + ["in_qic"] * 2 + ["outside", "in_band", "no_coordinates"])
    assert res["in_qpv"] == 6 and res["in_qic"] == 2 and res["elsewhere"] == 2 and res["undecided"] == 1
    assert res["share_in_qpv"] == 0.6 and res["meets_threshold"] is True
    assert funding.public_share(["in_qpv"] * 5 + ["in_qic"] * 5)["meets_threshold"] is False


def test_cli_fdc():
    res = CliRunner().invoke(main, ["fdc", "--expenses", "129935"])
    assert res.exit_code == 0 and res.output.strip() == "51 974 €"
    res = CliRunner().invoke(main, ["fdc", "--expenses", "129935", "--expenses", "949145", "--expenses", "548159"])
    assert "total: 191 974 €" in res.output
    res = CliRunner().invoke(main, ["fdc", "--expenses", "abc"])
    assert res.exit_code == 1 and "'abc'" in res.output


def test_cli_public_share(tmp_path):
    src = tmp_path / "people.csv"
    src.write_text("lon,lat\n2.26006,50.75359\n2.26006,50.75359\n2.05,50.60\n,\n")
    res = CliRunner().invoke(main, ["public-share", str(src), "-o", str(tmp_path / "o.csv"),
                                    "--lon-col", "lon", "--lat-col", "lat", "--json"])
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.stdout)
    assert out["in_qpv"] == 2 and out["elsewhere"] == 1 and out["undecided"] == 1
    assert out["share_in_qpv"] == pytest.approx(2 / 3, abs=1e-4)


def test_cli_check_with_expenses():
    import json

    res = CliRunner().invoke(main, ["check", "2.2601,50.7565", "--expenses", "129935", "--json"])
    assert res.exit_code == 0, res.output
    f = json.loads(res.stdout)["funding"]
    assert f["fdc_politique_ville_eur"] == 51_974 and f["fdc_majoration_5pct"] is True
    assert f["anct_receivable"] is True
    res = CliRunner().invoke(main, ["check", "2.05,50.60", "--expenses", "2000", "--json"])
    f = json.loads(res.stdout)["funding"]
    assert f["fdc_politique_ville_eur"] == 0 and f["fdc_majoration_5pct"] is False
    assert f["anct_receivable"] is False
    res = CliRunner().invoke(main, ["check", "2.2601,50.7565", "--expenses", "129935"])
    assert "51 974 €" in res.output
