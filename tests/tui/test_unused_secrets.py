"""Switching auth from ingress to registry removes the ingress basic-auth Secret the installer made and no longer
uses (issue 12 item 14); a Secret of that name the installer did not make is left alone. Real helm 3, real cluster."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from installer.apply import ApplyOptions, apply
from installer.engine import connect, prepare
from installer.helm import HelmRunner
from installer.model import Chart, Choices
from tests.conftest import helm_path
from tests.tui.conftest import CHART_DIR

pytestmark = [pytest.mark.cluster, pytest.mark.helm]


def install(cluster, namespace: str, mode: str) -> list:
    kube = connect(cluster.admin_context, str(cluster.kubeconfig))
    choices = Choices.parse(
        {
            "target": {"namespace": namespace, "context": cluster.admin_context},
            "chart": Chart(path=str(CHART_DIR)),
            "exposure": {"hosts": ["auth.example.com"]},
            "auth": {"mode": mode, "users": [{"name": "admin", "password": "generate"}]},
        },
        literal_secrets=True,
    )
    prepared = prepare(choices, kube)
    events = []
    apply(
        prepared.plan,
        prepared.rendered,
        HelmRunner(str(helm_path("helm3")), str(cluster.kubeconfig), cluster.admin_context),
        kube,
        ApplyOptions(wait=False, smoke=False, timeout="2m"),
        on_event=events.append,
    )
    return events


def secret_exists(cluster, namespace: str, name: str) -> bool:
    try:
        client.CoreV1Api(cluster.api_client("admin")).read_namespaced_secret(name, namespace)
    except ApiException as exc:
        assert exc.status == 404, exc
        return False
    return True


def test_switching_from_ingress_to_registry_auth_removes_the_basic_auth_secret(kube_cluster):
    namespace = "auth-switch"
    install(kube_cluster, namespace, "ingress")
    assert secret_exists(kube_cluster, namespace, "docker-registry-basic-auth")
    events = install(kube_cluster, namespace, "registry")
    assert not secret_exists(kube_cluster, namespace, "docker-registry-basic-auth")
    assert any(type(e).__name__ == "StepFinished" and e.step == "cleanup" and e.ok for e in events)
    # one the installer did not make is not its to delete
    api = client.CoreV1Api(kube_cluster.api_client("admin"))
    api.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="docker-registry-basic-auth"), string_data={"auth": "someone:else"}
        ),
    )
    install(kube_cluster, namespace, "registry")
    assert secret_exists(kube_cluster, namespace, "docker-registry-basic-auth")
