"""Tests of the kube-apiserver test harness itself: it starts, is seeded, enforces RBAC, stops."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fixtures.cluster import (
    BIN_DIR,
    ClusterHandle,
    kubectl_binary,
    port_is_free,
    seed_scale,
)

pytestmark = pytest.mark.cluster


def test_apiserver_answers_readyz(kube_cluster: ClusterHandle) -> None:
    answer = requests.get(
        f"{kube_cluster.server}/readyz", verify=kube_cluster.ca_file, cert=kube_cluster.client_cert("admin"), timeout=10
    )
    assert answer.status_code == 200
    assert answer.text == "ok"
    assert kube_cluster.server.startswith("https://127.0.0.1:")


def test_seeded_storage_classes(kube_cluster: ClusterHandle) -> None:
    storage = client.StorageV1Api(kube_cluster.api_client())
    classes = {sc.metadata.name: sc for sc in storage.list_storage_class().items}
    assert {"rook-ceph-block", "local-path", "standard-noexpand"} <= set(classes)

    defaults = [
        name
        for name, sc in classes.items()
        if (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert defaults == ["rook-ceph-block"]
    rook = classes["rook-ceph-block"]
    assert (rook.provisioner, rook.volume_binding_mode, rook.allow_volume_expansion) == (
        "rook-ceph.rbd.csi.ceph.com",
        "Immediate",
        True,
    )
    local = classes["local-path"]
    assert (local.provisioner, local.volume_binding_mode) == ("rancher.io/local-path", "WaitForFirstConsumer")
    assert not classes["standard-noexpand"].allow_volume_expansion


def test_seeded_ingress_classes_and_controller(kube_cluster: ClusterHandle) -> None:
    api = kube_cluster.api_client()
    classes = {ic.metadata.name: ic for ic in client.NetworkingV1Api(api).list_ingress_class().items}
    assert classes["nginx"].spec.controller == "k8s.io/ingress-nginx"
    assert classes["nginx"].metadata.annotations["ingressclass.kubernetes.io/is-default-class"] == "true"
    assert classes["traefik"].spec.controller == "traefik.io/ingress-controller"
    assert "ingressclass.kubernetes.io/is-default-class" not in (classes["traefik"].metadata.annotations or {})

    deployment = client.AppsV1Api(api).read_namespaced_deployment("ingress-nginx-controller", "ingress-nginx")
    assert deployment.spec.template.spec.containers[0].name == "controller"
    config = client.CoreV1Api(api).read_namespaced_config_map("ingress-nginx-controller", "ingress-nginx")
    assert config.data == {"proxy-body-size": "1m"}


def test_seeded_cert_manager(kube_cluster: ClusterHandle) -> None:
    api = kube_cluster.api_client()
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    established = {
        crd.metadata.name
        for crd in crds
        if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
    }
    assert {"issuers.cert-manager.io", "clusterissuers.cert-manager.io", "certificates.cert-manager.io"} <= established

    issuer = client.CustomObjectsApi(api).get_cluster_custom_object(
        "cert-manager.io", "v1", "clusterissuers", "letsencrypt-prod"
    )
    assert issuer["spec"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"


def test_api_server_validates_objects(kube_cluster: ClusterHandle) -> None:
    """A wrong field is rejected by the real API server, not silently stored."""
    bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Not_A_Valid_Name"), data={"k": "v"})
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(kube_cluster.api_client()).create_namespaced_config_map("default", bad)
    assert refused.value.status == 422


def test_limited_user_cannot_create_secret_in_docker_registry(kube_cluster: ClusterHandle) -> None:
    core = client.CoreV1Api(kube_cluster.api_client(kube_cluster.limited_context))
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="htpasswd"), string_data={"htpasswd": "x"})
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_secret("docker-registry", secret)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'User "limited" cannot create resource "secrets"' in message
    assert 'in the namespace "docker-registry"' in message


def test_limited_user_may_read_what_the_probe_reads(kube_cluster: ClusterHandle) -> None:
    api = kube_cluster.api_client(kube_cluster.limited_context)
    names = {sc.metadata.name for sc in client.StorageV1Api(api).list_storage_class().items}
    assert "rook-ceph-block" in names
    assert client.CoreV1Api(api).list_namespace().items
    assert client.AppsV1Api(api).list_deployment_for_all_namespaces().items
    assert client.ApiextensionsV1Api(api).list_custom_resource_definition().items


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("create", "secrets", False),
        ("create", "configmaps", True),
        ("list", "secrets", True),
    ],
)
def test_limited_user_self_subject_access_review(
    kube_cluster: ClusterHandle, verb: str, resource: str, allowed: bool
) -> None:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(namespace="docker-registry", verb=verb, resource=resource)
        )
    )
    api = client.AuthorizationV1Api(kube_cluster.api_client(kube_cluster.limited_context))
    assert api.create_self_subject_access_review(review).status.allowed is allowed


def test_kubectl_helper_uses_the_cluster(kube_cluster: ClusterHandle) -> None:
    out = kube_cluster.kubectl("get", "ingressclass", "-o", "name").stdout.split()
    assert {"ingressclass.networking.k8s.io/nginx", "ingressclass.networking.k8s.io/traefik"} <= set(out)
    who = kube_cluster.kubectl(
        "auth", "can-i", "create", "secrets", "-n", "docker-registry", context=kube_cluster.limited_context, check=False
    )
    assert who.stdout.strip() == "no"


def test_wrong_ca_kubeconfig_is_refused(kube_cluster: ClusterHandle, tmp_path: Path) -> None:
    wrong = kube_cluster.wrong_ca_kubeconfig(tmp_path / "wrong-ca.kubeconfig")
    done = subprocess.run(
        [str(kubectl_binary()), "--kubeconfig", str(wrong), "get", "namespaces"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "certificate signed by unknown authority" in done.stderr


def test_stop_frees_the_port_and_restart_keeps_the_data(fresh_cluster: ClusterHandle) -> None:
    fresh_cluster.kubectl("create", "configmap", "survivor", "--from-literal=k=v")
    port, server = fresh_cluster.port, fresh_cluster.server

    fresh_cluster.stop()
    assert fresh_cluster.process is not None and fresh_cluster.process.popen.returncode == 0
    assert port_is_free(port)
    assert not fresh_cluster.ready_file.exists()

    fresh_cluster.restart()
    assert fresh_cluster.server == server
    assert fresh_cluster.kubectl("get", "configmap", "survivor", "-o", "jsonpath={.data.k}").stdout == "v"


def test_seed_scale_creates_objects(fresh_cluster: ClusterHandle) -> None:
    result = seed_scale(fresh_cluster, namespaces=20, storageclasses=5, ingressclasses=2, deployments=10)
    assert result["created"] == 37
    names = fresh_cluster.kubectl("get", "deployments", "-A", "-o", "name").stdout.split()
    assert sum(name.startswith("deployment.apps/scale-deploy-") for name in names) == 10
    again = seed_scale(fresh_cluster, namespaces=20, storageclasses=5, ingressclasses=2, deployments=10)
    assert (again["created"], again["already_existed"]) == (0, 37)


def _tiny_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-greeting\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


@pytest.mark.helm
@pytest.mark.parametrize("helm", ["helm3", "helm4"])
def test_helm_installs_a_release(kube_cluster: ClusterHandle, tmp_path: Path, helm: str) -> None:
    kubectl_binary()  # installs helm3/helm4 along with kubectl when missing
    chart = _tiny_chart(tmp_path)
    namespace = f"harness-{helm}"
    base = [str(BIN_DIR / helm), "--kubeconfig", str(kube_cluster.kubeconfig), "--kube-context", "admin"]

    rendered = subprocess.run(
        [*base, "template", "demo", str(chart), "--namespace", namespace], capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "name: demo-greeting" in rendered.stdout

    installed = subprocess.run(
        [*base, "install", "demo", str(chart), "--namespace", namespace, "--create-namespace"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    status = subprocess.run(
        [*base, "status", "demo", "--namespace", namespace, "-o", "json"], capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["info"]["status"] == "deployed"
    greeting = kube_cluster.kubectl(
        "get", "configmap", "demo-greeting", "-n", namespace, "-o", "jsonpath={.data.greeting}"
    ).stdout
    assert greeting == "hello"
