"""Headless install, upgrade and errors against the real kube-apiserver and real helm 3 and 4."""

from __future__ import annotations

import base64
import json
import os

import pytest

from installer.probe import decode_helm_release
from tests.conftest import CHART, PRESETS, ROOT, apply_args, helm_path, run_installer

pytestmark = pytest.mark.cluster
PASSWORD = "cluster-Test-pw-42"


def cli(cluster, *args, helm=None, context="admin", env=None, kubeconfig=None):
    full_env = {**os.environ, "REGISTRY_PASSWORD": PASSWORD, **(env or {})}
    argv = [*args, "--kubeconfig", str(kubeconfig or cluster.kubeconfig)]
    if context:
        argv += ["--context", context]
    if helm:
        argv += ["--helm", str(helm)]
    return run_installer(*argv, env=full_env)


def apply_preset(cluster, helm, namespace, *extra, preset=None, env=None):
    """`apply --yes` of `preset` (the seed preset when None) with the real chart into `namespace`, then `extra`."""
    return cli(cluster, *apply_args(preset or PRESETS / "rook-ceph-nginx.yaml", namespace, *extra), helm=helm, env=env)


def apply_seed(cluster, helm, namespace, *extra, preset=None, env=None):
    """apply_preset with --no-wait (nothing runs the pods on the bare API server)."""
    return apply_preset(cluster, helm, namespace, "--no-wait", *extra, preset=preset, env=env)


def core(cluster, context="admin"):
    from kubernetes import client

    return client.CoreV1Api(cluster.api_client(context))


def release_secrets(cluster, namespace, release="docker-registry"):
    items = core(cluster).list_namespaced_secret(namespace, label_selector=f"owner=helm,name={release}").items
    return sorted((decode_helm_release(s.data["release"]) for s in items), key=lambda r: r["version"])


def test_probe_says_whether_helm_can_install(kube_cluster):
    """`probe` names the helm the install would run (version and path), or says it is missing and the fix: before a
    preset is written, not when `apply` fails."""
    missing = cli(kube_cluster, "probe", helm="no-such-helm-here")
    assert missing.returncode == 0, missing.stderr
    assert "helm:      ✗ the helm binary 'no-such-helm-here' was not found on PATH" in missing.stdout
    assert "fix: install helm 3.8 or newer" in missing.stdout and "pass --helm /path/to/helm" in missing.stdout
    helm = helm_path("helm3")
    found = cli(kube_cluster, "probe", helm=helm)
    assert found.returncode == 0, found.stderr
    assert any(
        line.startswith("helm:      helm v3.") and line.endswith(f" at {helm}") for line in found.stdout.splitlines()
    )


def test_probe_reports_the_seeded_cluster(kube_cluster):
    proc = cli(kube_cluster, "probe", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    classes = {sc["name"]: sc for sc in data["storage_classes"]}
    assert {"rook-ceph-block", "local-path", "standard-noexpand"} <= set(classes)
    assert [n for n, sc in classes.items() if sc["is_default"]] == ["rook-ceph-block"]
    assert classes["local-path"]["binding_mode"] == "WaitForFirstConsumer"
    assert classes["rook-ceph-block"]["allow_expansion"] and not classes["standard-noexpand"]["allow_expansion"]
    ingress = {ic["name"]: ic for ic in data["ingress_classes"]}
    assert ingress["nginx"]["family"] == "ingress-nginx" and ingress["nginx"]["is_default"]
    assert ingress["traefik"]["family"] == "traefik" and not ingress["traefik"]["is_default"]
    assert data["ingress_nginx_body_size"] == "1m"
    assert data["cert_manager"] is True
    assert {"kind": "ClusterIssuer", "name": "letsencrypt-prod", "namespace": None} in [
        {k: i[k] for k in ("kind", "name", "namespace")} for i in data["issuers"]
    ]
    assert all(p["allowed"] for p in data["permissions"])
    assert data["user"] == "admin"
    again = cli(kube_cluster, "probe", "--json")
    assert again.stdout == proc.stdout, "probe --json must be stable"
    human = cli(kube_cluster, "probe")
    assert "rook-ceph-block" in human.stdout and "default" in human.stdout and "letsencrypt-prod" in human.stdout


def _deployment_template_annotations(cluster, namespace):
    from kubernetes import client

    apps = client.AppsV1Api(cluster.api_client("admin"))
    dep = apps.read_namespaced_deployment("docker-registry", namespace)
    return dep.spec.template.metadata.annotations, dep.metadata.generation


def bind_claim(cluster, namespace, name, size):
    """Play the PV controller (not running here): bind the chart's PVC to a new PV of `size`."""
    from kubernetes import client

    api = core(cluster)
    pv_name = f"pv-{namespace}-{name}"
    api.create_persistent_volume(
        client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(name=pv_name),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": size},
                access_modes=["ReadWriteOnce"],
                storage_class_name="rook-ceph-block",
                host_path=client.V1HostPathVolumeSource(path=f"/tmp/{pv_name}"),
                claim_ref=client.V1ObjectReference(namespace=namespace, name=name),
            ),
        )
    )
    api.patch_namespaced_persistent_volume_claim(name, namespace, {"spec": {"volumeName": pv_name}})
    api.patch_namespaced_persistent_volume_claim_status(
        name, namespace, {"status": {"phase": "Bound", "capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"]}}
    )


