"""The helm runner against the real helm 3.x and 4.x binaries, on the real docker-registry chart."""

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
    args = helm.upgrade_args(
        "r",
        ChartRef("docker-registry", "3.0.0", "https://helm.twun.io"),
        "ns",
        ["v.yaml"],
        wait=True,
        timeout="5m",
        rollback=True,
        dry_run=False,
    )
    assert args[:3] == ["upgrade", "--install", "r"] and ["--repo", "https://helm.twun.io"] == args[4:6]
    if helm.version.major == 3:
        assert "--atomic" in args and "--wait" in args
    else:
        assert "--rollback-on-failure" in args and "--wait=watcher" in args
    no_wait = helm.upgrade_args(
        "r", ChartRef(str(CHART), None, None), "ns", [], wait=False, timeout="5m", rollback=True, dry_run=False
    )
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
    out = HelmRunner(str(helm_binary)).template(
        "docker-registry", ChartRef(str(CHART), None, None), "docker-registry", files
    )
    objs = _manifests(out)
    ingress = objs[("Ingress", "docker-registry")]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == "registry.example.com"
    assert ingress["spec"]["tls"][0]["secretName"] == "registry-tls"
    ann = ingress["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    auth_secret = ann["nginx.ingress.kubernetes.io/auth-secret"]
    assert auth_secret in {s["metadata"]["name"] for s in rendered.secrets}
    # the installer makes the data PVC itself (helm must never own it): the chart only mounts it
    assert ("PersistentVolumeClaim", "docker-registry") not in objs
    volumes = objs[("Deployment", "docker-registry")]["spec"]["template"]["spec"]["volumes"]
    assert [v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v] == [
        "docker-registry"
    ]
    pvc = rendered.claim
    assert pvc["metadata"]["name"] == "docker-registry" and pvc["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"] and pvc["spec"]["storageClassName"] == "rook-ceph-block"
    assert objs[("Deployment", "docker-registry")]["spec"]["strategy"] == {"type": "Recreate"}
    assert seed_env not in out


def test_chart_errors_are_reported_with_helms_message(helm_binary, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "storage: s3\ns3: {region: r, bucket: b}\n"
    )  # s3 without a secrets.s3 map: the chart's nil pointer (a known pitfall)
    with pytest.raises(InstallerError, match=r"secret\.yaml:29:22.*nil pointer evaluating interface \{\}\.secretKey"):
        HelmRunner(str(helm_binary)).template("x", ChartRef(str(CHART), None, None), "ns", [str(bad)])


PRESET_ENV = {
    "REGISTRY_PASSWORD": "seed-password-Xy7",
    "S3_ACCESS_KEY": "AKIA-test-key",
    "S3_SECRET_KEY": "s3-secret-test",
}


def _template(helm_binary, tmp_path, rendered):
    files = [str(p) for p in write_rendered(rendered, tmp_path) if p.name != "secrets.yaml"]
    return HelmRunner(str(helm_binary)).template(
        "docker-registry", ChartRef(str(CHART), None, None), "docker-registry", files
    )


def _env_refs(pod_spec):
    for container in pod_spec["containers"]:
        for env in container.get("env") or []:
            yield env


@pytest.mark.parametrize("preset", ["rook-ceph-nginx.yaml", "minimal.yaml", "s3-ha.yaml"])
def test_every_preset_renders_objects_whose_secret_references_resolve(helm_binary, tmp_path, monkeypatch, preset):
    """What the real chart makes of each preset: env values are strings, every secretKeyRef names a key that exists."""
    for key, value in PRESET_ENV.items():
        monkeypatch.setenv(key, value)
    rendered = render(build_plan(load_preset(PRESETS / preset)))
    objs = _manifests(_template(helm_binary, tmp_path, rendered))
    secrets = {s["metadata"]["name"]: set(s["data"]) for s in rendered.secrets}
    secrets.update({name: set(o.get("data") or {}) for (kind, name), o in objs.items() if kind == "Secret"})
    pod_specs = [o["spec"]["template"]["spec"] for (kind, _), o in objs.items() if kind == "Deployment"]
    pod_specs += [
        o["spec"]["jobTemplate"]["spec"]["template"]["spec"] for (kind, _), o in objs.items() if kind == "CronJob"
    ]
    assert pod_specs
    for spec in pod_specs:
        for env in _env_refs(spec):
            if "value" in env:
                assert isinstance(env["value"], str), (
                    f"{env['name']} is {env['value']!r}: the API server refuses a non-string env value"
                )
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets.get(ref["name"], set()), (
                    f"{env['name']} reads {ref['name']}/{ref['key']}, which nothing writes"
                )
    for value in PRESET_ENV.values():
        assert value not in yaml.safe_dump([o for (kind, _), o in objs.items() if kind != "Secret"])


@pytest.mark.parametrize("bucket", ["12345", "true", "1e5", "registry-images"])
def test_s3_names_the_chart_writes_bare_stay_strings(helm_binary, tmp_path, bucket):
    """chart 3.0.0 writes s3.bucket/region/regionEndpoint unquoted: a bucket named 12345 must still reach the pod as
    text."""
    from installer.model import Choices

    choices = Choices.parse(
        {
            "exposure": {"hosts": ["r.example.com"]},
            "auth": {"bcrypt_cost": 4},
            "storage": {
                "kind": "s3",
                "s3": {"bucket": bucket, "region": "1", "endpoint": "http://127.0.0.1:9000", "secure": False},
            },
        }
    )
    objs = _manifests(_template(helm_binary, tmp_path, render(build_plan(choices))))
    env = {
        e["name"]: e.get("value")
        for e in _env_refs(objs[("Deployment", "docker-registry")]["spec"]["template"]["spec"])
    }
    assert env["REGISTRY_STORAGE_S3_BUCKET"] == bucket
    assert env["REGISTRY_STORAGE_S3_REGION"] == "1"
    assert env["REGISTRY_STORAGE_S3_REGIONENDPOINT"] == "http://127.0.0.1:9000"
    assert env["REGISTRY_STORAGE_S3_SECURE"] == "false"  # the chart only writes it when true


def test_s3_keys_go_where_the_chart_reads_them(helm_binary, tmp_path, monkeypatch):
    for key, value in PRESET_ENV.items():
        monkeypatch.setenv(key, value)
    rendered = render(build_plan(load_preset(PRESETS / "s3-ha.yaml")))
    s3_secret = next(s for s in rendered.secrets if s["metadata"]["name"] == "docker-registry-s3")
    assert set(s3_secret["data"]) == {"s3AccessKey", "s3SecretKey"}
    dep = _manifests(_template(helm_binary, tmp_path, rendered))[("Deployment", "docker-registry")]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in _env_refs(dep["spec"]["template"]["spec"])
        if "valueFrom" in e
    }
    assert refs["REGISTRY_STORAGE_S3_ACCESSKEY"] == {"name": "docker-registry-s3", "key": "s3AccessKey"}
    assert refs["REGISTRY_STORAGE_S3_SECRETKEY"] == {"name": "docker-registry-s3", "key": "s3SecretKey"}


