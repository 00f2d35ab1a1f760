"""The helm runner against the real helm 3.x and 4.x binaries, on the stand-in chart."""

from __future__ import annotations

import pytest
import yaml

from installer.errors import InstallerError
from installer.helm import HelmRunner, parse_version
from installer.plan import ChartRef, build_plan
from installer.preset import load_preset
from installer.render import render, write_rendered
from tests.conftest import CHART, PRESETS

pytestmark = pytest.mark.helm


def test_version_is_read_and_flags_follow_the_major(helm_binary):
    helm = HelmRunner(str(helm_binary))
    assert helm.version.major in (3, 4)
    args = helm.upgrade_args("r", ChartRef("docker-registry", "3.0.0", "https://helm.twun.io"), "ns", ["v.yaml"],
                             wait=True, timeout="5m", rollback=True, dry_run=False)
    assert args[:3] == ["upgrade", "--install", "r"] and ["--repo", "https://helm.twun.io"] == args[4:6]
    if helm.version.major == 3:
        assert "--atomic" in args and "--wait" in args
    else:
        assert "--rollback-on-failure" in args and "--wait=watcher" in args
    no_wait = helm.upgrade_args("r", ChartRef(str(CHART), None, None), "ns", [], wait=False, timeout="5m", rollback=True, dry_run=False)
    assert "--atomic" not in no_wait and "--rollback-on-failure" not in no_wait and "--wait" not in no_wait


def test_old_helm_is_refused():
    assert parse_version("v3.7.2+g663a896").minor == 7
    with pytest.raises(InstallerError, match="cannot read helm's version"):
        parse_version("garbage")


def test_missing_helm_binary_is_a_clear_error():
    with pytest.raises(InstallerError, match="was not found on PATH"):
        _ = HelmRunner("helm-that-does-not-exist").version


def _manifests(text):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(text) if d}


def test_seed_preset_renders_through_the_chart(helm_binary, tmp_path, seed_env):
    rendered = render(build_plan(load_preset(PRESETS / "rook-ceph-nginx.yaml")))
    files = [str(p) for p in write_rendered(rendered, tmp_path) if p.name != "secrets.yaml"]
    out = HelmRunner(str(helm_binary)).template("docker-registry", ChartRef(str(CHART), None, None), "docker-registry", files)
    objs = _manifests(out)
    ingress = objs[("Ingress", "docker-registry")]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "registry.example.com"
    assert ingress["spec"]["tls"][0]["secretName"] == "registry-tls"
    ann = ingress["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    auth_secret = ann["nginx.ingress.kubernetes.io/auth-secret"]
    assert auth_secret in {s["metadata"]["name"] for s in rendered.secrets}
    pvc = objs[("PersistentVolumeClaim", "docker-registry")]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and pvc["spec"]["storageClassName"] == "rook-ceph-block"
    assert objs[("Deployment", "docker-registry")]["spec"]["strategy"] == {"type": "Recreate"}
    assert seed_env not in out


def test_chart_errors_are_reported_with_helms_message(helm_binary, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: s3\n")  # s3 without a secrets.s3 map: the chart's nil pointer (a known pitfall)
    with pytest.raises(InstallerError, match="nil pointer evaluating interface {}.accessKey"):
        HelmRunner(str(helm_binary)).template("x", ChartRef(str(CHART), None, None), "ns", [str(bad)])
