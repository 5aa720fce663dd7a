import hashlib
import zipfile

import pytest
from click.testing import CliRunner
from conftest import Reply

from qpvgeo import _http, config
from qpvgeo.cli import main
from qpvgeo.errors import DownloadError, OfflineError
from qpvgeo.perimeters import load_perimeters

BODY = b"x" * 200_000


def test_download_success_is_cached_with_provenance(server, settings):
    server.route("/f.zip", Reply(200, BODY))
    path = _http.download(server.url + "/f.zip", settings=settings,
                          sha256=hashlib.sha256(BODY).hexdigest())
    assert path.read_bytes() == BODY
    assert path.with_name(path.name + ".json").exists()
    # second call: from the cache, no request
    assert _http.download(server.url + "/f.zip", settings=settings) == path
    assert server.count("/f.zip") == 1


def test_download_500_then_success(server, settings):
    server.route("/f.zip", Reply(500, b"oops"), Reply(200, BODY))
    path = _http.download(server.url + "/f.zip", settings=settings)
    assert path.read_bytes() == BODY
    assert server.count("/f.zip") == 2


def test_download_429_honours_retry_after(server, settings):
    server.route("/f.zip", Reply(429, b"slow down", {"Retry-After": "0"}), Reply(200, BODY))
    assert _http.download(server.url + "/f.zip", settings=settings).read_bytes() == BODY
    assert server.count("/f.zip") == 2


def test_download_404_fails_and_caches_nothing(server, settings):
    with pytest.raises(DownloadError, match="404"):
        _http.download(server.url + "/missing.zip", settings=settings)
    assert not any((settings.cache_dir / "downloads").glob("*missing*"))


def test_download_persistent_5xx_gives_up_after_bounded_retries(server, settings):
    server.route("/f.zip", Reply(503, b"down"))
    with pytest.raises(DownloadError, match="503"):
        _http.download(server.url + "/f.zip", settings=settings)
    assert server.count("/f.zip") == settings.max_retries + 1


def test_truncated_body_is_not_cached(server, settings):
    server.route("/f.zip", Reply(200, BODY, truncate_to=1000))
    with pytest.raises(DownloadError, match="cut short|nothing was cached"):
        _http.download(server.url + "/f.zip", settings=settings)
    files = list((settings.cache_dir / "downloads").iterdir())
    assert files == []


def test_truncated_then_complete_is_retried(server, settings):
    server.route("/f.zip", Reply(200, BODY, truncate_to=1000), Reply(200, BODY))
    assert _http.download(server.url + "/f.zip", settings=settings).read_bytes() == BODY


def test_checksum_mismatch_is_not_cached(server, settings):
    server.route("/f.zip", Reply(200, BODY))
    with pytest.raises(DownloadError, match="SHA-256"):
        _http.download(server.url + "/f.zip", settings=settings, sha256="0" * 64)
    assert not _http.cache_path(server.url + "/f.zip", settings=settings).exists()


def test_timeout_is_bounded(server, settings):
    server.route("/slow", Reply(200, b"late", delay_s=2))
    fast = settings.replace(timeout_s=0.3, max_retries=1)
    with pytest.raises(DownloadError):
        _http.download(server.url + "/slow", settings=fast)


def test_offline_uses_the_cache_or_names_the_missing_file(server, settings):
    server.route("/f.zip", Reply(200, BODY))
    url = server.url + "/f.zip"
    path = _http.download(url, settings=settings)
    offline = settings.replace(offline=True)
    n = server.count("/f.zip")
    assert _http.download(url, settings=offline) == path
    assert server.count("/f.zip") == n
    other = server.url + "/other.zip"
    with pytest.raises(OfflineError) as err:
        _http.download(other, settings=offline)
    assert str(_http.cache_path(other, settings=offline)) in str(err.value)
    assert server.count("/other.zip") == 0


def test_perimeters_from_a_url_and_cli_fetch(server, settings, tmp_path, monkeypatch):
    embedded = load_perimeters()
    sub = embedded[embedded["code_qp"] == "QN06237M"].rename(columns={"nom_qp": "lib_qp"})
    sub = sub[["code_qp", "lib_qp", "geometry"]]
    sub.to_file(tmp_path / "q.geojson", engine="pyogrio")
    archive = tmp_path / "q.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "q.geojson", "GEOJSON/QP2024_test.geojson")
    server.route("/qpv.zip", Reply(200, archive.read_bytes()))
    out = load_perimeters(server.url + "/qpv.zip", settings=settings)
    assert out["code_qp"].tolist() == ["QN06237M"]
    assert out["communes"].tolist() == [["62765"]]
    assert server.url in out["source"].iloc[0]
    # the fetch command goes through the same machinery (registry URL pointed at the local server)
    from qpvgeo import sources

    monkeypatch.setitem(sources.QPV, 2015, sources.Source("qpv-2015", server.url + "/qpv.zip",
                                                           "test", "qpv-2015.zip"))
    res = CliRunner().invoke(main, ["fetch", "qpv", "--vintage", "2015"])
    assert res.exit_code == 0, res.output
    assert "qpv-2015.zip" in res.output
    res = CliRunner().invoke(main, ["--offline", "fetch", "qpv", "--vintage", "2024"])
    assert res.exit_code == 1 and "offline" in res.output
    config.set_settings(None)