def test_install_upgrade_and_rerun(kube_cluster, helm_binary):
    namespace = f"reg-{helm_binary.name}"
    proc = apply_seed(kube_cluster, helm_binary, namespace)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    for step in ("probe", "validate", "permissions", "namespace", "secrets", "helm"):
        assert f"] {step}" in proc.stdout
    api = core(kube_cluster)
    ns = api.read_namespace(namespace)
    assert ns.metadata.labels["app.kubernetes.io/managed-by"] == "registry-installer"
    auth = api.read_namespaced_secret("docker-registry-basic-auth", namespace)
    htpasswd = base64.b64decode(auth.data["auth"]).decode()
    assert htpasswd.startswith("admin:$2y$")
    from kubernetes import client

    net = client.NetworkingV1Api(kube_cluster.api_client("admin"))
    ingress = net.read_namespaced_ingress("docker-registry", namespace)
    assert ingress.spec.ingress_class_name == "nginx"
    assert ingress.spec.tls[0].secret_name == "registry-tls"
    assert ingress.metadata.annotations["nginx.ingress.kubernetes.io/auth-secret"] == "docker-registry-basic-auth"
    assert ingress.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    pvc = api.read_namespaced_persistent_volume_claim("docker-registry", namespace)
    assert pvc.spec.resources.requests["storage"] == "100Gi" and pvc.spec.storage_class_name == "rook-ceph-block"
    releases = release_secrets(kube_cluster, namespace)
    assert [r["info"]["status"] for r in releases] == ["deployed"]
    first_secret = releases[-1]["config"]["secrets"]["haSharedSecret"]
    assert "registry-tls was not found" in proc.stdout  # the hand-made TLS Secret is missing: said, not fatal
    annotations_1, generation_1 = _deployment_template_annotations(kube_cluster, namespace)

    # unchanged re-run: a new revision, but nothing a pod would notice
    again = apply_seed(kube_cluster, helm_binary, namespace)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no value changes" in again.stdout
    annotations_2, generation_2 = _deployment_template_annotations(kube_cluster, namespace)
    assert annotations_2 == annotations_1 and generation_2 == generation_1
    assert (
        base64.b64decode(api.read_namespaced_secret("docker-registry-basic-auth", namespace).data["auth"]).decode()
        == htpasswd
    )

    # a larger disk: refused while the volume is unbound, then an upgrade once it is bound
    bigger = ROOT / "tests" / "presets" / "seed-200Gi.yaml"
    refused = apply_seed(kube_cluster, helm_binary, namespace, preset=bigger)
    assert refused.returncode == 1 and "only bound volumes can grow" in refused.stderr
    bind_claim(kube_cluster, namespace, "docker-registry", "100Gi")
    grown = apply_seed(kube_cluster, helm_binary, namespace, preset=bigger)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    assert "-  size: 100Gi" in grown.stdout and "+  size: 200Gi" in grown.stdout
    releases = release_secrets(kube_cluster, namespace)
    assert releases[-1]["info"]["status"] == "deployed" and releases[-1]["version"] == 3
    assert releases[-1]["config"]["secrets"]["haSharedSecret"] == first_secret
    assert (
        api.read_namespaced_persistent_volume_claim("docker-registry", namespace).spec.resources.requests["storage"]
        == "200Gi"
    )
    assert (
        base64.b64decode(api.read_namespaced_secret("docker-registry-basic-auth", namespace).data["auth"]).decode()
        == htpasswd
    )
    managed = api.list_namespaced_secret(
        namespace, label_selector="app.kubernetes.io/managed-by=registry-installer"
    ).items
    assert sorted(s.metadata.name for s in managed) == ["docker-registry-basic-auth"]
    stored = json.dumps(releases[-1])
    assert PASSWORD not in stored and base64.b64encode(PASSWORD.encode()).decode() not in stored


