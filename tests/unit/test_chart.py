"""installer/chart.py: where the local docker-registry chart comes from, and clear errors when it is nowhere."""

from __future__ import annotations

import tarfile

import pytest

from installer import chart
from installer.errors import InstallerError, UsageError
from tests.conftest import CHART


def test_the_tests_install_the_real_upstream_chart():
    info = chart.read_chart(CHART)
    assert (info.name, info.version, info.app_version) == ("docker-registry", "3.0.0", "3.0.0")
    with tarfile.open(CHART) as tar:
        assert "docker-registry/LICENSE" in tar.getnames()  # the packaged upstream release, not a stand-in


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    (tmp_path / "Chart.yaml").write_text("name: docker-registry\nversion: 3.0.1\nappVersion: 3.0.0\n")
    monkeypatch.setenv(chart.CHART_ENV, str(tmp_path))
    assert chart.local_chart().path == tmp_path
    assert chart.chart_option(None) == str(tmp_path)
    assert chart.chart_option(str(CHART)) == str(CHART)  # the flag wins over the variable


def test_nowhere_says_where_to_put_the_chart(tmp_path, monkeypatch):
    monkeypatch.delenv(chart.CHART_ENV, raising=False)
    monkeypatch.setattr(chart, "SHARED_CHART", tmp_path / "shared" / chart.CHART_FILE)
    monkeypatch.setattr(chart, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(InstallerError) as err:
        chart.local_chart(helm=str(tmp_path / "no-helm"))
    assert "helm pull docker-registry --repo https://helm.twun.io --version 3.0.0" in err.value.message
    assert str(tmp_path / "cache" / chart.CHART_FILE) in err.value.hint and chart.CHART_ENV in err.value.hint


def test_a_cached_pull_is_used_when_the_shared_copy_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv(chart.CHART_ENV, raising=False)
    monkeypatch.setattr(chart, "SHARED_CHART", tmp_path / "shared" / chart.CHART_FILE)
    monkeypatch.setattr(chart, "CACHE_DIR", tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / chart.CHART_FILE).write_bytes(CHART.read_bytes())
    assert chart.local_chart(pull=False).path == tmp_path / "cache" / chart.CHART_FILE


@pytest.mark.parametrize(
    "content,words",
    [
        (None, "no such chart directory or .tgz"),
        (b"not a tarball", "neither a chart directory nor a chart .tgz"),
        ("name: nginx\nversion: 1.0.0\n", "the chart 'nginx', not the docker-registry chart"),
    ],
)
def test_a_wrong_chart_flag_is_a_usage_error(tmp_path, content, words):
    path = tmp_path / "chart.tgz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path = tmp_path / "chart"
        path.mkdir()
        (path / "Chart.yaml").write_text(content)
    with pytest.raises(UsageError, match="--chart") as err:
        chart.chart_option(str(path))
    assert words in err.value.message
