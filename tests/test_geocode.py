import pytest
from conftest import Reply
from fake_ban import csv_answer, search_reply

from qpvgeo.errors import GeocodingError, OfflineError
from qpvgeo.geocode import BanClient


@pytest.fixture
def ban(server, settings):
    server.route("/search", search_reply)
    server.route("/search/csv", csv_answer)
    return BanClient(settings.replace(ban_url=server.url, ban_chunk_rows=3))


def test_single_search_precise_imprecise_and_not_found(ban, server):
    r = ban.search("1 rue du Quai du Commerce, Saint-Omer")
    assert r.status == "ok" and r.lon == 2.26006 and r.type == "housenumber" and r.score == 0.93
    assert ban.search("rue de Dunkerque Saint-Omer").status == "imprecise"  # street
    assert ban.search("Saint-Omer").status == "imprecise"  # municipality
    assert ban.search("3 rue vague").status == "imprecise"  # score below 0.5
    assert ban.search("nowhere at all").status == "not_found"
    n = server.count("/search")
    assert ban.search("1 rue du Quai du Commerce, Saint-Omer").status == "ok"  # cached
    assert server.count("/search") == n


def test_single_search_429_with_retry_after_then_ok(server, settings):
    server.route("/search", Reply(429, b"", {"Retry-After": "1"}), search_reply)
    client = BanClient(settings.replace(ban_url=server.url))
    import time

    t0 = time.monotonic()
    assert client.search("10 place Foch Arras").status == "ok"
    assert time.monotonic() - t0 >= 0.9  # waited as asked
    assert server.count("/search") == 2


def test_batch_502_then_success(server, settings):
    server.route("/search/csv", Reply(502, b"bad gateway"), csv_answer)
    client = BanClient(settings.replace(ban_url=server.url))
    res = client.search_many(["10 place Foch Arras", "nowhere"])
    assert [r.status for r in res] == ["ok", "not_found"]
    assert server.count("/search/csv") == 2


def test_batch_in_chunks_with_rows_missing_from_the_answer(server, settings):
    calls = []

    def flaky(req):
        calls.append(1)
        # the first answer of each chunk leaves out every 2nd row; re-sends are complete
        return csv_answer(req, drop_every=2 if len(calls) % 2 == 1 else None)

    server.route("/search/csv", flaky)
    client = BanClient(settings.replace(ban_url=server.url, ban_chunk_rows=4))
    queries = ["10 place Foch Arras", "1 rue du Quai du Commerce Saint-Omer", "nowhere", "Saint-Omer",
               "rue de Dunkerque Saint-Omer", "3 rue vague", "", "10 place Foch Arras"]
    res = client.search_many(queries)
    assert len(res) == len(queries)
    assert [r.status for r in res] == ["ok", "ok", "not_found", "imprecise", "imprecise", "imprecise",
                                       "not_found", "ok"]
    assert res[1].lon == 2.26006 and res[1].label.startswith("1 Rue du Quai")
    # second run: everything from the cache
    n = server.count("/search/csv")
    assert [r.status for r in client.search_many(queries)] == [r.status for r in res]
    assert server.count("/search/csv") == n


def test_batch_answer_cut_short_is_completed(server, settings):
    replies = iter([True, False, False, False, False])
    server.route("/search/csv", lambda req: csv_answer(req, cut=next(replies)))
    client = BanClient(settings.replace(ban_url=server.url, ban_chunk_rows=100))
    queries = ["10 place Foch Arras"] + [f"nowhere {i}" for i in range(20)]
    res = client.search_many(queries)
    assert res[0].status == "ok"
    assert all(r.status == "not_found" for r in res[1:])
    assert server.count("/search/csv") == 2


def test_batch_rows_never_answered_are_marked_failed(server, settings):
    server.route("/search/csv", lambda req: csv_answer(req, drop_every=1))  # always empty
    client = BanClient(settings.replace(ban_url=server.url))
    res = client.search_many(["10 place Foch Arras"])
    assert [r.status for r in res] == ["failed"]


def test_service_down_and_offline(server, settings):
    server.route("/search", Reply(503, b"down"))
    client = BanClient(settings.replace(ban_url=server.url))
    with pytest.raises(GeocodingError, match="503"):
        client.search("10 place Foch Arras")
    off = BanClient(settings.replace(ban_url=server.url, offline=True))
    with pytest.raises(OfflineError, match="coordinates"):
        off.search("10 place Foch Arras")