def test_metrics_and_garbage_collection_render_as_the_real_chart_wants(helm_binary, tmp_path):
    """Metrics: the chart takes the port from configData.http.debug.addr (our partial configData must keep it);
    GC: the chart renders no CronJob (the installer's own collects), and the installer's script finds the registry
    pod, container, binary and config where the chart puts them."""
    from installer.model import Choices

    choices = Choices.parse(
        {
            "exposure": {"hosts": ["r.example.com"]},
            "auth": {"bcrypt_cost": 4},
            "extras": {"metrics": True, "garbage_collect": {"enabled": True}},
        }
    )
    objs = _manifests(_template(helm_binary, tmp_path, render(build_plan(choices))))
    ports = {p["name"]: p for p in objs[("Service", "docker-registry")]["spec"]["ports"]}
    assert ports["http-metrics"]["targetPort"] == 5001
    pod = objs[("Deployment", "docker-registry")]["spec"]["template"]["spec"]
    from installer.gcschedule import REGISTRY_CONTAINER

    assert not [key for key in objs if key[0] == "CronJob"], "the chart's CronJob collects on a writable registry"
    deployment = objs[("Deployment", "docker-registry")]["spec"]
    assert deployment["selector"]["matchLabels"] == {"app": "docker-registry", "release": "docker-registry"}
    container = pod["containers"][0]
    assert container["name"] == REGISTRY_CONTAINER
    assert container["command"] == ["/bin/registry", "serve", "/etc/distribution/config.yml"]