def test_dry_run_changes_nothing(kube_cluster, helm_binary):
    namespace = f"dry-{helm_binary.name}"
    proc = apply_seed(kube_cluster, helm_binary, namespace, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: nothing was changed" in proc.stdout
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as info:
        core(kube_cluster).read_namespace(namespace)
    assert info.value.status == 404


def test_limited_identity_is_told_what_is_missing_before_any_change(kube_cluster, helm_binary):
    proc = cli(
        kube_cluster,
        "apply",
        "--preset",
        str(PRESETS / "rook-ceph-nginx.yaml"),
        "--chart",
        str(CHART),
        "--yes",
        "--no-wait",
        helm=helm_binary,
        context="limited",
    )
    assert proc.returncode == 1
    assert (
        "may not: create secrets in namespace docker-registry" in proc.stderr and "Nothing was changed" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    assert release_secrets(kube_cluster, "docker-registry") == []


def test_unknown_context_and_wrong_ca(kube_cluster, tmp_path):
    proc = cli(kube_cluster, "probe", context="no-such-context")
    assert (
        proc.returncode == 1
        and "kube context 'no-such-context' is not in" in proc.stderr
        and "admin, limited" in proc.stderr
    )
    wrong = kube_cluster.wrong_ca_kubeconfig(tmp_path / "wrong-ca")
    proc = cli(kube_cluster, "probe", kubeconfig=wrong)
    assert proc.returncode == 1 and "cannot verify the API server's certificate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stopped_api_server_is_a_clear_error(fresh_cluster):
    fresh_cluster.stop()
    proc = cli(fresh_cluster, "probe")
    assert proc.returncode == 1
    assert "connection refused" in proc.stderr and "is the cluster up?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_s3_keys_written_under_old_names_are_read_back_and_rewritten_for_the_chart(kube_cluster, tmp_path):
    """Installers before the fix wrote accessKey/secretKey, which chart 3.0.0 never reads; a re-run keeps the keys under
    s3AccessKey/s3SecretKey."""
    from tests.conftest import helm_path

    namespace = "s3-old-keys"
    env = {"S3_ACCESS_KEY": "AKIA-old-install", "S3_SECRET_KEY": "old-install-secret"}
    first = apply_seed(kube_cluster, helm_path("helm4"), namespace, preset=PRESETS / "s3-ha.yaml", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    api = core(kube_cluster)
    secret = api.read_namespaced_secret("docker-registry-s3", namespace)
    assert set(secret.data) == {"s3AccessKey", "s3SecretKey"}
    old = {"accessKey": secret.data["s3AccessKey"], "secretKey": secret.data["s3SecretKey"]}
    api.patch_namespaced_secret("docker-registry-s3", namespace, [{"op": "replace", "path": "/data", "value": old}])
    keep = tmp_path / "s3-keep.yaml"
    keep.write_text(
        (PRESETS / "s3-ha.yaml").read_text().replace("env:S3_ACCESS_KEY", "keep").replace("env:S3_SECRET_KEY", "keep")
    )
    again = apply_seed(kube_cluster, helm_path("helm3"), namespace, preset=keep)
    assert again.returncode == 0, again.stdout + again.stderr
    data = api.read_namespaced_secret("docker-registry-s3", namespace).data
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {
        "s3AccessKey": "AKIA-old-install",
        "s3SecretKey": "old-install-secret",
    }
    assert "AKIA-old-install" not in again.stdout + again.stderr


@pytest.fixture(scope="module")
def no_provisioner_class(kube_cluster):
    """A StorageClass no provisioner serves (kubernetes.io/no-provisioner) and no PersistentVolume of it."""
    from kubernetes import client

    storage = client.StorageV1Api(kube_cluster.api_client("admin"))
    name = "manual-no-provisioner"
    body = client.V1StorageClass(
        metadata=client.V1ObjectMeta(name=name),
        provisioner="kubernetes.io/no-provisioner",
        volume_binding_mode="WaitForFirstConsumer",
    )
    storage.create_storage_class(body)
    yield name
    storage.delete_storage_class(name)


def test_a_class_without_provisioner_ends_the_wait_early_and_rolls_back(kube_cluster, no_provisioner_class, tmp_path):
    """helm would wait out --timeout on a PVC that can never bind; the watcher says why within seconds and stops it.

    helm 3 only here: helm 4's rollback uninstall waits for the PVC to be gone, and with no
    controller-manager nothing removes its pvc-protection finalizer (tests/test_node_install.py runs both).
    """
    from tests.conftest import helm_path

    helm_binary = helm_path("helm3")
    namespace = "noprov-helm3"
    preset = tmp_path / "preset.yaml"
    preset.write_text((PRESETS / "rook-ceph-nginx.yaml").read_text().replace("rook-ceph-block", no_provisioner_class))
    proc = apply_preset(kube_cluster, helm_binary, namespace, "--skip-smoke", "--timeout", "5m", preset=preset)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "STOP: PersistentVolumeClaim docker-registry: NoProvisioner" in proc.stdout, proc.stdout
    assert (
        "the registry cannot start: PersistentVolumeClaim docker-registry: NoProvisioner: StorageClass "
        f"{no_provisioner_class} has no provisioner" in proc.stderr
    )
    assert "Nothing is left installed" in proc.stderr and "create a PersistentVolume" in proc.stderr
    assert release_secrets(kube_cluster, namespace) == []
    helm_line = next(line for line in proc.stdout.splitlines() if "FAIL] helm" in line)
    assert float(helm_line.split()[2].rstrip("s")) < 60, helm_line  # far from the 5m timeout: the watcher stopped helm
